"""``FeedPoller``: poll every feed on its own interval, turn new items into indexed articles.

One poll of one feed (``poll_once``): conditional GET of the feed (304: nothing to do), parse,
drop items already seen (GUID, link, article URL or content — see ``registry``), fetch each
new item's page for the full text (feed summary as the fallback), ingest them all in one
``engine.ingest`` run in a worker thread (so questions keep being answered from the previous
index snapshot meanwhile, and are answerable from the new one as soon as it returns), then
record the items. The first successful poll of a feed is a *baseline*: what is there is
indexed, but nothing is postable, so subscribing to a busy feed does not flood a channel.

A failing feed (unreachable, malformed, not a feed) keeps its items and its ETag, records the
error, and is retried after ``interval * 2**(failures-1)`` seconds, or the server's
Retry-After when longer, capped at ``max_backoff_seconds``; ``newsbot feeds list`` shows both.

``run(stop)`` is the loop (``newsbot watch``, or the Discord bot's background task): it claims
due feeds, polls up to ``concurrent_feeds`` at once, calls ``on_result`` after each poll (the
Discord side posts ``registry.pending_posts`` there), and sleeps until the next feed is due —
never longer than ``idle_seconds``, so feeds added by another process are picked up.

Wiring it into a long-running front end (what ``newsbot watch`` does)::

    poller = bot.feeds_setup.make_poller(settings, engine, registry)  # inside the event loop
    task = asyncio.create_task(poller.run(stop_event, on_result=post_new_items))
    ...
    feed = registry.add_feed(url, owner=owner)   # a front end adds a feed
    result = await poller.poll_once(feed)   # immediate feedback: failed? how many indexed?
    ...
    stop_event.set(); await task; await poller.fetcher.aclose()

``post_new_items(result)`` gets every ``PollResult``; what to post per subscription comes from
``registry.pending_posts`` (see ``index.feeds.registry``), which also covers posts missed
while the bot was down.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from index.engine import Engine
from index.errors import NewsbotError
from index.feeds.articles import items_articles, read_feed
from index.feeds.config import FeedConfig
from index.feeds.fetch import FEED_ACCEPT, FetchError, SafeFetcher
from index.feeds.parse import FeedItem, FeedParseError
from index.feeds.registry import Feed, Registry, SeenItem
from index.feeds.urls import canonical_url
from index.model import Article, SkippedItem

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NewArticle:
    """An item this poll turned into a stored article (or found already stored elsewhere)."""

    feed_id: int
    article_id: str
    title: str
    url: str | None
    published: datetime | None
    # "page": the linked page's text; "feed-summary": the feed's own text (page unusable);
    # "known": stored before from another feed carrying the same link (nothing fetched).
    extracted: str
    baseline: bool  # recorded on the feed's first poll: indexed, never posted


@dataclass(slots=True)
class PollResult:
    feed: Feed
    new_articles: list[NewArticle] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # one line each, naming a URL
    failed: bool = False  # the feed itself could not be read (backoff applies)
    not_modified: bool = False
    baseline: bool = False

    @property
    def postable(self) -> list[NewArticle]:
        return [a for a in self.new_articles if not a.baseline]


ResultCallback = Callable[[PollResult], Awaitable[None] | None]


class FeedPoller:
    def __init__(
        self,
        engine: Engine,
        registry: Registry,
        fetcher: SafeFetcher,
        config: FeedConfig,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.registry = registry
        self.fetcher = fetcher
        self.config = config
        self.clock = clock
        self._wake = asyncio.Event()

    def interval(self, feed: Feed) -> float:
        return feed.interval or self.config.poll_interval_seconds

    def backoff(self, feed: Feed, failures: int, at_least: float = 0.0) -> float:
        """Seconds to wait after the ``failures``-th failure in a row, or ``at_least`` (a
        server's Retry-After) when longer, never past the cap: a feed is not given up."""
        interval = self.interval(feed)
        cap = max(self.config.max_backoff_seconds, interval)
        return min(max(interval * 2.0 ** min(failures - 1, 30), at_least), cap)

    # -- one feed ----------------------------------------------------------------------

    async def poll_once(self, feed: Feed) -> PollResult:
        """Poll one feed now; never raises for a feed's own trouble (it is in the result)."""
        now = self.clock()
        try:
            fetched = await self.fetcher.fetch(
                feed.url, etag=feed.etag, last_modified=feed.last_modified, accept=FEED_ACCEPT
            )
            if fetched.not_modified:
                self.registry.record_success(
                    feed.id,
                    etag=fetched.etag or feed.etag,
                    last_modified=fetched.last_modified or feed.last_modified,
                    next_poll_at=now + self.interval(feed),
                    now=now,
                )
                return PollResult(feed, not_modified=True)
            parsed = read_feed(fetched, feed.url)
        except FetchError as exc:
            return self._failed(feed, str(exc), now, exc.retry_after)
        except FeedParseError as exc:
            return self._failed(feed, str(exc), now)
        if parsed.warning:
            log.info("%s: read despite a problem: %s", feed.url, parsed.warning)

        result = PollResult(feed, baseline=not feed.baselined)
        try:
            rows = await self._take_items(feed, parsed.items, feed.name or parsed.title, result)
        except (NewsbotError, OSError, RuntimeError) as exc:  # store trouble: retry it all later
            return self._failed(feed, f"{feed.url}: ingest failed: {exc}", now)
        self.registry.record_items(feed.id, rows)
        self.registry.record_success(
            feed.id,
            etag=fetched.etag,
            last_modified=fetched.last_modified,
            next_poll_at=now + self.interval(feed),
            now=now,
        )
        for error in result.errors:
            log.warning("%s", error)
        return result

    def _failed(
        self, feed: Feed, message: str, now: float, retry_after: float | None = None
    ) -> PollResult:
        """Record the failure and when to try again (``retry_after``: 429/503 Retry-After)."""
        failures = feed.consecutive_failures + 1
        delay = self.backoff(feed, failures, retry_after or 0.0)
        self.registry.record_failure(feed.id, message, next_poll_at=now + delay, now=now)
        log.warning("feed failed (%d in a row, next try in %.0fs): %s", failures, delay, message)
        return PollResult(feed, errors=[message], failed=True)

    async def _take_items(
        self, feed: Feed, items: Sequence[FeedItem], source: str | None, result: PollResult
    ) -> list[SeenItem]:
        """Dedupe, build and ingest the new items; the rows to record for all of them."""
        rows: list[SeenItem] = []
        fresh: list[tuple[FeedItem, str | None]] = []
        this_poll: set[str] = set()
        for item in reversed(items):  # feeds list newest first; store oldest first
            link = canonical_url(item.url) if item.url else None
            keys = {item.guid, item.content_hash} | ({link} if link else set())
            if keys & this_poll:
                continue  # the same story twice in one document
            this_poll |= keys
            match = self.registry.find_seen(
                feed.id, guid=item.guid, link=link, content_hash=item.content_hash
            )
            if match is not None:
                if not match.guid_known:  # a rewritten GUID: remember it, never post it
                    rows.append(_seen(item, link, match.article_id, postable=False))
                continue
            known = self.registry.article_for_link(link) if link else None
            if known is not None and self.registry.feed_has_article(feed.id, known):
                rows.append(_seen(item, link, known, postable=False))  # a rewrite, after all
                continue
            if known is not None:  # another feed (another owner) already fetched this page
                rows.append(self._new(feed, item, link, known, "known", result))
                continue
            fresh.append((item, link))

        built = await items_articles(
            self.fetcher, [i for i, _ in fresh], feed_url=feed.url, source=source
        )
        articles = [a for a in built if isinstance(a, Article)]
        ids: list[str | None] = []
        if articles:
            await asyncio.to_thread(self.engine.ingest, articles)
            ids = await asyncio.to_thread(self._stored_ids, articles)
        stored = iter(ids)
        taken: set[str] = set()
        for (item, link), made in zip(fresh, built, strict=True):
            if isinstance(made, SkippedItem):
                result.errors.append(f"{feed.url}: item {item.guid}: {made.origin}: {made.reason}")
                rows.append(_seen(item, link, None, postable=False))
                continue
            article_id = next(stored)
            if article_id is None:
                result.errors.append(f"{feed.url}: item {item.guid}: not stored (no sentences)")
                rows.append(_seen(item, link, None, postable=False, url=made.url))
            elif article_id in taken or self.registry.feed_has_article(feed.id, article_id):
                # Same page under a new link (its canonical URL or text gave it away).
                rows.append(_seen(item, link, article_id, postable=False, url=made.url))
            else:
                taken.add(article_id)
                extracted = str(made.metadata.get("extracted", "page"))
                rows.append(self._new(feed, item, link, article_id, extracted, result, made))
        return rows

    def _new(
        self,
        feed: Feed,
        item: FeedItem,
        link: str | None,
        article_id: str,
        extracted: str,
        result: PollResult,
        article: Article | None = None,
    ) -> SeenItem:
        url = article.url if article is not None else link
        result.new_articles.append(
            NewArticle(
                feed_id=feed.id,
                article_id=article_id,
                title=item.title,
                url=url,
                published=item.published or (article.published if article else None),
                extracted=extracted,
                baseline=result.baseline,
            )
        )
        return _seen(item, link, article_id, postable=not result.baseline, url=url)

    def _stored_ids(self, articles: Sequence[Article]) -> list[str | None]:
        """The id each article was stored under (the engine dedupes by URL, then by text)."""
        found = (self.engine.store.find_existing(a) for a in articles)
        return [f[0] if f else None for f in found]

    # -- the loop ----------------------------------------------------------------------

    def wake(self) -> None:
        """Look for due feeds now (say, right after a feed was added)."""
        self._wake.set()

    async def poll_many(self, feeds: Sequence[Feed]) -> list[PollResult]:
        """Poll these feeds now, ``concurrent_feeds`` at a time (``newsbot watch --once``)."""
        slots = asyncio.Semaphore(self.config.concurrent_feeds)

        async def one(feed: Feed) -> PollResult:
            async with slots:
                return await self._poll_guarded(feed)

        return list(await asyncio.gather(*(one(f) for f in feeds)))

    async def run(
        self,
        stop: asyncio.Event,
        on_result: ResultCallback | None = None,
        *,
        idle_seconds: float = 30.0,
        grace_seconds: float | None = None,
    ) -> None:
        """Poll due feeds until ``stop`` is set; then let running polls finish for
        ``grace_seconds`` (default: one fetch timeout) and cancel the rest."""
        slots = asyncio.Semaphore(self.config.concurrent_feeds)
        running: set[asyncio.Task[None]] = set()

        async def one(feed: Feed) -> None:
            async with slots:
                if stop.is_set():
                    return
                result = await self._poll_guarded(feed)
            await _deliver(on_result, result)

        while not stop.is_set():
            now = self.clock()
            for feed in self.registry.due_feeds(now):
                # Claim it: no second poll of this feed starts while this one runs.
                self.registry.set_next_poll(feed.id, now + self.interval(feed))
                task = asyncio.create_task(one(feed), name=f"poll feed {feed.id}")
                running.add(task)
                task.add_done_callback(running.discard)
            upcoming = self.registry.next_due()
            delay = idle_seconds
            if upcoming is not None:
                delay = min(delay, max(0.05, upcoming.timestamp() - self.clock()))
            self._wake.clear()
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()

        if running:
            grace = self.config.fetch_timeout_seconds if grace_seconds is None else grace_seconds
            _, late = await asyncio.wait(set(running), timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def _poll_guarded(self, feed: Feed) -> PollResult:
        """``poll_once``, with any bug in it logged and counted as the feed's failure rather
        than ending the loop."""
        try:
            return await self.poll_once(feed)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("polling %s failed", feed.url)
            return self._failed(feed, f"{feed.url}: {type(exc).__name__}: {exc}", self.clock())


async def _deliver(callback: ResultCallback | None, result: PollResult) -> None:
    if callback is None:
        return
    try:
        outcome = callback(result)
        if inspect.isawaitable(outcome):
            await outcome
    except Exception:
        log.exception("the poll result callback failed for %s", result.feed.url)


def _seen(
    item: FeedItem,
    link: str | None,
    article_id: str | None,
    *,
    postable: bool,
    url: str | None = None,
) -> SeenItem:
    return SeenItem(
        guid=item.guid,
        link=link,
        url=url,
        content_hash=item.content_hash,
        article_id=article_id,
        title=item.title,
        summary=item.summary or item.content[:1000],
        published=item.published,
        postable=postable,
    )
