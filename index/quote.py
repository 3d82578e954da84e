"""Choosing the sentence that answers, the words inside it, and whether to answer at all.

Every quote is a slice of a retrieved passage: this module picks spans, it never writes text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Literal

from index.model import ConfidenceSignals, Quote, RetrievedPassage, Span
from index.timeref import WEEKDAYS, resolve_relative_dates
from index.tokenize import NewsTokenizer

QuestionKind = Literal["when", "where", "who", "how_many", "how_much", "which", "yes_no", "other"]

_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December"
    "|Jan\\.?|Feb\\.?|Mar\\.?|Apr\\.?|Jun\\.?|Jul\\.?|Aug\\.?|Sept?\\.?|Oct\\.?|Nov\\.?|Dec\\.?"
)
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_YEAR = r"(?:,?\s+\d{4})?"
# Most specific first: a range, a full date, a month and day, a weekday, a month or a year.
_DATE_PATTERNS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        rf"\bfrom\s+(?:{_MONTHS})\s+{_DAY}\s*(?:to|-|–|until|through)\s*(?:(?:{_MONTHS})\s+)?{_DAY}{_YEAR}",
        rf"\bfrom\s+{_DAY}\s*(?:to|-|–|until)\s*{_DAY}\s+(?:{_MONTHS}){_YEAR}",
        rf"\b(?:{_MONTHS})\s+{_DAY}\s*(?:-|–|to)\s*{_DAY}{_YEAR}",
        rf"\b(?:(?:{'|'.join(WEEKDAYS)}),?\s+)?(?:{_MONTHS})\s+{_DAY}{_YEAR}\b",
        rf"\b{_DAY}\s+(?:{_MONTHS}){_YEAR}\b",
        r"\b(?:(?:last|next|this|on)\s+)?(?:" + "|".join(WEEKDAYS) + r")\b",
        r"\b(?:yesterday|today|tomorrow|tonight|(?:last|next|this)\s+(?:week|month|year))\b",
        rf"\b(?:early|mid|late|in|by|since|until)[\s-]+(?:{_MONTHS})(?:\s+\d{{4}})?\b",
        r"\b(?:in|since|by|until)\s+(?:19|20)\d{2}\b",
    )
]
_NUMBER = re.compile(
    r"(?:[$€£¥]\s?)?\b\d[\d,]*(?:\.\d+)?(?:\s?(?:%|percent|per cent|million|billion|trillion|"
    r"thousand|hundred|[a-zA-Z]+))?"
    r"|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens?|hundreds|"
    r"thousands|millions)\s+[a-zA-Z]+",
    re.IGNORECASE,
)
_NAME = re.compile(r"\b[A-Z][\w’'.-]*(?:\s+(?:(?:de|van|von|bin|al|of|the)\s+)?[A-Z][\w’'.-]*)*")
_PLACE = re.compile(r"\b(?:in|at|near|to)\s+((?:the\s+)?[A-Z][\w’'.-]*(?:\s+[A-Z][\w’'.-]*)*)")
_NOT_NAMES = frozenset(
    [m.lower() for m in _MONTHS.replace("\\.?", "").split("|")]
    + list(WEEKDAYS)
    + [
        "the",
        "a",
        "an",
        "and",
        "but",
        "he",
        "she",
        "it",
        "they",
        "we",
        "i",
        "this",
        "that",
        "in",
        "on",
        "at",
        "for",
    ]
)


# Questions after an entity that several articles describe ("which company ...", "who ...").
ENTITY_KINDS: tuple[QuestionKind, ...] = ("which", "who")


def classify_question(question: str) -> QuestionKind:
    q = question.strip().lower()
    if re.match(r"^(?:and\s+)?(when|what (?:date|day|time|year|month))\b", q) or re.search(
        r"\bwhen (?:is|was|will|did|does)\b", q
    ):
        return "when"
    if re.match(r"^(?:and\s+)?where\b", q) or (" where " in f" {q} " and q.startswith("and")):
        return "where"
    if m := re.match(r"^(?:and\s+)?how (many|much)\b", q):
        return "how_many" if m.group(1) == "many" else "how_much"
    if re.match(r"^(?:and\s+)?(who|whom|whose)\b", q):
        return "who"
    if re.match(r"^(?:and\s+)?(which|what)\b", q):
        return "which"
    if re.match(r"^(is|are|was|were|do|does|did|has|have|had|can|could|will|would|should)\b", q):
        return "yes_no"
    return "other"


def find_answer_words(sentence: str, kind: QuestionKind, question: str) -> Span | None:
    """The words of ``sentence`` that answer a question of this kind, if they can be found."""
    span = _answer_span(sentence, kind, question)
    if span is None:
        return None
    end = span.end
    while end > span.start and sentence[end - 1] in ".,;:!?":
        end -= 1  # the sentence's punctuation is not part of the answer
    return Span(span.start, end) if end > span.start else None


def _answer_span(sentence: str, kind: QuestionKind, question: str) -> Span | None:
    asked = {w.lower() for w in re.findall(r"[\w’'-]+", question)}
    if kind == "when":
        for pattern in _DATE_PATTERNS:
            m = pattern.search(sentence)
            if m:
                return Span(m.start(), m.end())
        return None
    if kind in ("how_many", "how_much"):
        for m in _NUMBER.finditer(sentence):
            if m.group().split()[0].lower() not in asked:
                return Span(m.start(), m.end())
        return None
    if kind == "where":
        for m in _PLACE.finditer(sentence):
            words = [w.strip(".,;:’'").lower() for w in m.group(1).split()]
            named = words[0] not in _NOT_NAMES or len(words) > 1
            if named and not all(w in asked for w in words):
                return Span(m.start(1), m.end(1))
        return None
    if kind in ("who", "which"):
        for m in _NAME.finditer(sentence):
            words = [w.strip(".,’'") for w in m.group().split()]
            if m.start() == 0 and len(words) == 1:
                continue  # a capital that only starts the sentence
            content = [w.lower() for w in words if w.lower() not in _NOT_NAMES]
            if not content or any(w in asked for w in content):
                continue  # not a name, or the one the question already names
            return Span(m.start(), m.end())
    return None


@dataclass(frozen=True, slots=True)
class SentenceUnit:
    """A quotable span of one retrieved passage, tokenized once per question."""

    passage_index: int
    span: Span  # relative to the passage text
    tokens: frozenset[str]
    typed: bool  # holds words of the kind the question asks for (a date for "when", ...)


@dataclass(frozen=True, slots=True)
class Candidate:
    unit: SentenceUnit
    score: float
    coverage: float


def _joined_sentences(text: str, sentences: Sequence[Span], min_words: int = 6) -> list[Span]:
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
    typed_kind = kind in ("when", "how_many", "how_much", "where", "who")
    units = []
    for i, rp in enumerate(passages):
        text, stored = rp.passage.text, rp.passage.sentence_tokens
        sentences = iter(zip(rp.passage.sentences, stored or (), strict=False))
        for span in _joined_sentences(text, rp.passage.sentences):
            sentence = text[span.start : span.end]
            typed = typed_kind and find_answer_words(sentence, kind, question) is not None
            if stored is None:
                tokens = frozenset(tokenizer.tokens(sentence))
            else:  # the stored tokens of the sentences this unit joins
                joined: list[str] = []
                for part, part_tokens in sentences:
                    joined += part_tokens
                    if part.end >= span.end:
                        break
                tokens = frozenset(joined)
            units.append(SentenceUnit(i, span, tokens, typed))
    return units


def rank_sentences(
    units: Sequence[SentenceUnit],
    query_tokens: Sequence[str],
    idf: Callable[[Sequence[str]], dict[str, float]],
) -> list[Candidate]:
    """Sentences by the idf-weighted share of the query they cover, earlier passages first."""
    weights = idf(list(dict.fromkeys(query_tokens)))
    total = sum(weights.values()) or 1.0
    out = []
    for u in units:
        coverage = sum(w for t, w in weights.items() if t in u.tokens) / total
        prior = 1.0 / (1.0 + 0.15 * u.passage_index)
        out.append(Candidate(u, coverage * prior + (0.15 * coverage if u.typed else 0.0), coverage))
    out.sort(key=lambda c: -c.score)
    return out


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
    covers the rest of the question (dev, gold articles: the right passage first 0.58 -> 0.62).
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
    reordered = [
        RetrievedPassage(passages[i].passage, passages[i].article, scores[i]) for i in order
    ]
    renumbered = [
        SentenceUnit(position[u.passage_index], u.span, u.tokens, u.typed)
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
    passages, spreads the slots (dev, which/who questions routed here: evidence recall@10
    0.784 -> 0.792; over every question it lost, so yes/no ones keep the score order)."""
    chance = {}
    for article, (ratio, led, named) in features.items():
        z = (
            weights.score_ratio * ratio
            + weights.parts_led * led
            + weights.outlet_named * named
            + weights.bias
        )
        chance[article] = _logistic(z)
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


