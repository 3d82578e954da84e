"""Answering an interaction: acknowledge, follow up, and turn any failure into one private line.

Every feature goes through these, so a deferral, a follow-up and an error look the same
whichever command or button they come from, and no message can ever ping anyone. They know
discord.py and ``errors``, nothing of the features or the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import aiohttp
import discord

from bot.discord.errors import NO_MENTIONS, ShuttingDown, describe

log = logging.getLogger("newsbot.discord")


async def defer(interaction: discord.Interaction, *, ephemeral: bool) -> None:
    """Acknowledge now; remember a public deferral so an error can be made private."""
    await interaction.response.defer(ephemeral=ephemeral, thinking=True)
    interaction.extras["deferred_public"] = not ephemeral


async def follow_up(interaction: discord.Interaction, **kwargs: object) -> None:
    await interaction.followup.send(allowed_mentions=NO_MENTIONS, **kwargs)  # type: ignore[arg-type]
    interaction.extras["answered"] = True


async def follow_up_message(
    interaction: discord.Interaction, **kwargs: object
) -> discord.WebhookMessage:
    """A follow-up whose message is needed afterwards (a view that edits it on timeout)."""
    message = await interaction.followup.send(  # type: ignore[call-overload]
        allowed_mentions=NO_MENTIONS, wait=True, **kwargs
    )
    interaction.extras["answered"] = True
    return message


async def send_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """Tell only the member who interacted, whatever state the interaction is in.

    A public "thinking…" deferral would turn the first follow-up public too, so it is deleted
    first and the message sent as a fresh ephemeral follow-up.
    """
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(
                text, ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            return
        if interaction.extras.get("deferred_public") and not interaction.extras.get("answered"):
            with contextlib.suppress(discord.HTTPException, aiohttp.ClientError):
                await interaction.delete_original_response()
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
    except (discord.HTTPException, aiohttp.ClientError) as exc:  # expired, closing: give up
        log.warning("could not tell the user about an error: %s", exc)


async def refused_while_closing(interaction: discord.Interaction) -> bool:
    """True, after telling the member, when the bot is shutting down and takes no new work.

    Commands and button clicks both start work (an engine call, a database read), and an
    interaction nobody answers shows the member "This interaction failed", so both get the
    same short notice.
    """
    if getattr(interaction.client, "accepting", True):
        return False
    await send_ephemeral(interaction, ShuttingDown().user_message)
    return True


async def report_interaction_error(
    interaction: discord.Interaction, error: BaseException, where: str
) -> None:
    """The one path every command, button and autocomplete failure takes."""
    message, unexpected = describe(error)
    if unexpected:
        original = getattr(error, "original", error)
        log.error(
            "%s failed (guild %s, channel %s, user %s)",
            where,
            interaction.guild_id,
            interaction.channel_id,
            interaction.user.id if interaction.user else None,
            exc_info=(type(original), original, original.__traceback__),
        )
    else:
        log.info("%s refused: %s", where, message)
    await send_ephemeral(interaction, message)


class Gate:
    """Whether new work is taken, and the tasks answering someone right now, so that a
    shutdown refuses new work and lets the running answers finish first."""

    def __init__(self) -> None:
        self.accepting = True
        self._tasks: set[asyncio.Task[Any]] = set()

    def close(self) -> None:
        self.accepting = False

    @contextlib.contextmanager
    def in_flight(self) -> Iterator[None]:
        """Mark the current task as answering someone for the duration of the block."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            yield
        finally:
            if task is not None:
                self._tasks.discard(task)

    def pending(self) -> set[asyncio.Task[Any]]:
        return {t for t in self._tasks if not t.done()}
