"""What the questions feature needs: answers with conversation memory."""

from __future__ import annotations

from typing import Protocol

from bot.discord.memory import ConversationKey
from index.model import Answer


class Answers(Protocol):
    """One question answered in its conversation (``bot.discord.questions.QuestionService``)."""

    async def ask(self, question: str, key: ConversationKey) -> Answer: ...