def _logistic(z: float) -> float:
    # Past +-50 the answer is 0 or 1 anyway; unclamped, math.exp overflows (a question citing
    # a hundred-odd outlets we lack did).
    return 1.0 / (1.0 + math.exp(-min(max(z, -50.0), 50.0)))


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
    passages are the cheapest to give up (dev set, evidence recall@10 0.770 -> 0.784).
    Indices are fused ranks, so ties go to the better fused passage."""
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


def select_quotes(
    ranked: Sequence[Candidate],
    focus_ranked: Sequence[Sequence[Candidate]],
    passages: Sequence[RetrievedPassage],
    kind: QuestionKind,
    question: str,
    max_quotes: int = 3,
    max_words: int = 100,
    relative_share: float = 0.6,
    context: bool = True,
) -> list[Quote]:
    """The best sentence; then the best sentence for each outlet the question names; then
    the best of other articles that score close to the best. One quote per article."""
    if not ranked or ranked[0].score <= 0:
        return []
    best = ranked[0].score
    picks = [ranked[0]]
    picks += [r[0] for r in focus_ranked if r and r[0].score > 0]
    picks += [c for c in ranked[1:] if c.score >= best * relative_share]
    quotes: list[Quote] = []
    used_articles: set[str] = set()
    for c in picks:
        rp = passages[c.unit.passage_index]
        if len(quotes) >= max_quotes:
            break
        if rp.article.id not in used_articles:
            used_articles.add(rp.article.id)
            quotes.append(_make_quote(c, rp, kind, question, max_words, context))
    return quotes


def _with_context(text: str, sentences: Sequence[Span], core: Span, max_words: int) -> Span:
    """The answering sentence with the one after it and the one before it, each only while
    the quote stays within ``max_words``: the answer is often stated next to the sentence that
    best matches the question's words (dev quote hit 0.56 -> 0.61, answer in quote 0.49 ->
    0.60), and a reader gets the context a lone sentence lacks."""
    units = _joined_sentences(text, sentences)
    i = next((k for k, u in enumerate(units) if u.start == core.start), None)
    if i is None:
        return core
    start, end = core.start, core.end

    def fits(a: int, b: int) -> bool:
        return len(text[a:b].split()) <= max_words

    if i + 1 < len(units) and fits(start, units[i + 1].end):
        end = units[i + 1].end
    if i > 0 and fits(units[i - 1].start, end):
        start = units[i - 1].start
    return Span(start, end)


def _make_quote(
    c: Candidate,
    rp: RetrievedPassage,
    kind: QuestionKind,
    question: str,
    max_words: int,
    context: bool = True,
) -> Quote:
    text = rp.passage.text
    core = c.unit.span
    span = _with_context(text, rp.passage.sentences, core, max_words) if context else core
    start, end = span.start, span.end
    words = list(re.finditer(r"\S+", text[start:end]))
    if len(words) > max_words:
        end = start + words[max_words - 1].end()
    quoted = text[start:end]
    sentence = Span(core.start - start, min(core.end, end) - start)
    # The answering words of the answering sentence; the context's only when it has none.
    answer = find_answer_words(quoted[sentence.start : sentence.end], kind, question)
    if answer is not None:
        answer = Span(answer.start + sentence.start, answer.end + sentence.start)
    else:
        answer = find_answer_words(quoted, kind, question)
    published = rp.article.published
    return Quote(
        text=quoted,
        passage=text,
        text_start=start,
        text_end=end,
        highlight=quoted[answer.start : answer.end] if answer else None,
        highlight_start=answer.start if answer else None,
        article=rp.article,
        score=c.score,
        resolved_dates=tuple(resolve_relative_dates(quoted, published.date())) if published else (),
        sentence_start=sentence.start,
        sentence_end=sentence.end,
    )


def best_other_coverage(ranked: Sequence[Candidate], passages: Sequence[RetrievedPassage]) -> float:
    """Coverage of the best sentence from an article other than the best sentence's own:
    news that answers tends to be reported twice, an unrelated match rarely is."""
    if not ranked:
        return 0.0
    first = passages[ranked[0].unit.passage_index].article.id
    for c in ranked[1:]:
        if passages[c.unit.passage_index].article.id != first:
            return c.coverage
    return 0.0


@dataclass(frozen=True, slots=True)
class ConfidenceWeights:
    """A logistic regression over ConfidenceSignals, fitted by ``bench/calibrate_abstention.py``
    on the news QA dev set (5-fold cross-validated AUROC 0.98)."""

    max_cosine: float = 16.25
    coverage: float = 9.04
    second_coverage: float = 4.64
    unindexed_outlets: float = -5.77
    bias: float = -9.39


def answer_confidence(
    signals: ConfidenceSignals, weights: ConfidenceWeights = ConfidenceWeights()
) -> float:
    """Calibrated belief in [0, 1] that the retrieved news answers the question.

    Several signals drift less across question sets than one cosine threshold does.
    """
    z = (
        weights.max_cosine * signals.max_cosine
        + weights.coverage * signals.coverage
        + weights.second_coverage * signals.second_coverage
        + weights.unindexed_outlets * signals.unindexed_outlets
        + weights.bias
    )
    return _logistic(z)
