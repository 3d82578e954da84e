"""Feed items and web pages -> ``Article``s, falling back to the feed's own text.

A feed item is mostly a pointer: the article is on the page it links to, so the page is
fetched and its main text extracted (``read_html``). When the page cannot be had — gone (404),
not HTML, no extractable text, unreachable — the feed's own content or summary becomes the
article instead, marked ``metadata["extracted"] = "feed-summary"`` (with the reason in
``metadata["extract_error"]``), so answers still cover the story and anyone can tell a quote
from a summary apart from one from the full article.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

from index.feeds.fetch import PAGE_ACCEPT, FetchError, FetchResult, SafeFetcher
from index.feeds.parse import FeedItem, FeedParseError, ParsedFeed, is_feed, is_html, parse_feed
from index.feeds.urls import canonical_url
from index.model import Article, SkippedItem
from index.sources import read_html
from index.sources.common import one_line

# ``newsbot ingest URL`` does not know beforehand whether the URL is a page or a feed.
ANY_ACCEPT = (
    "text/html, application/xhtml+xml, application/rss+xml, application/atom+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)


async def item_article(
    fetcher: SafeFetcher, item: FeedItem, *, feed_url: str, source: str | None
) -> Article | SkippedItem:
    """The article behind one feed item: the linked page's text, else the feed's own text."""
    origin = item.url or f"{feed_url}#{item.guid}"
    meta = {"feed_url": feed_url, "guid": item.guid}
    if item.url:
        page = await page_article(fetcher, item.url, source=source)
        if isinstance(page, Article):
            return dataclasses.replace(
                page,
                title=item.title or page.title,
                published=item.published or page.published,
                metadata={**page.metadata, **meta, "extracted": "page"},
            )
        reason = page.reason
    else:
        reason = "the item has no link"
    if not item.text:
        return SkippedItem(origin, f"{reason}; and the feed gives no summary")
    return Article(
        title=item.title,
        body=item.text,
        origin=origin,
        published=item.published,
        source=source,
        url=canonical_url(item.url) if item.url else None,
        metadata={**meta, "extracted": "feed-summary", "extract_error": one_line(reason)},
    )


async def page_article(
    fetcher: SafeFetcher, url: str, *, source: str | None = None
) -> Article | SkippedItem:
    """One web page as an article; why not, as a SkippedItem naming the URL."""
    try:
        fetched = await fetcher.fetch(url, accept=PAGE_ACCEPT)
    except FetchError as exc:
        return SkippedItem(url, exc.reason)
    return await _page_from(fetched, url, source)


async def _page_from(fetched: FetchResult, url: str, source: str | None) -> Article | SkippedItem:
    if not is_html(fetched.content_type, fetched.body):
        kind = fetched.content_type or "none"
        return SkippedItem(url, f"not an HTML page (content type {kind})")
    # Extraction is CPU work: keep it off the event loop so other fetches and questions go on.
    found = await asyncio.to_thread(read_html, fetched.text(), url, url=fetched.url, source=source)
    if isinstance(found, Article) and found.url:
        found = dataclasses.replace(found, url=canonical_url(found.url))
    return found


async def feed_articles(
    fetcher: SafeFetcher, parsed: ParsedFeed, *, source: str | None
) -> list[Article | SkippedItem]:
    """Every item of a parsed feed as an article."""
    return await items_articles(
        fetcher, parsed.items, feed_url=parsed.url, source=source or parsed.title
    )


async def items_articles(
    fetcher: SafeFetcher, items: Sequence[FeedItem], *, feed_url: str, source: str | None
) -> list[Article | SkippedItem]:
    """These items of one feed as articles, in order: their pages are fetched concurrently, at
    most ``item_fetches_per_feed`` at a time (the fetcher keeps it polite per host)."""
    slots = asyncio.Semaphore(fetcher.config.item_fetches_per_feed)

    async def one(item: FeedItem) -> Article | SkippedItem:
        async with slots:
            return await item_article(fetcher, item, feed_url=feed_url, source=source)

    return list(await asyncio.gather(*(one(i) for i in items)))


def read_feed(fetched: FetchResult, url: str) -> ParsedFeed:
    """A fetched document as a feed, or FeedParseError naming ``url`` (wrong type, malformed)."""
    if not is_feed(fetched.content_type, fetched.body):
        kind = fetched.content_type or "none"
        raise FeedParseError(url, f"not an RSS or Atom feed (content type {kind})")
    return parse_feed(fetched.body, url, fetched.content_type)


async def url_articles(
    fetcher: SafeFetcher, urls: Sequence[str], *, source: str | None = None
) -> list[Article | SkippedItem]:
    """``newsbot ingest URL...``: each URL is a feed (every item) or a single article page."""
    out: list[Article | SkippedItem] = []
    for url in urls:
        try:
            fetched = await fetcher.fetch(url, accept=ANY_ACCEPT)
        except FetchError as exc:
            out.append(SkippedItem(url, exc.reason))
            continue
        if is_feed(fetched.content_type, fetched.body):
            try:
                parsed = parse_feed(fetched.body, url, fetched.content_type)
            except FeedParseError as exc:
                out.append(SkippedItem(url, exc.reason))
                continue
            out.extend(await feed_articles(fetcher, parsed, source=source))
        else:
            out.append(await _page_from(fetched, url, source))
    return out
