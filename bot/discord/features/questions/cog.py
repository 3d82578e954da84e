"""/ask, and the chat listener: one question, one reply that leads with the answer.

Every command acknowledges first (``defer``: Discord's 3-second deadline) and then follows up;
the answer is computed by the ``Answers`` service off the event loop. Failures are not handled
here: they reach the command tree's ``on_error`` (one short ephemeral line, one logged
traceback).
"""

from __future__ import annotations

from collections.abc import Callable

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.checks import Cooldown
from bot.discord.features.questions.chat import ChatHandler
from bot.discord.features.questions.protocols import Answers
from bot.discord.features.questions.reply import answer_message
from bot.discord.interactions import Gate, defer, follow_up
from bot.discord.memory import key_for_interaction
from bot.discord.questions import MAX_QUESTION_CHARS
from bot.discord.views import QuoteShelf


class QuestionsCog(commands.Cog):
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
        self.cooldown = cooldown
        self.gate = gate
        self.shelf = shelf
        self.recent_days = recent_days
        self.chat = ChatHandler(
            answers, me=me, cooldown=cooldown, gate=gate, shelf=shelf, recent_days=recent_days
        )

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Every command of this cog is a question: the member's cooldown applies, before
        anything is acknowledged."""
        self.cooldown.check(interaction.user.id)
        return True

    @app_commands.command(
        name="ask", description="Ask the indexed news; answered with verbatim quotes"
    )
    @app_commands.describe(
        question="Your question, e.g. when is the Shangri-La Dialogue?",
        private="Only you see the answer",
    )
    async def ask(
        self,
        interaction: discord.Interaction,
        question: app_commands.Range[str, 1, MAX_QUESTION_CHARS],
        private: bool = False,
    ) -> None:
        await defer(interaction, ephemeral=private)
        with self.gate.in_flight():
            answer = await self.answers.ask(question, key_for_interaction(interaction))
            reply = answer_message(answer, shelf=self.shelf, recent_days=self.recent_days)
            await follow_up(interaction, ephemeral=private, **reply)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        await self.chat.on_message(message)
