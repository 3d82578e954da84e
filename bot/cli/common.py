"""What every command module shares: the consoles, one-line failures, the settings the app
callback put on the context, and the engine opened from them.

Nothing here imports the engine at module level: ``newsbot --help`` and ``newsbot config``
must not pay for loading the index's libraries, and ``--help`` not for the settings either.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from bot.settings import Settings
    from index.config import EngineConfig
    from index.engine import Engine

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def settings_of(ctx: typer.Context) -> Settings:
    """The settings of the ``newsbot`` callback; a sub-app's command finds them on the root."""
    from bot.settings import Settings

    obj = ctx.obj if ctx.obj is not None else ctx.find_root().obj
    return obj if isinstance(obj, Settings) else Settings()


def fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/] {escape(message)}", markup=True)
    return typer.Exit(1)


def new_engine(config: EngineConfig) -> Engine:
    """The one place commands build an engine (tests substitute the encoder here)."""
    from index.engine import Engine

    return Engine(config)


@contextmanager
def open_engine(settings: Settings, *, many_questions: bool = False) -> Iterator[Engine]:
    config = settings.engine_config()
    engine = new_engine(config.for_many_questions() if many_questions else config)
    try:
        yield engine
    finally:
        engine.close()


def parse_date(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    from index.sources.common import parse_published

    try:
        return parse_published(value, option)
    except ValueError as exc:
        raise fail(str(exc)) from None
