"""Backup and restore of a data directory, safe to back up while the bot runs.

What is backed up is the SQLite database alone: it holds every article, every passage with its
tokens and its embedding, and the feed state. The index snapshot (``index/``) is derived from
it; an engine that opens a restored database finds no snapshot of its epoch and rebuilds one
from the stored tokens and vectors (BM25 and the vector matrix, no re-embedding: seconds for
tens of thousands of articles). Copying only the database also means a backup is one
transactionally consistent file: the SQLite online backup API reads one snapshot of the
database while the bot's own connection keeps reading and writing (WAL mode).

A backup is a directory holding ``newsbot.sqlite3`` (self-contained, no ``-wal`` file) and
``backup.json`` (when, which epoch, how many articles).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from index import __version__
from index.config import EngineConfig
from index.errors import NewsbotError
from index.store import Store

DB_NAME = EngineConfig().db_path.name
MANIFEST_NAME = "backup.json"


@dataclass(frozen=True)
class BackupInfo:
    created_at: str
    newsbot_version: str
    epoch: int
    articles: int
    passages: int
    schema_version: str | None


def backup_data_dir(data_dir: Path, target: Path) -> BackupInfo:
    """Write a consistent copy of ``data_dir``'s database into the new directory ``target``."""
    try:
        return _backup(data_dir, target)
    except OSError as exc:  # a target under a file, an unwritable place: one line, not a trace
        raise NewsbotError(f"{target}: cannot write the backup ({exc.strerror or exc})") from exc


def _backup(data_dir: Path, target: Path) -> BackupInfo:
    config = EngineConfig(data_dir=data_dir)
    if not config.db_path.is_file():
        raise NewsbotError(f"{data_dir}: no newsbot database ({DB_NAME}) to back up")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise NewsbotError(f"{target}: exists and is not an empty directory")
    created = [d for d in (target, *target.parents) if not d.exists()]
    try:
        target.mkdir(parents=True, exist_ok=True)
        return _write_backup(config, target)
    except BaseException:
        _remove_partial_backup(target, created)
        raise


def _remove_partial_backup(target: Path, created: list[Path]) -> None:
    """Undo a failed backup so a retry does not meet a "not an empty directory" of its own
    making. Only our files go, then only folders we made (``rmdir`` keeps a non-empty one)."""
    partial = [f".{DB_NAME}.partial{s}" for s in ("", "-journal", "-wal", "-shm")]
    for name in (*partial, DB_NAME, MANIFEST_NAME):
        with contextlib.suppress(OSError):
            (target / name).unlink(missing_ok=True)
    for folder in created:  # deepest first
        with contextlib.suppress(OSError):
            folder.rmdir()


def _write_backup(config: EngineConfig, target: Path) -> BackupInfo:
    partial = target / f".{DB_NAME}.partial"
    store = Store(config.db_path)
    try:
        store.backup(partial)
    finally:
        store.close()
    info = _check_and_seal(partial)
    final = target / DB_NAME
    os.replace(partial, final)
    (target / MANIFEST_NAME).write_text(json.dumps(asdict(info), indent=2) + "\n")
    _fsync_dir(target)
    return info


def restore_data_dir(backup: Path, data_dir: Path) -> tuple[BackupInfo, Path | None]:
    """Put a backup in place as ``data_dir``'s database. The bot must be stopped.

    The database it replaces (with its WAL) is moved, not deleted, to
    ``data_dir/pre-restore-<time>/``, which is returned (None when there was none). The index
    snapshot is removed so the next start rebuilds it from the restored database.
    """
    try:
        return _restore(backup, data_dir)
    except OSError as exc:  # a data directory that is a file, and the like
        raise NewsbotError(f"{data_dir}: cannot restore into it ({exc.strerror or exc})") from exc


def _restore(backup: Path, data_dir: Path) -> tuple[BackupInfo, Path | None]:
    source = backup / DB_NAME if backup.is_dir() else backup
    if not source.is_file():
        raise NewsbotError(f"{backup}: no {DB_NAME} in it: not a newsbot backup")
    config = EngineConfig(data_dir=data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    incoming = data_dir / f".{DB_NAME}.restoring"
    shutil.copyfile(source, incoming)
    try:
        info = _check_and_seal(incoming, named=source)
    except BaseException:
        incoming.unlink(missing_ok=True)
        raise

    with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
        made = json.loads((source.parent / MANIFEST_NAME).read_text())["created_at"]
        info = replace(info, created_at=str(made))

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    moved_to: Path | None = None
    old = [config.db_path.with_name(config.db_path.name + s) for s in ("", "-wal", "-shm")]
    if any(p.exists() for p in old):
        moved_to = data_dir / f"pre-restore-{stamp}"
        n = 1
        while moved_to.exists():  # two restores in one second
            n += 1
            moved_to = data_dir / f"pre-restore-{stamp}-{n}"
        moved_to.mkdir()
        for path in old:  # the database first: a WAL must never outlive its database
            if path.exists():
                os.replace(path, moved_to / path.name)
    if config.index_dir.exists():
        shutil.rmtree(config.index_dir)
    os.replace(incoming, config.db_path)
    _fsync_dir(data_dir)
    return info, moved_to


def _check_and_seal(path: Path, named: Path | None = None) -> BackupInfo:
    """Check a copied database, make it one self-contained file, and describe it. Errors
    name ``named`` (the file the user gave) rather than the copy."""
    shown = named or path
    db = sqlite3.connect(path, isolation_level=None)
    try:
        try:
            problems = [r[0] for r in db.execute("PRAGMA quick_check").fetchall()]
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            articles = db.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
            passages = db.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise NewsbotError(f"{shown}: not a readable newsbot database ({exc})") from exc
        if problems != ["ok"]:
            raise NewsbotError(f"{shown}: the copy is damaged: {'; '.join(problems[:3])}")
        db.execute("PRAGMA journal_mode=DELETE")  # no -wal/-shm beside the copy
    finally:
        db.close()
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())
    return BackupInfo(
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        newsbot_version=__version__,
        epoch=int(meta.get("epoch", 0)),
        articles=articles,
        passages=passages,
        schema_version=meta.get("schema_version"),
    )


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
