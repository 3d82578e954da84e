"""Build the feed side (config, registry, fetcher, poller) from the one ``Settings`` object.

Shared by ``newsbot watch``/``newsbot feeds`` and the Discord bot, so both poll with the same
limits and read the same tables.
"""

from __future__ import annotations

from bot.settings import Settings
from index.engine import Engine
from index.feeds.config import FeedConfig
from index.feeds.fetch import SafeFetcher
from index.feeds.poller import FeedPoller
from index.feeds.registry import Registry


def feed_config(settings: Settings) -> FeedConfig:
    return FeedConfig(
        poll_interval_seconds=settings.poll_interval_seconds,
        allow_hosts=tuple(settings.allow_hosts),
        user_agent=settings.user_agent,
        fetch_timeout_seconds=settings.fetch_timeout_seconds,
        max_body_bytes=settings.max_body_bytes,
        per_host_requests=settings.fetch_per_host,
        max_backoff_seconds=settings.feed_max_backoff_seconds,
        concurrent_feeds=settings.feed_concurrency,
        posts_per_cycle=settings.posts_per_cycle,
    )


def open_registry(settings: Settings) -> Registry:
    """The feed tables, in the same SQLite file as the article store."""
    return Registry(settings.engine_config().db_path)


def make_poller(settings: Settings, engine: Engine, registry: Registry) -> FeedPoller:
    """A poller with its own fetcher; call ``await poller.fetcher.aclose()`` when done.

    Build it inside the running event loop that will use it.
    """
    config = feed_config(settings)
    return FeedPoller(engine, registry, SafeFetcher(config), config)
