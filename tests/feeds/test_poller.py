"""FeedPoller end to end: a real local server serves feeds and pages, a real engine indexes them.

Covers the baseline rule (no flood), conditional GET, GUID rewrites, the feed-summary fallback,
failing feeds with backoff, and freshness (a polled article is answerable at once).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from html import escape

import pytest

from index.engine import Engine
from index.feeds.config import FeedConfig
from index.feeds.fetch import SafeFetcher
from index.feeds.poller import FeedPoller, PollResult
from index.feeds.registry import Feed, Registry
from tests.support.http_server import LocalServer, Route

INTERVAL = 600.0

STORIES = {
    1: (
        "Ferry service to Gull Island resumes after storm",
        [
            "The ferry service between Northport and Gull Island resumed on Tuesday morning "
            "after a three-day suspension caused by the storm.",
            "Harbour master Ines Calloway said crews had cleared debris from the Gull Island "
            "pier overnight and inspected the ramps.",
            "The first crossing left Northport at 7:15 with forty passengers aboard.",
        ],
    ),
    2: (
        "Council approves new library for Eastfield",
        [
            "The Eastfield town council voted seven to two on Monday to build a new public "
            "library on the site of the old bus depot.",
            "Construction is expected to start next spring and cost 4.2 million euros.",
            "Councillor Tomas Brandt said the library would open in 2026.",
        ],
    ),
    3: (
        "Lighthouse keeper retires after forty years",
        [
            "Marguerite Olsson, the keeper of the Cape Varn lighthouse, retired on Friday "
            "after forty years of service.",
            "She said the hardest winter was 1987, when ice closed the harbour for six weeks.",
            "The lighthouse has been automated and will be run from the mainland.",
        ],
    ),
}


def page_html(n: int, base: str) -> str:
    title, paragraphs = STORIES[n]
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return (
        f"<!DOCTYPE html><html><head><title>{escape(title)} | Harbour Gazette</title>"
        f'<link rel="canonical" href="{base}/story/{n}.html">'
        '<meta property="og:site_name" content="Harbour Gazette">'
        f'<meta property="article:published_time" content="2024-05-1{n}T08:00:00+00:00">'
        f"</head><body><nav>Home | World | Sport</nav><article><h1>{escape(title)}</h1>{body}"
        "</article><footer>Copyright Harbour Gazette</footer></body></html>"
    )


@dataclass
class Entry:
    n: int
    guid: str | None = None
    link: str | None = None
    date: str = "Tue, 14 May 2024 08:30:00 +0000"

    def summary(self) -> str:
        return STORIES[self.n][1][0]


def rss(base: str, entries: list[Entry]) -> str:
    items = "".join(
        "<item>"
        f"<title>{escape(STORIES[e.n][0])}</title>"
        f"<link>{escape(e.link or f'{base}/story/{e.n}.html')}</link>"
        f'<guid isPermaLink="false">{escape(e.guid or f"story-{e.n}")}</guid>'
        f"<pubDate>{e.date}</pubDate>"
        f"<description>{escape(e.summary())}</description>"
        "</item>"
        for e in reversed(entries)  # newest first, as feeds list them
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>Harbour Gazette</title><link>{base}/</link>{items}</channel></rss>"
    )


def atom(base: str, entries: list[Entry]) -> str:
    body = "".join(
        f"<entry><title>{escape(STORIES[e.n][0])}</title>"
        f'<link rel="alternate" href="{base}/story/{e.n}.html"/>'
        f"<id>urn:story:{e.n}</id><updated>2024-05-14T09:00:00Z</updated>"
        f"<summary>{escape(e.summary())}</summary></entry>"
        for e in entries
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>Valley Times</title><id>urn:feed</id><updated>2024-05-14T10:00:00Z</updated>"
        f"{body}</feed>"
    )


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    server: LocalServer
    engine: Engine
    registry: Registry
    poller: FeedPoller
    clock: Clock

    @property
    def base(self) -> str:
        return self.server.url("")

    def serve_pages(self, *numbers: int) -> None:
        for n in numbers:
            self.server.route(f"/story/{n}.html", Route(page_html(n, self.base)))

    def serve_rss(self, entries: list[Entry], **route: object) -> str:
        return self.server.route(
            "/feed.xml",
            Route(rss(self.base, entries), content_type="application/rss+xml", **route),  # type: ignore[arg-type]
        )

    def add_feed(self, url: str | None = None, **kw: object) -> Feed:
        return self.registry.add_feed(url or self.server.url("/feed.xml"), **kw)  # type: ignore[arg-type]

    async def poll(self, feed: Feed) -> PollResult:
        fresh = self.registry.feed(feed.id)
        assert fresh is not None
        return await self.poller.poll_once(fresh)

    def article_count(self) -> int:
        return self.engine.stats().articles

    def metadata(self, article_id: str) -> dict:
        with sqlite3.connect(self.engine.config.db_path) as db:
            row = db.execute("SELECT metadata FROM articles WHERE id=?", (article_id,)).fetchone()
        return json.loads(row[0])


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as s:
        yield s


@pytest.fixture
async def rig(server: LocalServer, engine_factory) -> AsyncIterator[Rig]:
    engine = engine_factory()
    registry = Registry(engine.config.db_path)
    config = FeedConfig(
        poll_interval_seconds=INTERVAL,
        allow_hosts=("127.0.0.1",),
        fetch_timeout_seconds=0.5,
        max_body_bytes=200_000,
        max_backoff_seconds=4 * INTERVAL,
    )
    clock = Clock()
    fetcher = SafeFetcher(config)
    poller = FeedPoller(engine, registry, fetcher, config, clock=clock)
    yield Rig(server, engine, registry, poller, clock)
    await fetcher.aclose()
    registry.close()


async def test_first_poll_is_a_baseline_and_the_next_new_item_is_postable(rig: Rig):
    rig.serve_pages(1, 2, 3)
    rig.serve_rss([Entry(1), Entry(2)])
    feed = rig.add_feed(name="Gazette")
    sub = rig.registry.subscribe(5, 50, feed_id=feed.id)

    first = await rig.poll(feed)
    assert first.baseline and not first.errors
    assert sorted(a.title for a in first.new_articles) == sorted([STORIES[1][0], STORIES[2][0]])
    assert all(a.baseline and a.extracted == "page" for a in first.new_articles)
    assert first.postable == []
    assert rig.registry.pending_posts(sub) == []
    assert rig.article_count() == 2

    rig.serve_rss([Entry(1), Entry(2), Entry(3)])
    second = await rig.poll(feed)
    assert not second.baseline
    assert [a.title for a in second.postable] == [STORIES[3][0]]
    (batch,) = rig.registry.pending_posts(sub)
    assert [p.title for p in batch.posts] == [STORIES[3][0]] and batch.more == 0
    assert batch.posts[0].article_id == second.postable[0].article_id
    assert rig.article_count() == 3
    stored = rig.engine.article(second.postable[0].article_id)
    assert stored is not None and stored.source == "Gazette"
    assert stored.body.startswith("Marguerite Olsson, the keeper")
    assert "Copyright" not in stored.body  # the page's boilerplate was left out


async def test_atom_feed(rig: Rig):
    rig.serve_pages(1, 2)
    url = rig.server.route(
        "/atom.xml",
        Route(atom(rig.base, [Entry(1), Entry(2)]), content_type="application/atom+xml"),
    )
    result = await rig.poll(rig.add_feed(url))
    assert not result.failed and len(result.new_articles) == 2
    assert {a.url for a in result.new_articles} == {
        f"{rig.base}/story/1.html",
        f"{rig.base}/story/2.html",
    }


async def test_etag_and_304(rig: Rig):
    rig.serve_pages(1)
    rig.serve_rss([Entry(1)], etag='"rev-1"', last_modified="Tue, 14 May 2024 08:30:00 GMT")
    feed = rig.add_feed()
    await rig.poll(feed)
    assert rig.server.conditional_hits("/feed.xml") == 0
    again = await rig.poll(feed)
    assert again.not_modified and again.new_articles == [] and not again.failed
    assert rig.server.conditional_hits("/feed.xml") == 1
    assert rig.server.last("/feed.xml").headers["if-none-match"] == '"rev-1"'
    assert rig.server.hits("/story/1.html") == 1  # no page was fetched again
    state = rig.registry.feed(feed.id)
    assert (
        state is not None
        and state.etag == '"rev-1"'
        and state.next_poll_at.timestamp() - rig.clock.now == pytest.approx(INTERVAL, abs=1)
    )


async def test_rewritten_guid_is_not_a_second_article_or_post(rig: Rig):
    rig.serve_pages(1, 2)
    rig.serve_rss([Entry(1)])
    feed = rig.add_feed()
    sub = rig.registry.subscribe(5, 50, feed_id=feed.id)
    await rig.poll(feed)
    rig.serve_rss([Entry(1), Entry(2)])
    (new,) = (await rig.poll(feed)).postable
    rig.registry.mark_posted(sub.id, [new.article_id])

    # The publisher rewrites GUIDs and dates and adds tracking to links...
    rig.serve_rss(
        [
            Entry(1, guid="v2-story-1", date="Wed, 15 May 2024 10:00:00 +0000"),
            Entry(2, guid="v2-story-2", link=f"{rig.base}/story/2.html?utm_source=rss#top"),
        ]
    )
    rewritten = await rig.poll(feed)
    assert rewritten.new_articles == [] and not rewritten.errors
    # ...and then moves one story to a new address with the same title and text.
    rig.serve_rss([Entry(1, guid="v3", link=f"{rig.base}/moved/1.html"), Entry(2, guid="v3-2")])
    moved = await rig.poll(feed)
    assert moved.new_articles == []
    assert rig.server.hits("/moved/1.html") == 0  # recognised from the feed alone
    assert rig.article_count() == 2
    assert rig.registry.pending_posts(sub) == []


async def test_unreachable_page_falls_back_to_the_feed_summary(rig: Rig):
    rig.serve_rss([Entry(1), Entry(2)])  # /story/1.html is not served: 404
    rig.server.route("/story/2.html", Route("x" * 300_000))  # over the body cap
    result = await rig.poll(rig.add_feed())
    assert not result.failed
    by_title = {a.title: a for a in result.new_articles}
    gone, big = by_title[STORIES[1][0]], by_title[STORIES[2][0]]
    assert gone.extracted == big.extracted == "feed-summary"
    meta = rig.metadata(gone.article_id)
    assert meta["extracted"] == "feed-summary" and "HTTP 404" in meta["extract_error"]
    assert "body too large" in rig.metadata(big.article_id)["extract_error"]
    stored = rig.engine.article(gone.article_id)
    assert stored is not None and stored.body == STORIES[1][1][0]
    assert stored.url == f"{rig.base}/story/1.html"


async def test_an_item_link_that_is_not_a_valid_url_falls_back_alone(rig: Rig):
    # fetch.py: httpx.InvalidURL escaped the fetcher, poll_once raised, and the feed failed
    # every poll with none of its items stored.
    rig.serve_pages(1)
    rig.serve_rss([Entry(1), Entry(2, link=f"{rig.base}/story/2\x01.html")])
    result = await rig.poll(rig.add_feed())
    assert not result.failed
    by_title = {a.title: a for a in result.new_articles}
    assert by_title[STORIES[1][0]].extracted == "page"
    assert by_title[STORIES[2][0]].extracted == "feed-summary"
    assert "not a valid URL" in rig.metadata(by_title[STORIES[2][0]].article_id)["extract_error"]


async def test_a_304_to_the_first_poll_is_no_baseline(rig: Rig):
    # A server answering 304 to an unconditional request made the first poll a baseline that
    # recorded nothing, and the second poll then posted the whole feed.
    url = rig.server.route("/feed.xml", Route(status=304))
    feed = rig.add_feed(url)
    first = await rig.poll(feed)
    assert first.failed and first.errors == [
        f"{url}: HTTP 304 Not Modified to a request that was not conditional"
    ]
    rig.clock.now += INTERVAL
    rig.serve_pages(1, 2)
    rig.serve_rss([Entry(1), Entry(2)])
    second = await rig.poll(feed)
    assert second.baseline and len(second.new_articles) == 2 and second.postable == []


async def test_malformed_feed_backs_off_and_loses_nothing(rig: Rig, caplog):
    rig.serve_pages(1, 2)
    rig.serve_rss([Entry(1)])
    feed = rig.add_feed()
    await rig.poll(feed)
    url = rig.server.route(
        "/feed.xml",
        Route(
            '<?xml version="1.0"?><rss version="2.0"><channel><title>x</title></channel',
            content_type="application/rss+xml",
        ),
    )
    with caplog.at_level(logging.WARNING, logger="index.feeds.poller"):
        broken = await rig.poll(feed)
    assert broken.failed and broken.errors[0].startswith(f"{url}: malformed feed")
    assert url in caplog.text
    state = rig.registry.feed(feed.id)
    assert state is not None and state.consecutive_failures == 1
    assert state.last_error is not None and state.last_error.startswith(url)
    assert state.next_poll_at.timestamp() - rig.clock.now == pytest.approx(INTERVAL, abs=1)

    rig.clock.now += INTERVAL
    await rig.poll(feed)
    state = rig.registry.feed(feed.id)
    assert state is not None and state.consecutive_failures == 2
    assert state.next_poll_at.timestamp() - rig.clock.now == pytest.approx(2 * INTERVAL, abs=1)
    assert rig.registry.item_count(feed.id) == 1 and rig.article_count() == 1

    rig.clock.now += 2 * INTERVAL
    rig.serve_rss([Entry(1), Entry(2)])
    healed = await rig.poll(feed)
    assert [a.title for a in healed.postable] == [STORIES[2][0]]  # not a new baseline
    state = rig.registry.feed(feed.id)
    assert state is not None and state.consecutive_failures == 0 and state.last_error is None


async def test_backoff_is_capped(rig: Rig):
    feed = rig.add_feed(rig.server.url("/missing.xml"))
    for _ in range(6):
        await rig.poll(feed)
    state = rig.registry.feed(feed.id)
    assert state is not None and state.consecutive_failures == 6
    assert state.next_poll_at.timestamp() - rig.clock.now == pytest.approx(4 * INTERVAL, abs=1)
    assert "HTTP 404" in (state.last_error or "")


@pytest.mark.parametrize(
    ("retry_after", "wait"),
    [("1800", 1800.0), ("86400", 4 * INTERVAL), ("Fri, 01 Jan 2100 00:00:00 GMT", 4 * INTERVAL)],
)
async def test_a_rate_limited_feed_waits_its_retry_after(rig: Rig, retry_after, wait):
    # poller.py: Retry-After was ignored and a 429 feed was asked again after one interval.
    url = rig.server.route(
        "/feed.xml", Route("slow down", status=429, headers={"Retry-After": retry_after})
    )
    feed = rig.add_feed(url)
    result = await rig.poll(feed)
    assert result.failed and result.errors == [f"{url}: HTTP 429 Too Many Requests"]
    state = rig.registry.feed(feed.id)
    assert state is not None
    assert state.next_poll_at.timestamp() - rig.clock.now == pytest.approx(wait, abs=1)


async def test_wrong_content_type_is_not_a_feed(rig: Rig):
    url = rig.server.route(
        "/feed.png", Route(b"\x89PNG\r\n\x1a\n" + b"\0" * 64, content_type="image/png")
    )
    result = await rig.poll(rig.add_feed(url))
    assert result.failed
    assert result.errors == [f"{url}: not an RSS or Atom feed (content type image/png)"]


async def test_feed_server_that_never_answers(rig: Rig):
    url = rig.server.route("/feed.xml", Route(hang=True))
    started = time.monotonic()
    result = await rig.poll(rig.add_feed(url))
    assert time.monotonic() - started < 3
    assert result.failed and result.errors == [f"{url}: timed out after 0.5s"]


async def test_polled_article_is_answerable_without_restart(rig: Rig):
    rig.serve_pages(2, 1)
    rig.serve_rss([Entry(2)])
    feed = rig.add_feed()
    await rig.poll(feed)
    rig.serve_rss([Entry(2), Entry(1)])
    (new,) = (await rig.poll(feed)).postable
    answer = rig.engine.quote_answer("When did the ferry service to Gull Island resume?")
    assert not answer.abstained, answer.reason
    assert answer.quotes[0].article.id == new.article_id
    assert "Tuesday" in answer.quotes[0].text


async def test_same_feed_of_two_owners_fetches_each_page_once(rig: Rig):
    rig.serve_pages(1)
    rig.serve_rss([Entry(1)])
    url = rig.server.url("/feed.xml")
    one = await rig.poll(rig.add_feed(url, owner="1"))
    two = await rig.poll(rig.add_feed(url, owner="2"))
    assert one.new_articles[0].article_id == two.new_articles[0].article_id
    assert rig.server.hits("/story/1.html") == 1
    assert rig.article_count() == 1


async def test_run_polls_due_feeds_until_stopped(rig: Rig):
    rig.poller.clock = time.time
    rig.serve_pages(1)
    rig.serve_rss([Entry(1)])
    feed = rig.add_feed()
    stop = asyncio.Event()
    seen: list[PollResult] = []

    def on_result(result: PollResult) -> None:
        seen.append(result)
        stop.set()

    started = time.monotonic()
    await asyncio.wait_for(rig.poller.run(stop, on_result, idle_seconds=0.2), timeout=10)
    assert time.monotonic() - started < 5
    assert [r.feed.id for r in seen] == [feed.id] and seen[0].baseline
    state = rig.registry.feed(feed.id)
    assert state is not None and state.baselined
    assert state.next_poll_at.timestamp() > time.time() + INTERVAL / 2  # not polled again soon
