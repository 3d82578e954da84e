"""Point discord.py at another REST base or gateway (a proxy, or a test server).

discord.py keeps both as class attributes (``Route.BASE``, ``DiscordWebSocket.DEFAULT_GATEWAY``;
interaction webhooks reuse ``Route``), so the override is process-wide; the context manager
restores the old values so tests can nest it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import discord.gateway
import discord.http
import yarl

log = logging.getLogger("newsbot.discord")


@contextlib.contextmanager
def endpoint_overrides(api_base: str | None, gateway_url: str | None) -> Iterator[None]:
    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    try:
        if api_base:
            discord.http.Route.BASE = api_base.rstrip("/")
            log.info("Discord REST API at %s", discord.http.Route.BASE)
        if gateway_url:
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
            log.info("Discord gateway at %s", gateway_url)
        yield
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway
