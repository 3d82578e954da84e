"""``newsbot migrate --to milvus``: fill a backend's index from the database.

The database is the truth, so migrating is a sync into an empty (or partly filled) index:
passages are copied in batches and each acknowledged batch is recorded, so an interrupted
migration carries on where it stopped when run again. Serving switches over only when
``NEWSBOT_ENGINE_BACKEND`` says so; until then the bot keeps using the local index.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from bot.cli.common import settings_of
from index.errors import NewsbotError

out = Console(highlight=False, soft_wrap=True, markup=False)  # paths and names are not markup
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

if TYPE_CHECKING:
    from index.config import EngineConfig
    from index.store import Store

PROGRESS_EVERY_SECONDS = 5.0


def migrate_command(
    ctx: typer.Context,
    to: Annotated[str, typer.Option("--to", help="Target backend: milvus (or local)")],
    recreate: Annotated[
        bool,
        typer.Option("--recreate", help="Drop the Milvus collection first (after a schema change)"),
    ] = False,
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Passages per upsert")] = 500,
) -> None:
    """Build the index of another backend from the database (resumable: run it again after
    an interruption). Then set NEWSBOT_ENGINE_BACKEND to serve from it."""
    from index.backends.local import LocalBackend
    from index.store import Store

    config = replace(settings_of(ctx).engine_config(), backend=to)
    if not config.db_path.exists():
        raise NewsbotError(f"no database at {config.db_path}: nothing to migrate")
    store = Store(config.db_path)
    try:
        if to == "local":
            LocalBackend(config).sync(store)
            out.print(f"local index rebuilt in {config.index_dir}")
            return
        if to != "milvus":
            raise NewsbotError(f"unknown backend {to!r}: use --to milvus or --to local")
        _to_milvus(config, store, recreate=recreate, batch=batch)
    finally:
        store.close()


def _to_milvus(config: EngineConfig, store: Store, *, recreate: bool, batch: int) -> None:
    from index.backends.milvus import MilvusBackend
    from index.backends.milvus_sync import SyncProgress, describe_progress

    backend = MilvusBackend(config, batch_size=batch)
    last = [time.monotonic()]

    def report(progress: SyncProgress) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_SECONDS:
            last[0] = now
            err.print(describe_progress(progress))

    try:
        if recreate:
            backend.recreate(store)
        started = time.monotonic()
        progress = backend.sync(store, progress=report)
        count = backend.indexed_count()
    finally:
        backend.close()
    _, passages = store.counts()
    out.print(
        f"Milvus at {backend.conn.where}, collection {config.milvus_collection!r}: "
        f"{count} of {passages} passages indexed ({progress.upserted} copied, "
        f"{progress.deleted} removed) in {time.monotonic() - started:.1f} s"
    )
    if count == passages:
        out.print(
            "Serve from it with NEWSBOT_ENGINE_BACKEND=milvus (and the same NEWSBOT_MILVUS_URI)."
        )


def register(app: typer.Typer) -> None:
    app.command("migrate")(migrate_command)
