"""The feeds' own tables, in the store's SQLite file: feeds, items seen, subscriptions, posts.

They live beside the articles (same ``newsbot.sqlite3``, own connection, WAL) so one backup
holds everything and everything survives a restart. Tables are prefixed ``feed`` so they
never collide with the store's.

Dedupe is the point of ``feed_items``: publishers rewrite GUIDs, links (tracking parameters)
and dates, so an item counts as seen when its GUID, its canonical link, the canonical URL of
the article it became, or the hash of its normalised title and text matches one already
recorded for the feed. A rewritten item is recorded under its new GUID too (so the next poll
matches at once) but never as postable, and ``feed_posted`` is keyed on the *article*, so
nothing is posted twice to a subscription — not after a restart, not after a GUID rewrite,
not when two feeds carry the same story.

Feeds and subscriptions belong to an *owner* and subscriptions post to a *destination*: opaque
text the front end chooses and reads back (the Discord bot stores a server's id as the owner and
a channel's id as the destination, ``bot/discord/subscribers.py``). The engine only compares
them, so it knows nothing of servers or channels. A feed without an owner is global: every
owner's "all feeds" subscriptions see it.

Using it from a front end::

    registry = Registry(settings.data_dir / "newsbot.sqlite3")
    sub = registry.subscribe(owner, destination, feed_id=None,  # None: every feed of the owner
                             include=("election",), exclude=("sport",))
    # after each poll (FeedPoller.run's on_result callback) or on a timer:
    for sub in registry.subscriptions():
        for batch in registry.pending_posts(sub, per_feed=settings.posts_per_cycle):
            for post in batch.posts:          # at most per_feed, oldest first
                ...send post.title / post.url to sub.destination...
            if batch.more:                    # the rest, summarised as a count
                ...send f"+{batch.more} more from {batch.feed.label}"...
            registry.mark_posted(sub.id, batch.article_ids)  # shown *and* summarised ones

Only items first seen after the subscription was made, on a feed's second poll or later
(the first poll is a baseline: no flood), and at most ``max_age_seconds`` old are pending.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from index.feeds.errors import LimitReached, RegistryError
from index.feeds.urls import is_http_url
from index.store import connect

_FEEDS_TABLE = """
CREATE TABLE IF NOT EXISTS {name} (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    url TEXT NOT NULL,
    name TEXT,
    owner TEXT,                       -- NULL: added from the command line, global
    interval REAL,                    -- seconds; NULL: the configured default
    etag TEXT,
    last_modified TEXT,
    last_polled REAL,
    last_ok REAL,
    last_error TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    next_poll_at REAL NOT NULL DEFAULT 0,
    baselined INTEGER NOT NULL DEFAULT 0,  -- 1 once a first poll recorded what was there
    created_at REAL NOT NULL
)"""
_SUBSCRIPTIONS_TABLE = """
CREATE TABLE IF NOT EXISTS {name} (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner TEXT NOT NULL,
    destination TEXT NOT NULL,
    feed_id INTEGER REFERENCES feeds(id) ON DELETE CASCADE,  -- NULL: every feed of the owner
    include TEXT NOT NULL DEFAULT '[]',
    exclude TEXT NOT NULL DEFAULT '[]',
    created_at REAL NOT NULL
)"""
_SCHEMA = f"""
{_FEEDS_TABLE.format(name="feeds")};
CREATE UNIQUE INDEX IF NOT EXISTS feeds_owner_url ON feeds(ifnull(owner, ''), url);
CREATE TABLE IF NOT EXISTS feed_items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    feed_id INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    guid TEXT NOT NULL,
    link TEXT,                        -- the item's own link, canonical form
    url TEXT,                         -- canonical URL of the article it became
    content_hash TEXT NOT NULL,
    article_id TEXT,                  -- NULL: the item gave no article text at all
    title TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    published REAL,
    first_seen REAL NOT NULL,
    postable INTEGER NOT NULL,        -- 0: baseline, or a rewrite of an item already seen
    UNIQUE (feed_id, guid)
);
CREATE INDEX IF NOT EXISTS feed_items_link ON feed_items(link);
CREATE INDEX IF NOT EXISTS feed_items_url ON feed_items(url);
CREATE INDEX IF NOT EXISTS feed_items_hash ON feed_items(feed_id, content_hash);
CREATE INDEX IF NOT EXISTS feed_items_article ON feed_items(article_id);
CREATE INDEX IF NOT EXISTS feed_items_pending ON feed_items(first_seen) WHERE postable = 1;
{_SUBSCRIPTIONS_TABLE.format(name="feed_subscriptions")};
CREATE UNIQUE INDEX IF NOT EXISTS feed_subscriptions_target
    ON feed_subscriptions(owner, destination, ifnull(feed_id, 0));
