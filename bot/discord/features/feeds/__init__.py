"""Feeds and subscriptions: /feeds add|remove|list, /subscribe, /unsubscribe."""

from bot.discord.features.feeds.cog import FeedsCog

__all__ = ["FeedsCog"]
