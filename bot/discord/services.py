"""The engine as the services the Discord features ask for, run off the event loop.

Each feature declares, as a ``typing.Protocol`` in its own package, the few calls it needs;
the classes here implement them over one :class:`index.engine.Engine` and the bot's worker
pools, and ``client`` hands each feature only its own. Browsing reads are small SQLite reads
(the ``io`` pool); searching ranks passages (the CPU ``pool``).

A sync-only bot (``newsbot sync-commands``) has no engine: its commands exist, to be uploaded,
and any call through these services fails with a plain ``RuntimeError``.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Sequence

import discord

from bot.discord.errors import ArticleNotFound, ShuttingDown
from bot.discord.features.feeds.protocols import SubscribeRequest
from bot.discord.feeds import LiveFeeds
from bot.discord.render import article_pages
from bot.discord.subscribers import channel_destination, guild_owner
from bot.discord.workers import WorkerPool
from bot.errors import PollerStopped
from bot.settings import Settings
from index.engine import Engine, IndexStats
from index.feeds.fetch import refused_feed_url
from index.feeds.poller import PollResult
from index.feeds.registry import Feed, Subscription
from index.model import Headline, RetrievedPassage

ARTICLE_CACHE = 32
SOURCES_TTL_SECONDS = 60.0
_ARTICLE_ID = re.compile(r"a-[0-9a-f]{16}")


def looks_like_article_id(value: str) -> bool:
    return bool(_ARTICLE_ID.fullmatch(value.strip()))


def need_engine(engine: Engine | None) -> Engine:
    if engine is None:
        raise RuntimeError("this NewsBot was created without an engine (sync-only)")
    return engine


class EngineBrowse:
    """Headlines, search, articles and outlets (the browse feature's ``Browse``)."""

    def __init__(self, engine: Engine | None, *, io: WorkerPool, pool: WorkerPool) -> None:
        self._engine = engine
        self._io = io
        self._pool = pool
        self._articles: OrderedDict[str, list[discord.Embed]] = OrderedDict()
        self._sources: list[tuple[str, int]] | None = None
        self._sources_at = 0.0

    @property
    def engine(self) -> Engine:
        return need_engine(self._engine)

    async def headlines(
        self, *, limit: int, source: str | None = None, topic: str | None = None
    ) -> list[Headline]:
        return await self._io.run(self.engine.headlines, limit=limit, source=source, topic=topic)

    async def search(self, query: str, *, limit: int) -> Sequence[RetrievedPassage]:
        return await self._pool.run(self.engine.search, query, limit=limit)

    async def sources(self) -> list[tuple[str, int]]:
        return await self._io.run(self.engine.sources)

    async def cached_sources(self) -> list[tuple[str, int]]:
        """The outlets, read at most once a minute (autocomplete asks on every keystroke)."""
        now = time.monotonic()
        if self._sources is None or now - self._sources_at > SOURCES_TTL_SECONDS:
            self._sources = await self.sources()
            self._sources_at = now
        return self._sources

    async def article_pages(self, article_id: str) -> list[discord.Embed]:
        """The article's pages, rendered once and kept in a small cache."""
        pages = self._articles.get(article_id)
        if pages is not None:
            self._articles.move_to_end(article_id)
            return pages
        article = await self._io.run(self.engine.article, article_id)
        if article is None:
            raise ArticleNotFound()
        pages = await self._io.run(article_pages, article)
        self._articles[article_id] = pages
        while len(self._articles) > ARTICLE_CACHE:
            self._articles.popitem(last=False)
        return pages

    async def resolve_article(self, value: str) -> str | None:
        """An article id as given, or the newest article whose headline contains ``value``."""
        value = value.strip()
        if looks_like_article_id(value):
            article = await self._io.run(self.engine.article, value)
            if article is not None:
                return article.id
        found = await self.headlines(limit=1, topic=value)
        return found[0].article_id if found else None


class EngineStatus:
    """What the index holds (the health feature's ``Status``)."""

    def __init__(self, engine: Engine | None, *, io: WorkerPool) -> None:
        self._engine = engine
        self._io = io

    @property
    def available(self) -> bool:
        return self._engine is not None

    async def stats(self) -> IndexStats:
        return await self._io.run(need_engine(self._engine).stats)


class LiveFeedsService:
    """A server's feeds and subscriptions over the live poller (the feeds feature's
    ``Feeds``): registry reads and writes on the ``io`` pool, adding a feed through the
    poller so that it is indexed at once."""

    def __init__(self, live: LiveFeeds, settings: Settings, *, io: WorkerPool) -> None:
        self._live = live
        self._settings = settings
        self._io = io

    @property
    def posts_per_cycle(self) -> int:
        return self._settings.feeds.posts_per_cycle

    async def guild_feeds(self, guild_id: int) -> list[Feed]:
        """The server's own feeds and the global ones."""
        return await self._io.run(
            self._live.registry.feeds, owner=guild_owner(guild_id), all_owners=False
        )

    async def refused_url(self, url: str) -> str | None:
        return await refused_feed_url(
            url, self._settings.feeds.allow_hosts, self._settings.feeds.fetch_timeout_seconds
        )

    async def add_feed(
        self, url: str, *, guild_id: int, name: str | None, guild_limit: int
    ) -> tuple[Feed, PollResult]:
        try:
            return await self._live.add_feed(
                url, guild_id=guild_id, name=name, guild_limit=guild_limit
            )
        except PollerStopped:
            raise ShuttingDown() from None

    async def remove_feed(self, feed_id: int) -> None:
        await self._io.run(self._live.registry.remove_feed, feed_id)

    async def subscriptions(self, guild_id: int) -> list[Subscription]:
        return await self._io.run(self._live.registry.subscriptions, owner=guild_owner(guild_id))

    async def subscribe(self, request: SubscribeRequest, *, guild_limit: int) -> Subscription:
        sub = await self._io.run(
            self._live.registry.subscribe,
            guild_owner(request.guild_id),
            channel_destination(request.channel_id),
            feed_id=request.feed_id,
            include=list(request.include),
            exclude=list(request.exclude),
            owner_limit=guild_limit,
        )
        self._live.resume(sub.id)
        return sub

    async def unsubscribe(self, subscription_id: int) -> None:
        await self._io.run(self._live.registry.unsubscribe, subscription_id)
        self._live.resume(subscription_id)
