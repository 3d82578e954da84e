"""HTML pages: trafilatura finds the main text; the page's own tags give the metadata.

``read_html`` is also what the feed poller calls on fetched pages, so it takes text, not a path.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml import etree

from index.model import Article, SkippedItem
from index.sources.common import one_line, parse_published, plausible_published

# Publication-time tags, best first. trafilatura's own date (day precision) is the fallback.
_DATE_XPATHS = (
    '//meta[@property="article:published_time"]/@content',
    '//meta[@property="og:published_time"]/@content',
    '//meta[@itemprop="datePublished"]/@content',
    '//time[@itemprop="datePublished"]/@datetime',
    '//meta[@name="parsely-pub-date"]/@content',
    '//meta[@name="pubdate"]/@content',
    '//meta[@name="publishdate"]/@content',
    '//meta[@name="dc.date.issued"]/@content',
    '//meta[@name="DC.date.issued"]/@content',
    '//meta[@name="date"]/@content',
)

# trafilatura's time grows with the square of a page's elements (its jusText fallback walks
# the paragraph list for each paragraph), in a thread a feed poll waits on and nothing can
# stop: here (2 cores) 5,000 empty paragraphs took 8 s, 9,000 took 22 s. Its fast mode, without
# the fallback extractors, took 2 s at 12,000 and 8 s at 29,000; past 30,000, refused. A news
# article page has a few thousand elements; inline SVG icons are not counted.
FULL_EXTRACTION_ELEMENTS = 5_000
MAX_ELEMENTS = 30_000


def read_html(
    html: str, origin: str, *, url: str | None = None, source: str | None = None
) -> Article | SkippedItem:
    """Main text and metadata (title, date, canonical URL, site name) of one page.

    ``url`` is where the page was fetched from, if known; the page's canonical URL wins over it.
    ``source`` overrides the page's site name. A page with no article text gives a SkippedItem.
    """
    tree = _tree(html)
    size = int(tree.xpath("count(//*[not(ancestor-or-self::svg)])")) if tree is not None else 0
    if size > MAX_ELEMENTS:
        return SkippedItem(
            origin, f"page too large to extract ({size} HTML elements, limit {MAX_ELEMENTS})"
        )
    try:
        import trafilatura  # here: a second to import, which only reading a page needs

        doc = trafilatura.bare_extraction(
            html,
            url=url,
            with_metadata=True,
            include_comments=False,
            include_tables=True,
            fast=size > FULL_EXTRACTION_ELEMENTS,
        )
    except Exception as exc:  # a page trafilatura chokes on is one skipped page, not a crash
        return SkippedItem(origin, one_line(f"HTML extraction failed: {type(exc).__name__}: {exc}"))
    text = (doc.text or "") if doc is not None else ""
    lines = [line.strip() for line in text.split("\n") if line.strip()]

    title = (doc.title if doc is not None else None) or _first(tree, "//title/text()")
    if lines and title and " ".join(lines[0].split()) == " ".join(title.split()):
        lines = lines[1:]  # trafilatura keeps the <h1> that repeats the title
    if not lines:
        return SkippedItem(origin, "no article text found in the HTML")
    body = "\n\n".join(lines)
    if not title:
        title = one_line(lines[0], 120)

    metadata: dict[str, Any] = {}
    page_url = _absolute(_first(tree, '//link[@rel="canonical"]/@href'), url)
    page_url = page_url or _absolute(_first(tree, '//meta[@property="og:url"]/@content'), url)
    page_url = page_url or _absolute(doc.url if doc is not None else None, url) or _absolute(url)
    if url and page_url and page_url != url:
        metadata["fetched_url"] = url
    site = (doc.sitename if doc is not None else None) or _first(
        tree, '//meta[@property="og:site_name"]/@content'
    )
    if site:
        metadata["site_name"] = site
    if doc is not None and doc.author:
        metadata["author"] = doc.author

    return Article(
        title=one_line(title, 1000),
        body=body,
        origin=origin,
        published=_published(tree, doc.date if doc is not None else None, origin),
        source=source or site or None,
        url=page_url,
        metadata=metadata,
    )


def _tree(html: str) -> Any:
    try:
        parser = lxml.html.HTMLParser(encoding="utf-8")
        return lxml.html.fromstring(html.encode("utf-8", "replace"), parser=parser)
    except (etree.ParserError, ValueError):
        return None


def _first(tree: Any, xpath: str) -> str | None:
    if tree is None:
        return None
    for value in tree.xpath(xpath):
        value = " ".join(str(value).split())
        if value:
            return value
    return None


def _absolute(href: str | None, base: str | None = None) -> str | None:
    """An http(s) URL, resolved against ``base``; anything else (relative, javascript:) is None."""
    if not href:
        return None
    full = urljoin(base, href) if base else href
    parts = urlsplit(full)
    return full if parts.scheme in ("http", "https") and parts.netloc else None


def _published(tree: Any, fallback: str | None, origin: str) -> datetime | None:
    """The page's own publication time; a bad or missing one is not a reason to skip the page."""
    candidates = [_first(tree, xp) for xp in _DATE_XPATHS]
    candidates.append(_json_ld_date(tree))
    for value in candidates:
        if value:
            try:
                return parse_published(value, origin)
            except ValueError:
                continue
    if fallback:
        try:
            when = datetime.strptime(fallback[:10], "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            return None
        return when if plausible_published(when) else None
    return None


def _json_ld_date(tree: Any) -> str | None:
    if tree is None:
        return None
    for script in tree.xpath('//script[@type="application/ld+json"]/text()'):
        try:
            found = _find_key(json.loads(script), "datePublished", depth=0)
        except (json.JSONDecodeError, RecursionError):
            continue
        if found:
            return found
    return None


def _find_key(obj: Any, key: str, depth: int) -> str | None:
    if depth > 6:
        return None
    if isinstance(obj, dict):
        value = obj.get(key)
        if isinstance(value, str) and value.strip():
            return value
        children = list(obj.values())
    elif isinstance(obj, list):
        children = obj
    else:
        return None
    for child in children:
        found = _find_key(child, key, depth + 1)
        if found:
            return found
    return None
