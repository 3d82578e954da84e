"""From a question to ranked passage rows: query parsing, BM25 + dense retrieval, fusion.

Questions about news name outlets and dates ("according to TechCrunch", "published on
November 18, 2023"). Those become extra ranked lists restricted to the named outlet or day,
fused with the unrestricted lists, so a question naming two outlets gets evidence from both.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal

import numpy as np

from index.question import Period, attributed_outlets, question_periods
from index.snapshot import IndexSnapshot
from index.timeref import MONTHS
from index.tokenize import NewsTokenizer

RetrieverKind = Literal["bm25", "dense", "hybrid"]

_MONTHS = {m: i + 1 for i, m in enumerate(MONTHS)}
_MONTH_BY_PREFIX = {m[:3]: i for m, i in _MONTHS.items()}
_MONTH_RE = "|".join(sorted([*_MONTHS, *(m[:3] for m in _MONTHS), "sept"], key=len, reverse=True))
# The year of a day the question names without one ("on November 18": that day in any
# year). A leap year, so that "February 29" is a day too.
ANY_YEAR = 4
_DATE_IN_QUESTION = re.compile(
    rf"\b(?:(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<m1>{_MONTH_RE})\.?"
    rf"|(?P<m2>{_MONTH_RE})\.?\s+(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?)\b(?:,?\s+(?P<y>\d{{4}}))?",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Focus:
    """A part of the question tied to one outlet or to the days it names.

    Multi-part questions ("... according to Fortune, and ... as reported by TechCrunch") ask
    for one fact per outlet: each outlet is searched with the words around its own mention.
    """

    tokens: tuple[str, ...]
    source: str | None = None
    dates: tuple[date, ...] = ()
    periods: tuple[Period, ...] = ()  # reports published in these (or the day after)


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    text: str
    tokens: tuple[str, ...]
    sources: tuple[str, ...] = ()  # outlets the question names
    dates: tuple[date, ...] = ()  # days the question names
    focuses: tuple[Focus, ...] = ()
    # The parts of a question that asks several things (see ``question_clauses``).
    clauses: tuple[tuple[str, ...], ...] = ()
    # Times the question names, resolved against the day it is asked.
    periods: tuple[Period, ...] = ()
    # Count neighbouring word pairs as phrases in the BM25 lists (where the index has them).
    phrases: bool = False
    # Rank the dense lists by each passage's best window (where the index keeps them).
    best_window: bool = False


@dataclass(frozen=True, slots=True)
class Filters:
    """Hard constraints a user set explicitly (not guessed from the question)."""

    sources: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Ranked:
    rows: np.ndarray
    scores: np.ndarray


@dataclass(slots=True)
class Retrieval:
    rows: list[int]
    scores: list[float]
    dense_scores: dict[int, float] = field(default_factory=dict)  # row -> cosine to question
    timings_ms: dict[str, float] = field(default_factory=dict)


# A focus with fewer words of its own than this searches with the whole question.
MIN_FOCUS_TOKENS = 3


def parse_query(
    question: str,
    tokenizer: NewsTokenizer,
    known_sources: Sequence[str] = (),
    *,
    today: date | None = None,
) -> ParsedQuery:
    """The search for ``question``: its words, the outlets it attributes a report to, and
    the times it names (relative ones against ``today``, by default the current day)."""
    mentions = [(m.start, m.end, m.source) for m in attributed_outlets(question, known_sources)]
    named = list(dict.fromkeys(source for _, _, source in mentions))
    tokens = tuple(tokenizer.tokens(question))
    focuses = []
    for source in named:
        # The words from the previous outlet's mention to the next one's, around this one;
        # outlets listed together ("reported by X, Y and Z") share the whole question.
        spots = [i for i, m in enumerate(mentions) if m[2] == source]
        start = mentions[spots[0] - 1][1] if spots[0] > 0 else 0
        end = mentions[spots[-1] + 1][0] if spots[-1] + 1 < len(mentions) else len(question)
        around = tuple(tokenizer.tokens(question[start:end]))
        own = set(tokenizer.tokens(source))
        if sum(t not in own for t in around) < MIN_FOCUS_TOKENS:
            around = tokens
        focuses.append(Focus(around, source=source))
    dates = []
    for m in _DATE_IN_QUESTION.finditer(question):
        month = _MONTH_BY_PREFIX[(m["m1"] or m["m2"]).lower()[:3]]
        try:
            day = date(int(m["y"]) if m["y"] else ANY_YEAR, month, int(m["d1"] or m["d2"]))
            if day.year != ANY_YEAR:
                day_window(day)  # "December 31, 9999": no day after it to search
        except (ValueError, OverflowError):
            continue
        dates.append(day)
    if dates:
        focuses.append(Focus(tokens, dates=tuple(dates)))
    periods = tuple(
        p  # a named day with its year has its day list above already
        for p in question_periods(question, today or datetime.now(UTC).date())
        if not (p.first == p.last and p.first in dates)
    )
    if periods:
        focuses.append(Focus(tokens, periods=periods))
    return ParsedQuery(
        question,
        tokens,
        tuple(named),
        tuple(dates),
        tuple(focuses),
        question_clauses(question, tokenizer),
        periods,
    )


def day_window(day: date) -> tuple[datetime, datetime]:
    """The UTC span a named day selects: the day before to the day after, since reports are
    dated around what they report. OverflowError at the ends of the calendar."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(days=1)
    return start, start + timedelta(days=3)


