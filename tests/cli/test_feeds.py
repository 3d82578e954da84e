"""``newsbot feeds ...``, ``newsbot watch`` and ``newsbot ingest URL`` against a local server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from index.errors import NewsbotError
from tests.feeds.test_poller import Entry, page_html, rss
from tests.support.http_server import LocalServer, Route

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as s:
        yield s


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "NEWSBOT_DATA_DIR": str(tmp_path / "data"),
        "NEWSBOT_FEEDS_ALLOW_HOSTS": "127.0.0.1",
        "NEWSBOT_FEEDS_FETCH_TIMEOUT_SECONDS": "1",
        "NEWSBOT_LOG_LEVEL": "ERROR",
    }


def run(env: dict[str, str], *args: str):
    return CliRunner().invoke(app, list(args), env=env)


def test_feeds_add_list_remove(env):
    added = run(env, "feeds", "add", "http://news.example/rss.xml", "--name", "Example")
    assert added.exit_code == 0, added.output
    assert "added feed 1: Example" in added.stdout
    again = run(env, "feeds", "add", "http://news.example/rss.xml")
    assert again.exit_code == 1 and "already in the global feeds" in again.stderr
    for wrong in ("file:///etc/passwd", "http://[::1"):  # the second made urlsplit raise
        bad = run(env, "feeds", "add", wrong)
        assert bad.exit_code == 1 and bad.stderr == f"error: {wrong}: not an http(s) URL\n"
    for unfetchable, why in [("http://news.example:99999/rss", "bad port")]:
        bad = run(env, "feeds", "add", unfetchable)  # was kept, and failed every poll
        assert bad.exit_code == 1 and bad.stderr == f"error: {unfetchable}: {why}\n"
    run(env, "feeds", "add", "http://news.example/other.xml")

    listed = run(env, "feeds", "list", "--json")
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["id"], r["url"], r["name"]) for r in rows] == [
        (1, "http://news.example/rss.xml", "Example"),
        (2, "http://news.example/other.xml", None),
    ]
    listed = run(env, "feeds", "list").stdout
    assert "#1 Example  (global, every 15m, 0 items seen)" in listed
    assert "    http://news.example/other.xml" in listed and "not polled yet" in listed

    assert run(env, "feeds", "remove", "1").exit_code == 0
    by_url = run(env, "feeds", "remove", "http://news.example/other.xml")
    assert by_url.exit_code == 0 and "removed feed 2" in by_url.stdout
    missing = run(env, "feeds", "remove", "7")
    assert missing.exit_code == 1 and "no feed '7'" in missing.stderr
    assert "No feeds yet" in run(env, "feeds", "list").stdout


def test_watch_once_reports_a_failing_feed_and_list_shows_the_backoff(env, server, caplog):
    url = server.route("/feed.xml", Route("<html><body>moved</body></html>"))
    run(env, "feeds", "add", url)
    watched = run(env, "watch", "--once")
    assert watched.exit_code == 1  # every feed failed
    assert "polled 1 feed(s): 0 ok, 1 failing" in watched.stdout
    assert f"{url}: not an RSS or Atom feed (content type text/html)" in caplog.text
    listed = run(env, "feeds", "list").stdout
    assert "failing: 1 in a row, backing off (retry in 15m)" in listed
    assert f"last error: {url}: not an RSS or Atom feed" in listed
    (row,) = [json.loads(x) for x in run(env, "feeds", "list", "--json").stdout.splitlines()]
    assert row["consecutive_failures"] == 1 and row["last_error"].startswith(url)


def test_ingest_takes_a_page_url_and_a_feed_url(env, server):
    base = server.url("")
    for n in (1, 2, 3):
        server.route(f"/story/{n}.html", Route(page_html(n, base)))
    feed = server.route(
        "/feed.xml", Route(rss(base, [Entry(2), Entry(3)]), content_type="application/rss+xml")
    )
    missing = server.url("/nothing.html")
    result = run(env, "ingest", f"{base}/story/1.html", feed, missing)
    assert result.exit_code == 0, result.output
    assert "added 3," in result.stdout and "skipped 1" in result.stdout
    assert f"{missing}: HTTP 404" in result.stderr
    headlines = run(env, "headlines").stdout
    assert "Ferry service to Gull Island" in headlines and "Lighthouse keeper" in headlines


def test_watch_stops_cleanly_on_sigterm(env, server):
    url = server.route("/feed.xml", Route(status=503))
    assert run(env, "feeds", "add", url).exit_code == 0
    proc = subprocess.Popen(
        [sys.executable, "-c", "from bot.cli import main; main()", "watch"],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while server.hits("/feed.xml") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)  # polled once: the loop is running
        assert server.hits("/feed.xml") == 1
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "watching 1 feed(s)" in stderr and "stopped" in stderr
    assert "Traceback" not in stderr


def test_feed_commands_turn_odd_input_into_one_line_errors(env, tmp_path):
    # --interval inf was stored, and every later schedule overflowed; "²" passes isdigit()
    # and a 23-digit id overflows SQLite; a data dir that is a file gave a traceback.
    forever = run(env, "feeds", "add", "http://news.example/rss.xml", "--interval", "inf")
    assert forever.exit_code == 2 and "--interval" in forever.output
    assert "No feeds yet" in run(env, "feeds", "list").stdout
    for target in ("²", "9" * 23):
        gone = run(env, "feeds", "remove", target)
        assert gone.exit_code == 1 and f"no feed {target!r}" in gone.stderr
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    listed = run({**env, "NEWSBOT_DATA_DIR": str(not_a_dir)}, "feeds", "list")
    # bot.cli.main prints a NewsbotError as one "error:" line and exits 1 (tested in tests/cli/test_cli.py).
    assert isinstance(listed.exception, NewsbotError), listed.exception
    assert str(listed.exception).startswith("cannot open the feed tables in ")
    assert "\n" not in str(listed.exception)
