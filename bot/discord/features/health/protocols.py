"""What the health feature needs: the index's figures, and somewhere to report liveness."""

from __future__ import annotations

from typing import Protocol

from index.engine import IndexStats


class Status(Protocol):
    """The index's figures (``bot.discord.services.EngineStatus``); ``available`` is False on
    a bot without an engine."""

    @property
    def available(self) -> bool: ...

    async def stats(self) -> IndexStats: ...


class HealthSink(Protocol):
    """Where liveness goes (``bot.health.HealthState``)."""

    def beat(self) -> None: ...

    def set_connected(self, connected: bool) -> None: ...

    def set_index(self, *, loaded: bool = True, articles: int | None = None) -> None: ...
