"""Conversation memory: the recent questions of one conversation, so follow-ups make sense.

A conversation is a DM, a thread, or one member talking to the bot in one channel; its key
carries the guild, so nothing is ever shared across conversations or guilds. Memory is bounded
three ways: turns per conversation, age of a turn, and number of conversations (least recently
used dropped first). It lives in the process only: a restart forgets, which is fine for chat.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

import discord


@dataclass(frozen=True, slots=True)
class ConversationKey:
    guild_id: int | None  # None: a DM
    channel_id: int  # the DM channel, the thread, or the text channel
    user_id: int | None  # None: shared by everyone in the thread


def conversation_key(
    guild_id: int | None, channel: object, channel_id: int, user_id: int
) -> ConversationKey:
    """A thread is one conversation for all its members; elsewhere each member has their own
    (two people asking in #news do not answer each other's follow-ups)."""
    if guild_id is None:
        return ConversationKey(None, channel_id, user_id)
    if isinstance(channel, discord.Thread):
        return ConversationKey(guild_id, channel_id, None)
    return ConversationKey(guild_id, channel_id, user_id)


def key_for_message(message: discord.Message) -> ConversationKey:
    guild_id = message.guild.id if message.guild else None
    return conversation_key(guild_id, message.channel, message.channel.id, message.author.id)


def key_for_interaction(interaction: discord.Interaction) -> ConversationKey:
    return conversation_key(
        interaction.guild_id,
        interaction.channel,
        interaction.channel_id or 0,
        interaction.user.id,
    )


class ConversationMemory:
    """Recent questions per conversation, oldest first, forgotten after ``ttl_seconds``."""

    def __init__(
        self,
        turns: int,
        ttl_seconds: float,
        *,
        max_conversations: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.turns = max(0, turns)
        self.ttl = ttl_seconds
        self.max_conversations = max_conversations
        self._clock = clock
        self._turns: OrderedDict[ConversationKey, deque[tuple[float, str]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._turns)

    def context(self, key: ConversationKey) -> list[str]:
        """The conversation's unexpired questions, oldest first."""
        turns = self._turns.get(key)
        if not turns:
            return []
        cutoff = self._clock() - self.ttl
        while turns and turns[0][0] < cutoff:
            turns.popleft()
        if not turns:
            del self._turns[key]
            return []
        return [text for _, text in turns]

    def remember(self, key: ConversationKey, question: str) -> None:
        if self.turns == 0:
            return
        turns = self._turns.get(key)
        if turns is None:
            turns = self._turns[key] = deque(maxlen=self.turns)
        self._turns.move_to_end(key)
        turns.append((self._clock(), question))
        while len(self._turns) > self.max_conversations:
            self._turns.popitem(last=False)
