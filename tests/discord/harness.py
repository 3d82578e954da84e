"""Running the real NewsBot (real Engine, real discord.py) against the loopback fake Discord.

Helpers shared by the bot tests: settings for a test data directory, tiny corpora, a running
bot, the payloads and bodies the tests look into, and the "no message may ping" audit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.discord.client import NewsBot
from bot.settings import Settings, all_settings
from index.engine import Engine
from index.model import Article
from tests.support.fake_discord import FakeDiscord, RecordedRequest, running_client

SHANGRI_LA = "when is the Shangri-La Dialogue?"
ANSWER_TIMEOUT = 30.0  # CI machines are shared; an answer normally takes well under a second


def bot_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a test: no cooldown unless asked, nothing read from a token file.

    Each override is named by the end of its variable, which must name one setting:
    ``workers`` is NEWSBOT_DISCORD_WORKERS, ``health_port`` NEWSBOT_HEALTH_PORT.
    """
    values: dict[str, Any] = {
        "cooldown_seconds": 0.0,
        "workers": 2,
        "discord_token": "fake-token",
        "discord_token_file": None,
        "dev_guild": None,
        "discord_api_base": None,
        "discord_gateway_url": None,
        "health_port": 0,
    }
    values.update(overrides)
    nested: dict[str, Any] = {"data_dir": data_dir}
    for key, value in values.items():
        name = key.upper()
        (setting,) = [s for s in all_settings() if s.env == name or s.env.endswith("_" + name)]
        group, field = setting.path
        nested.setdefault(group, {})[field] = value
    return Settings(**nested)


def tiny_articles(
    n: int, *, source: str = "Tiny Times", start: datetime | None = None, prefix: str = "Story"
) -> list[Article]:
    """``n`` short dated articles, one day apart, newest last (title numbers = day order)."""
    start = start or datetime(2024, 1, 1, 12, tzinfo=UTC)
    return [
        Article(
            title=f"{prefix} {i:02d} about the harbour",
            body=f"{prefix} number {i} reports that the harbour ferry {i} ran on time. "
            f"It carried {100 + i} passengers across the bay.",
            origin=f"tiny:{prefix}:{i}",
            published=start + timedelta(days=i),
            source=source,
            url=f"https://news.example/{prefix.lower()}/{i}",
        )
        for i in range(n)
    ]


@contextlib.asynccontextmanager
async def running_bot(
    fake: FakeDiscord, engine: Engine | None, settings: Settings, **options: Any
) -> AsyncIterator[NewsBot]:
    """A NewsBot connected to the fake (READY and guild cached); closed and its pools released
    on exit."""
    options.setdefault("guild_ready_timeout", 0)
    bot = NewsBot(settings, engine, **options)
    try:
        async with running_client(bot, fake, token=settings.token()):
            yield bot
    finally:
        bot.pool.close_now()
        bot.io.close_now()


def message_body(req: RecordedRequest) -> dict[str, Any] | None:
    """The message a request sends or edits: an interaction callback's ``data``, else the
    JSON body itself."""
    body = req.json
    if not isinstance(body, dict):
        return None
    if req.path.endswith("/callback"):
        data = body.get("data")
        return data if isinstance(data, dict) else None
    return body


def sends_content(body: dict[str, Any]) -> bool:
    return bool(body.get("content") or body.get("embeds"))


def assert_no_pings(requests: Iterable[RecordedRequest]) -> int:
    """Every POST/PATCH that carries content or embeds disables all mentions; returns how
    many such messages were checked."""
    checked = 0
    for req in requests:
        if req.method not in ("POST", "PATCH"):
            continue
        body = message_body(req)
        if body is None or not sends_content(body):
            continue
        allowed = body.get("allowed_mentions")
        assert allowed is not None, f"{req!r} sends a message without allowed_mentions: {body}"
        assert allowed.get("parse") == [], f"{req!r} allows mentions: {allowed}"
        assert not allowed.get("users") and not allowed.get("roles"), allowed
        assert not allowed.get("replied_user"), allowed
        checked += 1
    return checked


