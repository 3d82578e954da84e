"""Build the feed side (registry, fetcher, poller) from the one ``Settings`` object.

Shared by ``newsbot watch``/``newsbot feeds`` and the Discord bot, so both poll with the same
limits and read the same tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.settings import Settings
    from index.engine import Engine
    from index.feeds.poller import FeedPoller
    from index.feeds.registry import Registry


def open_registry(settings: Settings) -> Registry:
    """The feed tables, in the same SQLite file as the article store."""
    from index.feeds.registry import Registry

    return Registry(settings.engine_config().db_path)


def make_poller(settings: Settings, engine: Engine, registry: Registry) -> FeedPoller:
    """A poller with its own fetcher; call ``await poller.fetcher.aclose()`` when done.

    Build it inside the running event loop that will use it.
    """
    from index.feeds.fetch import SafeFetcher
    from index.feeds.poller import FeedPoller

    config = settings.feed_config()
    return FeedPoller(engine, registry, SafeFetcher(config), config)
