"""Buttons: "Full article" on answers, page turning for articles and for /headlines.

Article buttons are ``DynamicItem``s: their state (article id, page) lives in the custom id,
so they keep working after a restart and cost no memory per message. Their views are sent
"finished" (``stop()`` before sending) so discord.py does not keep one in its view store per
answer; the registered dynamic item classes answer the clicks.

/headlines pages are an ordinary timed view: the pages are rendered once, only the member who
asked can turn them, and the buttons are removed when the view times out.

While the bot shuts down, every click gets the same "restarting" notice as a command (the
command tree never sees clicks, so each button checks for itself).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import discord

from bot.discord.errors import NO_MENTIONS, refused_while_closing, report_interaction_error
from bot.discord.render import ArticleLink

log = logging.getLogger("newsbot.discord")

_ID = r"(?P<id>[A-Za-z0-9_-]{1,64})"


def static_view(*items: discord.ui.Item[Any]) -> discord.ui.View:
    """A view whose clicks are handled by registered dynamic items, not stored per message."""
    view = discord.ui.View(timeout=None)
    for item in items:
        view.add_item(item)
    view.stop()
    return view


class FullArticleButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"newsbot:full:" + _ID
):
    """Shows the quoted article's full text, page 1, to the member who clicked (ephemeral)."""

    def __init__(self, article_id: str, label: str = "Full article") -> None:
        super().__init__(
            discord.ui.Button(
                label=label,
                style=discord.ButtonStyle.secondary,
                custom_id=f"newsbot:full:{article_id}",
                emoji="📰",
            )
        )
        self.article_id = article_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: Any
    ) -> FullArticleButton:
        return cls(match["id"], item.label or "Full article")

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return not await refused_while_closing(interaction)

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
            bot = interaction.client
            pages = await bot.article_pages(self.article_id)  # type: ignore[attr-defined]
            await interaction.followup.send(
                embed=pages[0],
                view=article_page_view(self.article_id, 0, len(pages)),
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
        except Exception as exc:
            await report_interaction_error(interaction, exc, "Full article button")


class ArticlePageButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"newsbot:page:" + _ID + r":(?P<page>\d{1,6})",
):
    """Turns an article message to another page (edits the message in place)."""

    def __init__(self, article_id: str, page: int, label: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=label,
                style=discord.ButtonStyle.primary,
                custom_id=f"newsbot:page:{article_id}:{page}",
            )
        )
        self.article_id = article_id
        self.page = page

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: Any
    ) -> ArticlePageButton:
        return cls(match["id"], int(match["page"]), item.label or "Page")

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return not await refused_while_closing(interaction)

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            # Acknowledge first: the pages may have to be read on the small shared I/O pool,
            # and Discord fails a click that is not answered within 3 seconds.
            await interaction.response.defer()
            bot = interaction.client
            pages = await bot.article_pages(self.article_id)  # type: ignore[attr-defined]
            page = max(0, min(self.page, len(pages) - 1))
            await interaction.edit_original_response(
                embed=pages[page],
                view=article_page_view(self.article_id, page, len(pages)),
                allowed_mentions=NO_MENTIONS,
            )
        except Exception as exc:
            await report_interaction_error(interaction, exc, "article page button")


def article_page_view(article_id: str, page: int, pages: int) -> discord.ui.View:
    """Previous/next buttons for page ``page`` (0-based) of ``pages``; none for one page."""
    if pages <= 1:
        return static_view()
    prev_button = ArticlePageButton(article_id, max(0, page - 1), "◀ Previous")
    next_button = ArticlePageButton(article_id, min(pages - 1, page + 1), "Next ▶")
    # Custom ids must differ within a message; on the first/last page one button is disabled
    # and points one step further so the two ids never collide.
    if page == 0:
        prev_button = ArticlePageButton(article_id, pages, "◀ Previous")
        prev_button.item.disabled = True
    if page == pages - 1:
        next_button = ArticlePageButton(article_id, pages + 1, "Next ▶")
        next_button.item.disabled = True
    return static_view(prev_button, next_button)


def answer_view(links: Sequence[ArticleLink]) -> discord.ui.View:
    """One Full-article button per quoted article."""
    return static_view(*(FullArticleButton(link.article_id, link.label) for link in links))


class HeadlinePager(discord.ui.View):
    """◀ ▶ through pre-rendered /headlines pages; only the member who asked turns them."""

    def __init__(self, pages: Sequence[discord.Embed], owner_id: int, timeout: float = 600):
        super().__init__(timeout=timeout)
        self.pages = list(pages)
        self.owner_id = owner_id
        self.page = 0
        self.message: discord.Message | discord.WebhookMessage | None = None
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        self.previous.disabled = self.page == 0
        self.next.disabled = self.page >= len(self.pages) - 1

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if await refused_while_closing(interaction):
            return False
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message(
            "Only the member who asked can turn these pages; run /headlines yourself.",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )
        return False

    async def _show(self, interaction: discord.Interaction, page: int) -> None:
        self.page = max(0, min(page, len(self.pages) - 1))
        self._sync_buttons()
        await interaction.response.edit_message(
            embed=self.pages[self.page], view=self, allowed_mentions=NO_MENTIONS
        )

    @discord.ui.button(label="◀ Previous", style=discord.ButtonStyle.primary)
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._show(interaction, self.page - 1)

    @discord.ui.button(label="Next ▶", style=discord.ButtonStyle.primary)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._show(interaction, self.page + 1)

    async def on_timeout(self) -> None:
        if self.message is not None:
            try:
                await self.message.edit(view=None, allowed_mentions=NO_MENTIONS)
            except discord.HTTPException as exc:
                log.debug("could not remove expired headline buttons: %s", exc)

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any]
    ) -> None:
        await report_interaction_error(interaction, error, "headline pager")
