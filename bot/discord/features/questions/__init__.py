"""Questions: /ask, and questions in mentions, DMs and threads, answered the same way."""

from bot.discord.features.questions.cog import QuestionsCog

__all__ = ["QuestionsCog"]
