"""/headlines, /search, /article and /sources: reading the index rather than asking it.

Every command acknowledges first (``defer``) and follows up; reads run in the ``Browse``
service, off the event loop. Only /search costs real CPU, so only it counts against the
member's question cooldown. Failures reach the command tree's ``on_error``.
"""

from __future__ import annotations

import itertools
import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.checks import Cooldown
from bot.discord.errors import ArticleNotFound
from bot.discord.features.browse.protocols import Browse
from bot.discord.interactions import Gate, defer, follow_up, follow_up_message
from bot.discord.render import headline_pages, headlines_title, search_embed, sources_embed
from bot.discord.text import CHOICE_NAME, CHOICE_VALUE, CHOICES, fit, squash
from bot.discord.views import HeadlinePager, article_page_view
from index.model import Headline

log = logging.getLogger("newsbot.discord")

SEARCH_RESULTS = 5
MAX_HEADLINES = 100


def source_choices(sources: list[tuple[str, int]], current: str) -> list[app_commands.Choice[str]]:
    """Outlets containing what was typed, most articles first.

    An outlet name is stored as ingested, "\\n" and all: the name shown goes on one line, the
    value stays exact so that it filters (and a name too long to be a value is not offered).
    """
    needle = current.casefold().strip()
    matches = (
        (name, count)
        for name, count in sources
        if needle in name.casefold() and len(name) <= CHOICE_VALUE
    )
    return [
        app_commands.Choice(name=fit(f"{squash(name)} ({count})", CHOICE_NAME), value=name)
        for name, count in itertools.islice(matches, CHOICES)
    ]


def article_choices(found: list[Headline]) -> list[app_commands.Choice[str]]:
    """Headlines to pick an article by; the value is its id."""
    return [
        app_commands.Choice(
            name=fit(squash(h.title), CHOICE_NAME) or "Untitled", value=h.article_id
        )
        for h in found
        if len(h.article_id) <= CHOICE_VALUE
    ]


class BrowseCog(commands.Cog):
    def __init__(self, browse: Browse, *, cooldown: Cooldown, gate: Gate) -> None:
        self.browse = browse
        self.cooldown = cooldown
        self.gate = gate

    @app_commands.command(name="headlines", description="Recent headlines, newest first")
    @app_commands.describe(
        count="How many (default 10)",
        source="Only this outlet",
        topic="Only headlines mentioning this word",
    )
    async def headlines(
        self,
        interaction: discord.Interaction,
        count: app_commands.Range[int, 1, MAX_HEADLINES] = 10,
        source: app_commands.Range[str, 1, 100] | None = None,
        topic: app_commands.Range[str, 1, 100] | None = None,
    ) -> None:
        await defer(interaction, ephemeral=False)
        found = await self.browse.headlines(limit=count, source=source, topic=topic)
        if not found:
            text = "No headlines match that." if source or topic else "No headlines yet."
            await follow_up(interaction, content=text)
            return
        pages = headline_pages(found, title=headlines_title(source, topic))
        if len(pages) == 1:
            await follow_up(interaction, embed=pages[0])
            return
        pager = HeadlinePager(pages, owner_id=interaction.user.id)
        pager.message = await follow_up_message(interaction, embed=pages[0], view=pager)

    @headlines.autocomplete("source")
    async def source_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        try:
            sources = await self.browse.cached_sources()
        except Exception as exc:
            log.warning("source autocomplete failed: %s", exc)
            return []
        return source_choices(sources, current)

    @app_commands.command(name="search", description="Articles matching a query")
    @app_commands.describe(query="Words to look for")
    async def search(
        self, interaction: discord.Interaction, query: app_commands.Range[str, 1, 300]
    ) -> None:
        self.cooldown.check(interaction.user.id)
        await defer(interaction, ephemeral=False)
        with self.gate.in_flight():
            results = await self.browse.search(query, limit=SEARCH_RESULTS)
            await follow_up(interaction, embed=search_embed(query, results))

    @app_commands.command(name="article", description="The full text of an indexed article")
    @app_commands.describe(article="Start typing a headline")
    async def article(
        self, interaction: discord.Interaction, article: app_commands.Range[str, 1, 200]
    ) -> None:
        await defer(interaction, ephemeral=True)
        article_id = await self.browse.resolve_article(article)
        if article_id is None:
            raise ArticleNotFound()
        pages = await self.browse.article_pages(article_id)
        await follow_up(
            interaction,
            embed=pages[0],
            view=article_page_view(article_id, 0, len(pages)),
            ephemeral=True,
        )

    @article.autocomplete("article")
    async def article_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        try:
            found = await self.browse.headlines(limit=CHOICES, topic=current or None)
        except Exception:
            return []
        return article_choices(found)

    @app_commands.command(name="sources", description="The outlets in the index")
    async def sources(self, interaction: discord.Interaction) -> None:
        await defer(interaction, ephemeral=False)
        found = await self.browse.sources()
        await follow_up(interaction, embed=sources_embed(found))