def period_window(period: Period) -> tuple[datetime, datetime]:
    """The UTC span of reports about a period: its days and the day after."""
    start = datetime(period.first.year, period.first.month, period.first.day, tzinfo=UTC)
    last = datetime(period.last.year, period.last.month, period.last.day, tzinfo=UTC)
    return start, last + timedelta(days=2)


_CLAUSE_BREAK = re.compile(r"[,;]|\b(?:and|while|whereas|but|as well as)\b", re.IGNORECASE)
# A clause with fewer words than this is joined to the next (or, last, to the previous).
MIN_CLAUSE_TOKENS = 3


def question_clauses(question: str, tokenizer: NewsTokenizer) -> tuple[tuple[str, ...], ...]:
    """The tokens of each part of a question that asks several things ("which company,
    known for X, offering Y, and described by Z as W"); () when it asks one. Each part is
    answered by its own sentence, often in its own article."""
    clauses: list[tuple[str, ...]] = []
    pending: list[str] = []
    for part in _CLAUSE_BREAK.split(question):
        pending += tokenizer.tokens(part)
        if len(pending) >= MIN_CLAUSE_TOKENS:
            clauses.append(tuple(pending))
            pending = []
    if pending and clauses:
        clauses[-1] += tuple(pending)
    return tuple(clauses) if len(clauses) > 1 else ()


_FOLLOW_UP = re.compile(
    r"^(?:and|but|so|what about|how about|also)\b|\b(?:it|its|they|them|their|there|this|that|"
    r"he|she|his|her|the same)\b",
    re.IGNORECASE,
)


def follow_up_text(question: str, context: Sequence[str]) -> str:
    """The text to search for: a follow-up question carries the question it follows."""
    if context and (_FOLLOW_UP.search(question) or len(question.split()) <= 4):
        return f"{context[-1]} {question}"
    return question


