"""Engine: the one object every front end calls (ingest, quote_answer, search, headlines, stats).

Front ends never reach past it, and it never formats for a front end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from index import __version__
from index.answer_types import has_answer_type
from index.backends import open_backend
from index.confidence import QuestionWords, answer_confidence, confidence_signals
from index.config import EngineConfig
from index.dense import Encoder
from index.errors import IngestError
from index.fitted import AnswerModel, load_answer_model
from index.model import (
    Answer,
    Article,
    ConfidenceSignals,
    Headline,
    Quote,
    RetrievedPassage,
    SkippedItem,
    StoredArticle,
)
from index.question import QuestionKind, attributed_source, needs_context, question_kind
from index.quote import select_quotes
from index.rerank import ENTITY_KINDS, headline_free_coverage, rerank_by_best_sentence
from index.retrieve import Filters, ParsedQuery, RetrieverKind, follow_up_text, parse_query
from index.segment import PassageSpan, pack_passages, pack_spans
from index.sentences import (
    Candidate,
    SentenceContext,
    SentenceUnit,
    choose_sentences,
    first_choice,
    question_weights,
    sentence_features,
    sentence_units,
    unknown_idf,
)
from index.sources import read_sources
from index.sources.common import one_line
from index.store import ArticleWrite, NewPassage, Store
from index.tokenize import NewsTokenizer


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    passages: int = 0
    skipped: list[SkippedItem] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _PendingArticle:
    article: Article
    article_id: str
    is_update: bool
    spans: list[PassageSpan]


@dataclass(frozen=True)
class IndexStats:
    articles: int
    passages: int
    indexed_passages: int
    sources: int
    newest: Headline | None
    last_ingest: datetime | None
    model: str
    version: str


ProgressCallback = Callable[[Article | SkippedItem], None]

# Errors that one article's own data can raise: that article is skipped with the reason. A
# failing store or disk fails every article alike, so those still stop the ingest.
_ITEM_ERRORS = (ValueError, TypeError, ArithmeticError, LookupError, RecursionError)


def for_question_kind(
    parsed: ParsedQuery, config: EngineConfig, kind: QuestionKind, retriever: RetrieverKind
) -> ParsedQuery:
    """``parsed`` as a question of this kind searches it. A which/who question describes its
    answer in several clauses, each stated by some sentence: in the hybrid retriever its BM25
    lists count the word pairs it shares with a passage, and its dense lists rank a passage
    by its best window. Yes/no questions lost with either (docs/quality.md), and the
    ablations keep their plain parts."""
    if retriever != "hybrid" or kind not in ENTITY_KINDS:
        return parsed
    return replace(parsed, phrases=config.phrase_search, best_window=config.window_search)


def as_of(filters: Filters | None, today: date) -> Filters:
    """``filters`` narrowed to reports published by the end of ``today`` (UTC)."""
    end = datetime(today.year, today.month, today.day, tzinfo=UTC) + timedelta(days=1)
    filters = filters or Filters()
    until = end if filters.until is None else min(filters.until, end)
    return replace(filters, until=until)


def valid_text(text: str) -> str:
    """``text`` with any lone surrogate (a JSON "\\ud800" escape, which a chat message can
    carry) made "?": the tokenizers, the model and SQLite all refuse one."""
    return text.encode("utf-8", "replace").decode("utf-8")


def lexical_text(article: Article | StoredArticle, passage_text: str) -> str:
    """What BM25 sees of a passage: headline, outlet and date are part of the document."""
    date = article.published.strftime("%d %B %Y") if article.published else ""
    return f"{article.title} | {article.source or ''} | {date} | {passage_text}"


# MiniLM reads 256 word pieces, about 190 words: a headline and this many words fit.
DENSE_WINDOW_WORDS = 150


def dense_texts(article: Article | StoredArticle, span: PassageSpan) -> list[str]:
    """What the encoder reads of a passage: the headline before each run of its sentences
    that the model reads whole. The passage's vector is the mean of these windows', so a
    sentence past the model's limit still counts (a 300-word passage was truncated); the
    windows are kept too, for questions that rank a passage by its best one."""
    return dense_windows(article, span)[0]


def dense_windows(
    article: Article | StoredArticle, span: PassageSpan
) -> tuple[list[str], list[list[tuple[int, int]]]]:
    """``dense_texts`` and, per window, its sentences' character spans in the window's
    text: each sentence of the passage is in exactly one window, in order, so pooling its
    tokens there gives it a vector from the pass that embeds the passage anyway."""
    prefix = f"{article.title}. "
    texts, spans = [], []
    for w in pack_spans(article.body, span.sentences, DENSE_WINDOW_WORDS):
        shift = len(prefix) - w.start
        texts.append(prefix + article.body[w.start : w.end])
        spans.append([(s.start + shift, s.end + shift) for s in w.sentences])
    return texts, spans


@dataclass(frozen=True, slots=True)
class Deliberation:
    """A question taken up to the decision: its reading, passages and scored sentences."""

    question: str
    kind: QuestionKind
    parsed: ParsedQuery
    passages: list[RetrievedPassage]
    units: list[SentenceUnit]
    features: np.ndarray  # one row of SENTENCE_FEATURES per unit
    ranked: list[Candidate]
    focus_ranked: list[list[Candidate]]  # per outlet the question cites
    timings_ms: dict[str, float]
    max_cosine: float = 0.0  # the best dense similarity of a retrieved passage
    signals: ConfidenceSignals | None = None


class Engine:
    def __init__(
        self,
        config: EngineConfig,
        encoder: Encoder | None = None,
        *,
        answer_model: AnswerModel | None = None,
    ) -> None:
        self.config = config
        self.answer_model = answer_model or load_answer_model()
        self.store = Store(config.db_path)
        self.encoder = encoder or Encoder(config.model, config.embed_batch_size)
        self.tokenizer = NewsTokenizer(stem=config.stemming)
        self._ingest_lock = threading.Lock()
        self.backend = open_backend(config)
        self.backend.sync(self.store)

    def close(self) -> None:
        self.backend.close()
        self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- ingest ------------------------------------------------------------------------

    def ingest_paths(
        self,
        paths: Iterable[str | Path],
        *,
        source: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        items = read_sources(paths, source=source, max_file_bytes=self.config.max_file_bytes)
        return self.ingest(items, progress=progress)

    def ingest(
        self,
        items: Iterable[Article | SkippedItem],
        *,
        progress: ProgressCallback | None = None,
        batch_articles: int = 32,
    ) -> IngestReport:
        """Store new and changed articles in batches of one transaction each, embedding only
        what changed, then bring the index up to date. Queries keep the old index meanwhile.

        A batch is written early when an item repeats one already in it (same URL or body),
        or would update the same stored article as one in it (its URL matches one, its old
        text another), so each is checked against what the one before wrote: as if ingested
        one after another.
        """
        report = IngestReport()
        with self._ingest_lock:
            wrote = False
            try:
                pending: list[_PendingArticle] = []
                keys: set[str] = set()
                for item in items:
                    if progress:
                        progress(item)
                    if isinstance(item, SkippedItem):
                        report.skipped.append(item)
                        continue
                    if (problem := Store.unstorable(item)) is not None:
                        report.skipped.append(SkippedItem(item.origin, problem))
                        continue
                    if item.body_hash in keys or item.url in keys or len(pending) >= batch_articles:
                        wrote |= self._write(pending, report)
                        pending, keys = [], set()
                    try:
                        entry = self._prepare(item, report)
                        if entry is not None and any(
                            p.article_id == entry.article_id for p in pending
                        ):
                            wrote |= self._write(pending, report)
                            pending, keys = [], set()
                            entry = self._prepare(item, report)
                    except _ITEM_ERRORS as exc:  # one article's surprise must not cost the rest
                        reason = one_line(f"cannot ingest: {type(exc).__name__}: {exc}")
                        report.skipped.append(SkippedItem(item.origin, reason))
                        continue
                    if entry is not None:
                        pending.append(entry)
                        keys |= {k for k in (item.url, item.body_hash) if k}
                wrote |= self._write(pending, report)
            finally:
                if wrote:  # also after a failure: what was committed becomes searchable
                    self.backend.sync(self.store)
        return report

    def _prepare(self, item: Article, report: IngestReport) -> _PendingArticle | None:
        if not item.body.strip() or not item.title.strip():
            report.skipped.append(SkippedItem(item.origin, "no article text or no title"))
            return None
        spans = pack_passages(item.body, self.config.passage_words)
        if not spans:
            report.skipped.append(SkippedItem(item.origin, "no sentences in the article text"))
            return None
        existing = self.store.find_existing(item)
        if existing and existing[1] == Store.fingerprint(item):
            report.unchanged += 1
            return None
        if existing:
            return _PendingArticle(item, existing[0], True, spans)
        return _PendingArticle(item, self._new_id(item), False, spans)

    def _new_id(self, article: Article) -> str:
        """The article's natural id, unless a stored article holds it already: then a fresh
        one. That happens when a copy at another URL took over the stored article (same text:
        an update that moves its URL) and the first URL returns with new text; both stay."""
        candidate, n = article.natural_id, 1
        while self.store.article_exists(candidate):
            n += 1
            candidate = f"{article.natural_id}-{n}"
        return candidate

    def _write(self, pending: Sequence[_PendingArticle], report: IngestReport) -> bool:
        """Embed the passages of ``pending`` in one call and commit them in one transaction."""
        if not pending:
            return False
        texts, spans = zip(
            *(dense_windows(p.article, span) for p in pending for span in p.spans), strict=True
        )
        windows = self.encoder.encode_windows(texts, spans=spans)
        matrix = windows.means()
        self._check_dimension(matrix.shape[1])
        writes, row = [], 0
        for p in pending:
            passages = []
            for ordinal, span in enumerate(p.spans):
                passages.append(
                    self._new_passage(
                        p.article,
                        ordinal,
                        span,
                        matrix[row],
                        windows.of_passage(row),
                        windows.spans_of_passage(row),
                    )
                )
                row += 1
            writes.append(ArticleWrite(p.article_id, p.article, passages, p.is_update))
        self.store.write_batch(writes)
        for w in writes:
            report.passages += len(w.passages)
            report.updated += w.is_update
            report.added += not w.is_update
        return True

    def _new_passage(
        self,
        article: Article,
        ordinal: int,
        span: PassageSpan,
        vector: np.ndarray,
        window_vectors: np.ndarray | None = None,
        sentence_vectors: np.ndarray | None = None,
    ) -> NewPassage:
        """The passage with its BM25 tokens and how many are the header's and each sentence's,
        so quoting can take a sentence's tokens from the store instead of tokenizing it for
        every question (a third of quoting's time). The counts are kept only when the
        sentences' tokens, end to end, are the passage's: a word run across two sentences
        ("one.Two") is one token of the passage, and such a passage is tokenized when quoted."""
        tokens = self.tokenizer.tokens(lexical_text(article, article.body[span.start : span.end]))
        header = self.tokenizer.tokens(lexical_text(article, ""))
        by_sentence = [self.tokenizer.tokens(article.body[s.start : s.end]) for s in span.sentences]
        exact = header + [t for sentence in by_sentence for t in sentence] == tokens
        return NewPassage(
            ordinal=ordinal,
            start=span.start,
            end=span.end,
            sentences=span.sentences,
            tokens=tokens,
            vector=vector,
            sentence_token_counts=[len(header), *map(len, by_sentence)] if exact else None,
            window_vectors=window_vectors,
            sentence_vectors=sentence_vectors,
        )

    def _check_dimension(self, dimension: int) -> None:
        stored = self.store.get_meta("dimension")
        model = self.config.model or "all-MiniLM-L6-v2"
        if stored is None:
            self.store.set_meta({"dimension": str(dimension), "model": model})
        elif int(stored) != dimension:
            raise IngestError(
                f"the index holds {stored}-dimensional vectors from "
                f"{self.store.get_meta('model')}, but the model {model} makes {dimension}: "
                "use a fresh data directory"
            )

    # -- questions ---------------------------------------------------------------------

    def quote_answer(
        self,
        question: str,
        *,
        context: Sequence[str] = (),
        filters: Filters | None = None,
        retriever: RetrieverKind = "hybrid",
        qid: str | None = None,
        today: date | None = None,
    ) -> Answer:
        """Quote the passage(s) that answer ``question``, or abstain with the closest headlines.

        ``context`` holds the conversation's earlier questions, oldest first, so a follow-up
        ("and where is it held?") is searched together with what it follows up on; ``today``
        is the day "yesterday" and "last week" count from (default: the current day).
        """
        t_start = time.perf_counter()
        question = valid_text(question)
        if self.backend.indexed_count() == 0:
            return Answer(
                question, (), (), {"total": 0.0}, id=qid, abstained=True, reason="empty_index"
            )
        d = self.deliberate(
            question, context=context, filters=filters, retriever=retriever, today=today
        )
        t0 = time.perf_counter()
        confidence = None
        quotes: tuple[Quote, ...] = ()
        own_words = len(set(d.parsed.tokens))
        model, threshold = self.answer_model.decision(own_words)
        dangling = not context and needs_context(question, own_words)
        if d.signals is not None and not dangling:
            confidence = answer_confidence(d.signals, model)
        if confidence is not None and confidence >= threshold:
            quotes = self._quotes(d)
        timings = {**d.timings_ms, "quote": d.timings_ms.get("quote", 0.0)}
        timings["quote"] += (time.perf_counter() - t0) * 1000
        timings["total"] = (time.perf_counter() - t_start) * 1000
        common = dict(id=qid, confidence=confidence, signals=d.signals)
        if not quotes:
            reason = "low_confidence" if d.passages else "no_match"
            closest = _closest_headlines(d.passages)
            return Answer(
                question,
                (),
                tuple(d.passages),
                timings,
                abstained=True,
                reason=reason,
                closest=closest,
                **common,
            )
        return Answer(question, quotes, tuple(d.passages), timings, **common)

    def _quotes(self, d: Deliberation) -> tuple[Quote, ...]:
        """The quotes of a deliberation the decision answers, in ``Deliberation.ranked``'s
        order."""
        return tuple(
            select_quotes(
                d.ranked,
                d.focus_ranked,
                d.passages,
                kind=d.kind,
                question=d.question,
                max_quotes=self.config.max_quotes,
                relative_share=self.config.quote_share,
                context=self.config.quote_context,
                one_per_article=self.long_question(d.parsed),
            )
        )

    def deliberate(
        self,
        question: str,
        *,
        context: Sequence[str] = (),
        filters: Filters | None = None,
        retriever: RetrieverKind = "hybrid",
        today: date | None = None,
    ) -> Deliberation:
        """Every stage before the decision: parse, retrieve and fuse, rerank, score the
        sentences. ``bench/fit_answer_model.py`` fits its models on what this returns."""
        cfg = self.config
        timings: dict[str, float] = {}
        context = [valid_text(c) for c in context]
        if today is not None:  # asked on a past day: the news of later days is not out yet
            filters = as_of(filters, today)
        search_text = follow_up_text(question, context)
        t0 = time.perf_counter()
        vector = self.encoder.encode_question(search_text)
        timings["embed"] = (time.perf_counter() - t0) * 1000
        parsed = parse_query(search_text, self.tokenizer, self.backend.known_sources(), today=today)
        kind = question_kind(question)
        # Reranking by headline-free sentence coverage serves questions that describe their
        # answer in several clauses; a short question often names its article's headline,
        # and reranking it pushes that article down. Ablations stay pure.
        long = self.long_question(parsed)
        rerank = bool(cfg.sentence_weight) and retriever == "hybrid" and long
        spread = rerank and cfg.article_temperature > 0 and kind in ENTITY_KINDS
        parsed = for_question_kind(parsed, cfg, kind, retriever)
        depth = cfg.top_k
        if rerank:
            depth = max(depth, cfg.article_depth if spread else cfg.rerank_depth)
        hits = self.backend.search(parsed, vector, k=depth, filters=filters, kind=retriever)
        timings.update(hits.timings_ms)
        t0 = time.perf_counter()
        retrieved = self._load_passages(hits.passage_ids, hits.scores)
        timings["load"] = (time.perf_counter() - t0) * 1000

        t0 = time.perf_counter()
        units = sentence_units(retrieved, self.tokenizer, kind, question)
        if rerank and retrieved:
            retrieved, units = self._rerank(retrieved, units, parsed, spread)
        else:
            retrieved = retrieved[: cfg.top_k]
            units = [u for u in units if u.passage_index < cfg.top_k]
        chosen = self._choose(retrieved, units, parsed, kind, question, vector)
        chosen.timings_ms.update(timings)
        chosen.timings_ms["quote"] = (time.perf_counter() - t0) * 1000
        chosen = replace(chosen, max_cosine=max(hits.dense_scores.values(), default=0.0))
        return replace(chosen, signals=self.signals(chosen))

    def long_question(self, parsed: ParsedQuery) -> bool:
        """A question of many distinct words: one that describes its answer in clauses."""
        return len(set(parsed.tokens)) >= self.answer_model.long_from_words

    def recency_margin(self, parsed: ParsedQuery) -> float:
        """How close a newer report must come to be quoted first: not at all when the question
        names a time, or is long (a many-clause question's facts come from reports of any
        date, and preferring the newest cost such questions their answers)."""
        if parsed.periods or parsed.dates or self.long_question(parsed):
            return 0.0
        return self.answer_model.recency_margin

    def _rerank(
        self,
        retrieved: list[RetrievedPassage],
        units: list[SentenceUnit],
        parsed: ParsedQuery,
        spread: bool,
    ) -> tuple[list[RetrievedPassage], list[SentenceUnit]]:
        cfg = self.config
        # One pass over the sentences: the whole question, then each of its parts.
        coverage, *by_part = headline_free_coverage(
            retrieved, units, [parsed.tokens, *parsed.clauses], self.backend.idf, self.tokenizer
        )
        return rerank_by_best_sentence(
            retrieved,
            units,
            coverage,
            cfg.sentence_weight,
            cfg.top_k,
            by_part,
            cfg.clause_weight,
            cfg.part_slots,
            cfg.part_slot_share,
            cfg.article_temperature if spread else 0.0,
            parsed.sources,
        )

    def _choose(
        self,
        passages: list[RetrievedPassage],
        units: list[SentenceUnit],
        parsed: ParsedQuery,
        kind: QuestionKind,
        question: str,
        vector: np.ndarray,
    ) -> Deliberation:
        idf, model = self.backend.idf, self.answer_model.sentence
        indexed = self.backend.indexed_count()
        context = SentenceContext(parsed.tokens, parsed.periods, indexed, vector)
        features = sentence_features(
            units, passages, context=context, idf=idf, tokenizer=self.tokenizer
        )
        ranked = first_choice(
            choose_sentences(units, features, model),
            passages,
            kind=kind,
            recency_margin=self.recency_margin(parsed),
            typed_margin=self.answer_model.typed_margin,
        )
        focus_ranked = []
        for f in parsed.focuses:
            if not f.source:
                continue
            own = [
                i
                for i, u in enumerate(units)
                if passages[u.passage_index].article.source == f.source
            ]
            if own:
                rows = sentence_features(
                    [units[i] for i in own],
                    passages,
                    context=SentenceContext(f.tokens, parsed.periods, indexed, vector),
                    idf=idf,
                    tokenizer=self.tokenizer,
                )
                focus_ranked.append(choose_sentences([units[i] for i in own], rows, model))
        return Deliberation(
            question, kind, parsed, passages, units, features, ranked, focus_ranked, {}
        )

    def signals(self, d: Deliberation) -> ConfidenceSignals | None:
        """What the decision reads of a deliberation (its first candidate and what surrounds
        it); None when there is no candidate."""
        if not d.ranked:
            return None
        indexed = self.backend.indexed_count()
        known = self.backend.idf(list(dict.fromkeys(d.parsed.tokens)))
        weights = question_weights(d.parsed.tokens, lambda _: known, indexed)
        words = QuestionWords(
            weights,
            frozenset(known),
            unknown_idf(indexed),
            lambda rp: self.tokenizer.tokens(f"{rp.article.title} {rp.article.source or ''}"),
            frozenset(self.tokenizer.tokens(attributed_source(d.question) or "")),
        )
        rows = {id(u): d.features[i] for i, u in enumerate(d.units)}
        return confidence_signals(
            d.ranked,
            rows,
            d.passages,
            words=words,
            max_cosine=d.max_cosine,
            typed_kind=has_answer_type(d.kind, d.question),
        )

    def _load_passages(self, ids: Sequence[int], scores: Sequence[float]) -> list[RetrievedPassage]:
        """The passages with their articles and sentence vectors. The vectors come from the
        index by passage id: an id is never reused, so whichever snapshot answers holds the
        rows ingest pooled for exactly these sentences, or none."""
        passages = self.store.passages(ids)
        articles = self.store.articles(p.article_id for p in passages.values())
        vectors = self.backend.sentence_vectors(ids)
        out = []
        for pid, score, rows in zip(ids, scores, vectors, strict=True):
            p = passages.get(pid)
            if p is not None and p.article_id in articles:  # deleted since the snapshot: skip
                if rows is not None and len(rows) != len(p.sentences):
                    rows = None
                out.append(RetrievedPassage(p, articles[p.article_id], float(score), rows))
        return out

    def search(
        self, query: str, *, limit: int = 10, filters: Filters | None = None
    ) -> list[RetrievedPassage]:
        """Articles matching ``query``, each with its best passage, best first."""
        if self.backend.indexed_count() == 0:
            return []
        query = valid_text(query)
        vector = self.encoder.encode_question(query)
        parsed = parse_query(query, self.tokenizer, self.backend.known_sources())
        hits = self.backend.search(parsed, vector, k=limit * 5, filters=filters)
        best: dict[str, RetrievedPassage] = {}
        for rp in self._load_passages(hits.passage_ids, hits.scores):
            best.setdefault(rp.article.id, rp)
        return list(best.values())[:limit]

    # -- browsing ----------------------------------------------------------------------

    def headlines(self, **kwargs) -> list[Headline]:
        cleaned = {k: valid_text(v) if isinstance(v, str) else v for k, v in kwargs.items()}
        return self.store.headlines(**cleaned)

    def article(self, article_id: str) -> StoredArticle | None:
        return self.store.article(valid_text(article_id))

    def sources(self) -> list[tuple[str, int]]:
        return self.store.sources()

    def stats(self) -> IndexStats:
        articles, passages = self.store.counts()
        last = self.store.get_meta("last_ingest")
        return IndexStats(
            articles=articles,
            passages=passages,
            indexed_passages=self.backend.indexed_count(),
            sources=len(self.store.sources()),
            newest=self.store.newest(),
            last_ingest=datetime.fromisoformat(last) if last else None,
            model=self.store.get_meta("model") or (self.config.model or "all-MiniLM-L6-v2"),
            version=__version__,
        )


def _closest_headlines(
    retrieved: Sequence[RetrievedPassage], limit: int = 5
) -> tuple[Headline, ...]:
    seen: dict[str, Headline] = {}
    for rp in retrieved:
        a = rp.article
        seen.setdefault(a.id, Headline(a.id, a.title, a.source, a.published, a.url))
    return tuple(list(seen.values())[:limit])
