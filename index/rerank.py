"""Rerank: the fused passages reordered by their best sentence, before a sentence is chosen.

The headline put an article in the fused list (it is in every passage's BM25 text and dense
windows), so the passage that answers is the one whose own sentences cover the rest of the
question; questions after an entity that several articles describe ("which company ...")
spread their slots over articles.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace

from index.fitted import logistic
from index.model import RetrievedPassage
from index.question import QuestionKind
from index.sentences import SentenceUnit
from index.tokenize import NewsTokenizer

# Questions after an entity that several articles describe ("which company ...", "who ...").
ENTITY_KINDS: tuple[QuestionKind, ...] = ("what", "who")


def headline_free_coverage(
    passages: Sequence[RetrievedPassage],
    units: Sequence[SentenceUnit],
    queries: Sequence[Sequence[str]],
    idf: Callable[[Sequence[str]], dict[str, float]],
    tokenizer: NewsTokenizer,
) -> list[dict[int, float]]:
    """For each query (a question's tokens, or one of its clauses'), per passage: the
    idf-weighted share of the query its best sentence covers, counting only the words its
    own headline and outlet do not already hold.

    The headline put the article in the fused list (it is in every passage's BM25 text and
    dense windows), so it cannot tell the article's passages apart: the one that answers
    covers the rest of the question.
    """
    weights = [idf(list(dict.fromkeys(q))) for q in queries]
    # Per article, per query: the words its headline lacks and their total weight.
    unexplained: dict[str, list[tuple[dict[str, float], float]]] = {}
    best: list[dict[int, float]] = [{} for _ in queries]
    for u in units:
        article = passages[u.passage_index].article
        if article.id not in unexplained:
            known = set(tokenizer.tokens(f"{article.title} {article.source or ''}"))
            rests = [{t: w for t, w in ws.items() if t not in known} for ws in weights]
            unexplained[article.id] = [(rest, sum(rest.values())) for rest in rests]
        for per_passage, (rest, total) in zip(best, unexplained[article.id], strict=True):
            share = sum(w for t, w in rest.items() if t in u.tokens) / total if total else 0.0
            if share >= per_passage.get(u.passage_index, 0.0):
                per_passage[u.passage_index] = share
    return best


def rerank_by_best_sentence(
    passages: Sequence[RetrievedPassage],
    units: Sequence[SentenceUnit],
    coverage: dict[int, float],
    weight: float,
    keep: int,
    by_part: Sequence[dict[int, float]] = (),
    part_weight: float = 0.0,
    part_slots: int = 0,
    part_slot_share: float = 1.0,
    article_temperature: float = 0.0,
    named_outlets: Collection[str] = (),
) -> tuple[list[RetrievedPassage], list[SentenceUnit]]:
    """The best ``keep`` passages by fused score plus ``weight`` x ``coverage`` (their best
    sentence's, from ``headline_free_coverage``), and their units renumbered to match. A
    passage with one sentence that covers the question beats one that shares its words
    across many sentences; reordering past the top ten lets such a passage in.

    For a many-part question, ``by_part`` (each part's coverage) then gives up to
    ``part_slots`` parts their best passage (``reserve_part_slots``), and orders the kept
    passages by + ``part_weight`` x their best coverage of any one part. Added to the score
    instead, part coverage cost evidence recall on the dev set; as an order it lifts MRR.

    With ``article_temperature`` > 0 the first ``keep`` are chosen by
    ``rank_by_article_share`` instead (``named_outlets``: the outlets the question names)."""
    scores = [rp.score + weight * coverage.get(i, 0.0) for i, rp in enumerate(passages)]
    articles = [rp.article.id for rp in passages]
    if article_temperature > 0 and passages:
        features = article_features(
            scores, articles, [rp.article.source for rp in passages], by_part, named_outlets
        )
        order = rank_by_article_share(scores, articles, features, article_temperature)[:keep]
    else:
        order = sorted(range(len(passages)), key=lambda i: -scores[i])[:keep]
    if by_part and part_slots and order:
        order = reserve_part_slots(order, articles, by_part, part_slots, part_slot_share)
    if by_part and part_weight:
        scores = [
            s + part_weight * max(part.get(i, 0.0) for part in by_part)
            for i, s in enumerate(scores)
        ]
        order.sort(key=lambda i: -scores[i])
    position = {old: new for new, old in enumerate(order)}
    reordered = [replace(passages[i], score=scores[i]) for i in order]
    renumbered = [
        SentenceUnit(position[u.passage_index], u.span, u.tokens, u.answer)
        for u in units
        if u.passage_index in position
    ]
    return reordered, renumbered


@dataclass(frozen=True, slots=True)
class ArticleWeights:
    """A logistic regression for "this article of the reranked pool holds an answering fact"
    over ``article_features``, fitted by ``bench/fit_article_model.py`` on the news QA dev set
    (5-fold cross-validated AUROC 0.925)."""

    score_ratio: float = 8.16
    parts_led: float = 1.06
    outlet_named: float = 1.34
    bias: float = -8.98


def article_features(
    scores: Sequence[float],
    articles: Sequence[str],
    sources: Sequence[str | None],
    by_part: Sequence[dict[int, float]],
    named_outlets: Collection[str],
) -> dict[str, tuple[float, float, float]]:
    """Per article of the pool: its best passage's score over the pool's best, how many
    parts of the question its passage covers best of all, and whether the question names its
    outlet. Three signals did as well as eleven (dev evidence recall@10 0.791 / 0.794)."""
    top = max(scores, default=0.0)
    leaders = [articles[_part_leader(part, len(articles))] for part in by_part]
    outlet: dict[str, str | None] = {}
    for article, source in zip(articles, sources, strict=True):
        outlet.setdefault(article, source)
    return {
        article: (
            score / top if top > 0 else 0.0,
            float(leaders.count(article)),
            float(outlet[article] in named_outlets),
        )
        for article, score in _best_by_article(scores, articles).items()
    }


def rank_by_article_share(
    scores: Sequence[float],
    articles: Sequence[str],
    features: dict[str, tuple[float, float, float]],
    temperature: float,
    weights: ArticleWeights = ArticleWeights(),
) -> list[int]:
    """Passage indices, best first, by the chance that their article holds a fact times their
    share of their article's scores (a softmax at ``temperature``).

    A which/who question names its answer nowhere and gathers facts from several articles,
    while ranking by score alone spends the top 10 on the passages of the articles that match
    most of it: betting on each article by its chance, and splitting that bet among its
    passages, spreads the slots (over every question kind it lost on the benchmark, so
    yes/no ones keep the score order; docs/quality.md has the figures)."""
    chance = {}
    for article, (ratio, led, named) in features.items():
        z = (
            weights.score_ratio * ratio
            + weights.parts_led * led
            + weights.outlet_named * named
            + weights.bias
        )
        chance[article] = logistic(z)
    best = _best_by_article(scores, articles)
    weight = [math.exp(temperature * (s - best[a])) for s, a in zip(scores, articles, strict=True)]
    total: dict[str, float] = {}
    for w, article in zip(weight, articles, strict=True):
        total[article] = total.get(article, 0.0) + w
    share = [chance[a] * w / total[a] for w, a in zip(weight, articles, strict=True)]
    return sorted(range(len(scores)), key=lambda i: (-share[i], i))


def _best_by_article(scores: Sequence[float], articles: Sequence[str]) -> dict[str, float]:
    best: dict[str, float] = {}
    for score, article in zip(scores, articles, strict=True):
        best[article] = max(best.get(article, score), score)
    return best


def _part_leader(part: dict[int, float], count: int) -> int:
    """The passage (of ``count``) that covers this part of the question best; a tie goes to
    the better fused one, the lower index."""
    return max(range(count), key=lambda i: (part.get(i, 0.0), -i))


def reserve_part_slots(
    order: Sequence[int],
    articles: Sequence[str],
    by_part: Sequence[dict[int, float]],
    max_swaps: int,
    min_share: float,
) -> list[int]:
    """``order`` (kept passage indices, best first) with, for each part of the question in
    turn, the passage that covers that part best brought in when no kept passage covers it
    as well; it takes the slot of the last kept passage of an article already kept higher.

    Each part of a multi-part question is usually answered by its own article, while the
    kept passages crowd on the articles that match most of the question: their further
    passages are the cheapest to give up. Indices are fused ranks, so ties go to the better fused passage."""
    kept = list(order)
    swaps = 0
    for part in by_part:
        if swaps == max_swaps:
            break
        best = _part_leader(part, len(articles))
        share = part.get(best, 0.0)
        if share < min_share or max((part.get(i, 0.0) for i in kept), default=0.0) >= share:
            continue
        firsts = {articles[i]: n for n, i in reversed(list(enumerate(kept)))}
        repeats = [n for n, i in enumerate(kept) if firsts[articles[i]] < n]
        if repeats:
            del kept[repeats[-1]]
            kept.append(best)
            swaps += 1
    return kept
