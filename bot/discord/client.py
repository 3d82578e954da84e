"""NewsBot: the discord.py client, the composition root of the features, and its shutdown.

- The features are cogs (``features``), each given only the services it declares; this
  module builds those services over the engine (``services``) and adds the cogs.
- ``Intents.default()``: no privileged intent is needed (mentions, DMs and slash commands
  carry their text); ``NEWSBOT_MESSAGE_CONTENT_INTENT`` opts into reading plain thread
  messages. There are no prefix commands: messages are the questions cog's.
- ``allowed_mentions=AllowedMentions.none()`` on the client, and again on every send.
- Engine work runs in ``pool`` (questions and searches: CPU) or ``io`` (browsing: small SQLite
  reads), both bounded thread pools, never on the event loop that carries the heartbeat.
- A malformed gateway event is logged and dropped: discord.py lets a parser exception end
  ``Client.connect``, which would take the whole bot down for one bad payload.
- Live feeds (``feeds.LiveFeeds``) start in ``setup_hook`` and stop in ``close``: the poller
  runs on a thread of its own, headlines are posted from this loop.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from typing import Any, Protocol

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.checks import UserCooldown
from bot.discord.errors import NO_MENTIONS
from bot.discord.features.browse import BrowseCog
from bot.discord.features.feeds import FeedsCog
from bot.discord.features.health import HealthCog
from bot.discord.features.health.protocols import HealthSink
from bot.discord.features.questions import QuestionsCog
from bot.discord.feeds import FeedMetrics, LiveFeeds
from bot.discord.interactions import Gate, refused_while_closing, report_interaction_error
from bot.discord.memory import ConversationMemory
from bot.discord.questions import AnswerMetrics, QuestionService
from bot.discord.services import EngineBrowse, EngineStatus, LiveFeedsService
from bot.discord.sync import sync_commands
from bot.discord.views import QuoteShelf, bound_buttons
from bot.discord.workers import WorkerPool
from bot.settings import Settings
from index.engine import Engine

log = logging.getLogger("newsbot.discord")

IO_WORKERS = 2


class BotMetrics(AnswerMetrics, FeedMetrics, Protocol):
    """What the bot counts in ``bot.health.Metrics``."""


class NewsTree(app_commands.CommandTree):
    """Refuses new commands while shutting down; turns every failure into one ephemeral line.

    Only commands and autocomplete reach the tree: discord.py hands button clicks to the
    views, which refuse them themselves (``views``).
    """

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        if interaction.type is discord.InteractionType.autocomplete:
            # No message can answer an autocomplete; no suggestions will do.
            return getattr(interaction.client, "accepting", True)
        return not await refused_while_closing(interaction)

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        command = interaction.command
        where = f"/{command.qualified_name}" if command else "a slash command"
        await report_interaction_error(interaction, error, where)


def guard_parsers(parsers: dict[str, Callable[[Any], None]]) -> None:
    """Wrap each gateway event parser so a malformed payload is logged and dropped."""
    for name, parser in list(parsers.items()):

        def guarded(data: Any, _name: str = name, _parser: Callable[[Any], None] = parser) -> None:
            try:
                _parser(data)
            except Exception:
                log.warning("dropped a malformed %s event from the gateway", _name, exc_info=True)

        parsers[name] = guarded


class NewsBot(commands.Bot):
    def __init__(
        self,
        settings: Settings,
        engine: Engine | None,
        *,
        health: HealthSink | None = None,
        metrics: BotMetrics | None = None,
        auto_sync: bool = True,
        **options: Any,
    ) -> None:
        intents = discord.Intents.default()
        intents.message_content = settings.discord.message_content_intent
        # The bot never joins voice: the "PyNaCl/davey is not installed" warnings are noise.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        options.setdefault("allowed_mentions", NO_MENTIONS)
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            tree_cls=NewsTree,
            intents=intents,
            **options,
        )
        self.settings = settings
        self._engine = engine
        self.health = health
        self.metrics = metrics
        self.auto_sync = auto_sync
        self.gate = Gate()
        self.pool = WorkerPool(settings.discord.workers, settings.discord.queue_limit)
        self.io = WorkerPool(IO_WORKERS, settings.discord.queue_limit)
        self.memory = ConversationMemory(
            settings.discord.memory_turns, settings.discord.memory_ttl_seconds
        )
        self.cooldown = UserCooldown(settings.discord.cooldown_seconds)
        # Feeds need the engine (they ingest); a sync-only bot has none and polls nothing.
        self.feeds = LiveFeeds(self, settings, engine, metrics) if engine is not None else None
        self.browse = EngineBrowse(engine, io=self.io, pool=self.pool)
        self.shelf = QuoteShelf()

    @property
    def accepting(self) -> bool:
        """False once shutting down (``interactions.refused_while_closing`` reads it)."""
        return self.gate.accepting

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("this NewsBot was created without an engine (sync-only)")
        return self._engine

    def _get_state(self, **options: Any) -> Any:
        state = super()._get_state(**options)
        guard_parsers(state.parsers)
        return state

    def features(self) -> list[commands.Cog]:
        """One cog per feature, each with only the services it uses (in this order: it is the
        order of the commands Discord shows, and of the synced payload)."""
        answers = QuestionService(self._engine, self.pool, self.memory, self.metrics)
        feeds = (
            LiveFeedsService(self.feeds, self.settings, io=self.io)
            if self.feeds is not None
            else None
        )
        return [
            QuestionsCog(
                answers,
                me=lambda: self.user,
                cooldown=self.cooldown,
                gate=self.gate,
                shelf=self.shelf,
                recent_days=self.settings.discord.recent_days,
            ),
            BrowseCog(self.browse, cooldown=self.cooldown, gate=self.gate),
            HealthCog(
                EngineStatus(self._engine, io=self.io),
                health=self.health,
                gateway_alive=self.gateway_alive,
            ),
            FeedsCog(feeds, gate=self.gate),
        ]

    async def add_features(self) -> None:
        for cog in self.features():
            await self.add_cog(cog)

    def gateway_alive(self) -> bool:
        return self.is_ready() and not self.is_closed() and math.isfinite(self.latency)

    async def setup_hook(self) -> None:
        await self.add_features()
        self.add_dynamic_items(*bound_buttons(self.browse, self.shelf))
        if self.auto_sync:
            try:
                await self.sync_commands()
            except discord.HTTPException as exc:
                log.warning("could not sync slash commands (the old ones stay): %s", exc)
        if self.feeds is not None:
            await self.feeds.start()

    async def sync_commands(self, *, force: bool = False) -> bool:
        if self.application_id is None:
            raise RuntimeError("log in before syncing commands")
        return await sync_commands(
            self.tree,
            self.application_id,
            self.settings.data_dir,
            dev_guild=self.settings.discord.dev_guild,
            force=force,
        )

    # -- events ------------------------------------------------------------------------------

    async def on_ready(self) -> None:
        assert self.user is not None
        log.info(
            "connected to Discord as %s (id %s) in %d guilds",
            self.user,
            self.user.id,
            len(self.guilds),
        )

    async def on_message(self, message: discord.Message, /) -> None:
        """No prefix commands: messages are the questions cog's (its listener)."""

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        log.exception("unhandled error in %s; the bot keeps running", event_method)

    # -- shutdown ----------------------------------------------------------------------------

    async def shutdown(self, grace: float = 5.0) -> None:
        """Stop taking questions, let running answers finish (up to ``grace`` s, then cancel
        them), then close the connection. The engine is the caller's to close."""
        self.gate.close()
        if self.feeds is not None:
            self.feeds.request_stop()  # winds down beside the answers; close() waits for it
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        finished = await self.pool.close(timeout=grace)
        if not finished:
            log.warning("questions still running after %.1f s; not waiting for them", grace)
        pending = self.gate.pending()
        if pending:
            _, late = await asyncio.wait(pending, timeout=max(0.1, deadline - loop.time()))
            for task in late:
                task.cancel()
        await self.io.close(timeout=max(0.1, deadline - loop.time()))
        self._stop_beating()
        await self.close()

    def _stop_beating(self) -> None:
        health = self.get_cog(HealthCog.__cog_name__)
        if isinstance(health, HealthCog):
            health.stop_beating()

    async def close(self) -> None:
        self._stop_beating()
        if self.feeds is not None:
            await self.feeds.stop()
        await super().close()
