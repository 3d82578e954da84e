"""Discord's names in the feed registry, which knows owners and destinations only as text.

A server (guild) owns the feeds it added and its subscriptions; a subscription posts to a
channel. Both are stored as their decimal Discord id: the engine compares them and never reads
them, so it stays free of Discord, and a store written when its columns were guild and channel
ids reads the same after its migration (``index/feeds/registry.py``).
"""

from __future__ import annotations


def guild_owner(guild_id: int) -> str:
    return str(guild_id)


def owner_guild(owner: str | None) -> int | None:
    """The server that added a feed; None for a global one (added with ``newsbot feeds add``)."""
    return None if owner is None else _snowflake(owner, "owner")


def channel_destination(channel_id: int) -> str:
    return str(channel_id)


def destination_channel(destination: str) -> int:
    return _snowflake(destination, "destination")


def _snowflake(key: str, what: str) -> int:
    if not (key.isascii() and key.isdigit()):
        raise ValueError(f"feed registry {what} {key!r} is not a Discord id")
    return int(key)