def reciprocal_rank_fusion(
    ranked: Sequence[tuple[Sequence[int], float]], k: int = 60
) -> list[tuple[int, float]]:
    """Fuse (rows best-first, weight) lists: score = sum of weight / (k + rank), rank from 1."""
    fused: dict[int, float] = {}
    for rows, weight in ranked:
        if weight == 0:
            continue
        for rank, row in enumerate(rows, start=1):
            fused[int(row)] = fused.get(int(row), 0.0) + weight / (k + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def prefer_recent(
    fused: Sequence[tuple[int, float]],
    published: Callable[[int], float | None],
    half_life_days: float,
) -> list[tuple[int, float]]:
    """Fused scores times 0.5 + 0.5 x 2^(-age / half-life), re-sorted: among similar scores
    the newer article first, never more than halving an old one. ``published`` gives a row's
    unix time, None when unknown (counted as ten years old). Both backends rank with this."""
    now = time.time()
    out = []
    for row, score in fused:
        ts = published(row)
        age_days = (now - ts) / 86400 if ts is not None else 3650.0
        decay = 0.5 ** (max(age_days, 0.0) / half_life_days)
        out.append((row, score * (0.5 + 0.5 * decay)))
    return sorted(out, key=lambda item: (-item[1], item[0]))


class HybridRetriever:
    """BM25 and dense lists over one snapshot, fused by weighted reciprocal rank."""

    def __init__(
        self,
        snapshot: IndexSnapshot,
        *,
        lexical_weight: float = 1.0,
        dense_weight: float = 0.5,
        rrf_k: int = 60,
        candidates: int = 100,
        recency_half_life_days: float = 0.0,
        focus_weight: float = 1.0,
        max_per_article: int = 0,
    ) -> None:
        self.snapshot = snapshot
        self.lexical_weight = lexical_weight
        self.dense_weight = dense_weight
        self.rrf_k = rrf_k
        self.candidates = candidates
        self.recency_half_life_days = recency_half_life_days
        self.focus_weight = focus_weight
        self.max_per_article = max_per_article

    def _day_mask(self, days: Sequence[date]) -> np.ndarray:
        ts = self.snapshot.published_ts
        mask = np.zeros(len(ts), dtype=bool)
        known = np.isfinite(ts)
        for day in days:
            if day.year != ANY_YEAR:
                start, end = day_window(day)
                mask |= known & (ts >= start.timestamp()) & (ts < end.timestamp())
            else:  # a day without a year: match the month and day of any year
                dts = np.array(ts[known], dtype="datetime64[s]")
                months = dts.astype("datetime64[M]").astype(int) % 12 + 1
                mdays = (dts - dts.astype("datetime64[M]")).astype("timedelta64[D]").astype(int) + 1
                sub = (months == day.month) & (np.abs(mdays - day.day) <= 1)
                mask[np.flatnonzero(known)[sub]] = True
        return mask

    def _period_mask(self, periods: Sequence[Period]) -> np.ndarray:
        ts = self.snapshot.published_ts
        mask = np.zeros(len(ts), dtype=bool)
        known = np.isfinite(ts)
        for start, end in map(period_window, periods):
            mask |= known & (ts >= start.timestamp()) & (ts < end.timestamp())
        return mask

    def _lists(
        self,
        tokens: Sequence[str],
        vector: np.ndarray | None,
        first_pass: np.ndarray | None,
        mask: np.ndarray | None,
        kind: str,
        timings: dict[str, float],
        phrases: bool = False,
        best_window: bool = False,
    ) -> tuple[Ranked | None, Ranked | None]:
        """The BM25 and dense lists of one (maybe narrowed) search; ``first_pass`` scores
        every row against the question, computed once per question."""
        snap, n = self.snapshot, self.candidates
        lexical = dense = None
        t0 = time.perf_counter()
        if kind in ("bm25", "hybrid") and snap.lexical is not None:
            weights = None if mask is None else mask.astype(np.float32)
            lexical = Ranked(*snap.lexical.search(tokens, n, weights, phrases))
        t1 = time.perf_counter()
        if first_pass is not None and vector is not None:
            dense = Ranked(*snap.dense.top(first_pass, vector, n, mask, best_window))
        t2 = time.perf_counter()
        timings["lexical"] = timings.get("lexical", 0.0) + (t1 - t0) * 1000
        timings["dense"] = timings.get("dense", 0.0) + (t2 - t1) * 1000
        return lexical, dense

    def retrieve(
        self,
        query: ParsedQuery,
        vector: np.ndarray | None,
        *,
        k: int = 10,
        filters: Filters | None = None,
        kind: RetrieverKind = "hybrid",
    ) -> Retrieval:
        snap = self.snapshot
        timings: dict[str, float] = {}
        if len(snap) == 0:
            return Retrieval([], [], timings_ms=timings)
        base = None
        if filters and (filters.sources or filters.since or filters.until):
            base = snap.date_mask(filters.since, filters.until)
            if filters.sources:
                base &= snap.source_mask(filters.sources)

        first_pass = None
        if kind in ("dense", "hybrid") and vector is not None:
            t0 = time.perf_counter()
            first_pass = snap.dense.first_pass(vector)
            timings["dense"] = (time.perf_counter() - t0) * 1000
        features = (query.phrases, query.best_window)
        lexical, dense = self._lists(
            query.tokens, vector, first_pass, base, kind, timings, *features
        )
        # Narrowed lists for each outlet and day the question names.
        narrowed: list[tuple[Ranked | None, Ranked | None]] = []
        for focus in query.focuses:
            if focus.source:
                mask = snap.source_mask([focus.source])
            elif focus.periods:
                mask = self._period_mask(focus.periods)
            else:
                mask = self._day_mask(focus.dates)
            if base is not None:
                mask &= base
            if mask.any():
                narrowed.append(
                    self._lists(focus.tokens, vector, first_pass, mask, kind, timings, *features)
                )

        t0 = time.perf_counter()
        lists: list[tuple[Sequence[int], float]] = []
        dense_scores: dict[int, float] = {}
        for i, (lex, den) in enumerate([(lexical, dense), *narrowed]):
            scale = 1.0 if i == 0 else self.focus_weight
            if lex is not None:
                lists.append((lex.rows, scale * (self.lexical_weight if kind == "hybrid" else 1.0)))
            if den is not None:
                lists.append((den.rows, scale * (self.dense_weight if kind == "hybrid" else 1.0)))
                dense_scores.update(zip(den.rows.tolist(), den.scores.tolist(), strict=True))
        fused = reciprocal_rank_fusion(lists, self.rrf_k)
        if self.recency_half_life_days > 0 and fused:
            fused = self._prefer_recent(fused)
        top = fused[:k] if not self.max_per_article else self._capped(fused, k)
        missing = [row for row, _ in top if row not in dense_scores]  # only in a BM25 list
        if vector is not None and missing:
            cosines = snap.dense.cosines(np.asarray(missing), vector)
            dense_scores.update(zip(missing, cosines.tolist(), strict=True))
        timings["fuse"] = (time.perf_counter() - t0) * 1000
        return Retrieval([r for r, _ in top], [s for _, s in top], dense_scores, timings_ms=timings)

    def _capped(self, fused: list[tuple[int, float]], k: int) -> list[tuple[int, float]]:
        """At most ``max_per_article`` passages of one article, so the top k spans articles."""
        codes = self.snapshot.article_codes
        per: dict[int, int] = {}
        out = []
        for row, score in fused:
            article = int(codes[row]) if codes is not None else row
            if per.get(article, 0) < self.max_per_article:
                per[article] = per.get(article, 0) + 1
                out.append((row, score))
                if len(out) == k:
                    break
        return out

    def _prefer_recent(self, fused: list[tuple[int, float]]) -> list[tuple[int, float]]:
        ts = self.snapshot.published_ts
        return prefer_recent(
            fused,
            lambda row: float(ts[row]) if np.isfinite(ts[row]) else None,
            self.recency_half_life_days,
        )
