"""Crash safety: SIGKILL a real `newsbot ingest` mid-way, then reopen; leftover and stale
index snapshots are ignored, cleaned and rebuilt."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import index.snapshot as snapshot_module
from index.config import EngineConfig
from index.engine import Engine
from index.segment import pack_passages
from index.snapshot import CURRENT, IndexSnapshot, current_name, load_snapshot

CITIES = ["Tokyo", "Seoul", "Paris", "Berlin", "Nairobi", "Lima", "Oslo", "Hanoi", "Cairo", "Quito"]
TOPICS = ["rail strike", "port expansion", "water tariff", "school reform", "bridge repair"]
CORPUS_SIZE = 300
PRE_INGESTED = 5


def _articles(n: int) -> list[dict]:
    out = []
    for i in range(n):
        city, topic = CITIES[i % len(CITIES)], TOPICS[i % len(TOPICS)]
        out.append(
            {
                "title": f"{city} {topic} update {i}",
                "text": f"Officials in {city} announced plan {i} for the {topic} on Monday. "
                f"The council said it would cost {100 + i} million dollars.",
                "url": f"https://news.example/{i}",
                "source": "Example Wire",
                "published": f"2023-05-{1 + i % 28:02d}T08:00:00Z",
            }
        )
    return out


def _write_jsonl(path: Path, articles: list[dict]) -> Path:
    path.write_text("".join(json.dumps(a) + "\n" for a in articles), encoding="utf-8")
    return path


def _count_articles_read_only(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
    finally:
        conn.close()


def _assert_store_consistent(db: Path, passage_words: int) -> int:
    """Integrity, no orphan passages, every article complete; returns the article count."""
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        orphans = conn.execute(
            "SELECT COUNT(*) FROM passages p LEFT JOIN articles a ON a.id = p.article_id "
            "WHERE a.id IS NULL"
        ).fetchone()[0]
        assert orphans == 0
        # No article was committed with only some of its passages.
        for body, stored in conn.execute(
            "SELECT a.body, COUNT(p.id) FROM articles a LEFT JOIN passages p "
            "ON p.article_id = a.id GROUP BY a.id"
        ):
            assert stored == len(pack_passages(body, passage_words))
        duplicates = conn.execute(
            "SELECT url FROM articles GROUP BY url HAVING COUNT(*) > 1"
        ).fetchall()
        assert duplicates == []
        return conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
    finally:
        conn.close()


def _assert_snapshot_matches_store(engine: Engine) -> IndexSnapshot:
    """The published snapshot is of the store's epoch, indexes every passage, and the engine
    serves it."""
    snap = load_snapshot(engine.config.index_dir)
    assert snap is not None
    assert snap.epoch == engine.store.epoch()
    ids = snap.passage_ids.tolist()
    assert len(ids) == engine.store.counts()[1] == engine.stats().indexed_passages
    assert len(engine.store.passages(ids)) == len(ids)  # every indexed passage exists
    return snap


def test_sigkill_mid_ingest_leaves_a_consistent_store_that_ingest_completes(tmp_path, encoder):
    data = tmp_path / "data"
    config = EngineConfig(data_dir=data)
    articles = _articles(CORPUS_SIZE)
    corpus = _write_jsonl(tmp_path / "corpus.jsonl", articles)

    # A first, completed ingest, so the kill also leaves an older published snapshot behind.
    with Engine(config, encoder) as engine:
        engine.ingest_paths([_write_jsonl(tmp_path / "pre.jsonl", articles[:PRE_INGESTED])])
        first_snapshot = current_name(config.index_dir)
    db = config.db_path
    assert _count_articles_read_only(db) == PRE_INGESTED

    env = {
        **os.environ,
        "NEWSBOT_DATA_DIR": str(data),
        "NEWSBOT_LOG_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    log = (tmp_path / "ingest.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "ingest", str(corpus)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        seen = PRE_INGESTED
        while seen <= PRE_INGESTED:  # wait for the child's first committed batch
            if proc.poll() is not None:
                pytest.fail(
                    f"ingest exited ({proc.returncode}) before it could be killed:\n"
                    + (tmp_path / "ingest.log").read_text()
                )
            assert time.monotonic() < deadline, "the child committed nothing in time"
            time.sleep(0.05)
            seen = _count_articles_read_only(db)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()

    committed = _assert_store_consistent(db, config.passage_words)
    assert PRE_INGESTED < committed < CORPUS_SIZE, "killed mid-ingest"
    assert current_name(config.index_dir) == first_snapshot  # never published by the child

    with Engine(config, encoder) as engine:
        # Reopening rebuilds the stale snapshot from the store.
        assert engine.store.epoch() > 1
        _assert_snapshot_matches_store(engine)
        assert len(_assert_snapshot_matches_store(engine)) == committed

        answer = engine.quote_answer("What did officials in Oslo announce for the rail strike?")
        assert answer.passages
        ids = [rp.passage.id for rp in answer.passages]
        assert len(engine.store.passages(ids)) == len(ids)
        for rp in answer.passages:
            assert engine.article(rp.article.id) is not None

        report = engine.ingest_paths([corpus])
        assert report.skipped == []
        assert report.added == CORPUS_SIZE - committed
        assert report.unchanged == committed
        _assert_snapshot_matches_store(engine)

    assert _assert_store_consistent(db, config.passage_words) == CORPUS_SIZE
    conn = sqlite3.connect(db)
    try:
        urls = [r[0] for r in conn.execute("SELECT url FROM articles ORDER BY url")]
    finally:
        conn.close()
    assert urls == sorted(a["url"] for a in articles)  # every article exactly once


# --- snapshots left behind by a crash --------------------------------------------------------

ARTICLE = {
    "title": "Port strike ends in Rotterdam",
    "text": "Dock workers in Rotterdam ended a three-day strike on Friday. "
    "The union said wages will rise by 4 percent next year.",
    "url": "https://news.example/port",
}
OTHER = {
    "title": "Library opens in Turku",
    "text": "A new city library opened in Turku with room for 200,000 books.",
    "url": "https://news.example/library",
}


def _gen_dirs(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.iterdir() if p.name.startswith("gen-"))


def _leave_half_written_snapshot(index_dir: Path) -> Path:
    """What a build killed before its rename leaves: a partial gen-* dir and a temp CURRENT."""
    leftover = index_dir / "gen-00000099-deadbeef"
    leftover.mkdir()
    (leftover / "vectors.npy").write_bytes(b"\x93NUMPY partial")
    (index_dir / f"{CURRENT}.0badf00d.tmp").write_text(leftover.name)
    return leftover


def test_a_half_written_snapshot_is_ignored_then_cleaned(engine_factory, tmp_path):
    data = tmp_path / "data"
    engine = engine_factory(data)
    engine.ingest_paths([_write_jsonl(tmp_path / "a.jsonl", [ARTICLE])])
    published = current_name(data / "index")
    engine.close()
    index_dir = data / "index"
    leftover = _leave_half_written_snapshot(index_dir)

    reopened = engine_factory(data)
    assert current_name(index_dir) == published  # CURRENT wins; the leftover is not read
    _assert_snapshot_matches_store(reopened)
    answer = reopened.quote_answer("When did the Rotterdam dock strike end?")
    assert not answer.abstained and "Rotterdam" in answer.quotes[0].text

    # The next build removes what the crashed one left.
    reopened.ingest_paths([_write_jsonl(tmp_path / "b.jsonl", [OTHER])])
    assert not leftover.exists()
    assert not list(index_dir.glob(f"{CURRENT}.*.tmp"))
    # The generation CURRENT named until now stays, for a reader that just read its name.
    assert _gen_dirs(index_dir) == sorted([published, current_name(index_dir)])
    _assert_snapshot_matches_store(reopened)


def test_a_first_build_killed_before_publishing_is_rebuilt_on_open(engine_factory, tmp_path):
    data = tmp_path / "data"
    engine = engine_factory(data)
    engine.ingest_paths([_write_jsonl(tmp_path / "a.jsonl", [ARTICLE])])
    engine.close()
    index_dir = data / "index"
    (index_dir / CURRENT).unlink()  # the crash came before any CURRENT existed
    leftover = _leave_half_written_snapshot(index_dir)

    reopened = engine_factory(data)
    _assert_snapshot_matches_store(reopened)
    assert reopened.stats().indexed_passages == 1
    assert not leftover.exists()
    assert _gen_dirs(index_dir) == [current_name(index_dir)]


def test_current_naming_a_missing_directory_is_rebuilt(engine_factory, tmp_path):
    data = tmp_path / "data"
    engine = engine_factory(data)
    engine.ingest_paths([_write_jsonl(tmp_path / "a.jsonl", [ARTICLE])])
    engine.close()
    (data / "index" / CURRENT).write_text("gen-00000001-gone0000")

    reopened = engine_factory(data)
    _assert_snapshot_matches_store(reopened)
    assert (data / "index" / current_name(data / "index")).is_dir()


def test_a_stale_snapshot_is_rebuilt_on_open(engine_factory, tmp_path):
    data = tmp_path / "data"
    index_dir = data / "index"
    engine = engine_factory(data)
    engine.ingest_paths([_write_jsonl(tmp_path / "a.jsonl", [ARTICLE])])
    stale = load_snapshot(index_dir)
    assert stale.epoch == engine.store.epoch() == 1
    engine.ingest_paths([_write_jsonl(tmp_path / "b.jsonl", [OTHER])])
    assert engine.store.epoch() == 2
    engine.close()

    # What a kill between the store commit and the snapshot publish leaves: the store at
    # epoch 2 and CURRENT still naming the epoch-1 snapshot (kept as the previous one).
    shutil.rmtree(index_dir / current_name(index_dir))
    assert (index_dir / stale.name).is_dir()
    (index_dir / CURRENT).write_text(stale.name)
    assert load_snapshot(index_dir).epoch == 1

    reopened = engine_factory(data)
    snap = _assert_snapshot_matches_store(reopened)
    assert snap.name != stale.name and snap.epoch == 2 and len(snap) == 2
    assert np.all(np.isin(stale.passage_ids, snap.passage_ids))
    assert reopened.search("library books")[0].article.title == OTHER["title"]
    assert _gen_dirs(index_dir) == sorted([stale.name, snap.name])


# --- a reader while a writer publishes ------------------------------------------------------
# The reader stands for another process (the bot while the CLI ingests). The publishes are
# forced between its read of CURRENT and its load, in one process, because two real
# processes cannot be made to hit that window reliably.


@pytest.mark.parametrize("publishes", [1, 2])
def test_a_reader_that_read_current_just_before_a_publish_still_loads_a_snapshot(
    engine_factory, tmp_path, monkeypatch, publishes
):
    # snapshot.py build_snapshot deleted every other generation as it published, so a process
    # that had just read CURRENT (the bot, while the CLI ingests into the same data directory)
    # found its files gone: FileNotFoundError in quote_answer, or None and a needless rebuild.
    data = tmp_path / "data"
    writer = engine_factory(data)
    writer.ingest_paths([_write_jsonl(tmp_path / "a.jsonl", [ARTICLE])])
    index_dir = writer.config.index_dir
    read_current = snapshot_module.current_name
    named: list[str | None] = []

    def publishes_right_after_reading(directory: Path) -> str | None:
        name = read_current(directory)
        if not named:  # the first read only: the writer's own builds read CURRENT too
            named.append(name)
            for i in range(publishes):
                story = {**OTHER, "url": f"{OTHER['url']}/{i}", "title": f"{OTHER['title']} {i}"}
                writer.ingest_paths([_write_jsonl(tmp_path / f"b{i}.jsonl", [story])])
        return name

    monkeypatch.setattr(snapshot_module, "current_name", publishes_right_after_reading)
    loaded = load_snapshot(index_dir)
    assert loaded is not None
    if publishes == 1:  # the generation it read the name of is still there
        assert loaded.name == named[0] and loaded.epoch == 1
    else:  # that one is gone too: CURRENT, read again, names the newest
        assert loaded.name == read_current(index_dir) and loaded.epoch == writer.store.epoch()
        assert named[0] not in _gen_dirs(index_dir)  # older generations still go
    assert len(writer.store.passages(loaded.passage_ids.tolist())) == len(loaded)
