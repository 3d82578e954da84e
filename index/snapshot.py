"""Index snapshots: the lexical and dense indexes of one store epoch, published atomically.

A snapshot is a directory ``gen-<epoch>-<nonce>/`` written completely, fsynced, and then
named in ``CURRENT`` with an atomic rename. Readers load whatever ``CURRENT`` names and keep
serving it until a newer one is complete; a crash mid-build leaves only an unnamed directory
that the next build removes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from index.config import BM25_NUMBA_FROM
from index.dense import DenseIndex, PassageWindows, ReducedVectors, SentenceVectorsWriter
from index.lexical import LexicalIndex
from index.store import PassageRow, Store

CURRENT = "CURRENT"
# Bump when the files change: older snapshots are rebuilt, not misread. A file an older
# snapshot lacks and that loads as absent (the sentence vectors) needs no bump: its passages
# were stored without them too, so a rebuild at start-up would add none.
_FORMAT = 3


@dataclass(frozen=True)
class IndexSnapshot:
    epoch: int
    name: str
    passage_ids: np.ndarray  # row -> passage id
    published_ts: np.ndarray  # row -> article publication (unix seconds), NaN when unknown
    source_codes: np.ndarray  # row -> index into ``sources``, -1 when unknown
    sources: tuple[str, ...]
    lexical: LexicalIndex | None  # None for an empty store
    dense: DenseIndex
    article_codes: np.ndarray | None = None  # row -> small int naming its article

    def __len__(self) -> int:
        return len(self.passage_ids)

    def source_mask(self, names: Sequence[str]) -> np.ndarray:
        wanted = {n.casefold() for n in names}
        codes = [i for i, s in enumerate(self.sources) if s.casefold() in wanted]
        return np.isin(self.source_codes, codes)

    def sentence_vectors(self, passage_ids: Sequence[int]) -> list[np.ndarray | None]:
        """Each passage's sentence vectors (float32, one row per sentence), None for one
        not in this snapshot or stored without them. Reads only those passages' rows."""
        sentences = self.dense.sentences
        if sentences is None or not len(passage_ids) or not len(self):
            return [None] * len(passage_ids)
        wanted = np.asarray(passage_ids, dtype=np.int64)
        ids = np.asarray(self.passage_ids)
        rows = np.minimum(np.searchsorted(ids, wanted), len(ids) - 1)  # ids ascend, as built
        return sentences.of_passages(np.where(ids[rows] == wanted, rows, -1))

    def date_mask(self, since: datetime | None, until: datetime | None) -> np.ndarray:
        mask = np.ones(len(self), dtype=bool)
        if since is not None:
            mask &= self.published_ts >= since.timestamp()
        if until is not None:
            mask &= self.published_ts < until.timestamp()
        return mask


@contextlib.contextmanager
def _build_lock(index_dir: Path) -> Iterator[None]:
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".build.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(directory: Path) -> None:
    for path in directory.rglob("*"):
        if path.is_file():
            with open(path, "rb+") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(directory)


def current_name(index_dir: Path) -> str | None:
    try:
        return (index_dir / CURRENT).read_text().strip() or None
    except FileNotFoundError:
        return None


def load_snapshot(index_dir: Path, numba_from: int = BM25_NUMBA_FROM) -> IndexSnapshot | None:
    """The snapshot ``CURRENT`` names; None when there is none (or it is of another format,
    or a crash lost it): the caller rebuilds from the store.

    Another process (the CLI ingesting while the bot serves) may publish while this one
    reads. Publishing keeps the previous generation, and should even that be gone by the
    time its files are opened (two publishes meanwhile), ``CURRENT`` is read once more.
    """
    name = current_name(index_dir)
    try:
        return _load_generation(index_dir, name, numba_from)
    except FileNotFoundError:
        newer = current_name(index_dir)
        if newer == name:  # not replaced: CURRENT names a generation a crash lost
            return None
        return _load_generation(index_dir, newer, numba_from)


def _load_generation(index_dir: Path, name: str | None, numba_from: int) -> IndexSnapshot | None:
    """One generation by name; FileNotFoundError when it is (or goes) missing."""
    if name is None:
        return None
    directory = index_dir / name
    manifest = json.loads((directory / "manifest.json").read_text())
    if manifest.get("format") != _FORMAT:
        return None  # written by another version: the caller rebuilds from the store
    lexical = LexicalIndex.load(directory / "bm25", numba_from) if manifest["rows"] else None
    return IndexSnapshot(
        epoch=manifest["epoch"],
        name=name,
        passage_ids=np.load(directory / "passage_ids.npy", mmap_mode="r"),
        published_ts=np.load(directory / "published_ts.npy", mmap_mode="r"),
        source_codes=np.load(directory / "source_codes.npy", mmap_mode="r"),
        sources=tuple(manifest["sources"]),
        lexical=lexical,
        dense=DenseIndex.load(directory),
        article_codes=np.load(directory / "article_codes.npy", mmap_mode="r"),
    )


def wants_first_pass(rows: int, first_pass_from: int) -> bool:
    return first_pass_from > 0 and rows >= first_pass_from


