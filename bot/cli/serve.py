"""``newsbot serve`` and ``newsbot sync-commands``: the Discord front end.

The command bodies live in ``serve`` and are imported only when run, so ``newsbot ask`` and
friends never pay for importing discord.py.
"""

from __future__ import annotations

import typer


def serve(ctx: typer.Context) -> None:
    """Run the Discord bot over the data directory (stops cleanly on SIGTERM / Ctrl-C)."""
    from bot.discord.serve import serve_command

    serve_command(ctx)


def sync_commands(ctx: typer.Context) -> None:
    """Upload the slash commands to Discord now (serve syncs only when they changed)."""
    from bot.discord.serve import sync_commands_command

    sync_commands_command(ctx)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("sync-commands")(sync_commands)
