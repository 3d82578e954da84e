"""The storage/retrieval seam: what the engine needs of an index, whatever holds it.

Articles and passages stay in the SQLite store (the truth); a backend holds what is derived
for search (BM25 statistics, vectors) and answers with passage ids. ``local`` keeps it on
disk next to the store; ``milvus`` in a Milvus server.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from index.retrieve import Filters, ParsedQuery, RetrieverKind
from index.store import Store


@dataclass(slots=True)
class SearchHits:
    passage_ids: list[int]
    scores: list[float]
    dense_scores: dict[int, float] = field(default_factory=dict)  # passage id -> cosine
    timings_ms: dict[str, float] = field(default_factory=dict)


class Backend(Protocol):
    name: str

    def sync(self, store: Store) -> None:
        """Bring the index up to the store's epoch; readers keep the old state meanwhile."""

    def search(
        self,
        query: ParsedQuery,
        vector: np.ndarray,
        *,
        k: int,
        filters: Filters | None = None,
        kind: RetrieverKind = "hybrid",
    ) -> SearchHits: ...

    def idf(self, tokens: Sequence[str]) -> dict[str, float]:
        """How informative each token is in this corpus (for choosing quote sentences)."""

    def sentence_vectors(self, passage_ids: Sequence[int]) -> list[np.ndarray | None]:
        """Each passage's sentence vectors (float32, a row per ``Passage.sentences`` entry),
        None where the index keeps none."""

    def indexed_count(self) -> int: ...

    def known_sources(self) -> Sequence[str]:
        """Outlet names as indexed, for recognising them in questions."""

    def close(self) -> None: ...