@dataclass
class _Columns:
    """What a snapshot keeps of each passage, gathered row by row from the store; the
    sentence vectors go straight to their file."""

    dimension: int
    sentences: SentenceVectorsWriter
    ids: list[int] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)  # split one at a time while BM25 builds
    vectors: list[bytes] = field(default_factory=list)
    windows: list[bytes] = field(default_factory=list)  # of passages with several, in order
    window_counts: list[int] = field(default_factory=list)
    published: list[float] = field(default_factory=list)
    codes: list[int] = field(default_factory=list)
    articles: list[int] = field(default_factory=list)
    source_code: dict[str, int] = field(default_factory=dict)
    article_code: dict[str, int] = field(default_factory=dict)

    def add(self, row: PassageRow) -> None:
        self.ids.append(row.id)
        self.articles.append(self.article_code.setdefault(row.article_id, len(self.article_code)))
        self.tokens.append(row.tokens)
        self.vectors.append(row.vector)
        self.window_counts.append(len(row.window_vectors or b"") // (4 * self.dimension))
        if row.window_vectors:
            self.windows.append(row.window_vectors)
        self.sentences.add(row.sentence_vectors)
        self.published.append(np.nan if row.published_ts is None else row.published_ts)
        codes = self.source_code
        self.codes.append(-1 if row.source is None else codes.setdefault(row.source, len(codes)))

    def save(self, directory: Path, first_pass_from: int, first_pass_dims: int) -> None:
        """The dense index and the row-aligned arrays (not BM25)."""
        n, dimension = len(self.ids), self.dimension
        matrix = np.frombuffer(b"".join(self.vectors), dtype=np.float32).reshape(n, dimension)
        reduced = (
            ReducedVectors.fit(matrix, first_pass_dims)
            if wants_first_pass(n, first_pass_from)
            else None
        )
        window_rows = np.frombuffer(b"".join(self.windows), np.float32).reshape(-1, dimension)
        passage_windows = PassageWindows.of(window_rows, self.window_counts)
        DenseIndex(matrix, reduced, passage_windows).save(directory)
        np.save(directory / "passage_ids.npy", np.asarray(self.ids, dtype=np.int64))
        np.save(directory / "published_ts.npy", np.asarray(self.published, dtype=np.float64))
        np.save(directory / "source_codes.npy", np.asarray(self.codes, dtype=np.int32))
        np.save(directory / "article_codes.npy", np.asarray(self.articles, dtype=np.int32))


def build_snapshot(
    store: Store,
    index_dir: Path,
    *,
    dimension: int,
    k1: float,
    b: float,
    phrases: bool,
    method: str = "lucene",
    first_pass_from: int = 0,
    first_pass_dims: int = 64,
    numba_from: int = BM25_NUMBA_FROM,
) -> IndexSnapshot:
    """Build from the store's current epoch, publish, and drop older snapshots. From
    ``first_pass_from`` rows on (0: never) the dense index gets a reduced first pass;
    ``phrases`` gives BM25 its word-pair columns (``LexicalIndex.build``)."""
    with _build_lock(index_dir):
        epoch = store.epoch()
        name = f"gen-{epoch:08d}-{uuid.uuid4().hex[:8]}"
        directory = index_dir / name
        directory.mkdir(parents=True)
        with SentenceVectorsWriter(directory, dimension) as sentences:
            columns = _Columns(dimension, sentences)
            for row in store.iter_passage_rows():
                columns.add(row)
        columns.save(directory, first_pass_from, first_pass_dims)
        if columns.ids:
            splits = (t.split() for t in columns.tokens)
            LexicalIndex.build(splits, k1=k1, b=b, method=method, phrases=phrases).save(
                directory / "bm25"
            )
        manifest = {
            "format": _FORMAT,
            "epoch": epoch,
            "rows": len(columns.ids),
            "sources": list(columns.source_code),
        }
        (directory / "manifest.json").write_text(json.dumps(manifest))
        _fsync_tree(directory)
        previous = current_name(index_dir)
        tmp = index_dir / f"{CURRENT}.{uuid.uuid4().hex[:8]}.tmp"
        tmp.write_text(name)
        os.replace(tmp, index_dir / CURRENT)
        _fsync_dir(index_dir)
        _remove_older(index_dir, keep={name, previous})
    snapshot = load_snapshot(index_dir, numba_from)
    assert snapshot is not None
    return snapshot


def _remove_older(index_dir: Path, keep: set[str | None]) -> None:
    """Drop generations other than ``keep`` (and leftover CURRENT temp files). The one
    CURRENT named until now stays: another process may have just read its name and not yet
    opened its files. Readers that mapped older files keep them alive until they let go."""
    for old in index_dir.iterdir():
        if old.name not in keep and old.name.startswith(("gen-", f"{CURRENT}.")):
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)


def add_first_pass(index_dir: Path, snapshot: IndexSnapshot, dims: int) -> IndexSnapshot:
    """Give a snapshot published without one (by an older version, or below the size) the
    reduced first pass, in place: the files are complete before the one ``load`` looks for
    appears, so a reader sees either exact search or the whole first pass."""
    directory = index_dir / snapshot.name
    reduced = ReducedVectors.fit(snapshot.dense.vectors, dims)
    with _build_lock(index_dir):
        if not directory.is_dir():  # replaced meanwhile: the next sync loads the newer one
            return snapshot
        staging = directory / f".first-pass-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        reduced.save(staging)
        _fsync_tree(staging)
        for name in (ReducedVectors.COMPONENTS, ReducedVectors.FILE):  # FILE last: it marks
            os.replace(staging / name, directory / name)
        staging.rmdir()
        _fsync_dir(directory)
    loaded = DenseIndex.load(directory)
    return dataclasses.replace(snapshot, dense=loaded)
