"""``newsbot serve`` and ``newsbot sync-commands``.

serve opens the engine over the data directory (the same one the CLI ingests into), connects
to Discord, polls the feeds (``NewsBot.setup_hook``), and on SIGTERM or Ctrl-C stops taking
questions and polling, lets running answers and polls finish (up to
``NEWSBOT_SHUTDOWN_GRACE_SECONDS``), closes the connection, the feed tables and the store, and
exits 0.

``NEWSBOT_DISCORD_API_BASE`` / ``NEWSBOT_DISCORD_GATEWAY_URL`` point it elsewhere (a proxy or
a test server): with both set nothing is contacted but those.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from typing import Any

import discord
import typer

from bot.discord.client import NewsBot
from bot.discord.endpoints import endpoint_overrides
from bot.discord.logsafe import install_token_redaction
from bot.settings import Settings
from index.engine import Engine
from index.errors import NewsbotError

log = logging.getLogger("newsbot.discord")

CLIENT_CLOSE_SECONDS = 3.0


def _settings(ctx: typer.Context) -> Settings:
    return ctx.obj


def serve_command(ctx: typer.Context) -> None:
    """Run the Discord bot over the data directory (stops cleanly on SIGTERM / Ctrl-C)."""
    settings = _settings(ctx)
    token = settings.token()
    install_token_redaction(token)
    code = asyncio.run(serve(settings, token))
    _exit_now(code)


def _exit_now(code: int) -> None:
    """Exit without interpreter finalization once the store is closed.

    A daemon thread (the model warm-up, a feed poll past its grace) can still be inside torch
    when serve returns; finalizing the interpreter under it aborts the process ("terminate
    called without an active exception", exit -6) instead of exiting 0. Everything durable is
    already committed, so skipping finalization loses nothing: flush the logs and leave.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def sync_commands_command(ctx: typer.Context) -> None:
    """Upload the slash commands to Discord now (serve only does it when they changed)."""
    settings = _settings(ctx)
    token = settings.token()
    install_token_redaction(token)
    asyncio.run(sync_only(settings, token))
    scope = (
        f"guild {settings.discord.dev_guild}"
        if settings.discord.dev_guild
        else "all guilds (global)"
    )
    typer.echo(f"slash commands synced to {scope}")


async def sync_only(settings: Settings, token: str) -> None:
    with endpoint_overrides(settings.discord.api_base, settings.discord.gateway_url):
        bot = NewsBot(settings, None, auto_sync=False)
        try:
            await _login(bot, token)
            await bot.sync_commands(force=True)
        finally:
            await bot.close()
            bot.pool.close_now()
            bot.io.close_now()


async def _login(bot: discord.Client, token: str) -> None:
    try:
        await bot.login(token)
    except discord.LoginFailure:
        raise NewsbotError("Discord rejected the bot token (check DISCORD_TOKEN)") from None


def _health() -> tuple[Any, Any, Any]:
    """The health module's state, metrics and starter, when it is installed."""
    try:
        from bot.health import HealthState, Metrics, maybe_start_health_server
    except ImportError:  # pragma: no cover - health ships with the bot
        return None, None, None
    return HealthState(), Metrics(), maybe_start_health_server


async def serve(settings: Settings, token: str, *, engine: Engine | None = None) -> int:
    """Run until SIGTERM/SIGINT (or the connection fails for good); the exit code."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    health, metrics, start_health = _health()
    runner = None
    own_engine = engine is None
    with endpoint_overrides(settings.discord.api_base, settings.discord.gateway_url):
        if start_health is not None:
            runner = await start_health(settings, health, metrics)
        if engine is None:
            # The default config compiles BM25's numba kernels only for a large index: a few
            # seconds of compiling would delay readiness for a few milliseconds a question.
            engine = await asyncio.to_thread(Engine, settings.engine_config())
        bot: NewsBot | None = None
        try:
            stats = await asyncio.to_thread(engine.stats)
            log.info("index loaded: %d articles (%s)", stats.articles, settings.data_dir)
            if health is not None:
                health.set_index(loaded=True, articles=stats.articles)
            if stop.is_set():
                return 0
            bot = NewsBot(settings, engine, health=health, metrics=metrics)
            # Load the embedding model now, not on the first question: off the loop, and on a
            # daemon thread, so a SIGTERM during the load neither waits for it as if it were a
            # question nor holds up the process exit.
            threading.Thread(
                target=_warm_up, args=(engine,), name="newsbot-warmup", daemon=True
            ).start()
            return await _run_until_stopped(
                bot, token, stop, settings.discord.shutdown_grace_seconds
            )
        finally:
            if bot is not None and not bot.is_closed():
                await bot.close()
            if own_engine:
                await asyncio.to_thread(engine.close)
            if runner is not None:
                await runner.cleanup()
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)


async def _run_until_stopped(bot: NewsBot, token: str, stop: asyncio.Event, grace: float) -> int:
    client = asyncio.create_task(bot.start(token), name="discord-client")
    stopper = asyncio.create_task(stop.wait(), name="stop-signal")
    await asyncio.wait({client, stopper}, return_when=asyncio.FIRST_COMPLETED)
    code = 0
    if stopper.done():
        log.info("stopping: no new questions, finishing the running ones")
        await bot.shutdown(grace)
    else:
        stopper.cancel()
        await bot.shutdown(0.5)
    try:
        await asyncio.wait_for(client, CLIENT_CLOSE_SECONDS)
    except discord.LoginFailure:
        log.error("Discord rejected the bot token (check DISCORD_TOKEN)")
        code = 1
    except discord.PrivilegedIntentsRequired:
        log.error(
            "NEWSBOT_MESSAGE_CONTENT_INTENT is on but the Message Content intent is not "
            "enabled for this application in the developer portal"
        )
        code = 1
    except (TimeoutError, asyncio.CancelledError):
        log.warning("the Discord connection did not close in time")
    except Exception:
        log.exception("the Discord connection failed")
        code = 1
    log.info("stopped")
    return code


def _warm_up(engine: Engine) -> None:
    """A model that cannot load fails every question: say so at once, not per question."""
    try:
        engine.encoder.encode_question("warm up")
    except Exception as exc:
        log.error("the embedding model could not be loaded: %s", exc)
