"""What a failure looks like to a member (a short line) and to the operator (a logged
traceback for anything unexpected); the bot keeps running either way. Sending that line is
``interactions``' job.

Expected refusals (cooldown, busy, shutting down, unknown article, a feed request that cannot
be done, a member without Manage Server) are ``UserFacingError``s: not logged as errors,
because nothing is broken. Every error class of the Discord front end is here.
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from bot.discord.text import fit_escaped, squash
from index.errors import BackendUnavailable

log = logging.getLogger("newsbot.discord")

NO_MENTIONS = discord.AllowedMentions.none()
GENERIC_FAILURE = "Sorry, something went wrong while handling that. It has been logged."
INDEX_UNAVAILABLE = (
    "Sorry, I can't reach my news index right now; please ask again in a few minutes."
)


class UserFacingError(app_commands.AppCommandError):
    """A refusal whose message is meant for the member as it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.user_message = message


class Busy(UserFacingError):
    def __init__(self) -> None:
        super().__init__("I'm answering a lot of questions right now; please ask again shortly.")


class ShuttingDown(UserFacingError):
    def __init__(self) -> None:
        super().__init__("I'm restarting and not taking questions; please ask again in a minute.")


class CoolingDown(UserFacingError):
    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(
            f"Easy there: you can ask again in {max(1, round(retry_after))} s. "
            "(This keeps the bot responsive for everyone.)"
        )


class ArticleNotFound(UserFacingError):
    def __init__(self) -> None:
        super().__init__("That article is no longer in the index.")


class FeedRefused(UserFacingError):
    """A feed request that cannot be done as asked; the message says why."""


class NeedsManageServer(UserFacingError):
    def __init__(self) -> None:
        super().__init__(
            "Only members with the **Manage Server** permission can change this server's "
            "feeds and where their headlines are posted."
        )


class ServerOnly(UserFacingError):
    def __init__(self) -> None:
        super().__init__("Feeds belong to a server: use this command in one.")


def describe(error: BaseException) -> tuple[str, bool]:
    """(message for the member, whether to log a traceback)."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, UserFacingError):
        return error.user_message, False
    if isinstance(error, BackendUnavailable):  # an outage, not a bug: no traceback
        log.warning("the search index is unreachable: %s", error)
        return INDEX_UNAVAILABLE, False
    if isinstance(error, app_commands.CommandOnCooldown):
        return CoolingDown(error.retry_after).user_message, False
    if isinstance(error, app_commands.CommandNotFound):
        return "I don't know that command any more; the command list may be refreshing.", False
    if isinstance(error, app_commands.CommandSignatureMismatch):
        return "That command changed since your app loaded it; please try again.", False
    if isinstance(error, app_commands.TransformerError):
        return unreadable_value(error.value), False
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use that here.", False
    return GENERIC_FAILURE, True


def unreadable_value(value: object) -> str:
    """The refusal of an option value discord.py could not convert (e.g. a channel the bot
    does not have cached). Only its text or name is echoed, escaped: the ``repr`` of the
    resolved object is internals, and a channel name can hold markdown."""
    shown = value if isinstance(value, str) else getattr(value, "name", None)
    if not isinstance(shown, str) or not squash(shown):
        return "I couldn't read that value; please choose it again."
    return f"I couldn't read that value: {fit_escaped(squash(shown), 200)}"
