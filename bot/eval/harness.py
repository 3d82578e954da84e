"""Evaluation harness: score answers against gold evidence, the benchmark's way.

The metric functions are pure (texts in, numbers out) so each can be checked by hand; the
runner only asks the engine and feeds the answers through them. Conventions, shared with the
MultiHop-RAG benchmark so numbers stay comparable:

* a retrieved passage is a *hit* when it contains a gold evidence fact, compared with ALL
  whitespace removed (the benchmark's facts and our sentence splits disagree on spacing);
* fair measurement: a passage counts only by its first 300 words and a quote only by its
  first 100 words, so a retriever cannot win by returning longer passages nor the quoter by
  quoting whole articles.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from index.engine import Engine
from index.errors import SourceError
from index.model import Answer, SkippedItem
from index.retrieve import RetrieverKind

PASSAGE_WORD_CAP = 300
QUOTE_WORD_CAP = 100
TOP_K = 10
# Answers that name no span of text ("Yes", "before") say nothing when found in a quote.
NON_SPAN_ANSWERS = frozenset({"yes", "no", "before", "after"})
SHORT_ANSWER_WORDS = 5
RETRIEVERS: tuple[RetrieverKind, ...] = ("bm25", "dense", "hybrid")

_SPACE = re.compile(r"\s+")


# -- matching ------------------------------------------------------------------------------


def first_words(text: str, n: int) -> str:
    """The first ``n`` whitespace-separated words: the fair-measurement cap."""
    return " ".join(text.split()[:n])


def normalize_for_match(text: str) -> str:
    """Text with every whitespace character removed (the benchmark's comparison key)."""
    return _SPACE.sub("", text)


def _fact_keys(facts: Iterable[str]) -> list[str]:
    """Distinct non-empty match keys; an empty fact would match every passage."""
    return list(dict.fromkeys(k for k in map(normalize_for_match, facts) if k))


def _contains(text: str, keys: Sequence[str], word_cap: int) -> bool:
    """Whether the capped text holds any of the (already normalized) fact keys."""
    capped = normalize_for_match(first_words(text, word_cap))
    return any(key in capped for key in keys)


def passage_hits(
    passages: Sequence[str], facts: Sequence[str], word_cap: int = PASSAGE_WORD_CAP
) -> list[bool]:
    """One flag per passage, in rank order: does it contain any gold fact?"""
    keys = _fact_keys(facts)
    return [_contains(text, keys, word_cap) for text in passages]


def hits_at_k(hits: Sequence[bool], k: int) -> float:
    """1.0 when any of the first ``k`` passages is a hit."""
    return 1.0 if any(hits[:k]) else 0.0


def mrr_at_k(hits: Sequence[bool], k: int) -> float:
    """Reciprocal rank of the first hit within the first ``k`` passages, else 0."""
    for rank, hit in enumerate(hits[:k], start=1):
        if hit:
            return 1.0 / rank
    return 0.0


def evidence_recall(
    passages: Sequence[str],
    facts: Sequence[str],
    k: int = TOP_K,
    word_cap: int = PASSAGE_WORD_CAP,
) -> float | None:
    """Share of the distinct gold facts found in the top ``k`` passages (None: no facts).

    Multi-hop questions need every fact, so this says what Hits@k hides: whether the
    retriever found the second and third article too.
    """
    keys = _fact_keys(facts)
    if not keys:
        return None
    top = passages[:k]
    return sum(any(_contains(p, [key], word_cap) for p in top) for key in keys) / len(keys)


@dataclass(frozen=True, slots=True)
class QuoteHit:
    """How many of an answer's quotes contain a gold fact."""

    matched: int
    total: int

    @property
    def hit(self) -> bool:
        return self.matched > 0


def quote_hit(
    quotes: Sequence[str], facts: Sequence[str], word_cap: int = QUOTE_WORD_CAP
) -> QuoteHit:
    """Quotes (their ``text``, not the surrounding passage) that contain a gold fact."""
    keys = _fact_keys(facts)
    return QuoteHit(sum(_contains(text, keys, word_cap) for text in quotes), len(quotes))


def answer_is_checkable(answer: str) -> bool:
    """Short span answers only: yes/no/before/after name nothing to find in a quote, and
    long answers are paraphrases that will never occur verbatim."""
    words = answer.split()
    if not words or len(words) > SHORT_ANSWER_WORDS:
        return False
    return answer.strip().strip(".!?").casefold() not in NON_SPAN_ANSWERS


def _fold(text: str) -> str:
    return _SPACE.sub(" ", text).strip().casefold()


def answer_in_quote(
    answer: str, quotes: Sequence[str], word_cap: int = QUOTE_WORD_CAP
) -> bool | None:
    """Whether the gold answer occurs (case- and spacing-insensitively) in any quote;
    None when the answer is not a short span worth checking."""
    if not answer_is_checkable(answer):
        return None
    needle = _fold(answer)
    return any(needle in _fold(first_words(q, word_cap)) for q in quotes)


def percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


# -- questions -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EvalQuestion:
    id: str
    question: str
    answer: str
    answerable: bool
    question_type: str
    evidence: tuple[str, ...]
    # The day the question is asked: what "yesterday" or "latest" mean (None: the run's day).
    asked_on: date | None = None
    # Why an unanswerable question is (off_topic, out_of_period, near_miss, ...), if said.
    unanswerable_kind: str | None = None


def load_questions(path: Path) -> tuple[list[EvalQuestion], list[SkippedItem]]:
    """Questions of a JSONL file; a bad line is reported as ``file:line`` and skipped so one
    typo does not cost a whole run. Raises SourceError when the file cannot be read."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # a BOM is not line 1's text
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"{path}: cannot read questions ({exc})") from exc
    questions: list[EvalQuestion] = []
    skipped: list[SkippedItem] = []
    seen: set[str] = set()
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        origin = f"{path}:{lineno}"
        item = _question(line, origin, lineno)
        if isinstance(item, SkippedItem):
            skipped.append(item)
        elif item.id in seen:
            skipped.append(SkippedItem(origin, f"duplicate question id {item.id!r}"))
        else:
            seen.add(item.id)
            questions.append(item)
    return questions, skipped


def _question(line: str, origin: str, lineno: int) -> EvalQuestion | SkippedItem:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return SkippedItem(origin, f"invalid JSON: {exc.msg} (column {exc.colno})")
    if not isinstance(obj, dict):
        return SkippedItem(origin, f"expected a JSON object, got {type(obj).__name__}")
    question = obj.get("question")
    if not isinstance(question, str) or not question.strip():
        return SkippedItem(origin, "missing or empty 'question'")
    evidence = obj.get("evidence") or []
    if not isinstance(evidence, list) or not all(isinstance(e, str) for e in evidence):
        return SkippedItem(origin, "'evidence' must be a list of strings")
    answerable = obj.get("answerable", bool(evidence))
    if not isinstance(answerable, bool):
        return SkippedItem(origin, "'answerable' must be true or false")
    if answerable and not _fact_keys(evidence):
        return SkippedItem(origin, "answerable question without evidence: nothing to score")
    answer = obj.get("answer")
    qid = obj.get("id")  # 0 and "" are ids too: only a missing or null one is not
    try:
        asked_on = date.fromisoformat(obj["asked_on"]) if obj.get("asked_on") else None
    except (TypeError, ValueError):
        return SkippedItem(origin, "'asked_on' must be a YYYY-MM-DD date")
    kind = obj.get("unanswerable_kind")
    return EvalQuestion(
        id=f"line-{lineno}" if qid is None else str(qid),
        question=question.strip(),
        answer=answer if isinstance(answer, str) else "",
        answerable=answerable,
        question_type=str(obj.get("question_type") or "unknown"),
        evidence=tuple(evidence),
        asked_on=asked_on,
        unanswerable_kind=str(kind) if kind and not answerable else None,
    )


# -- scoring one answer --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuestionResult:
    """One question answered by one retriever, reduced to what the metrics need."""

    qid: str
    retriever: str
    question_type: str
    answerable: bool
    abstained: bool
    unanswerable_kind: str | None
    hits: tuple[bool, ...]  # top-k passages, rank order
    evidence_recall: float | None
    quotes: int
    quotes_with_fact: int
    answer_in_quote: bool | None
    # The gold answer span in the first quote / in any quote, and the first quote's
    # highlight on it (None: no span answer to look for).
    answer_first: bool | None
    answer_any: bool | None
    highlight_on_answer: bool | None
    latency_ms: float  # the engine's own timings_ms["total"]
    wall_ms: float  # measured around the call


def score_answer(
    question: EvalQuestion, answer: Answer, retriever: str, wall_ms: float
) -> QuestionResult:
    passages = [rp.passage.text for rp in answer.passages[:TOP_K]]
    quotes = [q.text for q in answer.quotes]
    facts = question.evidence if question.answerable else ()
    qh = quote_hit(quotes, facts)
    return QuestionResult(
        qid=question.id,
        retriever=retriever,
        question_type=question.question_type,
        answerable=question.answerable,
        abstained=answer.abstained,
        unanswerable_kind=question.unanswerable_kind,
        hits=tuple(passage_hits(passages, facts)),
        evidence_recall=evidence_recall(passages, facts) if question.answerable else None,
        quotes=qh.total,
        quotes_with_fact=qh.matched,
        answer_in_quote=answer_in_quote(question.answer, quotes) if question.answerable else None,
        **_span_scores(question, answer),
        latency_ms=float(answer.timings_ms.get("total", 0.0)),
        wall_ms=wall_ms,
    )


def answer_spans(answer: str, text: str) -> list[tuple[int, int]]:
    """Where ``answer`` occurs in ``text``, case-insensitively and whatever the spacing."""
    words = answer.split()
    if not words:
        return []
    pattern = r"\s+".join(re.escape(w) for w in words)
    return [(m.start(), m.end()) for m in re.finditer(pattern, text, re.IGNORECASE)]


def span_answer(answer: str) -> bool:
    """A gold answer worth finding verbatim: a span of at most 12 words, not yes/no."""
    words = answer.split()
    return 0 < len(words) <= 12 and answer.strip().strip(".!?").casefold() not in NON_SPAN_ANSWERS


def _span_scores(question: EvalQuestion, answer: Answer) -> dict[str, bool | None]:
    if not question.answerable or not span_answer(question.answer):
        return {"answer_first": None, "answer_any": None, "highlight_on_answer": None}
    texts = [first_words(q.text, QUOTE_WORD_CAP) for q in answer.quotes]
    found = [answer_spans(question.answer, t) for t in texts]
    highlight = False
    if answer.quotes and answer.quotes[0].highlight_start is not None:
        first = answer.quotes[0]
        start = first.highlight_start
        end = start + len(first.highlight or "")
        highlight = any(a < end and start < b for a, b in found[0])
    return {
        "answer_first": bool(found and found[0]),
        "answer_any": any(found),
        "highlight_on_answer": highlight,
    }


# -- aggregation ---------------------------------------------------------------------------


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _rate(flags: Sequence[bool | None]) -> float | None:
    """The share of True among the flags that are not None (abstaining counts as False)."""
    return _mean([1.0 if f else 0.0 for f in flags if f is not None])


def metrics(records: Sequence[QuestionResult]) -> dict[str, Any]:
    """Every reported number for one group of results (one retriever, maybe one type).

    Answerable-only metrics are None when the group has no answerable question (and the
    abstention rate is None without unanswerable ones) rather than a misleading 0.
    """
    answerable = [r for r in records if r.answerable]
    unanswerable = [r for r in records if not r.answerable]
    checkable = [r for r in answerable if r.answer_in_quote is not None]
    quotes = sum(r.quotes for r in answerable)
    recalls = [r.evidence_recall for r in answerable if r.evidence_recall is not None]
    latency = [r.latency_ms for r in records]
    wall = [r.wall_ms for r in records]
    return {
        "questions": len(records),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "hits_at_4": _mean([hits_at_k(r.hits, 4) for r in answerable]),
        "hits_at_10": _mean([hits_at_k(r.hits, 10) for r in answerable]),
        "mrr_at_10": _mean([mrr_at_k(r.hits, 10) for r in answerable]),
        "evidence_recall_at_10": _mean(recalls),
        "hits_at_k": [_mean([hits_at_k(r.hits, k) for r in answerable]) for k in range(1, 11)],
        # Abstaining on an answerable question is a quote miss, not a free pass.
        "quote_hit_rate": _mean([1.0 if r.quotes_with_fact else 0.0 for r in answerable]),
        "quote_precision": sum(r.quotes_with_fact for r in answerable) / quotes if quotes else None,
        "quotes": quotes,
        "answer_in_quote_rate": _mean([1.0 if r.answer_in_quote else 0.0 for r in checkable]),
        "answer_in_quote_n": len(checkable),
        "answer_first_rate": _rate([r.answer_first for r in answerable]),
        "answer_any_rate": _rate([r.answer_any for r in answerable]),
        "highlight_rate": _rate([r.highlight_on_answer for r in answerable]),
        "abstention_rate": _mean([1.0 if r.abstained else 0.0 for r in unanswerable]),
        "abstention_by_kind": {
            kind: _mean(
                [1.0 if r.abstained else 0.0 for r in unanswerable if r.unanswerable_kind == kind]
            )
            for kind in sorted({r.unanswerable_kind for r in unanswerable if r.unanswerable_kind})
        },
        "false_abstention_rate": _mean([1.0 if r.abstained else 0.0 for r in answerable]),
        "latency_ms_p50": percentile(latency, 50),
        "latency_ms_p95": percentile(latency, 95),
        "wall_ms_p50": percentile(wall, 50),
        "wall_ms_p95": percentile(wall, 95),
    }


def summarize(records: Iterable[QuestionResult]) -> dict[str, dict[str, Any]]:
    """``{retriever: {"all": metrics, "by_type": {question_type: metrics}}}``, in the order
    retrievers and question types first appear."""
    groups: dict[str, list[QuestionResult]] = {}
    for r in records:
        groups.setdefault(r.retriever, []).append(r)
    out: dict[str, dict[str, Any]] = {}
    for retriever, rs in groups.items():
        by_type: dict[str, list[QuestionResult]] = {}
        for r in rs:
            by_type.setdefault(r.question_type, []).append(r)
        out[retriever] = {
            "all": metrics(rs),
            "by_type": {t: metrics(group) for t, group in sorted(by_type.items())},
        }
    return out


# -- running -------------------------------------------------------------------------------

AnswerCallback = Callable[[QuestionResult, Answer], None]


@dataclass
class EvalReport:
    retrievers: list[str]
    records: list[QuestionResult] = field(default_factory=list)
    wall_seconds: float = 0.0

    def summary(self) -> dict[str, dict[str, Any]]:
        return summarize(self.records)

    def to_json(self) -> dict[str, Any]:
        return {
            "retrievers": self.retrievers,
            "questions": len({r.qid for r in self.records}),
            "conventions": {
                "match": "a gold fact contained in the text, all whitespace removed",
                "passage_word_cap": PASSAGE_WORD_CAP,
                "quote_word_cap": QUOTE_WORD_CAP,
                "top_k": TOP_K,
                "answer_in_quote": f"answers of <= {SHORT_ANSWER_WORDS} words, not "
                + "/".join(sorted(NON_SPAN_ANSWERS)),
            },
            "wall_seconds": round(self.wall_seconds, 3),
            "results": self.summary(),
        }

    def records_json(self) -> list[dict[str, Any]]:
        return [asdict(r) for r in self.records]


def run_eval(
    engine: Engine,
    questions: Sequence[EvalQuestion],
    retrievers: Sequence[RetrieverKind] = RETRIEVERS,
    progress: AnswerCallback | None = None,
) -> EvalReport:
    """Answer every question once per retriever and score it.

    The encoder is warmed up first so the first question does not carry the model load in
    its latency. ``progress`` sees every scored answer (the CLI advances its bar and writes
    the ``--dump`` line there), so answers are never all held in memory.
    """
    unknown = [r for r in retrievers if r not in RETRIEVERS]
    if unknown:
        raise ValueError(f"unknown retriever(s): {', '.join(unknown)}")
    engine.encoder.encode_question("warm up")
    report = EvalReport(retrievers=list(retrievers))
    started = time.perf_counter()
    for question in questions:
        for kind in retrievers:
            t0 = time.perf_counter()
            answer = engine.quote_answer(
                question.question, retriever=kind, qid=question.id, today=question.asked_on
            )
            wall_ms = (time.perf_counter() - t0) * 1000
            result = score_answer(question, answer, kind, wall_ms)
            report.records.append(result)
            if progress is not None:
                progress(result, answer)
    report.wall_seconds = time.perf_counter() - started
    return report
