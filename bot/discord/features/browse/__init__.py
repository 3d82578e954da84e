"""Browsing: /headlines, /search, /article, /sources."""

from bot.discord.features.browse.cog import BrowseCog

__all__ = ["BrowseCog"]
