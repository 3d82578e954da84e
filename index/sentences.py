"""Choose: the sentence of the reranked passages that answers, by a fitted linear model.

Each quotable sentence gets a few signals that do not depend on how a question is worded:
how much of the question it covers, whether it holds the kind of thing asked for, how rare
the question words it shares are, how close the model reads it to the question (from the
sentence vectors kept at ingest), where its passage ranks, whether its report fits a time
the question names. A logistic regression over them, fitted by ``bench/fit_answer_model.py``
on chat-style and benchmark questions with folds held out, scores every sentence.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from index.answer_types import find_answer_words, has_answer_type
from index.fitted import LinearModel
from index.lexical import lucene_idf
from index.model import RetrievedPassage, Span
from index.question import Period, QuestionKind
from index.tokenize import NewsTokenizer

Idf = Callable[[Sequence[str]], dict[str, float]]

SENTENCE_FEATURES = (
    "coverage",  # idf share of the question's words in the sentence
    "free_coverage",  # ... counting only words its headline lacks
    "rare",  # share of the question's two rarest words in the sentence
    "typed",  # holds words of the kind asked for (a date for "when" ...)
    "rank",  # log(1 + the passage's place after reranking)
    "score",  # the passage's reranked score over the best one's
    "lead",  # the article's first sentence
    "short",  # under 8 words
    "period",  # 1 when the question names a time its report matches, -1 when it does not
    "similarity",  # the model's cosine of the question and the sentence, read in its window
    # How far below the question's best sentence: the same cosine or coverage means more
    # where every candidate falls short.
    "similarity_gap",
    "free_coverage_gap",
)


# The signals of where a sentence's passage ranked, not of what the sentence says.
PLACE_FEATURES = ("rank", "score")


@dataclass(frozen=True, slots=True)
class SentenceUnit:
    """A quotable span of one retrieved passage, tokenized once per question."""

    passage_index: int
    span: Span  # relative to the passage text
    tokens: frozenset[str]
    answer: Span | None  # the words of the kind asked for, relative to the span's text


@dataclass(frozen=True, slots=True)
class Candidate:
    unit: SentenceUnit
    score: float  # the sentence model's logit
    coverage: float
    # The logit without its passage's place in the ranking: how well the sentence itself
    # answers, to tell reports that answer about equally well.
    evidence: float = 0.0


def joined_sentences(text: str, sentences: Sequence[Span], min_words: int = 6) -> list[Span]:
    """Sentences, with a very short one joined to the next so a quote stands on its own."""
    units: list[Span] = []
    pending: Span | None = None
    for s in sentences:
        cur = Span(pending.start, s.end) if pending else s
        if len(text[cur.start : cur.end].split()) < min_words:
            pending = cur
            continue
        units.append(cur)
        pending = None
    if pending:
        units.append(pending)
    return units


def sentence_units(
    passages: Sequence[RetrievedPassage],
    tokenizer: NewsTokenizer,
    kind: QuestionKind,
    question: str,
) -> list[SentenceUnit]:
    typed = has_answer_type(kind, question)
    units = []
    for i, rp in enumerate(passages):
        text, stored = rp.passage.text, rp.passage.sentence_tokens
        sentences = iter(zip(rp.passage.sentences, stored or (), strict=False))
        for span in joined_sentences(text, rp.passage.sentences):
            sentence = text[span.start : span.end]
            answer = find_answer_words(sentence, kind, question) if typed else None
            if stored is None:
                tokens = frozenset(tokenizer.tokens(sentence))
            else:  # the stored tokens of the sentences this unit joins
                joined: list[str] = []
                for part, part_tokens in sentences:
                    joined += part_tokens
                    if part.end >= span.end:
                        break
                tokens = frozenset(joined)
            units.append(SentenceUnit(i, span, tokens, answer))
    return units


@dataclass(frozen=True, slots=True)
class SentenceContext:
    """What the signals of every sentence of one question share."""

    query_tokens: Sequence[str]
    periods: Sequence[Period] = ()
    indexed: int = 0  # passages in the index: how rare a word none of them holds is
    question_vector: np.ndarray | None = None  # the question's unit vector


def question_weights(tokens: Sequence[str], idf: Idf, indexed: int) -> dict[str, float]:
    """Each distinct question word's idf; a word no indexed passage holds weighs as the
    rarest can, so a question about what the news never mentions covers little of itself."""
    words = list(dict.fromkeys(tokens))
    known = idf(words)
    unknown = unknown_idf(indexed)
    return {t: known.get(t, unknown) for t in words}


def unknown_idf(indexed: int) -> float:
    """The idf of a word no indexed passage holds: the largest there is."""
    return float(lucene_idf(0, max(indexed, 1)))


def sentence_features(
    units: Sequence[SentenceUnit],
    passages: Sequence[RetrievedPassage],
    *,
    context: SentenceContext,
    idf: Idf,
    tokenizer: NewsTokenizer,
) -> np.ndarray:
    """One row of ``SENTENCE_FEATURES`` per unit."""
    weights = question_weights(context.query_tokens, idf, context.indexed)
    total = sum(weights.values()) or 1.0
    rare = sorted(weights, key=lambda t: -weights[t])[:2]
    headline_words = _headline_words(passages, tokenizer)
    top = max((rp.score for rp in passages), default=0.0) or 1.0
    period_match = [_period_match(rp, context.periods) for rp in passages]
    similarity = _similarities(units, passages, context.question_vector)
    rows = np.zeros((len(units), len(SENTENCE_FEATURES)), dtype=np.float64)
    for n, u in enumerate(units):
        rp = passages[u.passage_index]
        known = headline_words[rp.article.id]
        free_total = sum(w for t, w in weights.items() if t not in known)
        covered = [t for t in weights if t in u.tokens]
        rows[n] = (
            sum(weights[t] for t in covered) / total,
            sum(weights[t] for t in covered if t not in known) / free_total if free_total else 0.0,
            sum(t in u.tokens for t in rare) / len(rare) if rare else 0.0,
            float(u.answer is not None),
            math.log1p(u.passage_index),
            rp.score / top,
            float(rp.passage.ordinal == 0 and u.span.start == 0),
            float(len(rp.passage.text[u.span.start : u.span.end].split()) < 8),
            period_match[u.passage_index],
            similarity[n],
            0.0,
            0.0,
        )
    for name, of in (("similarity_gap", "similarity"), ("free_coverage_gap", "free_coverage")):
        values = rows[:, SENTENCE_FEATURES.index(of)]
        if len(values):
            rows[:, SENTENCE_FEATURES.index(name)] = values - values.max()
    return rows


def _similarities(
    units: Sequence[SentenceUnit],
    passages: Sequence[RetrievedPassage],
    question: np.ndarray | None,
) -> np.ndarray:
    """Each unit's cosine with the question: its sentences' stored vectors, summed (a unit
    joins a very short sentence to the next). 0 where the index keeps no sentence vectors:
    the same for every sentence of a question, so it changes no order."""
    out = np.zeros(len(units))
    if question is None:
        return out
    for n, u in enumerate(units):
        rp = passages[u.passage_index]
        if rp.sentence_vectors is None:
            continue
        rows = [
            k
            for k, s in enumerate(rp.passage.sentences)
            if u.span.start <= s.start and s.end <= u.span.end
        ]
        if rows:
            v = np.asarray(rp.sentence_vectors[rows], dtype=np.float32).sum(axis=0)
            norm = float(np.linalg.norm(v))
            out[n] = float(v @ question) / norm if norm > 0 else 0.0
    return out


def choose_sentences(
    units: Sequence[SentenceUnit], features: np.ndarray, model: LinearModel
) -> list[Candidate]:
    """Every unit as a candidate, best first (ties: the earlier passage, the earlier unit)."""
    if not units:
        return []
    scores = model.logits(features, SENTENCE_FEATURES)
    placed = features.copy()
    placed[:, [SENTENCE_FEATURES.index(f) for f in PLACE_FEATURES]] = 0.0
    evidence = model.logits(placed, SENTENCE_FEATURES)
    coverage = features[:, SENTENCE_FEATURES.index("coverage")]
    order = sorted(range(len(units)), key=lambda i: (-scores[i], i))
    return [
        Candidate(units[i], float(scores[i]), float(coverage[i]), float(evidence[i])) for i in order
    ]


# Kinds whose answer a pattern finds reliably: a date, a number or amount, a name, a place.
TYPED_FIRST_KINDS: tuple[QuestionKind, ...] = ("when", "how_many", "how_much", "who", "where")


def typed_first(ranked: Sequence[Candidate], kind: QuestionKind, margin: float) -> list[Candidate]:
    """``ranked`` with the best sentence that holds the kind of thing asked for first, when
    the best one does not and it scores within ``margin``: a "when" question is answered by
    a sentence with a date in it, not by the one that only repeats its words."""
    if kind not in TYPED_FIRST_KINDS or not ranked or ranked[0].unit.answer is not None:
        return list(ranked)
    floor = ranked[0].score - margin
    typed = next((c for c in ranked if c.unit.answer is not None and c.score >= floor), None)
    if typed is None:
        return list(ranked)
    return [typed, *(c for c in ranked if c is not typed)]


def newest_first(
    ranked: Sequence[Candidate], passages: Sequence[RetrievedPassage], margin: float
) -> list[Candidate]:
    """``ranked`` with the newest report's best sentence first, among those whose evidence
    (the logit without the passage's place in the ranking, which two equal reports split by
    chance) is within ``margin`` of the first's: news repeats (an event every year, a story
    retold), and when two reports answer about equally well the newer one is the answer now."""
    if not ranked or margin <= 0:
        return list(ranked)
    floor = ranked[0].evidence - margin
    typed = ranked[0].unit.answer is not None  # never trade a found answer for none
    close = [c for c in ranked if c.evidence >= floor and (c.unit.answer is not None or not typed)]

    def published(c: Candidate) -> float:
        when = passages[c.unit.passage_index].article.published
        return when.timestamp() if when else float("-inf")

    newest = max(close, key=lambda c: (published(c), c.score))
    if published(newest) <= published(ranked[0]):
        return list(ranked)
    return [newest, *(c for c in ranked if c is not newest)]


def first_choice(
    ranked: Sequence[Candidate],
    passages: Sequence[RetrievedPassage],
    *,
    kind: QuestionKind,
    recency_margin: float,
    typed_margin: float,
) -> list[Candidate]:
    """The candidates in the order they are quoted: the newest of equally good reports, then
    a sentence holding the kind of thing asked for."""
    return typed_first(newest_first(ranked, passages, recency_margin), kind, typed_margin)


def _headline_words(
    passages: Sequence[RetrievedPassage], tokenizer: NewsTokenizer
) -> dict[str, frozenset[str]]:
    out: dict[str, frozenset[str]] = {}
    for rp in passages:
        a = rp.article
        if a.id not in out:
            out[a.id] = frozenset(tokenizer.tokens(f"{a.title} {a.source or ''}"))
    return out


def _period_match(rp: RetrievedPassage, periods: Sequence[Period]) -> float:
    """1 when the report falls in a period the question names, or its passage names the
    period's year or month ("in 2019", "in may"); -1 when it names periods and the report
    fits none; 0 when the question names no time."""
    if not periods:
        return 0.0
    published = rp.article.published.date() if rp.article.published else None
    text = rp.passage.text.lower()
    for p in periods:
        after = p.last + timedelta(days=1)  # reports come out the day after, too
        if published and p.first <= published <= after:
            return 1.0
        whole_year = (p.first.month, p.first.day, p.last.month, p.last.day) == (1, 1, 12, 31)
        if whole_year and p.first.year == p.last.year and str(p.first.year) in text:
            return 1.0
        whole_month = p.first.day == 1 and after.day == 1 and p.first.month == p.last.month
        if whole_month and p.first.strftime("%B").lower() in text:
            return 1.0
    return -1.0