CREATE TABLE IF NOT EXISTS feed_posted (
    subscription_id INTEGER NOT NULL REFERENCES feed_subscriptions(id) ON DELETE CASCADE,
    article_id TEXT NOT NULL,
    posted_at REAL NOT NULL,
    shown INTEGER NOT NULL DEFAULT 1,  -- 0: only counted in a "+N more" line
    PRIMARY KEY (subscription_id, article_id)
);
"""


def _dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if value is not None else None


@dataclass(frozen=True, slots=True)
class Feed:
    id: int
    url: str
    name: str | None
    owner: str | None  # None: global, seen by every owner
    interval: float | None
    etag: str | None
    last_modified: str | None
    last_polled: datetime | None
    last_ok: datetime | None
    last_error: str | None
    consecutive_failures: int
    next_poll_at: datetime
    baselined: bool
    created_at: datetime

    @property
    def label(self) -> str:
        return self.name or self.url


@dataclass(frozen=True, slots=True)
class SeenItem:
    """One feed item to remember (see the module docstring for what each field dedupes)."""

    guid: str
    link: str | None
    url: str | None
    content_hash: str
    article_id: str | None
    title: str
    summary: str = ""
    published: datetime | None = None
    postable: bool = False


@dataclass(frozen=True, slots=True)
class SeenMatch:
    article_id: str | None
    guid_known: bool


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    owner: str
    destination: str
    feed_id: int | None  # None: every feed of the owner, and every global feed
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PendingPost:
    article_id: str
    feed_id: int
    title: str
    url: str | None
    published: datetime | None
    first_seen: datetime


@dataclass(frozen=True, slots=True)
class FeedBatch:
    """What one subscription should post from one feed this cycle.

    ``posts`` (at most ``per_feed``, oldest first) are to be shown; ``more`` counts the rest,
    to be summarised as a number. ``article_ids`` covers both, for ``mark_posted``.
    """

    feed: Feed
    posts: tuple[PendingPost, ...]
    article_ids: tuple[str, ...]

    @property
    def more(self) -> int:
        return len(self.article_ids) - len(self.posts)


_FEED_COLUMNS = (
    "id, url, name, owner, interval, etag, last_modified, last_polled, last_ok, last_error, "
    "consecutive_failures, next_poll_at, baselined, created_at"
)


def _feed(row: tuple) -> Feed:
    return Feed(
        id=row[0],
        url=row[1],
        name=row[2],
        owner=row[3],
        interval=row[4],
        etag=row[5],
        last_modified=row[6],
        last_polled=_dt(row[7]),
        last_ok=_dt(row[8]),
        last_error=row[9],
        consecutive_failures=row[10],
        next_poll_at=_dt(row[11]) or datetime.fromtimestamp(0, UTC),
        baselined=bool(row[12]),
        created_at=_dt(row[13]) or datetime.fromtimestamp(0, UTC),
    )


def _subscription(row: tuple) -> Subscription:
    return Subscription(
        id=row[0],
        owner=row[1],
        destination=row[2],
        feed_id=row[3],
        include=tuple(json.loads(row[4])),
        exclude=tuple(json.loads(row[5])),
        created_at=_dt(row[6]) or datetime.fromtimestamp(0, UTC),
    )


def _keywords(words: Iterable[str]) -> list[str]:
    return sorted({" ".join(w.split()).casefold() for w in words if w.strip()})


def matches_keywords(text: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    """Whole-word, case-insensitive: any include word (when there are some), no exclude word."""

    def has(word: str) -> bool:
        return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text, re.IGNORECASE) is not None

    if any(has(w) for w in exclude):
        return False
    return not include or any(has(w) for w in include)


class Registry:
    """Feeds, seen items, subscriptions and posts; thread-safe (one connection behind a lock)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._db = connect(path, RegistryError, "the feed tables in")
        try:
            with self._lock:
                _migrate_guild_columns(self._db)
                self._db.executescript(_SCHEMA)  # every statement is IF NOT EXISTS
        except sqlite3.Error as exc:
            self._db.close()
            raise RegistryError(f"cannot open the feed tables in {path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, sql: str, args: Sequence[object] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, args)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT under the lock: all of a batch is recorded, or none."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _check_limit(self, table: str, owner: str, limit: int) -> None:
        (count,) = self._db.execute(
            f"SELECT COUNT(*) FROM {table} WHERE owner=?", (owner,)
        ).fetchone()
        if count >= limit:
            raise LimitReached(f"{owner} has {count} {table}, the most it may", count)

    def _rows(self, sql: str, args: Sequence[object] = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # -- feeds -------------------------------------------------------------------------

    def add_feed(
        self,
        url: str,
        *,
        name: str | None = None,
        owner: str | None = None,
        interval: float | None = None,
        owner_limit: int | None = None,
    ) -> Feed:
        """A new feed, due at once. The same URL may be added once per owner (and once
        globally, ``owner=None``); a second add for the same owner raises RegistryError.
        With ``owner_limit``, an owner that has that many feeds already gets LimitReached:
        counted and added in one transaction, so two adds at once cannot both pass."""
        if not is_http_url(url):
            raise RegistryError(f"{url}: not an http(s) URL")
        if interval is not None and not (math.isfinite(interval) and interval > 0):
            raise RegistryError(f"{url}: the poll interval must be a positive number of seconds")
        try:
            with self._transaction():
                if owner_limit is not None and owner is not None:
                    self._check_limit("feeds", owner, owner_limit)
                cur = self._db.execute(
                    "INSERT INTO feeds (url, name, owner, interval, created_at) VALUES (?,?,?,?,?)",
                    (url, name, owner, interval, time.time()),
                )
        except sqlite3.IntegrityError:
            where = f"the feeds of {owner}" if owner is not None else "the global feeds"
            raise RegistryError(f"{url}: already in {where}") from None
        feed = self.feed(int(cur.lastrowid or 0))
        assert feed is not None
        return feed

    def feed(self, feed_id: int) -> Feed | None:
        rows = self._rows(f"SELECT {_FEED_COLUMNS} FROM feeds WHERE id=?", (feed_id,))
        return _feed(rows[0]) if rows else None

    def feeds(self, *, owner: str | None = None, all_owners: bool = True) -> list[Feed]:
        """Every feed (``all_owners``), or one owner's own plus the global ones."""
        if all_owners:
            rows = self._rows(f"SELECT {_FEED_COLUMNS} FROM feeds ORDER BY id")
        else:
            rows = self._rows(
                f"SELECT {_FEED_COLUMNS} FROM feeds WHERE owner IS ? OR owner IS NULL ORDER BY id",
                (owner,),
            )
        return [_feed(r) for r in rows]

    def find_feed(self, url: str, *, owner: str | None = None) -> Feed | None:
        rows = self._rows(
            f"SELECT {_FEED_COLUMNS} FROM feeds WHERE url=? AND owner IS ?", (url, owner)
        )
        return _feed(rows[0]) if rows else None

    def remove_feed(self, feed_id: int) -> bool:
        """Forget a feed with its seen items and the subscriptions bound to it (articles stay)."""
        return self._write("DELETE FROM feeds WHERE id=?", (feed_id,)).rowcount > 0

    def due_feeds(self, now: float | None = None) -> list[Feed]:
        now = time.time() if now is None else now
        rows = self._rows(
            f"SELECT {_FEED_COLUMNS} FROM feeds WHERE next_poll_at <= ? ORDER BY next_poll_at, id",
            (now,),
        )
        return [_feed(r) for r in rows]

    def next_due(self) -> datetime | None:
        rows = self._rows("SELECT min(next_poll_at) FROM feeds")
        return _dt(rows[0][0]) if rows and rows[0][0] is not None else None

    def record_success(
        self,
        feed_id: int,
        *,
        etag: str | None,
        last_modified: str | None,
        next_poll_at: float,
        now: float | None = None,
    ) -> None:
        now = time.time() if now is None else now
        self._write(
            "UPDATE feeds SET etag=?, last_modified=?, last_polled=?, last_ok=?, last_error=NULL, "
            "consecutive_failures=0, next_poll_at=?, baselined=1 WHERE id=?",
            (etag, last_modified, now, now, next_poll_at, feed_id),
        )

    def record_failure(
        self, feed_id: int, error: str, *, next_poll_at: float, now: float | None = None
    ) -> None:
        now = time.time() if now is None else now
        self._write(
            "UPDATE feeds SET last_polled=?, last_error=?, "
            "consecutive_failures=consecutive_failures+1, next_poll_at=? WHERE id=?",
            (now, error, next_poll_at, feed_id),
        )

    def set_next_poll(self, feed_id: int, when: float) -> None:
        self._write("UPDATE feeds SET next_poll_at=? WHERE id=?", (when, feed_id))

    # -- seen items --------------------------------------------------------------------

    def find_seen(
        self, feed_id: int, *, guid: str, link: str | None, content_hash: str
    ) -> SeenMatch | None:
        """The item this one repeats in ``feed_id`` (same GUID, link, article URL or content)."""
        rows = self._rows(
            "SELECT article_id, guid FROM feed_items WHERE feed_id=? AND (guid=? OR "
            "content_hash=? OR (? IS NOT NULL AND (link=? OR url=?))) "
            "ORDER BY guid=? DESC, article_id IS NULL, id LIMIT 1",
            (feed_id, guid, content_hash, link, link, link, guid),
        )
        if not rows:
            return None
        return SeenMatch(article_id=rows[0][0], guid_known=rows[0][1] == guid)

    def article_for_link(self, link: str) -> str | None:
        """An article any feed already made from this link (saves fetching the page again)."""
        rows = self._rows(
            "SELECT article_id FROM feed_items WHERE (link=? OR url=?) AND article_id IS NOT NULL "
            "ORDER BY id LIMIT 1",
            (link, link),
        )
        return rows[0][0] if rows else None

    def feed_has_article(self, feed_id: int, article_id: str) -> bool:
        return bool(
            self._rows(
                "SELECT 1 FROM feed_items WHERE feed_id=? AND article_id=? LIMIT 1",
                (feed_id, article_id),
            )
        )

    def record_items(self, feed_id: int, items: Iterable[SeenItem]) -> int:
        """Remember items (one transaction); an already recorded GUID is left as it was."""
        now = time.time()
        rows = [
            (
                feed_id,
                i.guid,
                i.link,
                i.url,
                i.content_hash,
                i.article_id,
                i.title,
                i.summary[:1000],
                i.published.timestamp() if i.published else None,
                now,
                int(i.postable),
            )
            for i in items
        ]
        with self._transaction():
            before = self._db.total_changes
            self._db.executemany(
                "INSERT OR IGNORE INTO feed_items (feed_id, guid, link, url, content_hash, "
                "article_id, title, summary, published, first_seen, postable) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
            added = self._db.total_changes - before
        return added

    def item_count(self, feed_id: int) -> int:
        return self._rows("SELECT count(*) FROM feed_items WHERE feed_id=?", (feed_id,))[0][0]

    # -- subscriptions and posts -------------------------------------------------------

    def subscribe(
        self,
        owner: str,
        destination: str,
        *,
        feed_id: int | None = None,
        include: Iterable[str] = (),
        exclude: Iterable[str] = (),
        owner_limit: int | None = None,
    ) -> Subscription:
        """Post new items of ``feed_id`` (None: all of the owner's feeds) to a destination.

        Subscribing again to the same feed for the same destination replaces the keywords. With
        ``owner_limit``, a new subscription of an owner that has that many gets LimitReached.
        """
        if feed_id is not None and self.feed(feed_id) is None:
            raise RegistryError(f"no feed with id {feed_id}")
        inc, exc = json.dumps(_keywords(include)), json.dumps(_keywords(exclude))
        with self._transaction():
            if (
                owner_limit is not None
                and not self._db.execute(
                    "SELECT 1 FROM feed_subscriptions "
                    "WHERE owner=? AND destination=? AND feed_id IS ?",
                    (owner, destination, feed_id),
                ).fetchone()
            ):
                self._check_limit("feed_subscriptions", owner, owner_limit)
            self._db.execute(
                "INSERT INTO feed_subscriptions (owner, destination, feed_id, include, "
                "exclude, created_at) VALUES (?,?,?,?,?,?) "
                "ON CONFLICT (owner, destination, ifnull(feed_id, 0)) "
                "DO UPDATE SET include=excluded.include, exclude=excluded.exclude",
                (owner, destination, feed_id, inc, exc, time.time()),
            )
        rows = self._rows(
            "SELECT id, owner, destination, feed_id, include, exclude, created_at "
            "FROM feed_subscriptions WHERE owner=? AND destination=? AND feed_id IS ?",
            (owner, destination, feed_id),
        )
        return _subscription(rows[0])

    def unsubscribe(self, subscription_id: int) -> bool:
        return (
            self._write("DELETE FROM feed_subscriptions WHERE id=?", (subscription_id,)).rowcount
            > 0
        )

    def subscriptions(
        self, *, owner: str | None = None, destination: str | None = None
    ) -> list[Subscription]:
        where, args = ["1=1"], []
        if owner is not None:
            where.append("owner=?")
            args.append(owner)
        if destination is not None:
            where.append("destination=?")
            args.append(destination)
        rows = self._rows(
            "SELECT id, owner, destination, feed_id, include, exclude, created_at FROM "
            f"feed_subscriptions WHERE {' AND '.join(where)} ORDER BY id",
            args,
        )
        return [_subscription(r) for r in rows]

    def pending_posts(
        self,
        subscription: Subscription,
        *,
        per_feed: int = 5,
        max_age_seconds: float = 7 * 86400.0,
        now: float | None = None,
    ) -> list[FeedBatch]:
        """New items this subscription has not posted, grouped by feed (see module docstring).

        Per feed, the ``per_feed`` newest are returned to show (oldest first) and the rest are
        counted in ``more``. An article carried by two feeds is offered once.
        """
        now = time.time() if now is None else now
        since = max(subscription.created_at.timestamp(), now - max_age_seconds)
        scope, args = "i.feed_id = ?", [subscription.feed_id]
        if subscription.feed_id is None:
            scope, args = "(f.owner = ? OR f.owner IS NULL)", [subscription.owner]
        rows = self._rows(
            "SELECT i.feed_id, i.article_id, i.title, coalesce(i.url, i.link), i.published, "
            "i.first_seen, i.summary FROM feed_items i JOIN feeds f ON f.id = i.feed_id "
            f"WHERE i.postable = 1 AND i.article_id IS NOT NULL AND i.first_seen >= ? AND {scope} "
            "AND NOT EXISTS (SELECT 1 FROM feed_posted p WHERE p.subscription_id = ? "
            "AND p.article_id = i.article_id) ORDER BY i.first_seen, i.id",
            [since, *args, subscription.id],
        )
        by_feed: dict[int, list[PendingPost]] = {}
        offered: set[str] = set()
        for feed_id, article_id, title, url, published, first_seen, summary in rows:
            if article_id in offered:
                continue
            if not matches_keywords(
                f"{title}\n{summary}", subscription.include, subscription.exclude
            ):
                continue
            offered.add(article_id)
            by_feed.setdefault(feed_id, []).append(
                PendingPost(article_id, feed_id, title, url, _dt(published), _dt(first_seen))  # type: ignore[arg-type]
            )
        batches = []
        for feed_id, posts in by_feed.items():
            feed = self.feed(feed_id)
            if feed is None:
                continue
            newest = sorted(posts, key=_recency)[-per_feed:] if per_feed > 0 else []
            shown = tuple(sorted(newest, key=_recency))
            batches.append(
                FeedBatch(
                    feed=feed,
                    posts=shown,
                    article_ids=tuple(p.article_id for p in posts),
                )
            )
        return batches

    def mark_posted(
        self, subscription_id: int, article_ids: Iterable[str], *, shown: bool = True
    ) -> None:
        now = time.time()
        with self._transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO feed_posted (subscription_id, article_id, posted_at, shown) "
                "VALUES (?,?,?,?)",
                [(subscription_id, a, now, int(shown)) for a in article_ids],
            )

    def was_posted(self, subscription_id: int, article_id: str) -> bool:
        return bool(
            self._rows(
                "SELECT 1 FROM feed_posted WHERE subscription_id=? AND article_id=?",
                (subscription_id, article_id),
            )
        )


def _migrate_guild_columns(db: sqlite3.Connection) -> None:
    """Rebuild a store written when the feed tables held Discord's guild and channel ids as
    integers: the same rows, those ids as their decimal text in ``owner`` and ``destination``
    (the Discord bot's keys, so its feeds and subscriptions carry on). SQLite cannot change a
    column's type in place, so each table is copied, dropped and renamed, foreign keys off
    (dropping ``feeds`` would otherwise cascade to its items); all or nothing."""
    if not _has_guild_columns(db):  # checked again under the lock: another process may race
        return
    db.execute("PRAGMA foreign_keys=OFF")  # a no-op inside a transaction: set it before
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            if _has_guild_columns(db, "feeds"):
                _copy_table(db, "feeds", _FEEDS_TABLE, _FEED_COLUMNS, owner="guild_id")
            if _has_guild_columns(db, "feed_subscriptions"):
                _copy_table(
                    db,
                    "feed_subscriptions",
                    _SUBSCRIPTIONS_TABLE,
                    "id, owner, destination, feed_id, include, exclude, created_at",
                    owner="guild_id",
                    destination="channel_id",
                )
            if broken := db.execute("PRAGMA foreign_key_check").fetchall():
                raise sqlite3.IntegrityError(f"rows without their parents: {broken[:3]}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    finally:
        db.execute("PRAGMA foreign_keys=ON")


def _has_guild_columns(db: sqlite3.Connection, *tables: str) -> bool:
    tables = tables or ("feeds", "feed_subscriptions")
    return any(
        "guild_id" in {row[1] for row in db.execute(f"PRAGMA table_info({t})")} for t in tables
    )


def _copy_table(
    db: sqlite3.Connection, table: str, create: str, columns: str, **renamed: str
) -> None:
    """``table`` rebuilt from ``create`` with each ``renamed`` column (new=old) as text."""
    new = [c.strip() for c in columns.split(",")]
    old = [f"CAST({renamed[c]} AS TEXT)" if c in renamed else c for c in new]
    db.execute(create.format(name=f"{table}_migrating"))
    db.execute(
        f"INSERT INTO {table}_migrating ({', '.join(new)}) SELECT {', '.join(old)} FROM {table}"
    )
    db.execute(f"DROP TABLE {table}")
    db.execute(f"ALTER TABLE {table}_migrating RENAME TO {table}")


def _recency(post: PendingPost) -> tuple[float, float]:
    published = post.published.timestamp() if post.published else post.first_seen.timestamp()
    return published, post.first_seen.timestamp()
