"""The default backend: bm25s + a memory-mapped vector file, as atomically published snapshots."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from index.backends.base import SearchHits
from index.config import EngineConfig
from index.retrieve import Filters, HybridRetriever, ParsedQuery, RetrieverKind
from index.snapshot import (
    IndexSnapshot,
    add_first_pass,
    build_snapshot,
    current_name,
    load_snapshot,
    wants_first_pass,
)
from index.store import Store


class LocalBackend:
    name = "local"

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._snapshot: IndexSnapshot | None = None
        self._lock = threading.Lock()

    def sync(self, store: Store) -> None:
        """Load the published snapshot, rebuilding it when the store has moved on (a crash
        between commit and publish, or an ingest that just committed) or when
        ``phrase_search`` was turned on or off since it was built."""
        numba_from = self.config.bm25_numba_from
        phrases = self.config.phrase_search
        snapshot = self._snapshot or load_snapshot(self.config.index_dir, numba_from)
        if (
            snapshot is None
            or snapshot.epoch != store.epoch()
            or (snapshot.lexical is not None and snapshot.lexical.has_phrases != phrases)
        ):
            stored = store.get_meta("dimension")
            snapshot = build_snapshot(
                store,
                self.config.index_dir,
                dimension=int(stored) if stored else 384,
                k1=self.config.bm25_k1,
                b=self.config.bm25_b,
                phrases=phrases,
                first_pass_from=self.config.dense_first_pass_from,
                first_pass_dims=self.config.dense_first_pass_dims,
                numba_from=numba_from,
            )
        elif snapshot.dense.reduced is None and wants_first_pass(
            len(snapshot), self.config.dense_first_pass_from
        ):
            snapshot = add_first_pass(
                self.config.index_dir, snapshot, self.config.dense_first_pass_dims
            )
        with self._lock:
            self._snapshot = snapshot

    def snapshot(self) -> IndexSnapshot:
        """The newest complete snapshot; picks up one published by another process."""
        current = self._snapshot
        name = current_name(self.config.index_dir)
        if current is None or (name is not None and name != current.name):
            with self._lock:
                if self._snapshot is None or self._snapshot.name != name:
                    loaded = load_snapshot(self.config.index_dir, self.config.bm25_numba_from)
                    if loaded is not None:
                        self._snapshot = loaded
        if self._snapshot is None:
            raise RuntimeError("the local index has not been synced with the store")
        return self._snapshot

    def search(
        self,
        query: ParsedQuery,
        vector: np.ndarray,
        *,
        k: int,
        filters: Filters | None = None,
        kind: RetrieverKind = "hybrid",
    ) -> SearchHits:
        snap = self.snapshot()
        cfg = self.config
        retrieval = HybridRetriever(
            snap,
            lexical_weight=cfg.lexical_weight,
            dense_weight=cfg.dense_weight,
            rrf_k=cfg.rrf_k,
            candidates=cfg.candidates,
            recency_half_life_days=cfg.recency_half_life_days,
            focus_weight=cfg.focus_weight,
        ).retrieve(query, vector, k=k, filters=filters, kind=kind)
        ids = snap.passage_ids
        return SearchHits(
            [int(ids[r]) for r in retrieval.rows],
            retrieval.scores,
            {int(ids[r]): s for r, s in retrieval.dense_scores.items()},
            retrieval.timings_ms,
        )

    def idf(self, tokens: Sequence[str]) -> dict[str, float]:
        lexical = self.snapshot().lexical
        return lexical.idf(tokens) if lexical else dict.fromkeys(tokens, 1.0)

    def sentence_vectors(self, passage_ids: Sequence[int]) -> list[np.ndarray | None]:
        return self.snapshot().sentence_vectors(passage_ids)

    def indexed_count(self) -> int:
        return len(self.snapshot())

    def known_sources(self) -> Sequence[str]:
        return self.snapshot().sources

    def close(self) -> None:
        self._snapshot = None
