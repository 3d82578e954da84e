"""The bot's parts on their own: memory, cooldown, worker pool, command-sync record, token
redaction, endpoint overrides."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time

import discord
import pytest

from bot.discord.checks import UserCooldown
from bot.discord.endpoints import endpoint_overrides
from bot.discord.errors import Busy, CoolingDown, ShuttingDown
from bot.discord.logsafe import REDACTED, TokenRedactor
from bot.discord.memory import ConversationKey, ConversationMemory, conversation_key
from bot.discord.sync import SyncRecord, payload_hash
from bot.discord.workers import WorkerPool


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --------------------------------------------------------------------------- memory


def test_memory_is_bounded_by_turns_age_and_conversations() -> None:
    clock = Clock()
    memory = ConversationMemory(turns=2, ttl_seconds=60, max_conversations=2, clock=clock)
    a, b, c = (ConversationKey(1, ch, 7) for ch in (10, 11, 12))
    for q in ("one", "two", "three"):
        memory.remember(a, q)
    assert memory.context(a) == ["two", "three"]  # only the last 2 turns
    clock.now += 30
    memory.remember(a, "four")
    clock.now += 31  # "three" is 61 s old now, "four" 31 s
    assert memory.context(a) == ["four"]
    memory.remember(b, "b1")
    memory.remember(c, "c1")  # a third conversation: the least recently used one goes
    assert memory.context(a) == [] and memory.context(b) == ["b1"] and len(memory) == 2
    clock.now += 61
    assert memory.context(b) == [] and memory.context(c) == []
    assert len(memory) == 0  # expired conversations are dropped, not kept empty


def test_memory_never_crosses_conversations_or_guilds() -> None:
    memory = ConversationMemory(turns=6, ttl_seconds=600)
    channel = object()
    mine = conversation_key(1, channel, 10, user_id=7)
    memory.remember(mine, "when is the Shangri-La Dialogue?")
    assert memory.context(conversation_key(2, channel, 10, user_id=7)) == []  # other guild
    assert memory.context(conversation_key(1, channel, 10, user_id=8)) == []  # other member
    assert memory.context(conversation_key(1, channel, 11, user_id=7)) == []  # other channel
    assert memory.context(conversation_key(None, channel, 10, user_id=7)) == []  # a DM
    assert memory.context(conversation_key(1, channel, 10, user_id=7)) == [
        "when is the Shangri-La Dialogue?"
    ]


def test_memory_with_zero_turns_remembers_nothing() -> None:
    memory = ConversationMemory(turns=0, ttl_seconds=600)
    memory.remember(ConversationKey(None, 1, 1), "q")
    assert memory.context(ConversationKey(None, 1, 1)) == [] and len(memory) == 0


# --------------------------------------------------------------------------- cooldown


def test_cooldown_is_per_user_and_expires() -> None:
    clock = Clock()
    cooldown = UserCooldown(5, clock=clock)
    assert cooldown.retry_after(1) == 0
    clock.now += 2
    assert cooldown.retry_after(1) == pytest.approx(3)
    assert cooldown.retry_after(2) == 0  # someone else
    with pytest.raises(CoolingDown) as caught:
        cooldown.check(1)
    assert "ask again in 3 s" in caught.value.user_message
    clock.now += 3
    assert cooldown.retry_after(1) == 0
    assert UserCooldown(0, clock=clock).retry_after(1) == 0  # disabled


# --------------------------------------------------------------------------- worker pool


async def test_pool_runs_off_the_loop_bounded_and_refuses_overflow() -> None:
    pool = WorkerPool(workers=2, queue_limit=4)
    gate = threading.Event()
    loop_thread = threading.get_ident()
    running: list[int] = []
    peak = 0

    def work(n: int) -> int:
        nonlocal peak
        assert threading.get_ident() != loop_thread  # never on the event loop's thread
        running.append(n)
        peak = max(peak, len(running))
        gate.wait(5)
        running.remove(n)
        return n * 10

    tasks = [asyncio.create_task(pool.run(work, n)) for n in range(4)]
    await asyncio.sleep(0.1)
    assert pool.running == 2 and pool.waiting == 2
    with pytest.raises(Busy):
        await pool.run(work, 99)  # the queue is full: refused at once, not queued
    started = time.perf_counter()
    await asyncio.sleep(0.05)
    assert time.perf_counter() - started < 0.5  # the loop stays free meanwhile
    gate.set()
    assert await asyncio.gather(*tasks) == [0, 10, 20, 30]
    assert peak == 2
    assert await pool.close(timeout=1)


async def test_pool_close_finishes_running_work_and_refuses_the_queue() -> None:
    pool = WorkerPool(workers=1, queue_limit=10)
    gate = threading.Event()
    done: list[str] = []

    def slow() -> str:
        gate.wait(5)
        done.append("slow")
        return "ok"

    first = asyncio.create_task(pool.run(slow))
    queued = asyncio.create_task(pool.run(slow))
    await asyncio.sleep(0.05)
    closing = asyncio.create_task(pool.close(timeout=5))
    await asyncio.sleep(0.05)
    assert not closing.done()  # waits for the running call
    gate.set()
    assert await first == "ok"
    with pytest.raises(ShuttingDown):
        await queued  # was waiting when the pool closed: refused, never run
    assert await closing is True and done == ["slow"]
    with pytest.raises(ShuttingDown):
        await pool.run(slow)


async def test_cancelled_caller_keeps_its_slot_until_the_thread_ends() -> None:
    pool = WorkerPool(workers=1, queue_limit=10)
    gate = threading.Event()
    task = asyncio.create_task(pool.run(gate.wait, 5))
    await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.sleep(0.05)
    assert pool.running == 1  # the thread still runs: no second call may start yet
    gate.set()
    await asyncio.sleep(0.1)
    assert pool.running == 0
    assert await pool.close(timeout=1)


# --------------------------------------------------------------------------- command sync record


def test_payload_hash_is_order_insensitive_and_content_sensitive() -> None:
    a = [{"name": "ask", "description": "x"}, {"name": "about", "description": "y"}]
    assert payload_hash(a) == payload_hash(list(reversed(a)))
    assert payload_hash(a) != payload_hash([{**a[0], "description": "z"}, a[1]])


def test_sync_record_survives_a_corrupt_file(tmp_path) -> None:
    record = SyncRecord(tmp_path)
    assert record.get("1:global") is None
    record.put("1:global", "abc")
    record.put("1:guild:5", "def")
    assert json.loads(record.path.read_text()) == {"1:global": "abc", "1:guild:5": "def"}
    record.path.write_text("{not json")
    assert SyncRecord(tmp_path).get("1:global") is None  # unreadable: sync again


# --------------------------------------------------------------------------- token redaction


def test_redactor_scrubs_message_args_and_tracebacks() -> None:
    secret = "MTIz.secret.token"
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Keep()
    handler.addFilter(TokenRedactor(secret))
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("token is %s", secret)
        logger.warning(f"inline {secret}")
        try:
            raise RuntimeError(f"bad token {secret}")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    assert len(records) == 3
    assert all(secret not in r for r in records), records
    assert records[0] == f"token is {REDACTED}" and REDACTED in records[2]


# --------------------------------------------------------------------------- endpoints


def test_endpoint_overrides_apply_and_restore() -> None:
    base, gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    with endpoint_overrides("http://127.0.0.1:9/api/v10/", "ws://127.0.0.1:9/"):
        assert discord.http.Route.BASE == "http://127.0.0.1:9/api/v10"
        assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == "ws://127.0.0.1:9/"
        route = discord.http.Route("GET", "/users/@me")
        assert route.url == "http://127.0.0.1:9/api/v10/users/@me"
    assert base == discord.http.Route.BASE
    assert gateway == discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    with endpoint_overrides(None, None):  # unset: discord.com as usual
        assert base == discord.http.Route.BASE
