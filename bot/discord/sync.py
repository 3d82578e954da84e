"""Command sync only when the commands changed.

Discord rate-limits command registration, and global changes take a while to reach clients,
so syncing on every start is wasteful. The bot hashes the exact payload it would upload and
keeps the hash (per application and scope) in the data directory; a start syncs only when the
hash differs. ``newsbot sync-commands`` forces it. With ``NEWSBOT_DEV_GUILD`` the commands go
to that one guild, where they show up at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import discord
from discord import app_commands

log = logging.getLogger("newsbot.discord")

STATE_FILE = "discord-commands.json"


def command_payload(
    tree: app_commands.CommandTree, guild: discord.abc.Snowflake | None
) -> list[dict[str, Any]]:
    """What ``tree.sync(guild=...)`` would upload."""
    return [command.to_dict(tree) for command in tree.get_commands(guild=guild)]


def payload_hash(payload: list[dict[str, Any]]) -> str:
    canonical = json.dumps(
        sorted(payload, key=lambda c: (c.get("type", 1), c["name"])),
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class SyncRecord:
    """``{"<application id>:<scope>": sha256}`` in the data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / STATE_FILE

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, key: str) -> str | None:
        value = self._load().get(key)
        return value if isinstance(value, str) else None

    def put(self, key: str, digest: str) -> None:
        data = self._load()
        data[key] = digest
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        os.replace(tmp, self.path)


async def sync_commands(
    tree: app_commands.CommandTree,
    application_id: int,
    data_dir: Path,
    *,
    dev_guild: int | None = None,
    force: bool = False,
) -> bool:
    """Upload the commands when they changed since the last sync (or ``force``); True when
    an upload happened. The hash is recorded only after Discord accepted the upload."""
    guild = discord.Object(dev_guild) if dev_guild else None
    if guild is not None:
        tree.copy_global_to(guild=guild)
    scope = f"guild:{dev_guild}" if dev_guild else "global"
    key = f"{application_id}:{scope}"
    digest = payload_hash(command_payload(tree, guild))
    record = SyncRecord(data_dir)
    if not force and record.get(key) == digest:
        log.info("slash commands unchanged (%s); not syncing", scope)
        return False
    synced = await tree.sync(guild=guild)
    record.put(key, digest)
    log.info("synced %d slash commands (%s)", len(synced), scope)
    return True
