"""Decide: answer or abstain, from signals that do not depend on how a question is worded.

One logistic regression (``bench/fit_answer_model.py``) over the chosen sentence and what
surrounds it: how sure the sentence model is, how close the question is to the passages,
whether the question's rarest words meet in the answering passage, whether a second report
agrees, whether the kind of thing asked for is there, whether the report fits the time the
question names, whether it names who the question says states the answer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from index.fitted import LinearModel, logistic
from index.model import ConfidenceSignals, RetrievedPassage
from index.sentences import SENTENCE_FEATURES, Candidate

CONFIDENCE_FEATURES = (
    "best",
    "max_cosine",
    "coverage",
    "rare_passage",
    "passage_coverage",
    "missing_max",
    "support",
    "typed_missing",
    "period",
    "unknown",
    "length",
    "source_missing",
)


@dataclass(frozen=True, slots=True)
class QuestionWords:
    """The question's words as the decision weighs them."""

    weights: dict[str, float]  # idf per distinct word; unknown words weigh ``unknown_idf``
    known: frozenset[str]  # the words some indexed passage holds
    unknown_idf: float
    headline: Callable[[RetrievedPassage], Sequence[str]]  # a passage's headline words
    source: frozenset[str] = frozenset()  # the words of who the question says states it


def confidence_signals(
    ranked: Sequence[Candidate],
    features: dict[int, np.ndarray],
    passages: Sequence[RetrievedPassage],
    *,
    words: QuestionWords,
    max_cosine: float,
    typed_kind: bool,
) -> ConfidenceSignals:
    """The signals of the best candidate; ``features`` maps a unit's id() to its row."""
    best = ranked[0]
    row = features[id(best.unit)]
    rp = passages[best.unit.passage_index]
    held = set(words.headline(rp))
    for c in ranked:
        if c.unit.passage_index == best.unit.passage_index:
            held |= c.unit.tokens
    weights, total = words.weights, sum(words.weights.values()) or 1.0
    rare = sorted(weights, key=lambda t: -weights[t])[:2]
    missing = [w for t, w in weights.items() if t not in held]
    first = rp.article.id
    support = next(
        (c.coverage for c in ranked[1:] if passages[c.unit.passage_index].article.id != first), 0.0
    )
    return ConfidenceSignals(
        best=best.score,
        max_cosine=max_cosine,
        coverage=best.coverage,
        rare_passage=sum(t in held for t in rare) / len(rare) if rare else 0.0,
        passage_coverage=1.0 - sum(missing) / total,
        missing_max=max(missing, default=0.0) / words.unknown_idf,
        support=support,
        typed_missing=float(typed_kind and best.unit.answer is None),
        period=float(row[SENTENCE_FEATURES.index("period")]),
        unknown=sum(w for t, w in weights.items() if t not in words.known) / total,
        length=math.log(len(weights)) if weights else 0.0,
        source_missing=len(words.source - held) / len(words.source) if words.source else 0.0,
    )


def answer_confidence(signals: ConfidenceSignals, model: LinearModel) -> float:
    """Calibrated belief in [0, 1] that the chosen sentence answers the question."""
    return logistic(model.logit({name: getattr(signals, name) for name in CONFIDENCE_FEATURES}))
