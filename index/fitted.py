"""The numbers fitted on question sets, read from one versioned data file.

``index/data/answer_model.json`` is written by ``bench/fit_answer_model.py`` (which says what
it was fitted on and its held-out scores); nothing here is tuned by hand. An engine can be
given another ``AnswerModel`` (tests, refits) instead of the shipped one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from index.errors import NewsbotError

FORMAT = 1


@dataclass(frozen=True, slots=True)
class LinearModel:
    """A logistic regression: named weights over named features, and a bias."""

    weights: dict[str, float]
    bias: float

    def logits(self, rows: np.ndarray, features: Sequence[str]) -> np.ndarray:
        w = np.array([self.weights.get(name, 0.0) for name in features])
        return rows @ w + self.bias

    def logit(self, values: dict[str, float]) -> float:
        return sum(self.weights.get(k, 0.0) * v for k, v in values.items()) + self.bias


@dataclass(frozen=True, slots=True)
class AnswerModel:
    sentence: LinearModel  # scores each candidate sentence
    # Answer or abstain, over the chosen sentence's signals: one model for short (chat)
    # questions and one for long ones, which cover a smaller share of themselves anywhere.
    confidence_short: LinearModel
    confidence_long: LinearModel
    long_from_words: int  # distinct question words from which a question is long
    threshold_short: float  # abstain under this probability
    threshold_long: float
    # Without a time in the question, a newer report's sentence whose logit is within this
    # of the best one's is quoted first.
    recency_margin: float
    # A sentence holding the kind of thing asked for, within this of the best, goes first.
    typed_margin: float
    meta: dict[str, Any]

    def decision(self, distinct_words: int) -> tuple[LinearModel, float]:
        """The confidence model and threshold for a question of this many distinct words."""
        if distinct_words >= self.long_from_words:
            return self.confidence_long, self.threshold_long
        return self.confidence_short, self.threshold_short


def logistic(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-min(max(z, -50.0), 50.0)))


def _linear(obj: dict[str, Any]) -> LinearModel:
    return LinearModel({k: float(v) for k, v in obj["weights"].items()}, float(obj["bias"]))


def parse_answer_model(data: dict[str, Any], origin: str) -> AnswerModel:
    if data.get("format") != FORMAT:
        raise NewsbotError(f"{origin}: answer model format {data.get('format')!r}, want {FORMAT}")
    try:
        return AnswerModel(
            sentence=_linear(data["sentence"]),
            confidence_short=_linear(data["confidence"]["short"]),
            confidence_long=_linear(data["confidence"]["long"]),
            long_from_words=int(data["confidence"]["long_from_words"]),
            threshold_short=float(data["threshold"]["short"]),
            threshold_long=float(data["threshold"]["long"]),
            recency_margin=float(data["recency_margin"]),
            typed_margin=float(data["typed_margin"]),
            meta=dict(data.get("meta", {})),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise NewsbotError(f"{origin}: not an answer model ({exc})") from exc


def load_answer_model(path: Path | None = None) -> AnswerModel:
    """The model in ``path``, or the one shipped with the engine."""
    if path is not None:
        return parse_answer_model(json.loads(path.read_text(encoding="utf-8")), str(path))
    return _shipped()


@lru_cache(maxsize=1)
def _shipped() -> AnswerModel:
    text = resources.files("index").joinpath("data/answer_model.json").read_text("utf-8")
    return parse_answer_model(json.loads(text), "index/data/answer_model.json")
