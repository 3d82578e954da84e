"""The health/metrics endpoint (bot.health) and `newsbot healthcheck`, on 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import aiohttp
import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.health import (
    HealthState,
    Metrics,
    bound_port,
    maybe_start_health_server,
    probe,
    probe_host,
    start_health_server,
)
from bot.settings import Settings

NEWSBOT = Path(sys.executable).with_name("newsbot")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def server():
    clock = FakeClock()
    state = HealthState(max_heartbeat_age_s=60.0, clock=clock)
    metrics = Metrics()
    runner = await start_health_server(state, metrics, "127.0.0.1", 0)
    try:
        yield state, metrics, clock, f"http://127.0.0.1:{bound_port(runner)}"
    finally:
        await runner.cleanup()


async def get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, response.headers["Content-Type"], await response.text()


async def test_healthz_is_503_until_connected_with_a_fresh_heartbeat_and_a_loaded_index(server):
    state, _, clock, base = server
    status, ctype, body = await get(base + "/healthz")
    assert (status, ctype.split(";")[0]) == (503, "application/json")
    assert json.loads(body) == {
        "gateway_connected": False,
        "last_heartbeat_age_s": None,
        "index_loaded": False,
        "articles": 0,
    }

    state.set_connected(True)  # connected, but no index yet
    status, _, body = await get(base + "/healthz")
    assert status == 503 and json.loads(body)["gateway_connected"] is True

    state.set_index(loaded=True, articles=12)
    clock.now += 5
    status, _, body = await get(base + "/healthz")
    assert status == 200
    assert json.loads(body) == {
        "gateway_connected": True,
        "last_heartbeat_age_s": 5.0,
        "index_loaded": True,
        "articles": 12,
    }

    clock.now += 61  # heartbeats stopped: stale
    status, _, body = await get(base + "/healthz")
    assert status == 503 and json.loads(body)["last_heartbeat_age_s"] == 66.0
    state.beat()
    assert (await get(base + "/healthz"))[0] == 200

    state.set_connected(False)
    assert (await get(base + "/healthz"))[0] == 503


async def test_metrics_are_prometheus_text_with_the_counts(server):
    state, metrics, _, base = server
    metrics.observe_answer(abstained=False, seconds=0.2)
    metrics.observe_answer(abstained=False, seconds=0.4)
    metrics.observe_answer(abstained=True, seconds=3.0)
    metrics.observe_feed_errors(2)
    metrics.observe_feed_errors(0)  # a poll without errors
    state.set_index(loaded=True, articles=42)

    status, ctype, text = await get(base + "/metrics")
    assert status == 200 and ctype.startswith("text/plain")
    lines = set(text.splitlines())
    assert "newsbot_questions_answered_total 3.0" in lines
    assert "newsbot_abstentions_total 1.0" in lines
    assert "newsbot_answer_latency_seconds_count 3.0" in lines
    assert 'newsbot_answer_latency_seconds_bucket{le="0.25"} 1.0' in lines
    assert 'newsbot_answer_latency_seconds_bucket{le="5.0"} 3.0' in lines
    assert "newsbot_articles_indexed 42.0" in lines
    assert "newsbot_feed_errors_total 2.0" in lines
    # A private registry: nothing of the process-wide default one (python_gc_*, process_*).
    assert "python_gc_objects_collected_total" not in text


def test_metrics_instances_do_not_share_a_registry():
    a, b = Metrics(), Metrics()  # the default registry would raise "Duplicated timeseries"
    a.observe_answer(abstained=True, seconds=1.0)
    assert b"newsbot_abstentions_total 0.0" in b.render()
    assert b"newsbot_abstentions_total 1.0" in a.render()


async def test_off_by_default_and_bound_to_loopback_unless_configured():
    settings = Settings()
    assert (settings.health.port, settings.health.host) == (0, "127.0.0.1")
    assert await maybe_start_health_server(settings, HealthState(), Metrics()) is None

    runner = await maybe_start_health_server(
        Settings(health={"port": _free_port()}), HealthState(), Metrics()
    )
    assert runner is not None
    try:
        assert runner.addresses[0][0] == "127.0.0.1"
    finally:
        await runner.cleanup()


def test_probe_host_reaches_a_wildcard_bind_through_loopback():
    assert probe_host("0.0.0.0") == "127.0.0.1"
    assert probe_host("::") == "::1"
    assert probe_host("127.0.0.1") == "127.0.0.1"


def test_probe_reports_a_closed_port():
    status, why = probe("127.0.0.1", _free_port(), timeout=2)
    assert status is None and "Connection" in why


def test_healthcheck_fails_when_the_endpoint_is_off():
    result = CliRunner().invoke(app, ["healthcheck"], env={"NEWSBOT_HEALTH_PORT": "0"})
    assert result.exit_code == 1
    assert "off" in result.output


def test_healthcheck_fails_when_nothing_answers():
    env = {"NEWSBOT_HEALTH_PORT": str(_free_port()), "NEWSBOT_HEALTH_HOST": "127.0.0.1"}
    result = CliRunner().invoke(app, ["healthcheck", "--timeout", "2"], env=env)
    assert result.exit_code == 1
    assert "nothing answers" in result.output


async def test_newsbot_healthcheck_console_script_follows_the_server(server):
    """The image's HEALTHCHECK command, run as Docker runs it: the installed console script."""
    state, _, _, base = server
    port = base.rsplit(":", 1)[1]
    env = {**os.environ, "NEWSBOT_HEALTH_PORT": port, "NEWSBOT_HEALTH_HOST": "0.0.0.0"}

    code, out, err = await _run(NEWSBOT, "healthcheck", env=env)
    assert code == 1, (out, err)
    assert "503" in err and json.loads(out)["gateway_connected"] is False

    state.set_connected(True)
    state.set_index(loaded=True, articles=3)
    code, out, err = await _run(NEWSBOT, "healthcheck", env=env)
    assert code == 0, (out, err)
    assert json.loads(out)["articles"] == 3


async def test_newsbot_help_lists_the_operations_commands():
    code, out, err = await _run(NEWSBOT, "--help", env=dict(os.environ))
    assert code == 0, err
    for command in ("healthcheck", "backup", "restore", "config"):
        assert command in out


async def _run(*argv: object, env: dict[str, str]) -> tuple[int, str, str]:
    """A subprocess while this event loop keeps serving the health endpoint."""
    proc = await asyncio.create_subprocess_exec(
        *map(str, argv),
        env={**env, "COLUMNS": "200"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
