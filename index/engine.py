"""Engine: the one object every front end calls (ingest, quote_answer, search, headlines, stats).

Front ends never reach past it, and it never formats for a front end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import numpy as np

from index import __version__
from index.backends import open_backend
from index.config import EngineConfig
from index.dense import Encoder
from index.errors import IngestError
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
from index.quote import (
    ENTITY_KINDS,
    QuestionKind,
    answer_confidence,
    best_other_coverage,
    classify_question,
    headline_free_coverage,
    rank_sentences,
    rerank_by_best_sentence,
    select_quotes,
    sentence_units,
)
from index.retrieve import Filters, ParsedQuery, RetrieverKind, follow_up_text, parse_query
from index.segment import PassageSpan, pack_passages, pack_spans
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
    by its best window. Yes/no questions lost with either (dev evidence recall@10 0.792 ->
    0.785 with phrases; comparison questions 0.861 -> 0.855 with best windows), and the
    ablations keep their plain parts."""
    if retriever != "hybrid" or kind not in ENTITY_KINDS:
        return parsed
    return replace(parsed, phrases=config.phrase_search, best_window=config.window_search)


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
    windows = pack_spans(article.body, span.sentences, DENSE_WINDOW_WORDS)
    return [f"{article.title}. {article.body[w.start : w.end]}" for w in windows]


class Engine:
    def __init__(self, config: EngineConfig, encoder: Encoder | None = None) -> None:
        self.config = config
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
        windows = self.encoder.encode_windows(
            [dense_texts(p.article, span) for p in pending for span in p.spans]
        )
        matrix = windows.means()
        self._check_dimension(matrix.shape[1])
        writes, row = [], 0
        for p in pending:
            passages = []
            for ordinal, span in enumerate(p.spans):
                window_vectors = windows.of_passage(row)
                passages.append(
                    self._new_passage(p.article, ordinal, span, matrix[row], window_vectors)
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
    ) -> Answer:
        """Quote the passage(s) that answer ``question``, or abstain with the closest headlines.

        ``context`` holds the conversation's earlier questions, oldest first, so a follow-up
        ("and where is it held?") is searched together with what it follows up on.
        """
        cfg = self.config
        t_start = time.perf_counter()
        timings: dict[str, float] = {}
        question, context = valid_text(question), [valid_text(c) for c in context]
        if self.backend.indexed_count() == 0:
            return Answer(
                question, (), (), {"total": 0.0}, id=qid, abstained=True, reason="empty_index"
            )

        search_text = follow_up_text(question, context)
        t0 = time.perf_counter()
        vector = self.encoder.encode_question(search_text)
        timings["embed"] = (time.perf_counter() - t0) * 1000
        parsed = parse_query(search_text, self.tokenizer, self.backend.known_sources())
        rerank = bool(cfg.sentence_weight) and retriever == "hybrid"  # ablations stay pure
        kind = classify_question(question)
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
        idf = self.backend.idf
        units = sentence_units(retrieved, self.tokenizer, kind, question)
        if rerank and retrieved:
            # One pass over the sentences: the whole question, then each of its parts.
            coverage, *by_part = headline_free_coverage(
                retrieved, units, [parsed.tokens, *parsed.clauses], idf, self.tokenizer
            )
            retrieved, units = rerank_by_best_sentence(
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
        # A follow-up's sentence answers the question it follows too: rank by both.
        ranked = rank_sentences(units, parsed.tokens, idf)
        focus_ranked = [
            rank_sentences(
                [u for u in units if retrieved[u.passage_index].article.source == f.source],
                f.tokens,
                idf,
            )
            for f in parsed.focuses
            if f.source
        ]
        signals = ConfidenceSignals(
            max_cosine=max(hits.dense_scores.values(), default=0.0),
            coverage=ranked[0].coverage if ranked else 0.0,
            second_coverage=best_other_coverage(ranked, retrieved),
            unindexed_outlets=len(parsed.unindexed_outlets),
        )
        confidence = answer_confidence(signals)
        quotes: tuple[Quote, ...] = ()
        if confidence >= cfg.abstain_threshold:
            quotes = tuple(
                select_quotes(
                    ranked,
                    focus_ranked,
                    retrieved,
                    kind,
                    question,
                    cfg.max_quotes,
                    relative_share=cfg.quote_share,
                    context=cfg.quote_context,
                )
            )
        timings["quote"] = (time.perf_counter() - t0) * 1000
        timings["total"] = (time.perf_counter() - t_start) * 1000

        if not quotes:
            reason = "low_confidence" if retrieved else "no_match"
            return Answer(
                question,
                (),
                tuple(retrieved),
                timings,
                id=qid,
                abstained=True,
                reason=reason,
                closest=_closest_headlines(retrieved),
                confidence=confidence,
                signals=signals,
            )
        return Answer(
            question,
            quotes,
            tuple(retrieved),
            timings,
            id=qid,
            confidence=confidence,
            signals=signals,
        )

    def _load_passages(self, ids: Sequence[int], scores: Sequence[float]) -> list[RetrievedPassage]:
        passages = self.store.passages(ids)
        articles = self.store.articles(p.article_id for p in passages.values())
        out = []
        for pid, score in zip(ids, scores, strict=True):
            p = passages.get(pid)
            if p is not None and p.article_id in articles:  # deleted since the snapshot: skip
                out.append(RetrievedPassage(p, articles[p.article_id], float(score)))
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