def embed_text(body: dict[str, Any]) -> str:
    """All visible text of a message body's embeds, joined."""
    parts = [body.get("content") or ""]
    for embed in body.get("embeds") or []:
        parts += [embed.get("title") or "", embed.get("description") or ""]
        parts += [f.get("name", "") + "\n" + f.get("value", "") for f in embed.get("fields", [])]
        parts.append((embed.get("footer") or {}).get("text", ""))
    return "\n".join(parts)


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [
        c["custom_id"]
        for row in message.get("components") or []
        for c in row.get("components", [])
        if "custom_id" in c
    ]


def button(message: dict[str, Any], label_part: str) -> dict[str, Any]:
    for row in message.get("components") or []:
        for c in row.get("components", []):
            if label_part in (c.get("label") or ""):
                return c
    raise AssertionError(f"no button labelled *{label_part}* in {message.get('components')}")


# -- driving the bot -----------------------------------------------------------------------


async def ask(fake: FakeDiscord, question: str, **kwargs) -> tuple[dict, object]:
    """Dispatch /ask; return (payload, the follow-up request that answered it)."""
    options = {"question": question, **kwargs.pop("options", {})}
    payload = fake.slash_command_payload("ask", options, **kwargs)
    await fake.dispatch("INTERACTION_CREATE", payload)
    followup = await fake.wait_for_request(
        "POST", f"/webhooks/{fake.application_id}/{payload['token']}", timeout=ANSWER_TIMEOUT
    )
    return payload, followup


async def headlines(fake: FakeDiscord, **options):
    """Dispatch /headlines; return (payload, the follow-up request that answered it)."""
    payload = fake.slash_command_payload("headlines", options)
    await fake.dispatch("INTERACTION_CREATE", payload)
    followup = await fake.wait_for_request(
        "POST", f"/webhooks/{fake.application_id}/{payload['token']}", timeout=ANSWER_TIMEOUT
    )
    return payload, followup


async def click(fake: FakeDiscord, custom_id: str, message: dict, **kwargs):
    """Click a button of ``message``; return (payload, the interaction callback request)."""
    payload = fake.component_payload(custom_id, message=message, **kwargs)
    await fake.dispatch("INTERACTION_CREATE", payload)
    return payload, await fake.wait_for_request(
        "POST", f"/interactions/{payload['id']}/{payload['token']}/callback", timeout=10
    )


def callback_of(fake: FakeDiscord, payload: dict):
    hits = fake.requests_to("POST", f"/interactions/{payload['id']}/{payload['token']}/callback")
    assert len(hits) == 1, hits
    return hits[0]


async def mention(fake: FakeDiscord, text: str, **kwargs) -> tuple[dict, object]:
    """A channel message mentioning the bot; return (message, the bot's reply request)."""
    channel_id = kwargs.get("channel_id") or fake.channel_id
    mark = len(fake.requests)
    msg = fake.message_payload(f"{fake.bot_mention} {text}", mentions=[fake.bot_user], **kwargs)
    await fake.dispatch("MESSAGE_CREATE", msg)
    reply = await fake.wait_for_request(
        "POST", f"/channels/{channel_id}/messages", since=mark, timeout=ANSWER_TIMEOUT
    )
    return msg, reply


def serve_env(fake: FakeDiscord, token: str, data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a ``newsbot serve`` subprocess that reaches ``fake`` through the
    endpoint settings alone, loads the model offline and reads no token file; ``settings``
    are further variables (``NEWSBOT_LOG_LEVEL="DEBUG"``)."""
    env = {
        **os.environ,
        "DISCORD_TOKEN": token,
        "NEWSBOT_DATA_DIR": str(data_dir),
        "NEWSBOT_DISCORD_API_BASE": fake.api_base,
        "NEWSBOT_DISCORD_GATEWAY_URL": fake.gateway_url,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        **settings,
    }
    env.pop("DISCORD_TOKEN_FILE", None)
    return env


async def start_serve(env: dict[str, str], **streams: Any) -> asyncio.subprocess.Process:
    """``newsbot serve`` as its own process, as the image runs it."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from bot.cli import main; main()", "serve", env=env, **streams
    )


async def output_when_done(proc: asyncio.subprocess.Process, timeout: float) -> str:
    """What ``proc`` wrote (stderr, then stdout) by the time it exits; killed if it has not
    exited within ``timeout``."""
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return stderr.decode(errors="replace") + stdout.decode(errors="replace")
