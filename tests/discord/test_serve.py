"""``newsbot serve`` / ``sync-commands``: endpoints from settings, SIGTERM, token hygiene.

The fake runs with ``patch_endpoints=False`` here: the bot must find it through
NEWSBOT_DISCORD_API_BASE / NEWSBOT_DISCORD_GATEWAY_URL alone, as a proxy or test server would
be found in production.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import threading
import time

import pytest

from bot.discord.serve import serve, sync_only
from tests.discord.harness import (
    ANSWER_TIMEOUT,
    SHANGRI_LA,
    assert_no_pings,
    bot_settings,
    embed_text,
    output_when_done,
    serve_env,
    start_serve,
)
from tests.support.fake_discord import ErrorLogGuard, FakeDiscord

TOKEN = "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs-serve-test"


@pytest.fixture
async def remote_fake():
    """A fake Discord that discord.py is *not* patched to use."""
    async with FakeDiscord(patch_endpoints=False) as fake:
        yield fake
        assert_no_pings(fake.requests)


def remote_settings(fake: FakeDiscord, data_dir, **overrides):
    return bot_settings(
        data_dir,
        discord_token=TOKEN,
        discord_api_base=fake.api_base,
        discord_gateway_url=fake.gateway_url,
        **overrides,
    )


async def test_sync_commands_forces_an_upload_through_the_configured_api(
    remote_fake, tmp_path
) -> None:
    settings = remote_settings(remote_fake, tmp_path / "data")
    with ErrorLogGuard(("discord", "newsbot")):
        await sync_only(settings, TOKEN)
        await sync_only(settings, TOKEN)  # unchanged, but asked for: uploaded again
    puts = remote_fake.requests_to("PUT", f"/applications/{remote_fake.application_id}/commands")
    assert len(puts) == 2 and "ask" in [c["name"] for c in puts[0].json]
    assert all(r.authorized for r in remote_fake.requests)
    assert remote_fake.gateway_connections == []  # REST only: no gateway session opened


async def test_sigterm_finishes_the_running_answer_refuses_new_ones_and_exits_0(
    remote_fake, engine, tmp_path
) -> None:
    fake = remote_fake
    started = threading.Event()
    real = engine.quote_answer

    def slow_answer(*args, **kwargs):
        started.set()
        time.sleep(1.0)  # an answer still being computed when SIGTERM arrives
        return real(*args, **kwargs)

    engine.quote_answer = slow_answer  # type: ignore[method-assign]
    settings = remote_settings(fake, tmp_path / "data", shutdown_grace_seconds=5)
    with ErrorLogGuard(("discord", "newsbot")):
        server = asyncio.create_task(serve(settings, TOKEN, engine=engine))
        await fake.wait_until(lambda: fake.connected, timeout=ANSWER_TIMEOUT, what="ready")
        asking = fake.slash_command_payload("ask", {"question": SHANGRI_LA})
        await fake.dispatch("INTERACTION_CREATE", asking)
        await asyncio.to_thread(started.wait, 10)

        os.kill(os.getpid(), signal.SIGTERM)  # handled by serve's loop signal handler
        stopping_at = time.monotonic()
        await asyncio.sleep(0.1)
        late = fake.slash_command_payload("ask", {"question": "and where is it held?"})
        await fake.dispatch("INTERACTION_CREATE", late)

        code = await asyncio.wait_for(server, 10)
    assert code == 0 and time.monotonic() - stopping_at < 10
    answer = fake.requests_to("POST", f"/webhooks/*/{asking['token']}")
    assert answer and "**from June 2 to 4**" in embed_text(answer[0].json)
    [refused] = fake.requests_to("POST", f"/interactions/{late['id']}/*/callback")
    assert refused.json["data"]["flags"] == 64 and "restarting" in refused.json["data"]["content"]
    assert fake.identifies[0]["token"] == TOKEN
    assert not fake.connected  # the gateway connection was closed


async def test_serve_subprocess_sigterm_clean_exit_and_no_token_in_logs(
    remote_fake, sample_data, tmp_path
) -> None:
    fake = remote_fake
    data = tmp_path / "data"
    shutil.copytree(sample_data, data)
    env = serve_env(fake, TOKEN, data, NEWSBOT_LOG_LEVEL="DEBUG", NEWSBOT_COOLDOWN_SECONDS="0")
    proc = await start_serve(env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await fake.wait_until(lambda: fake.connected, timeout=120, what="the bot's READY")
        payload = fake.slash_command_payload("ask", {"question": SHANGRI_LA})
        await fake.dispatch("INTERACTION_CREATE", payload)
        answer = await fake.wait_for_request("POST", f"/webhooks/*/{payload['token']}", timeout=120)
        assert "**from June 2 to 4**" in embed_text(answer.json)

        proc.send_signal(signal.SIGTERM)
        stopping_at = time.monotonic()
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 15)
        stopped_in = time.monotonic() - stopping_at
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    log = stderr.decode(errors="replace") + stdout.decode(errors="replace")
    assert proc.returncode == 0, log[-3000:]
    assert stopped_in < 10
    assert "discord.gateway" in log and "stopped" in log  # DEBUG logging really was on
    assert TOKEN not in log
    assert not re.search(r" (ERROR|CRITICAL) (discord|newsbot)", log), log[-3000:]
    assert fake.identifies[0]["token"] == TOKEN
    # The store was closed cleanly: SQLite removes the write-ahead log on a clean close.
    assert not (data / "newsbot.sqlite3-wal").exists()


async def test_serve_with_a_rejected_token_exits_1_with_one_clear_line(
    remote_fake, tmp_path
) -> None:
    fake = remote_fake
    # Discord answers the login (GET /users/@me) of a reset or mistyped token with 401.
    fake.fail_next("GET", "/users/@me", status=401, message="401: Unauthorized", times=10)
    env = serve_env(fake, TOKEN, tmp_path / "data")
    env.pop("NEWSBOT_LOG_LEVEL", None)  # what an operator sees by default
    proc = await start_serve(env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    log = await output_when_done(proc, 120)
    assert proc.returncode == 1, log[-3000:]
    said = [line for line in log.splitlines() if "Discord rejected the bot token" in line]
    assert len(said) == 1, log[-3000:]
    assert " ERROR newsbot.discord: " in said[0] and "DISCORD_TOKEN" in said[0]
    assert "Traceback" not in log, log[-3000:]
    assert TOKEN not in log and TOKEN.split(".")[-1] not in log
    [login] = fake.requests_to("GET", "/users/@me")
    assert login.authorized and login.status == 401
    assert fake.gateway_connections == []  # it stopped at the login
