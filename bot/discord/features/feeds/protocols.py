"""What the feeds feature needs: a server's feeds and subscriptions
(``bot.discord.services.LiveFeedsService``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from index.feeds.poller import PollResult
from index.feeds.registry import Feed, Subscription


@dataclass(frozen=True, slots=True)
class SubscribeRequest:
    """Post new headlines of ``feed_id`` (None: every feed the server sees) in a channel."""

    guild_id: int
    channel_id: int
    feed_id: int | None
    include: Sequence[str] = ()
    exclude: Sequence[str] = ()


class Feeds(Protocol):
    @property
    def posts_per_cycle(self) -> int: ...

    async def guild_feeds(self, guild_id: int) -> list[Feed]:
        """The server's own feeds and the global ones."""
        ...

    async def refused_url(self, url: str) -> str | None:
        """Why a feed at ``url`` may not be added (a private address, say), or None."""
        ...

    async def add_feed(
        self, url: str, *, guild_id: int, name: str | None, guild_limit: int
    ) -> tuple[Feed, PollResult]:
        """Add and poll at once; ``RegistryError`` / ``LimitReached`` when refused,
        ``errors.ShuttingDown`` when the poller has stopped."""
        ...

    async def remove_feed(self, feed_id: int) -> None: ...

    async def subscriptions(self, guild_id: int) -> list[Subscription]: ...

    async def subscribe(self, request: SubscribeRequest, *, guild_limit: int) -> Subscription:
        """Subscribe (``LimitReached`` past ``guild_limit``); a paused one is tried again."""
        ...

    async def unsubscribe(self, subscription_id: int) -> None: ...
