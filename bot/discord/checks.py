"""Who may do what: the per-member question cooldown, and Manage Server for the feed commands.

One member asking fast should not crowd out everyone else in the worker pool; a member gets a
friendly "ask again in N s" instead. Browsing (headlines, articles, sources) is cheap and has
no cooldown. A server's feeds and subscriptions are its managers' to change.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import discord

from bot.discord.errors import CoolingDown, NeedsManageServer, ServerOnly


class Cooldown(Protocol):
    """What a feature needs of a cooldown: raise ``CoolingDown`` when the member must wait."""

    def check(self, user_id: int) -> None: ...


class UserCooldown:
    """One question per ``seconds`` per user (0 disables)."""

    def __init__(
        self,
        seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_users: int = 50_000,
    ) -> None:
        self.seconds = seconds
        self._clock = clock
        self._last: dict[int, float] = {}
        self._max_users = max_users

    def retry_after(self, user_id: int) -> float:
        """0 when the user may ask now (and the attempt is recorded), else seconds to wait."""
        if self.seconds <= 0:
            return 0.0
        now = self._clock()
        last = self._last.get(user_id)
        if last is not None and now - last < self.seconds:
            return self.seconds - (now - last)
        self._last[user_id] = now
        if len(self._last) > self._max_users:
            self._prune(now)
        return 0.0

    def check(self, user_id: int) -> None:
        """Raise :class:`CoolingDown` when the user must wait."""
        wait = self.retry_after(user_id)
        if wait > 0:
            raise CoolingDown(wait)

    def _prune(self, now: float) -> None:
        self._last = {u: t for u, t in self._last.items() if now - t < self.seconds}


def can_manage(interaction: discord.Interaction) -> bool:
    """Manage Server (or Administrator, which implies it) in a guild interaction."""
    if interaction.guild_id is None:
        return False
    perms = interaction.permissions
    return perms.manage_guild or perms.administrator


def server_manager(interaction: discord.Interaction) -> bool:
    """An ``app_commands.check`` for the feed commands, enforced here and not only through the
    commands' default permissions: those are a hint server admins can override per role or
    channel, and a stale client can still send the command."""
    if interaction.guild_id is None:
        raise ServerOnly()
    if not can_manage(interaction):
        raise NeedsManageServer()
    return True
