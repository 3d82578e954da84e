"""The shared words of newsbot: small frozen types that every module passes around.

Offsets are character offsets into ``Article.body`` as stored, so a quote is always an
exact slice of the article and never re-typed text.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np

_SPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Body text reduced to what makes two copies of one article equal (case, spacing, NFKC)."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


def text_hash(text: str) -> str:
    return hashlib.sha1(normalize_text(text).encode("utf-8")).hexdigest()


_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogate(text: str) -> int | None:
    """Where ``text`` holds a lone surrogate, or None. A JSON "\\ud800" escape decodes to one;
    it has no UTF-8 form, so SQLite, hashing and the tokenizers all fail on it."""
    found = _SURROGATE.search(text)
    return None if found is None else found.start()


def unicode_problem(name: str, text: str) -> str | None:
    """A one-line reason naming the field ``name`` when ``text`` is not valid Unicode."""
    at = lone_surrogate(text)
    if at is None:
        return None
    return (
        f"{name} is not valid Unicode text "
        f"(a lone surrogate U+{ord(text[at]):04X} at character {at})"
    )


@dataclass(frozen=True, slots=True)
class Article:
    """One news article as read from a source, before it is stored.

    ``published`` is timezone-aware, or None when the source gives no usable date
    ("unknown" is explicit rather than a guessed today).
    """

    title: str
    body: str
    origin: str
    published: datetime | None = None
    source: str | None = None
    url: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def __post_init__(self) -> None:
        if self.published is not None and self.published.tzinfo is None:
            raise ValueError(f"{self.origin}: published date must be timezone-aware")
        if self.url is not None and self.url != self.url.strip():
            # One URL, one article: the id, the batch's repeat check and the store's unique
            # URL must all see "http://x/a " as "http://x/a".
            object.__setattr__(self, "url", self.url.strip() or None)
        if self.source is not None:
            # "" or "  " is no outlet: it would be listed, and offered in /headlines, as one.
            object.__setattr__(self, "source", self.source.strip() or None)

    @property
    def body_hash(self) -> str:
        return text_hash(self.body)

    @property
    def natural_id(self) -> str:
        """Stable id: from the canonical URL when known, otherwise from the normalized body."""
        key = self.url if self.url else "body:" + self.body_hash
        return "a-" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class SkippedItem:
    """An input that could not become an article; ``origin`` names the file, line or URL."""

    origin: str
    reason: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class StoredArticle:
    id: str
    title: str
    body: str
    published: datetime | None
    source: str | None
    url: str | None
    origin: str
    ingested_at: datetime


@dataclass(frozen=True, slots=True)
class Passage:
    """A run of whole sentences of one article; ``start``/``end`` index into the article body."""

    id: int
    article_id: str
    ordinal: int
    start: int
    end: int
    text: str
    sentences: tuple[Span, ...]  # relative to the passage text
    # Each sentence's tokens, as ingest stored them (None for passages stored before that, or
    # whose text does not tokenize sentence by sentence): quoting need not tokenize again.
    sentence_tokens: tuple[tuple[str, ...], ...] | None = None


@dataclass(frozen=True, slots=True)
class RetrievedPassage:
    passage: Passage
    article: StoredArticle
    score: float
    # Float32 unit rows aligned with ``passage.sentences``, pooled at ingest from the pass that
    # embedded the passage (a zero row for a sentence the model did not read): cosines with
    # the question's vector, no encoding per question. None: the index keeps none for it.
    sentence_vectors: np.ndarray | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Quote:
    """Verbatim sentence(s) answering the question, inside the passage they came from.

    ``text_start``/``text_end`` locate ``text`` inside ``passage``; ``highlight_start`` is
    relative to ``text`` (or None when no answering words were found), and so are
    ``sentence_start``/``sentence_end``, the answering sentence among the sentences of context
    around it (None: ``text`` is that sentence alone).
    """

    text: str
    passage: str
    text_start: int
    text_end: int
    highlight: str | None
    highlight_start: int | None
    article: StoredArticle
    score: float
    resolved_dates: tuple[tuple[str, str], ...] = ()  # (phrase as written, ISO date)
    sentence_start: int | None = None
    sentence_end: int | None = None

    @property
    def sentence(self) -> str:
        """The answering sentence itself."""
        if self.sentence_start is None or self.sentence_end is None:
            return self.text
        return self.text[self.sentence_start : self.sentence_end]


@dataclass(frozen=True, slots=True)
class Headline:
    article_id: str
    title: str
    source: str | None
    published: datetime | None
    url: str | None


AbstainReason = Literal["empty_index", "no_match", "low_confidence"]


@dataclass(frozen=True, slots=True)
class ConfidenceSignals:
    """What the answer-or-abstain decision reads; kept on the Answer so it can be refitted."""

    best: float  # the sentence model's logit for the chosen sentence
    max_cosine: float  # best dense similarity of a retrieved passage to the question
    coverage: float  # idf share of the question the chosen sentence covers
    rare_passage: float  # share of the question's two rarest words in the chosen passage
    passage_coverage: float  # idf share of the question in the chosen passage and headline
    missing_max: float  # the rarest question word the passage lacks (1: a word nothing holds)
    support: float  # coverage of the best sentence of another article
    typed_missing: float  # 1 when the kind of thing asked for is not in the sentence
    period: float  # 1 / -1 when the report fits / misses a time the question names, else 0
    unknown: float  # idf share of the question's words that no indexed passage holds
    length: float  # log of the number of distinct question words
    source_missing: float = 0.0  # share of the words of who the question cites that it lacks


@dataclass(frozen=True, slots=True)
class Answer:
    question: str
    quotes: tuple[Quote, ...]
    passages: tuple[RetrievedPassage, ...]
    timings_ms: dict[str, float]
    id: str | None = None
    abstained: bool = False
    reason: AbstainReason | None = None
    closest: tuple[Headline, ...] = ()
    confidence: float | None = None  # calibrated belief that the quotes answer
    signals: ConfidenceSignals | None = None

    def to_json(self) -> dict[str, Any]:
        """The stable JSON answer schema that the CLI, the eval and other tools read."""
        return {
            "id": self.id,
            "question": self.question,
            "abstained": self.abstained,
            "reason": self.reason,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "quotes": [
                {
                    "text": q.text,
                    "sentence": q.sentence,
                    "passage": q.passage,
                    "highlight": q.highlight,
                    **_article_json(q.article),
                    "score": round(q.score, 6),
                    "resolved_dates": [list(d) for d in q.resolved_dates],
                }
                for q in self.quotes
            ],
            "passages": [
                {"text": p.passage.text, **_article_json(p.article), "score": round(p.score, 6)}
                for p in self.passages
            ],
            "closest": [
                {
                    "article_id": h.article_id,
                    "title": h.title,
                    "source": h.source,
                    "published": h.published.isoformat() if h.published else None,
                    "url": h.url,
                }
                for h in self.closest
            ],
            "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()},
        }


def _article_json(a: StoredArticle) -> dict[str, Any]:
    return {
        "article_id": a.id,
        "title": a.title,
        "source": a.source,
        "published": a.published.isoformat() if a.published else None,
        "url": a.url,
    }
