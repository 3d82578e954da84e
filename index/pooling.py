"""Pooling of a transformer's token vectors, in numpy: shared by the ONNX and torch paths so
both give sentence and span vectors by the same arithmetic."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Span = tuple[int, int]


def normalized(rows: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (a zero row stays zero)."""
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return np.ascontiguousarray(rows / np.maximum(norms, 1e-12), dtype=np.float32)


def pool(tokens: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    """A batch's sentence vectors from (batch, seq, dim) token vectors and the attention
    mask, as sentence-transformers' Pooling module computes them for ``mode``."""
    if mode == "cls":
        return tokens[:, 0]
    weights = mask[..., None].astype(tokens.dtype)
    if mode == "max":
        return np.where(weights > 0, tokens, -1e9).max(axis=1)
    sums = (tokens * weights).sum(axis=1)
    counts = np.maximum(weights.sum(axis=1), 1e-9)
    if mode == "mean":
        return sums / counts
    if mode == "mean_sqrt_len":
        return sums / np.sqrt(counts)
    raise ValueError(f"unknown pooling mode {mode!r}")


def span_vectors(tokens: np.ndarray, offsets: np.ndarray, spans: Sequence[Span]) -> np.ndarray:
    """The unit mean of the token vectors inside each character span of one text.

    ``tokens`` are the text's (seq, dim) token vectors as the model output them in context,
    ``offsets`` each token's (start, end) in the text; special tokens (offsets (0, 0)) count
    for no span. A token belongs to a span it overlaps, so a span that starts or ends inside
    a word piece still gets it. A span with no token inside the model's window (past its
    truncation) gets a zero row."""
    out = np.zeros((len(spans), tokens.shape[1]), dtype=np.float32)
    if not len(spans):
        return out
    starts, ends = offsets[:, 0], offsets[:, 1]
    real = ends > starts
    for i, (start, end) in enumerate(spans):
        inside = real & (starts < end) & (ends > start)
        if inside.any():
            out[i] = tokens[inside].mean(axis=0)
    return normalized(out)
