"""The bot drives bot.health: gateway state from ready/disconnect/resume, answer metrics."""

from __future__ import annotations

import asyncio
import json
import os
import signal

from typer.testing import CliRunner

from bot.cli import app
from bot.discord.serve import serve
from bot.health import HealthState, Metrics, probe
from tests.discord.harness import (
    ANSWER_TIMEOUT,
    SHANGRI_LA,
    ask,
    bot_settings,
    embed_text,
    mention,
    running_bot,
)
from tests.support.fake_discord import ErrorLogGuard, FakeDiscord
from tests.support.milvus_server import free_port

TOKEN = "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs-health-test"


async def test_gateway_reconnect_and_drop_are_survived_with_resume(fake, engine, tmp_path) -> None:
    events: list[bool] = []

    class RecordingHealth(HealthState):
        def set_connected(self, connected: bool) -> None:
            events.append(connected)
            super().set_connected(connected)

    health = RecordingHealth()
    with ErrorLogGuard(("discord", "newsbot")):
        async with running_bot(fake, engine, bot_settings(tmp_path / "data"), health=health):
            await fake.wait_until(lambda: events == [True], what="on_ready")
            session = fake.session_id
            await fake.send_reconnect()  # op 7
            await fake.wait_for_resume(1)
            await ask(fake, SHANGRI_LA)
            await fake.drop_gateway()  # the TCP connection dies without a close frame
            await fake.wait_for_resume(2)
            _, reply = await mention(fake, SHANGRI_LA)
            assert "**from June 2 to 4**" in embed_text(reply.json)
            assert fake.identify_count == 1 and fake.resume_count == 2
            assert all(r["session_id"] == session for r in fake.resumes)
            await fake.wait_until(lambda: events[-1] is True, what="on_resumed")
            assert events == [True, False, True, False, True] and health.gateway_connected


# --------------------------------------------------------------------------- health & metrics


async def test_health_and_metrics_follow_the_bot(fake, engine, tmp_path) -> None:
    health, metrics = HealthState(), Metrics()
    with ErrorLogGuard(("discord", "newsbot")):
        async with running_bot(
            fake, engine, bot_settings(tmp_path / "data"), health=health, metrics=metrics
        ):
            await fake.wait_until(lambda: health.gateway_connected, what="connected")
            await ask(fake, SHANGRI_LA)
            await ask(fake, "who won the 1998 football world cup final?")
            await fake.wait_until(
                lambda: metrics.questions_answered._value.get() == 2, what="metrics"
            )
    assert metrics.abstentions._value.get() == 1
    assert health.heartbeat_age() is not None
    text = metrics.render().decode()
    assert "newsbot_answer_latency_seconds_count 2.0" in text


async def test_serve_reports_healthy_only_once_connected_with_the_index_loaded(
    engine, tmp_path, monkeypatch
) -> None:
    """The Docker HEALTHCHECK path end to end: ``serve`` starts /healthz, which answers 200
    once the gateway is up and the index loaded; ``newsbot healthcheck`` exits 0 then, and 1
    once the bot has stopped."""
    port = free_port()
    monkeypatch.setenv("NEWSBOT_HEALTH_PORT", str(port))
    async with FakeDiscord(patch_endpoints=False) as fake:
        settings = bot_settings(
            tmp_path / "data",
            discord_token=TOKEN,
            discord_api_base=fake.api_base,
            discord_gateway_url=fake.gateway_url,
            health_port=port,
        )
        with ErrorLogGuard(("discord", "newsbot")):
            server = asyncio.create_task(serve(settings, TOKEN, engine=engine))
            await fake.wait_until(lambda: fake.connected, timeout=ANSWER_TIMEOUT, what="ready")
            seen: list[int | None] = []
            for _ in range(100):  # READY reaches the bot a moment after the connection opens
                status, body = await asyncio.to_thread(probe, "127.0.0.1", port)
                seen.append(status)
                if status == 200:
                    break
                await asyncio.sleep(0.05)
            healthy = await asyncio.to_thread(CliRunner().invoke, app, ["healthcheck"])
            os.kill(os.getpid(), signal.SIGTERM)  # serve's own signal handler stops it
            assert await asyncio.wait_for(server, 15) == 0
        after = CliRunner().invoke(app, ["healthcheck", "--timeout", "1"])
    assert status == 200 and set(seen) <= {503, 200}, (seen, body)
    state = json.loads(body)
    assert state["gateway_connected"] and state["index_loaded"]
    assert state["articles"] == engine.stats().articles > 0
    assert healthy.exit_code == 0, healthy.output
    assert after.exit_code == 1 and "unhealthy: nothing answers" in after.output
