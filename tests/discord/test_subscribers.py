"""Servers and channels as the feed registry's owners and destinations: the decimal id, both
ways, for ids past what a float holds exactly (Discord's are 64-bit)."""

from __future__ import annotations

import pytest

from bot.discord.subscribers import (
    channel_destination,
    destination_channel,
    guild_owner,
    owner_guild,
)


def test_ids_go_in_and_come_back_exactly():
    big = 2**63 - 1
    assert guild_owner(big) == str(big) and owner_guild(guild_owner(big)) == big
    assert destination_channel(channel_destination(big)) == big
    assert owner_guild(None) is None  # a global feed has no server


@pytest.mark.parametrize("key", ["", "guild:1", "-1", " 1", "\u00b2"])
def test_a_key_that_is_no_discord_id_is_refused_by_name(key):
    with pytest.raises(ValueError, match="is not a Discord id"):
        destination_channel(key)
    with pytest.raises(ValueError, match="owner"):
        owner_guild(key)
