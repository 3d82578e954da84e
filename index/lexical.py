"""BM25 over passage tokens through bm25s: build, save, memory-mapped load, top-k search.

Rows are positions in the snapshot (0..n-1); the snapshot maps them to passage ids.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np

from index.config import BM25_NUMBA_FROM

# numba's compiler logs every pass at DEBUG (tens of thousands of lines per compile), which
# would bury an operator's NEWSBOT_LOG_LEVEL=DEBUG and can fill a pipe a supervisor reads.
for _name in ("bm25s", "bm25s.utils", "numba"):
    logging.getLogger(_name).setLevel(logging.WARNING)


class LexicalIndex:
    def __init__(self, bm25: bm25s.BM25) -> None:
        self._bm25 = bm25
        self.num_docs = int(bm25.scores["num_docs"])
        # Document frequency per vocabulary id (CSC: one column per term).
        self._df = np.diff(np.asarray(bm25.scores["indptr"]))

    @classmethod
    def build(
        cls,
        token_lists: Sequence[Sequence[str]],
        *,
        k1: float = 1.2,
        b: float = 0.75,
        method: str = "lucene",
        delta: float = 0.5,
    ) -> LexicalIndex:
        bm25 = bm25s.BM25(k1=k1, b=b, method=method, delta=delta)
        bm25.index([list(t) for t in token_lists], show_progress=False)
        return cls(bm25)

    def save(self, directory: Path) -> None:
        self._bm25.save(str(directory), show_progress=False)

    @classmethod
    def load(cls, directory: Path, numba_from: int = BM25_NUMBA_FROM) -> LexicalIndex:
        bm25 = bm25s.BM25.load(str(directory), mmap=True, show_progress=False)
        index = cls(bm25)
        if index.num_docs >= numba_from:
            bm25.backend = "numba"
            bm25.compile(activate_numba=True)
            index.search(list(bm25.vocab_dict)[:1], 1)  # compile now, not on a user's question
        return index

    def token_ids(self, tokens: Sequence[str]) -> list[int]:
        vocab = self._bm25.vocab_dict
        return [vocab[t] for t in tokens if t in vocab and t != ""]

    def idf(self, tokens: Sequence[str]) -> dict[str, float]:
        """Lucene-style idf of each known token: how much a match on it should count."""
        vocab = self._bm25.vocab_dict
        n = self.num_docs
        out = {}
        for t in tokens:
            if t in vocab:
                df = float(self._df[vocab[t]])
                out[t] = float(np.log(1.0 + (n - df + 0.5) / (df + 0.5)))
        return out

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every row (for parity tests and small corpora)."""
        ids = self.token_ids(tokens)
        if not ids:
            return np.zeros(self.num_docs, dtype=np.float32)
        return self._bm25.get_scores(ids)

    def search(
        self, tokens: Sequence[str], k: int, weight_mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rows, scores) of the best ``k`` rows with a positive score, best first."""
        ids = self.token_ids(tokens)
        k = min(k, self.num_docs)
        if not ids or k <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        rows, scores = self._bm25.retrieve(
            [ids], k=k, show_progress=False, n_threads=1, weight_mask=weight_mask
        )
        rows, scores = rows[0], scores[0]
        keep = scores > 0
        return rows[keep].astype(np.int64), scores[keep]
