"""BM25 over passage tokens through bm25s: build, save, memory-mapped load, top-k search.

Rows are positions in the snapshot (0..n-1); the snapshot maps them to passage ids.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from index.config import BM25_NUMBA_FROM

if TYPE_CHECKING:
    import bm25s

# numba's compiler logs every pass at DEBUG (tens of thousands of lines per compile), which
# would bury an operator's NEWSBOT_LOG_LEVEL=DEBUG and can fill a pipe a supervisor reads.
for _name in ("bm25s", "bm25s.utils", "numba"):
    logging.getLogger(_name).setLevel(logging.WARNING)


PHRASE_KEYS = "phrase_keys.npy"
_bm25s_without_numba = False


def _bm25s(numba: bool):
    """bm25s, imported without numba until an index needs numba's kernels: bm25s imports
    numba whenever it is installed, and that import is a third of a one-shot question's
    start on an index too small to compile them for. bm25s looks for numba only as it is
    imported, so a process that then loads a large index imports it again, with numba (the
    module's namespace is updated in place: indexes already loaded keep working)."""
    global _bm25s_without_numba
    if not numba and "bm25s" not in sys.modules and "numba" not in sys.modules:
        sys.modules["numba"] = None  # type: ignore[assignment]  # bm25s's import of it fails
        try:
            import bm25s
        finally:
            del sys.modules["numba"]
        _bm25s_without_numba = True
    import bm25s

    if numba and _bm25s_without_numba:
        importlib.reload(bm25s)
        _bm25s_without_numba = False
    return bm25s


def lucene_idf(df: ArrayLike, n: int) -> np.ndarray:
    """Lucene's idf, ``log(1 + (n - df + 0.5) / (df + 0.5))``: never negative."""
    df = np.asarray(df, dtype=np.float64)
    return np.log1p((n - df + 0.5) / (df + 0.5))


def phrase_keys(word_ids: np.ndarray, words: int) -> np.ndarray:
    """The key of each pair of neighbouring word ids."""
    ids = np.asarray(word_ids, dtype=np.int64)
    return ids[:-1] * words + ids[1:]


def lucene_csc(
    counted: Sequence[tuple[np.ndarray, np.ndarray]],
    lengths: np.ndarray,
    n_columns: int,
    k1: float,
    b: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """bm25s's eager "lucene" score matrix (data, indices, indptr; one column per term) from
    each document's distinct column ids with their counts and its length, built with numpy
    instead of bm25s's per-term dicts (and in 32 bits, as bm25s stores it)."""
    n = len(counted)
    lengths = np.asarray(lengths, dtype=np.float32)
    average = float(lengths.mean()) if n and lengths.any() else 1.0
    cols = np.concatenate([u for u, _ in counted] or [np.empty(0, np.int32)])
    tf = np.concatenate([t for _, t in counted] or [np.empty(0)]).astype(np.float32)
    rows = np.repeat(np.arange(n, dtype=np.int32), [len(u) for u, _ in counted])
    df = np.bincount(cols, minlength=n_columns)
    idf = lucene_idf(df, n).astype(np.float32)
    data = idf[cols] * tf / (k1 * ((1 - b) + b * lengths[rows] / average) + tf)
    order = np.argsort(cols, kind="stable")  # within a column, rows stay ascending
    indptr = np.concatenate([[0], np.cumsum(df)]).astype(np.int64)
    return data[order].astype(np.float32), rows[order], indptr


class LexicalIndex:
    def __init__(self, bm25: bm25s.BM25, pairs: np.ndarray | None = None) -> None:
        self._bm25 = bm25
        self.num_docs = int(bm25.scores["num_docs"])
        indptr = bm25.scores["indptr"]  # CSC: one column per term
        self._pairs = pairs  # sorted phrase keys, or None: no phrase columns
        self._words = len(indptr) - 1 - (0 if pairs is None else len(pairs))
        # Document frequency per word (the pairs' stay in the memory-mapped file).
        self._df = np.diff(np.asarray(indptr[: self._words + 1]))
        if pairs is not None:
            # bm25s drops query ids outside this set; phrase ids are not in its vocabulary.
            bm25.unique_token_ids_set = range(len(indptr) - 1)

    @classmethod
    def build(
        cls,
        token_lists: Iterable[Sequence[str]],
        *,
        k1: float = 1.2,
        b: float = 0.75,
        method: str = "lucene",
        delta: float = 0.5,
        phrases: bool = False,
    ) -> LexicalIndex:
        bm25 = _bm25s(numba=False).BM25(k1=k1, b=b, method=method, delta=delta)
        if not phrases:
            bm25.index([list(t) for t in token_lists], show_progress=False)
            return cls(bm25)
        if method != "lucene":
            raise ValueError(f"phrase columns are built for BM25 'lucene' only, not {method!r}")
        # Documents become id arrays one at a time (a generator of token lists is never
        # held whole), then each is replaced by its distinct columns and their counts.
        vocab: dict[str, int] = {}
        docs = [
            np.fromiter((vocab.setdefault(t, len(vocab)) for t in tokens), dtype=np.int64)
            for tokens in token_lists
        ]
        words = len(vocab)
        # A passage's length is its word count: the pair columns leave every word's score
        # as it is without them (and as Milvus's BM25 computes it).
        lengths = np.array([len(d) for d in docs])
        pairs = np.unique(
            np.concatenate([phrase_keys(d, words) for d in docs] or [np.empty(0, np.int64)])
        )
        counted: list = docs
        for i, d in enumerate(docs):  # its words, then its pairs' columns
            pair_columns = words + np.searchsorted(pairs, phrase_keys(d, words))
            ids, counts = np.unique(np.concatenate([d, pair_columns]), return_counts=True)
            counted[i] = (ids.astype(np.int32), counts.astype(np.int32))
        data, indices, indptr = lucene_csc(counted, lengths, words + len(pairs), k1, b)
        bm25.scores = {"data": data, "indices": indices, "indptr": indptr, "num_docs": len(lengths)}
        bm25.vocab_dict = vocab
        bm25.nonoccurrence_array = None
        return cls(bm25, pairs)

    def save(self, directory: Path) -> None:
        self._bm25.save(str(directory), show_progress=False)
        if self._pairs is not None:
            np.save(directory / PHRASE_KEYS, self._pairs)

    @classmethod
    def load(cls, directory: Path, numba_from: int = BM25_NUMBA_FROM) -> LexicalIndex:
        try:
            params = json.loads((directory / "params.index.json").read_text(encoding="utf-8"))
            numba = int(params.get("num_docs", 0)) >= numba_from
        except (OSError, ValueError, TypeError, AttributeError):  # bm25s's load says what
            numba = True
        bm25 = _bm25s(numba).BM25.load(str(directory), mmap=True, show_progress=False)
        pairs_path = directory / PHRASE_KEYS
        pairs = np.load(pairs_path, mmap_mode="r") if pairs_path.exists() else None
        index = cls(bm25, pairs)
        if numba:
            bm25.backend = "numba"
            bm25.compile(activate_numba=True)
            index.search(list(bm25.vocab_dict)[:1], 1)  # compile now, not on a user's question
        return index

    @property
    def has_phrases(self) -> bool:
        return self._pairs is not None

    def token_ids(self, tokens: Sequence[str], phrases: bool = False) -> list[int]:
        """Column ids of the known tokens, and with ``phrases`` of their neighbouring pairs
        that some passage holds too."""
        vocab = self._bm25.vocab_dict
        known = np.array([vocab.get(t, -1) if t else -1 for t in tokens], dtype=np.int64)
        ids = [int(i) for i in known[known >= 0]]
        if not phrases or self._pairs is None or len(self._pairs) == 0 or len(known) < 2:
            return ids
        keys = phrase_keys(known, self._words)[(known[:-1] >= 0) & (known[1:] >= 0)]
        at = np.searchsorted(self._pairs, keys)
        found = at < len(self._pairs)
        found[found] = self._pairs[at[found]] == keys[found]
        return ids + [self._words + int(i) for i in at[found]]

    def idf(self, tokens: Sequence[str]) -> dict[str, float]:
        """Lucene-style idf of each known token: how much a match on it should count."""
        vocab = self._bm25.vocab_dict
        n = self.num_docs
        out = {}
        for t in tokens:
            if t in vocab:
                out[t] = float(lucene_idf(self._df[vocab[t]], n))
        return out

    def scores(self, tokens: Sequence[str], phrases: bool = False) -> np.ndarray:
        """BM25 score of every row (for parity tests and small corpora)."""
        ids = self.token_ids(tokens, phrases)
        if not ids:
            return np.zeros(self.num_docs, dtype=np.float32)
        return self._bm25.get_scores(ids)

    def search(
        self,
        tokens: Sequence[str],
        k: int,
        weight_mask: np.ndarray | None = None,
        phrases: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rows, scores) of the best ``k`` rows with a positive score, best first."""
        ids = self.token_ids(tokens, phrases)
        k = min(k, self.num_docs)
        if not ids or k <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        rows, scores = self._bm25.retrieve(
            [ids], k=k, show_progress=False, n_threads=1, weight_mask=weight_mask
        )
        rows, scores = rows[0], scores[0]
        keep = scores > 0
        return rows[keep].astype(np.int64), scores[keep]
