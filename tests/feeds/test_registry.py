"""The feed tables: per-owner feeds, dedupe lookups, subscriptions and posts across restarts."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from index.feeds.registry import LimitReached, Registry, RegistryError, SeenItem, matches_keywords


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "newsbot.sqlite3"


def item(n: int, *, postable: bool = True, title: str | None = None, summary: str = "") -> SeenItem:
    return SeenItem(
        guid=f"g{n}",
        link=f"http://example.org/{n}",
        url=f"http://example.org/{n}",
        content_hash=f"h{n}",
        article_id=f"a-{n}",
        title=title or f"Story {n}",
        summary=summary,
        published=datetime(2024, 5, 1, 0, n, tzinfo=UTC),
        postable=postable,
    )


def test_same_url_for_several_owners_but_once_per_owner(db):
    with Registry(db) as reg:
        a = reg.add_feed("http://example.org/rss", owner="1")
        b = reg.add_feed("http://example.org/rss", owner="2")
        c = reg.add_feed("http://example.org/rss")  # global (CLI)
        assert len({a.id, b.id, c.id}) == 3
        with pytest.raises(RegistryError, match="already in the feeds of 1"):
            reg.add_feed("http://example.org/rss", owner="1")
        with pytest.raises(RegistryError, match="already in the global feeds"):
            reg.add_feed("http://example.org/rss")
        assert [f.id for f in reg.feeds(owner="1", all_owners=False)] == [a.id, c.id]
        with pytest.raises(RegistryError, match="not an http"):
            reg.add_feed("file:///etc/passwd", owner="1")


def test_feeds_and_their_state_survive_a_restart(db):
    with Registry(db) as reg:
        feed = reg.add_feed("http://example.org/rss", name="Example", interval=120)
        reg.record_success(
            feed.id, etag='"e1"', last_modified="Wed", next_poll_at=time.time() + 120
        )
        reg.record_failure(feed.id, "http://example.org/rss: timed out", next_poll_at=1e10)
        reg.record_items(feed.id, [item(1, postable=False)])
    with Registry(db) as reg:
        (again,) = reg.feeds()
        assert (again.name, again.interval, again.etag, again.last_modified) == (
            "Example",
            120,
            '"e1"',
            "Wed",
        )
        assert again.baselined and again.consecutive_failures == 1
        assert again.last_error == "http://example.org/rss: timed out"
        assert reg.due_feeds() == []
        assert reg.item_count(feed.id) == 1


def test_find_seen_matches_guid_link_article_url_or_content(db):
    with Registry(db) as reg:
        feed = reg.add_feed("http://example.org/rss")
        other = reg.add_feed("http://example.org/other")
        reg.record_items(feed.id, [item(1)])
        same_guid = reg.find_seen(feed.id, guid="g1", link=None, content_hash="zzz")
        assert same_guid is not None and same_guid.guid_known
        by_link = reg.find_seen(feed.id, guid="new", link="http://example.org/1", content_hash="z")
        assert by_link is not None and not by_link.guid_known and by_link.article_id == "a-1"
        assert reg.find_seen(feed.id, guid="new", link=None, content_hash="h1") is not None
        assert (
            reg.find_seen(feed.id, guid="new", link="http://example.org/2", content_hash="x")
            is None
        )
        assert reg.find_seen(other.id, guid="g1", link=None, content_hash="h1") is None
        assert reg.article_for_link("http://example.org/1") == "a-1"


def test_baseline_items_are_never_pending(db):
    with Registry(db) as reg:
        feed = reg.add_feed("http://example.org/rss", owner="7")
        sub = reg.subscribe("7", "70", feed_id=feed.id)
        reg.record_items(feed.id, [item(1, postable=False), item(2)])
        (batch,) = reg.pending_posts(sub)
        assert [p.article_id for p in batch.posts] == ["a-2"]


def test_pending_posts_cap_per_feed_and_count_the_rest(db):
    with Registry(db) as reg:
        feed = reg.add_feed("http://example.org/rss", owner="7")
        sub = reg.subscribe("7", "70")  # every feed of owner 7
        reg.record_items(feed.id, [item(n) for n in range(1, 9)])
        (batch,) = reg.pending_posts(sub, per_feed=3)
        # The three newest, oldest first; five more summarised as a count.
        assert [p.article_id for p in batch.posts] == ["a-6", "a-7", "a-8"]
        assert batch.more == 5 and len(batch.article_ids) == 8
        reg.mark_posted(sub.id, batch.article_ids)
        assert reg.pending_posts(sub, per_feed=3) == []


def test_posted_survives_restart_and_is_keyed_on_the_article(db):
    with Registry(db) as reg:
        feed = reg.add_feed("http://example.org/rss", owner="7")
        sub = reg.subscribe("7", "70", feed_id=feed.id)
        reg.record_items(feed.id, [item(1)])
        (batch,) = reg.pending_posts(sub)
        reg.mark_posted(sub.id, batch.article_ids)
    with Registry(db) as reg:
        # The publisher rewrote the GUID and the poller (wrongly) recorded it as postable:
        # the article was posted already, so it is still not pending.
        rewritten = SeenItem("g1-new", None, None, "other", "a-1", "Story 1", postable=True)
        reg.record_items(feed.id, [rewritten])
        assert reg.pending_posts(sub) == []
        assert reg.was_posted(sub.id, "a-1")


def test_items_before_the_subscription_are_not_pending(db):
    with Registry(db) as reg:
        feed = reg.add_feed("http://example.org/rss", owner="7")
        reg.record_items(feed.id, [item(1)])
        time.sleep(0.01)
        sub = reg.subscribe("7", "70", feed_id=feed.id)
        assert reg.pending_posts(sub) == []
        reg.record_items(feed.id, [item(2)])
        (batch,) = reg.pending_posts(sub)
        assert [p.article_id for p in batch.posts] == ["a-2"]


def test_all_feeds_subscription_covers_owner_and_global_feeds_once_per_article(db):
    with Registry(db) as reg:
        sub = reg.subscribe("7", "70")
        mine = reg.add_feed("http://example.org/a", owner="7")
        shared = reg.add_feed("http://example.org/b")
        foreign = reg.add_feed("http://example.org/c", owner="8")
        reg.record_items(mine.id, [item(1)])
        reg.record_items(shared.id, [item(1), item(2)])  # a-1 again, through another feed
        reg.record_items(foreign.id, [item(3)])
        offered = [p.article_id for b in reg.pending_posts(sub) for p in b.posts]
        assert sorted(offered) == ["a-1", "a-2"]


def test_keyword_filters(db):
    with Registry(db) as reg:
        feed = reg.add_feed("http://example.org/rss", owner="7")
        sub = reg.subscribe("7", "70", feed_id=feed.id, include=["Election"], exclude=["poll"])
        reg.record_items(
            feed.id,
            [
                item(1, title="Election day set"),
                item(2, title="Sports roundup", summary="The election of a captain"),
                item(3, title="Election poll shows tie"),
                item(4, title="Selections announced"),  # not the whole word
            ],
        )
        (batch,) = reg.pending_posts(sub)
        assert [p.article_id for p in batch.posts] == ["a-1", "a-2"]
        again = reg.subscribe("7", "70", feed_id=feed.id, include=[])  # replaces the keywords
        assert again.id == sub.id and again.include == () and again.exclude == ()


def test_matches_keywords():
    assert matches_keywords("Rates rise", [], [])
    assert not matches_keywords("Rates rise", ["rates cut"], [])
    assert matches_keywords("Central bank: rates cut again", ["rates cut"], [])
    assert not matches_keywords("C++ news", [], ["c++"])


def test_removing_a_feed_drops_its_items_and_subscriptions(db):
    with Registry(db) as reg:
        feed = reg.add_feed("http://example.org/rss", owner="7")
        reg.subscribe("7", "70", feed_id=feed.id)
        reg.record_items(feed.id, [item(1)])
        assert reg.remove_feed(feed.id)
        assert reg.item_count(feed.id) == 0 and reg.subscriptions() == []
        assert not reg.remove_feed(feed.id)
        with pytest.raises(RegistryError):
            reg.subscribe("7", "70", feed_id=feed.id)


def test_owner_limits_hold_when_two_processes_add_at_once(db):
    """The limit is counted in the transaction that adds: two writers (the bot and a CLI, or
    two managers at once) racing for an owner's last slot get one feed, not two."""
    with Registry(db) as setup:
        for i in range(2):
            setup.add_feed(f"https://news.example/{i}.xml", owner="7")
        setup.add_feed("https://news.example/global.xml")  # global: not the owner's
    start = threading.Barrier(4)
    outcomes: list[str] = []

    def add(n: int) -> None:
        with Registry(db) as registry:
            start.wait()
            try:
                registry.add_feed(f"https://news.example/new{n}.xml", owner="7", owner_limit=3)
                outcomes.append("added")
            except LimitReached as exc:
                outcomes.append(f"refused at {exc.count}")

    threads = [threading.Thread(target=add, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["added"] + ["refused at 3"] * 3
    with Registry(db) as registry:
        assert len(registry.feeds(all_owners=True)) == 4
        feed = next(f for f in registry.feeds() if f.owner == "7")
        for channel in (1, 2):
            registry.subscribe(7, channel, feed_id=feed.id, owner_limit=2)
        with pytest.raises(LimitReached):
            registry.subscribe("7", "3", feed_id=feed.id, owner_limit=2)
        # Subscribing again where it already is only replaces the keywords: allowed at the limit.
        again = registry.subscribe("7", "2", feed_id=feed.id, include=["storm"], owner_limit=2)
        assert again.include == ("storm",) and len(registry.subscriptions(owner="7")) == 2


# The feed tables as a store written before owners and destinations held them: Discord's guild
# and channel ids as integers. Kept verbatim so the migration is tested against the real thing.
_GUILD_SCHEMA = """
CREATE TABLE feeds (
    id INTEGER PRIMARY KEY AUTOINCREMENT, url TEXT NOT NULL, name TEXT, guild_id INTEGER,
    interval REAL, etag TEXT, last_modified TEXT, last_polled REAL, last_ok REAL,
    last_error TEXT, consecutive_failures INTEGER NOT NULL DEFAULT 0,
    next_poll_at REAL NOT NULL DEFAULT 0, baselined INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE UNIQUE INDEX feeds_guild_url ON feeds(ifnull(guild_id, 0), url);
CREATE TABLE feed_items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    feed_id INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE, guid TEXT NOT NULL,
    link TEXT, url TEXT, content_hash TEXT NOT NULL, article_id TEXT, title TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '', published REAL, first_seen REAL NOT NULL,
    postable INTEGER NOT NULL, UNIQUE (feed_id, guid)
);
CREATE TABLE feed_subscriptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, guild_id INTEGER NOT NULL,
    channel_id INTEGER NOT NULL, feed_id INTEGER REFERENCES feeds(id) ON DELETE CASCADE,
    include TEXT NOT NULL DEFAULT '[]', exclude TEXT NOT NULL DEFAULT '[]',
    created_at REAL NOT NULL
);
CREATE UNIQUE INDEX feed_subscriptions_target
    ON feed_subscriptions(guild_id, channel_id, ifnull(feed_id, 0));
CREATE TABLE feed_posted (
    subscription_id INTEGER NOT NULL REFERENCES feed_subscriptions(id) ON DELETE CASCADE,
    article_id TEXT NOT NULL, posted_at REAL NOT NULL, shown INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (subscription_id, article_id)
);
"""


def _guild_store(db: Path) -> None:
    """An old-format store: a guild feed with two items (one posted), a global feed, and a
    subscription of each kind, ids past 2**53 as Discord's are."""
    guild, channel = 1234567890123456789, 987654321098765432
    db.parent.mkdir(parents=True)
    old = sqlite3.connect(db)
    old.executescript(_GUILD_SCHEMA)
    now = time.time()
    old.executemany(
        "INSERT INTO feeds (id, url, name, guild_id, created_at, baselined) VALUES (?,?,?,?,?,1)",
        [
            (1, "http://example.org/rss", "Mine", guild, now - 60),
            (2, "http://example.org/g", None, None, now - 60),
        ],
    )
    old.executemany(
        "INSERT INTO feed_items (feed_id, guid, link, url, content_hash, article_id, title, "
        "first_seen, postable) VALUES (1,?,?,?,?,?,?,?,1)",
        [
            (
                f"g{n}",
                f"http://example.org/{n}",
                f"http://example.org/{n}",
                f"h{n}",
                f"a-{n}",
                f"Story {n}",
                now,
            )
            for n in (1, 2)
        ],
    )
    old.executemany(
        "INSERT INTO feed_subscriptions (id, guild_id, channel_id, feed_id, include, created_at) "
        "VALUES (?,?,?,?,?,?)",
        [
            (1, guild, channel, 1, '["story"]', now - 30),
            (2, guild, channel + 1, None, "[]", now - 30),
        ],
    )
    old.execute("INSERT INTO feed_posted VALUES (1, 'a-1', ?, 1)", (now,))
    old.commit()
    old.close()


def test_a_store_with_guild_and_channel_columns_keeps_its_feeds_and_subscriptions(db):
    _guild_store(db)
    guild, channel = "1234567890123456789", "987654321098765432"
    with Registry(db) as reg:
        mine, other = reg.feeds()
        assert (mine.id, mine.name, mine.owner, mine.baselined) == (1, "Mine", guild, True)
        assert (other.id, other.owner) == (2, None)
        assert [f.id for f in reg.feeds(owner=guild, all_owners=False)] == [1, 2]
        assert reg.item_count(1) == 2
        one, every = reg.subscriptions(owner=guild)
        assert (one.id, one.destination, one.feed_id, one.include) == (1, channel, 1, ("story",))
        assert (every.id, every.destination, every.feed_id) == (2, str(int(channel) + 1), None)
        assert reg.subscriptions(destination=channel) == [one]
        # What was posted stays posted; what was not is still pending.
        assert reg.was_posted(1, "a-1")
        (batch,) = reg.pending_posts(one)
        assert [p.article_id for p in batch.posts] == ["a-2"]
        # The unique rules hold in the new columns, and removing cascades as before.
        with pytest.raises(RegistryError, match="already in the feeds of"):
            reg.add_feed("http://example.org/rss", owner=guild)
        assert reg.subscribe(guild, channel, feed_id=1, include=["x"]).id == 1
        assert reg.remove_feed(1)
        assert reg.item_count(1) == 0 and [s.id for s in reg.subscriptions()] == [2]
        assert not reg.was_posted(1, "a-1")
    with Registry(db) as reg:  # opening a migrated store again changes nothing
        assert [(f.id, f.owner) for f in reg.feeds()] == [(2, None)]
        assert [s.id for s in reg.subscriptions(owner=guild)] == [2]
