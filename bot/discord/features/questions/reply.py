"""An answer as the message that carries it: the rendered reply, and its buttons."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.discord.render import render_answer
from bot.discord.views import QuoteShelf, answer_view
from index.model import Answer


def answer_message(answer: Answer, *, shelf: QuoteShelf, recent_days: int) -> dict[str, Any]:
    """``embeds`` and ``view`` for a send: the other sources' quotes go on the shelf, under the
    key their button carries."""
    reply = render_answer(answer, now=datetime.now(UTC), recent_days=recent_days)
    key = shelf.put(reply.more_quotes) if reply.more_quotes else None
    view = answer_view(reply.articles, quotes_key=key, more=len(reply.more_quotes))
    return {"embeds": reply.embeds, "view": view}
