"""NewsBot: the discord.py client, its command tree, its events and its orderly shutdown.

- ``Intents.default()``: no privileged intent is needed (mentions, DMs and slash commands
  carry their text); ``NEWSBOT_MESSAGE_CONTENT_INTENT`` opts into reading plain thread
  messages.
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
import contextlib
import itertools
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.discord.chat import ChatHandler
from bot.discord.checks import UserCooldown
from bot.discord.commands import looks_like_article_id, register_commands
from bot.discord.errors import (
    NO_MENTIONS,
    ArticleNotFound,
    refused_while_closing,
    report_interaction_error,
)
from bot.discord.feed_commands import register_feed_commands
from bot.discord.feeds import LiveFeeds
from bot.discord.memory import ConversationMemory
from bot.discord.questions import QuestionService
from bot.discord.render import article_pages
from bot.discord.sync import sync_commands
from bot.discord.text import CHOICE_NAME, CHOICE_VALUE, CHOICES, fit, squash
from bot.discord.views import ArticlePageButton, FullArticleButton
from bot.discord.workers import WorkerPool
from bot.settings import Settings
from index.engine import Engine

if TYPE_CHECKING:
    from bot.health import HealthState, Metrics

log = logging.getLogger("newsbot.discord")

BEAT_SECONDS = 5.0
ARTICLE_CACHE = 32
SOURCES_TTL_SECONDS = 60.0
IO_WORKERS = 2


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


class NewsBot(discord.Client):
    def __init__(
        self,
        settings: Settings,
        engine: Engine | None,
        *,
        health: HealthState | None = None,
        metrics: Metrics | None = None,
        auto_sync: bool = True,
        **options: Any,
    ) -> None:
        intents = discord.Intents.default()
        intents.message_content = settings.message_content_intent
        # The bot never joins voice: the "PyNaCl/davey is not installed" warnings are noise.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        options.setdefault("allowed_mentions", NO_MENTIONS)
        super().__init__(intents=intents, **options)
        self.settings = settings
        self._engine = engine
        self.health = health
        self.metrics = metrics
        self.auto_sync = auto_sync
        self.accepting = True
        self.pool = WorkerPool(settings.workers, settings.queue_limit)
        self.io = WorkerPool(IO_WORKERS, settings.queue_limit)
        self.memory = ConversationMemory(settings.memory_turns, settings.memory_ttl_seconds)
        self.cooldown = UserCooldown(settings.cooldown_seconds)
        self._service: QuestionService | None = None
        if engine is not None:
            self._service = QuestionService(engine, self.pool, self.memory, metrics)
        self.chat = ChatHandler(self)
        self.tree = NewsTree(self)
        register_commands(self)
        register_feed_commands(self)
        # Feeds need the engine (they ingest); a sync-only bot has none and polls nothing.
        self.feeds = LiveFeeds(self, settings, engine, metrics) if engine is not None else None
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._articles: OrderedDict[str, list[discord.Embed]] = OrderedDict()
        self._sources: list[tuple[str, int]] | None = None
        self._sources_at = 0.0
        self._beat_task: asyncio.Task[None] | None = None

    # -- wiring ------------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("this NewsBot was created without an engine (sync-only)")
        return self._engine

    @property
    def service(self) -> QuestionService:
        if self._service is None:
            raise RuntimeError("this NewsBot was created without an engine (sync-only)")
        return self._service

    def _get_state(self, **options: Any) -> Any:
        state = super()._get_state(**options)
        guard_parsers(state.parsers)
        return state

    async def setup_hook(self) -> None:
        self.add_dynamic_items(FullArticleButton, ArticlePageButton)
        if self.auto_sync:
            try:
                await self.sync_commands()
            except discord.HTTPException as exc:
                log.warning("could not sync slash commands (the old ones stay): %s", exc)
        self._beat_task = asyncio.create_task(self._beat(), name="newsbot-health-beat")
        if self.feeds is not None:
            await self.feeds.start()

    async def sync_commands(self, *, force: bool = False) -> bool:
        if self.application_id is None:
            raise RuntimeError("log in before syncing commands")
        return await sync_commands(
            self.tree,
            self.application_id,
            self.settings.data_dir,
            dev_guild=self.settings.dev_guild,
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
        if self.health is not None:
            self.health.set_connected(True)

    async def on_resumed(self) -> None:
        log.info("gateway session resumed")
        if self.health is not None:
            self.health.set_connected(True)

    async def on_disconnect(self) -> None:
        if self.health is not None:
            self.health.set_connected(False)

    async def on_message(self, message: discord.Message) -> None:
        await self.chat.on_message(message)

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        log.exception("unhandled error in %s; the bot keeps running", event_method)

    async def _beat(self) -> None:
        """Tell the health state the gateway is alive, and refresh the article count."""
        ticks = 0
        while not self.is_closed():
            await asyncio.sleep(BEAT_SECONDS)
            if self.health is None:
                continue
            if self.is_ready() and not self.is_closed() and math.isfinite(self.latency):
                self.health.beat()
            ticks += 1
            if ticks % 12 == 0 and self._engine is not None:
                with contextlib.suppress(Exception):  # e.g. shutting down: next time, or never
                    stats = await self.io.run(self._engine.stats)
                    self.health.set_index(loaded=True, articles=stats.articles)

    # -- shared helpers for commands and views ------------------------------------------------

    @contextlib.contextmanager
    def in_flight(self) -> Iterator[None]:
        """Mark the current task as answering someone, so shutdown lets it finish."""
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            yield
        finally:
            if task is not None:
                self._in_flight.discard(task)

    async def article_pages(self, article_id: str) -> list[discord.Embed]:
        """The article's pages, rendered once and kept in a small cache."""
        pages = self._articles.get(article_id)
        if pages is not None:
            self._articles.move_to_end(article_id)
            return pages
        article = await self.io.run(self.engine.article, article_id)
        if article is None:
            raise ArticleNotFound()
        pages = await self.io.run(article_pages, article)
        self._articles[article_id] = pages
        while len(self._articles) > ARTICLE_CACHE:
            self._articles.popitem(last=False)
        return pages

    async def resolve_article(self, value: str) -> str | None:
        """An article id as given, or the newest article whose headline contains ``value``."""
        value = value.strip()
        if looks_like_article_id(value):
            article = await self.io.run(self.engine.article, value)
            if article is not None:
                return article.id
        found = await self.io.run(self.engine.headlines, limit=1, topic=value)
        return found[0].article_id if found else None

    async def source_choices(self, current: str) -> list[app_commands.Choice[str]]:
        """Outlets containing what was typed, most articles first (cached for a minute)."""
        try:
            now = time.monotonic()
            if self._sources is None or now - self._sources_at > SOURCES_TTL_SECONDS:
                self._sources = await self.io.run(self.engine.sources)
                self._sources_at = now
        except Exception as exc:
            log.warning("source autocomplete failed: %s", exc)
            return []
        needle = current.casefold().strip()
        # An outlet name is stored as ingested, "\n" and all: the name shown goes on one line,
        # the value stays exact so that it filters.
        matches = (
            (name, count)
            for name, count in self._sources
            if needle in name.casefold() and len(name) <= CHOICE_VALUE
        )
        return [
            app_commands.Choice(name=fit(f"{squash(name)} ({count})", CHOICE_NAME), value=name)
            for name, count in itertools.islice(matches, CHOICES)
        ]

    # -- shutdown ----------------------------------------------------------------------------

    async def shutdown(self, grace: float = 5.0) -> None:
        """Stop taking questions, let running answers finish (up to ``grace`` s, then cancel
        them), then close the connection. The engine is the caller's to close."""
        self.accepting = False
        if self.feeds is not None:
            self.feeds.request_stop()  # winds down beside the answers; close() waits for it
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        finished = await self.pool.close(timeout=grace)
        if not finished:
            log.warning("questions still running after %.1f s; not waiting for them", grace)
        pending = {t for t in self._in_flight if not t.done()}
        if pending:
            _, late = await asyncio.wait(pending, timeout=max(0.1, deadline - loop.time()))
            for task in late:
                task.cancel()
        await self.io.close(timeout=max(0.1, deadline - loop.time()))
        if self._beat_task is not None:
            self._beat_task.cancel()
        await self.close()

    async def close(self) -> None:
        if self._beat_task is not None:
            self._beat_task.cancel()
        if self.feeds is not None:
            await self.feeds.stop()
        await super().close()
