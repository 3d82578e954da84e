"""Health: /about, and what the health endpoint reports about the gateway and the index."""

from bot.discord.features.health.cog import HealthCog

__all__ = ["HealthCog"]
