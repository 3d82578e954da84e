"""A burst of questions queues in the worker pool; the event loop (and so the gateway
heartbeat) stays responsive; past the queue limit a member is told the bot is busy. The
throughput figures live in bench/discord_throughput.py."""

from __future__ import annotations

import asyncio
import math
import threading
import time

import pytest

from bot.discord.errors import Busy
from tests.discord.harness import (
    ANSWER_TIMEOUT,
    SHANGRI_LA,
    assert_no_pings,
    bot_settings,
    callback_of,
    embed_text,
    running_bot,
)
from tests.support.fake_discord import ErrorLogGuard, FakeDiscord

BURST = 50


class LoopLag:
    """Measures how late a 20 ms sleep wakes up: the event loop's responsiveness."""

    def __init__(self, period: float = 0.02) -> None:
        self.period = period
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self.period)
            self.worst = max(self.worst, time.perf_counter() - before - self.period)

    def __enter__(self) -> LoopLag:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


@pytest.mark.parametrize("heartbeat_ms", [100])
async def test_fifty_concurrent_asks_keep_the_loop_and_heartbeat_alive(
    engine, tmp_path, heartbeat_ms: int
) -> None:
    async with FakeDiscord(heartbeat_interval_ms=heartbeat_ms) as fake:
        settings = bot_settings(tmp_path / "data", workers=2, queue_limit=100)
        with ErrorLogGuard(("discord", "newsbot")):
            async with running_bot(fake, engine, settings) as bot:
                await fake.wait_for_heartbeats(2, timeout=5)
                users = [fake.make_user(username=f"user{i}") for i in range(BURST)]
                payloads = [
                    fake.slash_command_payload("ask", {"question": SHANGRI_LA}, user=u)
                    for u in users
                ]
                peak_waiting = 0
                sent_at: dict[str, float] = {}

                def all_answered() -> bool:
                    nonlocal peak_waiting
                    peak_waiting = max(peak_waiting, bot.pool.waiting)
                    done = fake.requests_to("POST", f"/webhooks/{fake.application_id}/*")
                    return len(done) >= BURST

                with LoopLag() as lag:
                    beats_before = len(fake.heartbeats)
                    started = time.perf_counter()
                    for payload in payloads:
                        sent_at[payload["id"]] = time.monotonic()
                        await fake.dispatch("INTERACTION_CREATE", payload)
                    await fake.wait_until(all_answered, timeout=180, what="50 answers")
                    elapsed = time.perf_counter() - started
                    beats = len(fake.heartbeats) - beats_before
                assert math.isfinite(bot.latency) and bot.latency < 1.0
        assert assert_no_pings(fake.requests) == BURST

    # Every question was acknowledged within Discord's 3 s deadline, then answered correctly.
    ack_delays = []
    for payload in payloads:
        [callback] = fake.requests_to("POST", f"/interactions/{payload['id']}/*/callback")
        assert callback.json == {"type": 5}
        ack_delays.append(callback.at - sent_at[payload["id"]])
        [answer] = fake.requests_to("POST", f"/webhooks/*/{payload['token']}")
        assert "**from June 2 to 4**" in embed_text(answer.json)
    assert max(ack_delays) < 3.0, max(ack_delays)
    assert peak_waiting > 0  # the burst queued in the pool...
    assert lag.worst < 1.0, f"event loop stalled {lag.worst:.2f} s"  # ...not on the loop
    # Heartbeats kept flowing at roughly the requested interval during the burst.
    assert beats >= elapsed / (heartbeat_ms / 1000) * 0.5 - 1, (beats, elapsed)
    assert fake.heartbeat_acks_sent >= beats


async def test_questions_past_the_queue_limit_are_told_privately_the_bot_is_busy(
    engine, tmp_path
) -> None:
    busy_text = Busy().user_message
    assert busy_text.startswith("I'm answering a lot of questions right now")
    release = threading.Event()
    async with FakeDiscord() as fake:
        # One worker and room for three jobs: the held job below and two queued questions.
        settings = bot_settings(tmp_path / "data", workers=1, queue_limit=3)
        with ErrorLogGuard(("discord", "newsbot")):
            async with running_bot(fake, engine, settings) as bot:
                # Occupy the only worker with real pool work until the burst has been sorted.
                holder = asyncio.create_task(bot.pool.run(release.wait, ANSWER_TIMEOUT))
                try:
                    await fake.wait_until(lambda: bot.pool.running == 1, what="worker held")
                    payloads = [
                        fake.slash_command_payload(
                            "ask",
                            {"question": SHANGRI_LA},
                            user=fake.make_user(username=f"asker{i}"),
                        )
                        for i in range(5)
                    ]
                    for payload in payloads:
                        await fake.dispatch("INTERACTION_CREATE", payload)

                    def followups() -> list:
                        return fake.requests_to("POST", f"/webhooks/{fake.application_id}/*")

                    # Three are refused at once; two wait for the held worker.
                    await fake.wait_until(
                        lambda: len(followups()) == 3 and bot.pool.waiting == 2,
                        timeout=ANSWER_TIMEOUT,
                        what="three refusals with two questions queued",
                    )
                finally:
                    release.set()
                assert await holder is True
                await fake.wait_until(
                    lambda: len(followups()) == 5, timeout=ANSWER_TIMEOUT, what="two answers"
                )
        assert assert_no_pings(fake.requests) == 5

    refused, answered = [], []
    for payload in payloads:
        assert callback_of(fake, payload).json == {"type": 5}  # acknowledged in time, publicly
        [reply] = fake.requests_to("POST", f"/webhooks/*/{payload['token']}")
        if reply.json.get("content") == busy_text:
            refused.append(payload)
            # Only the asker sees it: the public "thinking..." was deleted first.
            assert reply.json["flags"] == 64 and reply.response["flags"] & 64
            assert not reply.json.get("embeds")
            deleted = fake.requests_to(
                "DELETE", f"/webhooks/*/{payload['token']}/messages/@original"
            )
            assert len(deleted) == 1 and deleted[0].at < reply.at
        else:
            answered.append(payload)
            assert "**from June 2 to 4**" in embed_text(reply.json)
            assert reply.response["flags"] & 64 == 0
            assert not fake.requests_to("DELETE", f"/webhooks/*/{payload['token']}/**")
    assert (len(refused), len(answered)) == (3, 2)
