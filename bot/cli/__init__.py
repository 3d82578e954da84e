"""The ``newsbot`` command: the engine from a terminal, and the entry point of every front end.

One module per command group; each registers its commands on ``app`` and reads the
``Settings`` this callback puts on the context.

``newsbot --help`` imports these modules but runs no command (nor this callback), so they
import at module level only what their commands' signatures need; the settings (pydantic),
the engine and the rest are imported by the commands that use them
(``tests/cli/test_import_budget.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from bot.cli import answers, eval, feeds, ingest, migrate, ops, serve
from bot.cli.common import err, fail
from index.errors import NewsbotError

app = typer.Typer(
    name="newsbot",
    help="Self-hosted news Q&A: ingest news, then ask questions answered by verbatim quotes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def main_callback(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Data directory (default: NEWSBOT_DATA_DIR or ./newsbot-data)"),
    ] = None,
) -> None:
    import logging

    from pydantic import ValidationError

    from bot.settings import Settings, settings_problems

    overrides = {"data_dir": data_dir} if data_dir else {}
    try:
        ctx.obj = Settings(**overrides)
    except ValidationError as exc:
        raise fail(f"invalid settings: {settings_problems(exc)}") from None
    logging.basicConfig(
        level=ctx.obj.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


# In the order of `newsbot --help`.
for group in (ingest, answers, eval, serve, feeds, ops, migrate):
    group.register(app)


def main() -> None:
    try:
        app()
    except NewsbotError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", markup=True)
        sys.exit(1)
