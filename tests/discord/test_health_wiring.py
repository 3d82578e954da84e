"""The bot drives bot.health: gateway state from ready/disconnect/resume, answer metrics."""

from __future__ import annotations

from bot.health import HealthState, Metrics
from tests.discord.harness import (
    SHANGRI_LA,
    ask,
    bot_settings,
    embed_text,
    mention,
    running_bot,
)
from tests.support.fake_discord import ErrorLogGuard


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
