"""The answers service: one question, the same way whether it came from /ask, a mention, a DM
or a thread (the questions feature's ``Answers``).

It reads the conversation's memory, runs ``Engine.quote_answer`` on the worker pool, remembers
the question *as the engine understood it* (a follow-up joined to what it follows up, via the
engine's own ``follow_up_text``, so a chain of short follow-ups keeps its topic), and counts it
in the metrics when those are wired.
"""

from __future__ import annotations

import time
from typing import Protocol

from bot.discord.memory import ConversationKey, ConversationMemory
from bot.discord.workers import WorkerPool
from index.engine import Engine
from index.model import Answer
from index.retrieve import follow_up_text

MAX_QUESTION_CHARS = 500


class AnswerMetrics(Protocol):
    """What this module needs of ``bot.health.Metrics``."""

    def observe_answer(self, *, abstained: bool, seconds: float) -> None: ...


class QuestionService:
    def __init__(
        self,
        engine: Engine | None,
        pool: WorkerPool,
        memory: ConversationMemory,
        metrics: AnswerMetrics | None = None,
    ) -> None:
        self.engine = engine
        self.pool = pool
        self.memory = memory
        self.metrics = metrics

    async def ask(self, question: str, key: ConversationKey) -> Answer:
        if self.engine is None:
            raise RuntimeError("this NewsBot was created without an engine (sync-only)")
        question = clean_question(question)
        context = self.memory.context(key)
        started = time.perf_counter()
        answer = await self.pool.run(self.engine.quote_answer, question, context=context)
        self.memory.remember(key, follow_up_text(question, context))
        if self.metrics is not None:
            self.metrics.observe_answer(
                abstained=answer.abstained, seconds=time.perf_counter() - started
            )
        return answer


def clean_question(text: str) -> str:
    """One line, at most ``MAX_QUESTION_CHARS`` (a question, not an essay)."""
    return " ".join(text.split())[:MAX_QUESTION_CHARS]
