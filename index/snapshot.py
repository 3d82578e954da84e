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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from index.config import BM25_NUMBA_FROM
from index.dense import DenseIndex, PassageWindows, ReducedVectors
from index.lexical import LexicalIndex
from index.store import Store

CURRENT = "CURRENT"
_FORMAT = 3  # bump when the files change: older snapshots are rebuilt, not misread


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
        ids: list[int] = []
        tokens: list[str] = []  # split one passage at a time while the index is built
        vectors: list[bytes] = []
        windows: list[bytes] = []  # the passages' that have several, in row order
        window_counts: list[int] = []
        published: list[float] = []
        codes: list[int] = []
        articles: list[int] = []
        source_code: dict[str, int] = {}
        article_code: dict[str, int] = {}
        for row in store.iter_passage_rows():
            ids.append(row.id)
            articles.append(article_code.setdefault(row.article_id, len(article_code)))
            tokens.append(row.tokens)
            vectors.append(row.vector)
            window_counts.append(len(row.window_vectors or b"") // (4 * dimension))
            if row.window_vectors:
                windows.append(row.window_vectors)
            published.append(np.nan if row.published_ts is None else row.published_ts)
            codes.append(
                -1 if row.source is None else source_code.setdefault(row.source, len(source_code))
            )
        name = f"gen-{epoch:08d}-{uuid.uuid4().hex[:8]}"
        directory = index_dir / name
        directory.mkdir(parents=True)
        matrix = (
            np.frombuffer(b"".join(vectors), dtype=np.float32).reshape(len(ids), dimension)
            if ids
            else np.zeros((0, dimension), dtype=np.float32)
        )
        reduced = (
            ReducedVectors.fit(matrix, first_pass_dims)
            if wants_first_pass(len(ids), first_pass_from)
            else None
        )
        window_rows = np.frombuffer(b"".join(windows), dtype=np.float32).reshape(-1, dimension)
        passage_windows = PassageWindows.of(window_rows, window_counts)
        DenseIndex(matrix, reduced, passage_windows).save(directory)
        np.save(directory / "passage_ids.npy", np.asarray(ids, dtype=np.int64))
        np.save(directory / "published_ts.npy", np.asarray(published, dtype=np.float64))
        np.save(directory / "source_codes.npy", np.asarray(codes, dtype=np.int32))
        np.save(directory / "article_codes.npy", np.asarray(articles, dtype=np.int32))
        if ids:
            splits = (t.split() for t in tokens)
            LexicalIndex.build(splits, k1=k1, b=b, method=method, phrases=phrases).save(
                directory / "bm25"
            )
        manifest = {
            "format": _FORMAT,
            "epoch": epoch,
            "rows": len(ids),
            "sources": list(source_code),
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
