"""Issue 5 lifecycle: SIGTERM a real ``newsbot serve`` subprocess while its feed poller is
ingesting, then check it exits 0 quickly, logs no ERROR, and leaves a store that reopens
consistent and still answers.

A real local HTTP server serves an RSS feed of many items whose article pages answer slowly,
so the poll is still fetching/ingesting when the signal arrives; the test insists on seeing
that (pages served, not all items stored) before it signals.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import sqlite3
import time
from html import escape
from pathlib import Path

import pytest

from index.config import EngineConfig
from index.engine import Engine
from index.feeds.registry import Registry
from index.snapshot import load_snapshot
from tests.discord.harness import SHANGRI_LA, assert_no_pings, serve_env, start_serve
from tests.support.fake_discord import FakeDiscord
from tests.support.http_server import LocalServer, Route

TOKEN = "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs-sigterm-ingest"
ITEMS = 60
PAGE_DELAY = 0.15  # seconds per article page: the poll takes several seconds
PAGES_BEFORE_SIGTERM = 8


@pytest.fixture
async def remote_fake():
    """A fake Discord the subprocess finds through NEWSBOT_DISCORD_* alone."""
    async with FakeDiscord(patch_endpoints=False) as fake:
        yield fake
        assert_no_pings(fake.requests)


def _page(server: LocalServer, n: int) -> str:
    title = f"Harbourtown council approves plan {n} for the ferry pier"
    paragraphs = [
        f"The Harbourtown council approved plan {n} for the ferry pier on Tuesday, "
        f"after {n + 3} months of debate.",
        f"Councillor Anja Berg{n} said the work would cost {n * 7} thousand euros.",
        f"About {n * 11} residents signed a petition in support of plan {n}.",
    ]
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return (
        f"<!DOCTYPE html><html><head><title>{escape(title)}</title>"
        f'<link rel="canonical" href="{server.url(f"/story/{n}.html")}">'
        f"</head><body><article><h1>{escape(title)}</h1>{body}</article></body></html>"
    )


def _publish(server: LocalServer) -> str:
    for n in range(ITEMS):
        server.route(f"/story/{n}.html", Route(_page(server, n), delay=PAGE_DELAY))
    entries = "".join(
        f"<item><title>Plan {n} for the ferry pier</title>"
        f"<link>{server.url(f'/story/{n}.html')}</link>"
        f'<guid isPermaLink="false">plan-{n}</guid>'
        f"<pubDate>Tue, 0{1 + n % 9} Oct 2024 08:{n:02d}:00 +0000</pubDate>"
        f"<description>Plan {n} summary.</description></item>"
        for n in range(ITEMS)
    )
    rss = (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>Harbourtown Gazette</title><link>{server.url('/')}</link>{entries}"
        "</channel></rss>"
    )
    return server.route("/feed.xml", Route(rss, content_type="application/rss+xml"))


def _count_articles_read_only(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
    finally:
        conn.close()


def _page_hits(server: LocalServer) -> int:
    return sum(server.hits(f"/story/{n}.html") for n in range(ITEMS))


async def test_sigterm_mid_feed_ingest_exits_0_fast_and_store_reopens_consistent(
    remote_fake, sample_data, tmp_path, encoder
) -> None:
    fake = remote_fake
    data = tmp_path / "data"
    shutil.copytree(sample_data, data)
    config = EngineConfig(data_dir=data)
    db = config.db_path
    sample_articles = _count_articles_read_only(db)

    with LocalServer() as server:
        feed_url = _publish(server)
        registry = Registry(db)
        try:
            registry.add_feed(feed_url, name="Harbourtown Gazette")  # global, due at once
        finally:
            registry.close()

        env = serve_env(
            fake,
            TOKEN,
            data,
            NEWSBOT_FEEDS_ALLOW_HOSTS="127.0.0.1",
            NEWSBOT_FEEDS_POLL_INTERVAL_SECONDS="3600",
            NEWSBOT_FEEDS_FETCH_TIMEOUT_SECONDS="10",
            NEWSBOT_LOG_LEVEL="INFO",
        )
        log_path = tmp_path / "serve.log"
        log_file = log_path.open("wb")
        proc = await start_serve(
            env,
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 120
            while _page_hits(server) < PAGES_BEFORE_SIGTERM:
                if proc.returncode is not None:
                    pytest.fail(f"serve exited ({proc.returncode}) early:\n{log_path.read_text()}")
                assert time.monotonic() < deadline, "serve fetched no article pages in time"
                await asyncio.sleep(0.02)

            served_before = _page_hits(server)
            stored_before = _count_articles_read_only(db)
            # Ingest really is under way, and far from done, when the signal goes out.
            assert served_before >= PAGES_BEFORE_SIGTERM
            assert served_before < ITEMS
            assert stored_before < sample_articles + ITEMS

            proc.send_signal(signal.SIGTERM)
            stopping_at = time.monotonic()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                pytest.fail(f"serve still running 15 s after SIGTERM:\n{log_path.read_text()}")
            stopped_in = time.monotonic() - stopping_at
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            log_file.close()
        served_after = _page_hits(server)

    log = log_path.read_text(errors="replace")
    assert proc.returncode == 0, log[-3000:]
    assert stopped_in < 10, f"took {stopped_in:.1f}s to stop\n{log[-3000:]}"
    assert TOKEN not in log
    assert not re.search(r"\b(ERROR|CRITICAL)\b", log), log[-3000:]
    assert served_after < ITEMS, "the whole poll finished before SIGTERM took effect"

    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        orphans = conn.execute(
            "SELECT COUNT(*) FROM passages p LEFT JOIN articles a ON a.id = p.article_id "
            "WHERE a.id IS NULL"
        ).fetchone()[0]
        assert orphans == 0
        committed = conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
    finally:
        conn.close()
    assert sample_articles <= committed < sample_articles + ITEMS

    with Engine(config, encoder) as engine:
        snap = load_snapshot(config.index_dir)
        assert snap is not None
        assert snap.epoch == engine.store.epoch()
        assert len(snap.passage_ids) == engine.store.counts()[1]
        answer = engine.quote_answer(SHANGRI_LA)
        assert not answer.abstained
        assert "from June 2 to 4" in answer.quotes[0].text
