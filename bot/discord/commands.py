"""The slash commands: /ask, /headlines, /search, /article, /sources, /about.

Every command acknowledges first (``defer``: Discord's 3-second deadline) and then follows up;
engine calls go through the bot's worker pools, never on the event loop. Failures are not
handled here: they reach ``NewsTree.on_error`` (one short ephemeral line, one logged
traceback).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.discord.checks import question_cooldown
from bot.discord.errors import NO_MENTIONS, ArticleNotFound
from bot.discord.memory import key_for_interaction
from bot.discord.questions import MAX_QUESTION_CHARS
from bot.discord.render import (
    about_embed,
    headline_pages,
    headlines_title,
    render_answer,
    search_embed,
    sources_embed,
)
from bot.discord.text import CHOICE_NAME, CHOICE_VALUE, CHOICES, fit, squash
from bot.discord.views import HeadlinePager, answer_view, article_page_view

if TYPE_CHECKING:
    from bot.discord.client import NewsBot

SEARCH_RESULTS = 5
MAX_HEADLINES = 100
_ARTICLE_ID = re.compile(r"a-[0-9a-f]{16}")


async def defer(interaction: discord.Interaction, *, ephemeral: bool) -> None:
    """Acknowledge now; remember a public deferral so an error can be made private."""
    await interaction.response.defer(ephemeral=ephemeral, thinking=True)
    interaction.extras["deferred_public"] = not ephemeral


async def follow_up(interaction: discord.Interaction, **kwargs: object) -> None:
    await interaction.followup.send(allowed_mentions=NO_MENTIONS, **kwargs)  # type: ignore[arg-type]
    interaction.extras["answered"] = True


def register_commands(bot: NewsBot) -> None:
    tree = bot.tree

    @tree.command(name="ask", description="Ask the indexed news; answered with verbatim quotes")
    @app_commands.describe(
        question="Your question, e.g. when is the Shangri-La Dialogue?",
        private="Only you see the answer",
    )
    @app_commands.check(question_cooldown)
    async def ask(
        interaction: discord.Interaction,
        question: app_commands.Range[str, 1, MAX_QUESTION_CHARS],
        private: bool = False,
    ) -> None:
        await defer(interaction, ephemeral=private)
        with bot.in_flight():
            answer = await bot.service.ask(question, key_for_interaction(interaction))
            reply = render_answer(
                answer, now=datetime.now(UTC), recent_days=bot.settings.recent_days
            )
            await follow_up(
                interaction,
                embeds=reply.embeds,
                view=answer_view(reply.articles),
                ephemeral=private,
            )

    @tree.command(name="headlines", description="Recent headlines, newest first")
    @app_commands.describe(
        count="How many (default 10)",
        source="Only this outlet",
        topic="Only headlines mentioning this word",
    )
    async def headlines(
        interaction: discord.Interaction,
        count: app_commands.Range[int, 1, MAX_HEADLINES] = 10,
        source: app_commands.Range[str, 1, 100] | None = None,
        topic: app_commands.Range[str, 1, 100] | None = None,
    ) -> None:
        await defer(interaction, ephemeral=False)
        found = await bot.io.run(bot.engine.headlines, limit=count, source=source, topic=topic)
        if not found:
            text = "No headlines match that." if source or topic else "No headlines yet."
            await follow_up(interaction, content=text)
            return
        pages = headline_pages(found, title=headlines_title(source, topic))
        if len(pages) == 1:
            await follow_up(interaction, embed=pages[0])
            return
        pager = HeadlinePager(pages, owner_id=interaction.user.id)
        message = await interaction.followup.send(
            embed=pages[0], view=pager, allowed_mentions=NO_MENTIONS, wait=True
        )
        interaction.extras["answered"] = True
        pager.message = message

    @headlines.autocomplete("source")
    async def source_autocomplete(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await bot.source_choices(current)

    @tree.command(name="search", description="Articles matching a query")
    @app_commands.describe(query="Words to look for")
    @app_commands.check(question_cooldown)
    async def search(
        interaction: discord.Interaction, query: app_commands.Range[str, 1, 300]
    ) -> None:
        await defer(interaction, ephemeral=False)
        with bot.in_flight():
            results = await bot.pool.run(bot.engine.search, query, limit=SEARCH_RESULTS)
            await follow_up(interaction, embed=search_embed(query, results))

    @tree.command(name="article", description="The full text of an indexed article")
    @app_commands.describe(article="Start typing a headline")
    async def article(
        interaction: discord.Interaction, article: app_commands.Range[str, 1, 200]
    ) -> None:
        await defer(interaction, ephemeral=True)
        article_id = await bot.resolve_article(article)
        if article_id is None:
            raise ArticleNotFound()
        pages = await bot.article_pages(article_id)
        await follow_up(
            interaction,
            embed=pages[0],
            view=article_page_view(article_id, 0, len(pages)),
            ephemeral=True,
        )

    @article.autocomplete("article")
    async def article_autocomplete(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        try:
            found = await bot.io.run(bot.engine.headlines, limit=CHOICES, topic=current or None)
        except Exception:
            return []
        return [
            app_commands.Choice(
                name=fit(squash(h.title), CHOICE_NAME) or "Untitled", value=h.article_id
            )
            for h in found
            if len(h.article_id) <= CHOICE_VALUE
        ]

    @tree.command(name="sources", description="The outlets in the index")
    async def sources(interaction: discord.Interaction) -> None:
        await defer(interaction, ephemeral=False)
        found = await bot.io.run(bot.engine.sources)
        await follow_up(interaction, embed=sources_embed(found))

    @tree.command(name="about", description="What the bot has indexed, and its version")
    async def about(interaction: discord.Interaction) -> None:
        await defer(interaction, ephemeral=False)
        stats = await bot.io.run(bot.engine.stats)
        await follow_up(interaction, embed=about_embed(stats))


def looks_like_article_id(value: str) -> bool:
    return bool(_ARTICLE_ID.fullmatch(value.strip()))
