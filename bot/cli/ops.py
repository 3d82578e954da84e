"""Operations commands: ``newsbot healthcheck``, ``newsbot backup``, ``newsbot restore``.

The work is done by ``bot.backup`` and ``bot.health``; these are their terminal faces.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bot.cli.common import settings_of

out = Console(highlight=False, soft_wrap=True, markup=False)  # paths and names are not markup
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)


def healthcheck_command(
    ctx: typer.Context,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait for an answer")] = 5.0,
) -> None:
    """Exit 0 only when the running bot's /healthz answers 200 (connected, index loaded).

    Asks http://127.0.0.1:NEWSBOT_HEALTH_PORT/healthz (or NEWSBOT_HEALTH_HOST when the server
    is bound to one address); the Docker image's HEALTHCHECK runs this.
    """
    settings = settings_of(ctx)
    from bot.health import probe, probe_host

    health = settings.health
    if not health.port:
        err.print("unhealthy: the health endpoint is off (set NEWSBOT_HEALTH_PORT)")
        raise typer.Exit(1)
    host = probe_host(health.host)
    status, body = probe(host, health.port, timeout)
    if status is None:
        err.print(f"unhealthy: nothing answers on {host}:{health.port} ({body})")
        raise typer.Exit(1)
    print(body.strip())
    if status != 200:
        err.print(f"unhealthy: /healthz answered {status}")
        raise typer.Exit(1)


def backup_command(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="New (or empty) directory for the backup")],
) -> None:
    """Write a consistent copy of the database while the bot keeps running.

    The index is not copied: it is rebuilt from the database when a restored copy is opened.
    """
    settings = settings_of(ctx)
    from bot.backup import backup_data_dir

    info = backup_data_dir(settings.data_dir, path)
    out.print(
        f"backed up {info.articles} articles ({info.passages} passages, epoch {info.epoch}) "
        f"from {settings.data_dir} to {path}"
    )


def restore_command(
    ctx: typer.Context,
    backup: Annotated[Path, typer.Argument(help="A directory made by `newsbot backup`")],
) -> None:
    """Replace the data directory's database with a backup. Stop the bot first.

    The replaced database is kept in DATA_DIR/pre-restore-<time>/; the index is rebuilt on the
    next start.
    """
    settings = settings_of(ctx)
    from bot.backup import restore_data_dir

    info, moved = restore_data_dir(backup, settings.data_dir)
    out.print(
        f"restored {info.articles} articles (backup of {info.created_at}, epoch {info.epoch}) "
        f"into {settings.data_dir}"
    )
    if moved is not None:
        out.print(f"the previous database is kept in {moved}")


def register(app: typer.Typer) -> None:
    app.command("healthcheck")(healthcheck_command)
    app.command("backup")(backup_command)
    app.command("restore")(restore_command)
