"""Chat: questions in mentions, DMs, and threads the bot already talks in.

Without the privileged Message Content intent Discord still delivers the text of DMs and of
messages that mention the bot (a reply that pings the bot counts), so ``Intents.default()``
is enough for mentions and DMs. In a thread, a plain message (no mention) arrives with empty
content unless ``NEWSBOT_MESSAGE_CONTENT_INTENT`` is on and the intent is enabled in the
developer portal; such empty messages are ignored.

Every answer replies to the question (or, when it cannot, is sent plainly) and pings nobody.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable

import discord

from bot.discord.checks import Cooldown
from bot.discord.errors import (
    GENERIC_FAILURE,
    NO_MENTIONS,
    CoolingDown,
    UserFacingError,
    describe,
)
from bot.discord.features.questions.protocols import Answers
from bot.discord.features.questions.reply import answer_message
from bot.discord.interactions import Gate
from bot.discord.memory import key_for_message
from bot.discord.views import QuoteShelf
from index.errors import BackendUnavailable

log = logging.getLogger("newsbot.discord")

HELP_TEXT = (
    "Ask me about the news, e.g. “@newsbot when is the Shangri-La Dialogue?”. "
    "I answer by quoting the indexed articles, and say so when they don't answer. "
    "Slash commands: /ask, /headlines, /search, /article, /sources, /about."
)
COOLDOWN_NOTICE_SECONDS = 10.0


@contextlib.asynccontextmanager
async def typing_indicator(channel: discord.abc.Messageable) -> AsyncIterator[None]:
    """ "newsbot is typing…" while answering; a channel that refuses it is no reason to fail."""
    typing = channel.typing()
    try:
        await typing.__aenter__()
    except discord.HTTPException:
        yield
        return
    try:
        yield
    finally:
        await typing.__aexit__(None, None, None)


class ThreadRegistry:
    """Threads the bot has replied in (bounded, most recent kept)."""

    def __init__(self, limit: int = 5000) -> None:
        self._ids: OrderedDict[int, None] = OrderedDict()
        self._limit = limit

    def add(self, thread_id: int) -> None:
        self._ids[thread_id] = None
        self._ids.move_to_end(thread_id)
        while len(self._ids) > self._limit:
            self._ids.popitem(last=False)

    def __contains__(self, thread_id: object) -> bool:
        return thread_id in self._ids


def strip_mentions(content: str, bot_id: int, role_ids: Iterable[int] = ()) -> str:
    """The question without the mentions addressing the bot."""
    text = re.sub(rf"<@!?{bot_id}>", " ", content)
    for role_id in role_ids:
        text = text.replace(f"<@&{role_id}>", " ")
    return " ".join(text.split())


def bot_role_ids(message: discord.Message) -> set[int]:
    """The bot's own managed roles in the message's guild: mentioning one addresses the bot."""
    me = message.guild.me if message.guild else None
    if me is None:
        return set()
    return {r.id for r in me.roles if r.is_bot_managed()}


class ChatHandler:
    """Answers the messages addressed to the bot. ``me`` is the bot's own user (None before
    it has logged in)."""

    def __init__(
        self,
        answers: Answers,
        *,
        me: Callable[[], discord.abc.User | None],
        cooldown: Cooldown,
        gate: Gate,
        shelf: QuoteShelf,
        recent_days: int,
    ) -> None:
        self.answers = answers
        self.me = me
        self.cooldown = cooldown
        self.gate = gate
        self.shelf = shelf
        self.recent_days = recent_days
        self.threads = ThreadRegistry()

    def addressed(self, message: discord.Message) -> bool:
        """DMs, mentions of the bot (or its managed role), and threads it talks in."""
        user = self.me()
        if user is None:
            return False
        if message.guild is None:
            return True
        if user.id in {m.id for m in message.mentions}:
            return True
        if bot_role_ids(message) & {r.id for r in message.role_mentions}:
            return True
        channel = message.channel
        return isinstance(channel, discord.Thread) and (
            channel.id in self.threads or channel.owner_id == user.id
        )

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.webhook_id is not None:
            return
        user = self.me()
        if not self.gate.accepting or user is None or not self.addressed(message):
            return
        question = strip_mentions(message.content, user.id, bot_role_ids(message))
        if not question:
            if message.content or message.guild is None:
                await self._reply(message, content=HELP_TEXT)
            return  # an empty thread message: no Message Content intent, nothing to read
        try:
            with self.gate.in_flight():
                await self._answer(message, question)
        except UserFacingError as exc:
            delete_after = COOLDOWN_NOTICE_SECONDS if isinstance(exc, CoolingDown) else None
            await self._reply(message, content=exc.user_message, delete_after=delete_after)
        except BackendUnavailable as exc:
            await self._reply(message, content=describe(exc)[0])
        except Exception:
            log.exception(
                "answering a message failed (guild %s, channel %s)",
                message.guild.id if message.guild else None,
                message.channel.id,
            )
            await self._reply(message, content=GENERIC_FAILURE)

    async def _answer(self, message: discord.Message, question: str) -> None:
        self.cooldown.check(message.author.id)
        async with typing_indicator(message.channel):
            answer = await self.answers.ask(question, key_for_message(message))
        reply = answer_message(answer, shelf=self.shelf, recent_days=self.recent_days)
        await self._reply(message, **reply)
        if isinstance(message.channel, discord.Thread):
            self.threads.add(message.channel.id)

    async def _reply(self, message: discord.Message, **kwargs: object) -> None:
        """Send as a reply to the question, and never lose the answer over the reply itself.

        The question may be deleted while it is answered (``fail_if_not_exists=False``: the
        answer is then sent without the reference), and replying needs Read Message History,
        which a channel may deny: then the answer is sent as a plain message.
        """
        channel = message.channel
        reference = message.to_reference(fail_if_not_exists=False)
        try:
            await channel.send(reference=reference, allowed_mentions=NO_MENTIONS, **kwargs)  # type: ignore[call-overload]
            return
        except discord.Forbidden as exc:
            log.info("could not reply in channel %s (%s); sending without", channel.id, exc)
        except discord.HTTPException as exc:
            log.warning("could not reply in channel %s: %s", channel.id, exc)
            return
        try:
            await channel.send(allowed_mentions=NO_MENTIONS, **kwargs)  # type: ignore[call-overload]
        except discord.HTTPException as exc:
            log.warning("could not answer in channel %s: %s", channel.id, exc)
