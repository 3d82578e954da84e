"""/about, and the heartbeat the health endpoint reads.

Every ``BEAT_SECONDS`` the gateway's liveness is reported (only while it is ready, open and
measuring a latency), and every twelfth beat the index's article count is refreshed. The
connection events report connected / disconnected as they happen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.features.health.protocols import HealthSink, Status
from bot.discord.interactions import defer, follow_up
from bot.discord.render import about_embed

log = logging.getLogger("newsbot.discord")

BEAT_SECONDS = 5.0
COUNT_EVERY_BEATS = 12


class HealthCog(commands.Cog):
    def __init__(
        self,
        status: Status,
        *,
        health: HealthSink | None,
        gateway_alive: Callable[[], bool],
        beat_seconds: float = BEAT_SECONDS,
    ) -> None:
        self.status = status
        self.health = health
        self.gateway_alive = gateway_alive
        self.beat_seconds = beat_seconds
        self._beat_task: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        self._beat_task = asyncio.create_task(self.beat(), name="newsbot-health-beat")

    async def cog_unload(self) -> None:
        self.stop_beating()

    def stop_beating(self) -> None:
        if self._beat_task is not None:
            self._beat_task.cancel()

    async def beat(self) -> None:
        """Tell the health state the gateway is alive, and refresh the article count."""
        ticks = 0
        while True:
            await asyncio.sleep(self.beat_seconds)
            if self.health is None:
                continue
            if self.gateway_alive():
                self.health.beat()
            ticks += 1
            if ticks % COUNT_EVERY_BEATS == 0 and self.status.available:
                with contextlib.suppress(Exception):  # e.g. shutting down: next time, or never
                    stats = await self.status.stats()
                    self.health.set_index(loaded=True, articles=stats.articles)

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        if self.health is not None:
            self.health.set_connected(True)

    @commands.Cog.listener()
    async def on_resumed(self) -> None:
        log.info("gateway session resumed")
        if self.health is not None:
            self.health.set_connected(True)

    @commands.Cog.listener()
    async def on_disconnect(self) -> None:
        if self.health is not None:
            self.health.set_connected(False)

    @app_commands.command(name="about", description="What the bot has indexed, and its version")
    async def about(self, interaction: discord.Interaction) -> None:
        await defer(interaction, ephemeral=False)
        stats = await self.status.stats()
        await follow_up(interaction, embed=about_embed(stats))
