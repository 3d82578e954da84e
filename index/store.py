"""SQLite store: articles, their passages and passage vectors. The only module that writes SQL.

The store is the truth; index snapshots are derived from it and carry the store ``epoch``
they were built from. Every ingest batch is one transaction that also bumps the epoch, so a
process killed at any moment leaves either the whole batch or none of it.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from index.errors import NewsbotError
from index.model import Article, Headline, Passage, Span, StoredArticle, unicode_problem

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    body_hash TEXT NOT NULL,
    url TEXT,
    source TEXT,
    published TEXT,
    published_ts REAL,
    origin TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    ingested_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS articles_url ON articles(url) WHERE url IS NOT NULL;
CREATE INDEX IF NOT EXISTS articles_body_hash ON articles(body_hash);
CREATE INDEX IF NOT EXISTS articles_published ON articles(published_ts);
CREATE INDEX IF NOT EXISTS articles_source ON articles(source);
-- The headline listing's order with every column it reads or filters on: the listing,
-- /headlines and the /article autocomplete (every keystroke) walk this instead of reading
-- each article row, whose body sits before published_ts (39k articles: 56 ms -> 0.03 ms for
-- the newest 25; a topic that matches nothing 62 -> 9 ms).
CREATE INDEX IF NOT EXISTS articles_recent ON articles(
    published_ts IS NULL, published_ts DESC, ingested_at DESC,
    source, title, json_extract(metadata, '$.category'), published, url, id
);
-- AUTOINCREMENT: passage ids are never reused, so an older index snapshot can never point
-- at a different passage than the one it indexed. sentence_vectors are float16 (sentences,
-- dimension): a vector per sentence is many times the passage's own vector, so half the bytes.
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    sentences TEXT NOT NULL,
    tokens TEXT NOT NULL,
    vector BLOB NOT NULL,
    sentence_token_counts TEXT,
    window_vectors BLOB,
    sentence_vectors BLOB
);
CREATE INDEX IF NOT EXISTS passages_article ON passages(article_id);
"""


@dataclass(frozen=True, slots=True)
class NewPassage:
    ordinal: int
    start: int
    end: int
    sentences: tuple[Span, ...]  # absolute offsets into the body
    tokens: Sequence[str]
    vector: np.ndarray
    # How many of ``tokens`` are the header's (headline, outlet, date), then each sentence's;
    # None when the passage's tokens are not its sentences' end to end.
    sentence_token_counts: Sequence[int] | None = None
    # The vectors of its windows (``vector`` is their mean) when it has several; None: its
    # one window is ``vector``.
    window_vectors: np.ndarray | None = None
    # One unit vector per sentence of ``sentences`` (a zero row for one the model did not
    # read), stored as float16; None: not pooled.
    sentence_vectors: np.ndarray | None = None


@dataclass(frozen=True, slots=True)
class ArticleWrite:
    """One article to insert or replace, with all of its passages."""

    article_id: str
    article: Article
    passages: Sequence[NewPassage]
    is_update: bool


@dataclass(frozen=True, slots=True)
class PassageRecord:
    """A passage with the article fields an external index (Milvus) stores beside it."""

    id: int
    article_id: str
    text: str
    tokens: str
    vector: bytes
    title: str
    source: str | None
    url: str | None
    published_ts: float | None
    replaced: bool  # the article was updated since first ingest: older passages may linger


@dataclass(frozen=True, slots=True)
class PassageRow:
    """What an index snapshot needs of one passage."""

    id: int
    article_id: str
    tokens: str
    vector: bytes
    published_ts: float | None
    source: str | None
    window_vectors: bytes | None  # None: the passage is one window (or predates windows)
    sentence_vectors: bytes | None  # float16 rows; None: stored before they were kept


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


def _now() -> str:
    return datetime.now(UTC).isoformat()


def connect(path: Path, error: type[NewsbotError], what: str) -> sqlite3.Connection:
    """A WAL connection to ``path`` (its folder made) for threads that share it behind a
    lock; ``error`` naming ``what`` and the path when it cannot be opened (a data directory
    that is a file, a database that is not one)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise error(f"cannot open {what} {path}: {exc}") from exc
    try:
        db.execute("PRAGMA busy_timeout=10000")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA foreign_keys=ON")
    except sqlite3.Error as exc:
        db.close()
        raise error(f"cannot open {what} {path}: {exc}") from exc
    return db


class Store:
    """One SQLite database in WAL mode, shared by threads behind a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._db = connect(path, NewsbotError, "the store")
        try:
            self._db.execute("PRAGMA synchronous=FULL")
            with self._lock:
                self._db.executescript(_SCHEMA)  # idempotent: every statement is IF NOT EXISTS
                _add_missing_columns(self._db)
                self._db.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?), ('epoch', '0')",
                    (str(SCHEMA_VERSION),),
                )
        except sqlite3.Error as exc:
            self._db.close()
            raise NewsbotError(f"cannot open the store {path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db, self._lock)

    # -- reads -------------------------------------------------------------------------

    def epoch(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT value FROM meta WHERE key='epoch'").fetchone()[0])

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def find_existing(self, article: Article) -> tuple[str, str] | None:
        """(id, body_hash) of the stored copy of this article: same URL, else same body."""
        with self._lock:
            row = None
            if article.url:
                row = self._db.execute(
                    "SELECT id, body_hash, title, source, published FROM articles WHERE url=?",
                    (article.url,),
                ).fetchone()
            if row is None:
                row = self._db.execute(
                    "SELECT id, body_hash, title, source, published FROM articles "
                    "WHERE body_hash=? LIMIT 1",
                    (article.body_hash,),
                ).fetchone()
        if row is None:
            return None
        # A change to anything that feeds the index counts as a change of content.
        fingerprint = "|".join(str(v) for v in row[1:])
        return row[0], fingerprint

    @staticmethod
    def fingerprint(article: Article) -> str:
        return "|".join(
            str(v)
            for v in (article.body_hash, article.title, article.source, _iso(article.published))
        )

    @staticmethod
    def unstorable(article: Article) -> str | None:
        """Why ``article`` cannot be stored, or None. Checked for each article before its
        batch is written: a failure inside the batch's transaction would lose the batch."""
        fields = {
            "title": article.title,
            "text": article.body,
            "url": article.url,
            "source": article.source,
            "origin": article.origin,
        }
        try:
            fields["metadata"] = _metadata_json(article)
        except (ValueError, TypeError, RecursionError) as exc:
            return f"metadata cannot be stored as JSON ({type(exc).__name__}: {exc})"
        for name, value in fields.items():
            problem = None if value is None else unicode_problem(name, value)
            if problem is not None:
                return problem
        return None

    def article(self, article_id: str) -> StoredArticle | None:
        with self._lock:
            row = self._db.execute(_ARTICLE_SELECT + " WHERE id=?", (article_id,)).fetchone()
        return _article(row) if row else None

    def article_exists(self, article_id: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM articles WHERE id=?", (article_id,)).fetchone()
        return row is not None

    def articles(self, ids: Iterable[str]) -> dict[str, StoredArticle]:
        ids = list(dict.fromkeys(ids))
        if not ids:
            return {}
        with self._lock:
            rows = self._db.execute(
                _ARTICLE_SELECT + f" WHERE id IN ({','.join('?' * len(ids))})", ids
            ).fetchall()
        return {r[0]: _article(r) for r in rows}

    def passages(self, ids: Sequence[int]) -> dict[int, Passage]:
        """Passages by id; ids deleted since a snapshot was built are simply absent."""
        if not ids:
            return {}
        with self._lock:
            rows = self._db.execute(
                "SELECT p.id, p.article_id, p.ordinal, p.start, p.end, p.sentences, a.body, "
                "p.tokens, p.sentence_token_counts "
                "FROM passages p JOIN articles a ON a.id = p.article_id "
                f"WHERE p.id IN ({','.join('?' * len(ids))})",
                list(ids),
            ).fetchall()
        out = {}
        for pid, aid, ordinal, start, end, sentences, body, tokens, counts in rows:
            flat = json.loads(sentences)
            spans = tuple(
                Span(flat[i] - start, flat[i + 1] - start) for i in range(0, len(flat), 2)
            )
            by_sentence = _split_tokens(tokens, counts, len(spans))
            out[pid] = Passage(pid, aid, ordinal, start, end, body[start:end], spans, by_sentence)
        return out

    def iter_passage_rows(self, batch: int = 10_000) -> Iterator[PassageRow]:
        """Every passage in id order, for building an index snapshot."""
        last = 0
        while True:
            with self._lock:
                rows = self._db.execute(
                    "SELECT p.id, p.article_id, p.tokens, p.vector, a.published_ts, a.source, "
                    "p.window_vectors, p.sentence_vectors "
                    "FROM passages p "
                    "JOIN articles a ON a.id = p.article_id WHERE p.id > ? ORDER BY p.id LIMIT ?",
                    (last, batch),
                ).fetchall()
            if not rows:
                return
            for row in rows:
                yield PassageRow(*row)
            last = rows[-1][0]

    # -- reads for an external index (index/backends/milvus*) ---------------------------

    def passage_records(self, after_id: int, limit: int) -> list[PassageRecord]:
        """Up to ``limit`` passages with ids above ``after_id``, in id order: ids only grow,
        so "above the last one copied" is everything an external index has not seen."""
        with self._lock:
            rows = self._db.execute(
                _RECORD_SELECT + " WHERE p.id > ? ORDER BY p.id LIMIT ?",
                (after_id, limit),
            ).fetchall()
        return [_record(row) for row in rows]

    def passage_records_by_id(self, ids: Sequence[int]) -> list[PassageRecord]:
        """The records of these passage ids that still exist, in id order."""
        out: list[PassageRecord] = []
        for start in range(0, len(ids), 900):
            chunk = list(ids[start : start + 900])
            with self._lock:
                rows = self._db.execute(
                    _RECORD_SELECT + f" WHERE p.id IN ({','.join('?' * len(chunk))})", chunk
                ).fetchall()
            out += [_record(row) for row in rows]
        return sorted(out, key=lambda r: r.id)

    def first_passage_ids(self, article_ids: Iterable[str]) -> dict[str, int]:
        """The lowest current passage id of each article: an update gives an article all-new,
        higher ids, so an indexed passage of it below this one is a stale copy."""
        ids = list(dict.fromkeys(article_ids))
        out: dict[str, int] = {}
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            with self._lock:
                rows = self._db.execute(
                    "SELECT article_id, MIN(id) FROM passages "
                    f"WHERE article_id IN ({','.join('?' * len(chunk))}) GROUP BY article_id",
                    chunk,
                ).fetchall()
            out.update(rows)
        return out

    def passage_ids_between(self, low: int, high: int) -> list[int]:
        """Current passage ids in ``[low, high)``, ascending (the primary key's own order)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM passages WHERE id >= ? AND id < ? ORDER BY id", (low, high)
            ).fetchall()
        return [r[0] for r in rows]

    def max_passage_id(self) -> int:
        """The highest passage id ever handed out (AUTOINCREMENT's own counter), 0 if none."""
        with self._lock:
            row = self._db.execute(
                "SELECT seq FROM sqlite_sequence WHERE name='passages'"
            ).fetchone()
        return int(row[0]) if row else 0

    def sentence_vectors(self, ids: Sequence[int]) -> dict[int, bytes]:
        """The stored sentence vectors (float16 rows) of those of these passages that have
        them, for an index that does not copy them (Milvus)."""
        out: dict[int, bytes] = {}
        for start in range(0, len(ids), 900):
            chunk = list(ids[start : start + 900])
            with self._lock:
                out.update(
                    self._db.execute(
                        "SELECT id, sentence_vectors FROM passages WHERE sentence_vectors "
                        f"IS NOT NULL AND id IN ({','.join('?' * len(chunk))})",
                        chunk,
                    ).fetchall()
                )
        return out

    def passage_tokens(self, ids: Sequence[int] | None = None) -> list[str]:
        """Token strings of these passages (every passage when ``ids`` is None), for document
        frequencies where the index itself does not expose them."""
        if ids is None:
            with self._lock:
                return [r[0] for r in self._db.execute("SELECT tokens FROM passages")]
        out: list[str] = []
        for start in range(0, len(ids), 900):
            chunk = list(ids[start : start + 900])
            with self._lock:
                out += [
                    r[0]
                    for r in self._db.execute(
                        f"SELECT tokens FROM passages WHERE id IN ({','.join('?' * len(chunk))})",
                        chunk,
                    )
                ]
        return out

    def headlines(
        self,
        *,
        limit: int = 10,
        offset: int = 0,
        source: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        topic: str | None = None,
    ) -> list[Headline]:
        """Newest first; articles of unknown date come last."""
        where, args = ["1=1"], []
        if source:
            where.append("source = ? COLLATE NOCASE")
            args.append(source)
        if since:
            where.append("published_ts >= ?")
            args.append(since.timestamp())
        if until:
            where.append("published_ts < ?")
            args.append(until.timestamp())
        if topic:
            # The words as typed: unescaped, "%" or "_" matched every headline.
            like = "LIKE ? ESCAPE '\\'"
            where.append(f"(title {like} OR json_extract(metadata, '$.category') {like})")
            pattern = "%" + re.sub(r"([\\%_])", r"\\\1", topic) + "%"
            args += [pattern, pattern]
        with self._lock:
            rows = self._db.execute(
                # Forced: for a date range the planner picks articles_published and sorts
                # every article in it (90 days of 39k articles: 131 ms, against 0.02 here).
                "SELECT id, title, source, published, url FROM articles "
                "INDEXED BY articles_recent WHERE "
                + " AND ".join(where)
                + " ORDER BY published_ts IS NULL, published_ts DESC, ingested_at DESC "
                "LIMIT ? OFFSET ?",
                [*args, limit, offset],
            ).fetchall()
        return [
            Headline(r[0], r[1], r[2], datetime.fromisoformat(r[3]) if r[3] else None, r[4])
            for r in rows
        ]

    def sources(self) -> list[tuple[str, int]]:
        """Outlets with their article counts, most articles first. A blank name (stored before
        ingest made it None) is no outlet to list or offer."""
        with self._lock:
            rows = self._db.execute(
                "SELECT source, COUNT(*) FROM articles "
                "WHERE source IS NOT NULL AND trim(source, ' ' || char(9, 10, 13)) <> '' "
                "GROUP BY source ORDER BY COUNT(*) DESC, source"
            ).fetchall()
        return [(r[0], r[1]) for r in rows]

    def counts(self) -> tuple[int, int]:
        with self._lock:
            articles = self._db.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
            passages = self._db.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
        return articles, passages

    def newest(self) -> Headline | None:
        found = self.headlines(limit=1)
        return found[0] if found else None

    # -- writes ------------------------------------------------------------------------

    def set_meta(self, values: dict[str, str]) -> None:
        with self._transaction():
            self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", values.items())

    def write_batch(self, writes: Sequence[ArticleWrite], touched: Sequence[str] = ()) -> int:
        """Insert or replace articles with their passages in one transaction; new epoch."""
        now = _now()
        with self._transaction():
            for w in writes:
                a = w.article
                if w.is_update:
                    self._db.execute("DELETE FROM passages WHERE article_id=?", (w.article_id,))
                    self._db.execute(
                        "UPDATE articles SET title=?, body=?, body_hash=?, url=COALESCE(?, url), "
                        "source=?, published=?, published_ts=?, origin=?, metadata=?, "
                        "updated_at=? WHERE id=?",
                        (*_article_values(a), now, w.article_id),
                    )
                else:
                    self._db.execute(
                        "INSERT INTO articles (title, body, body_hash, url, source, published, "
                        "published_ts, origin, metadata, ingested_at, updated_at, id) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                        (*_article_values(a), now, now, w.article_id),
                    )
                self._db.executemany(
                    "INSERT INTO passages (article_id, ordinal, start, end, sentences, tokens, "
                    "vector, sentence_token_counts, window_vectors, sentence_vectors) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?)",
                    [
                        (
                            w.article_id,
                            p.ordinal,
                            p.start,
                            p.end,
                            json.dumps([x for s in p.sentences for x in (s.start, s.end)]),
                            " ".join(p.tokens),
                            np.ascontiguousarray(p.vector, dtype=np.float32).tobytes(),
                            None
                            if p.sentence_token_counts is None
                            else json.dumps(list(p.sentence_token_counts)),
                            None
                            if p.window_vectors is None
                            else np.ascontiguousarray(p.window_vectors, np.float32).tobytes(),
                            None
                            if p.sentence_vectors is None
                            else np.ascontiguousarray(p.sentence_vectors, "<f2").tobytes(),
                        )
                        for p in w.passages
                    ],
                )
            if touched:
                self._db.executemany(
                    "UPDATE articles SET updated_at=? WHERE id=?", [(now, i) for i in touched]
                )
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('last_ingest', ?)", (now,))
            if writes:
                self._db.execute("UPDATE meta SET value = value + 1 WHERE key='epoch'")
        return self.epoch()

    def backup(self, target: Path) -> None:
        """A consistent copy while other connections keep reading and writing."""
        target.parent.mkdir(parents=True, exist_ok=True)
        dest = sqlite3.connect(target)
        try:
            with self._lock:
                self._db.backup(dest)
        finally:
            dest.close()


_ARTICLE_SELECT = (
    "SELECT id, title, body, published, source, url, origin, ingested_at FROM articles"
)


# Passage text is sliced from the body in Python: SQLite's substr stops at a NUL character,
# which would cut the passage short while its offsets still claim the whole of it.
_RECORD_SELECT = (
    "SELECT p.id, p.article_id, a.body, p.start, p.end, p.tokens, p.vector, a.title, a.source, "
    "a.url, a.published_ts, a.updated_at != a.ingested_at "
    "FROM passages p JOIN articles a ON a.id = p.article_id"
)


def _record(row: tuple) -> PassageRecord:
    pid, article_id, body, start, end, *fields, replaced = row
    return PassageRecord(pid, article_id, body[start:end], *fields, bool(replaced))


def _add_missing_columns(db: sqlite3.Connection) -> None:
    """Columns later versions added, for a database an older version created: NULL in the
    rows it wrote, which readers treat as "not stored"."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(passages)")}
    if "sentence_token_counts" not in columns:
        db.execute("ALTER TABLE passages ADD COLUMN sentence_token_counts TEXT")
    if "window_vectors" not in columns:
        db.execute("ALTER TABLE passages ADD COLUMN window_vectors BLOB")
    if "sentence_vectors" not in columns:
        db.execute("ALTER TABLE passages ADD COLUMN sentence_vectors BLOB")


def _split_tokens(
    tokens: str, counts: str | None, sentences: int
) -> tuple[tuple[str, ...], ...] | None:
    """Each sentence's tokens out of the passage's stored tokens (header first), or None
    when the counts are missing or do not add up to them."""
    if counts is None:
        return None
    sizes = json.loads(counts)
    words = tokens.split()
    if len(sizes) != sentences + 1 or sum(sizes) != len(words):
        return None
    out = []
    at = sizes[0]
    for size in sizes[1:]:
        out.append(tuple(words[at : at + size]))
        at += size
    return tuple(out)


def _article(row: tuple) -> StoredArticle:
    return StoredArticle(
        id=row[0],
        title=row[1],
        body=row[2],
        published=datetime.fromisoformat(row[3]) if row[3] else None,
        source=row[4],
        url=row[5],
        origin=row[6],
        ingested_at=datetime.fromisoformat(row[7]),
    )


def _article_values(a: Article) -> tuple:
    return (
        a.title,
        a.body,
        a.body_hash,
        a.url,
        a.source,
        _iso(a.published),
        a.published.timestamp() if a.published else None,
        a.origin,
        _metadata_json(a),
    )


def _metadata_json(a: Article) -> str:
    # Strict JSON: SQLite's json_extract (in articles_recent) rejects the NaN and Infinity
    # Python would write, and the insert would fail with the whole batch.
    return json.dumps(_finite(a.metadata), default=str, ensure_ascii=False, allow_nan=False)


def _finite(value: object) -> object:
    """``value`` with every NaN or infinite float as its text ("inf"): a JSONL line's
    ``"score": 1e999`` is worth keeping as a string, not worth losing the article over."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT under the store lock; ROLLBACK on any exception."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self._db, self._lock = db, lock

    def __enter__(self) -> None:
        self._lock.acquire()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except BaseException:  # "database is locked": __exit__ will not run to release it
            self._lock.release()
            raise

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self._db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self._lock.release()
