"""Buttons: "Full article" and "more quotes" on answers, page turning for articles and for
/headlines.

Article buttons are ``DynamicItem``s: their state (article id, page) lives in the custom id,
so they keep working after a restart and cost no memory per message. Their views are sent
"finished" (``stop()`` before sending) so discord.py does not keep one in its view store per
answer; the registered dynamic item classes answer the clicks.

/headlines pages are an ordinary timed view: the pages are rendered once, only the member who
asked can turn them, and the buttons are removed when the view times out.

A button's click needs a service (the article's pages, the answer's other quotes); discord.py
builds dynamic items itself from the custom id, so the service is bound to the class when it
is registered (``bound_buttons``), never looked up on the client.

The other quotes of an answer are kept, rendered, in a bounded ``QuoteShelf`` in memory (a
custom id holds at most 100 characters, far too few for quotes); the button carries only the
shelf's key, and after a restart or once the answer is old it says so instead of failing.

While the bot shuts down, every click gets the same "restarting" notice as a command (the
command tree never sees clicks, so each button checks for itself).
"""

from __future__ import annotations

import logging
import secrets
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

import discord

from bot.discord.errors import NO_MENTIONS
from bot.discord.interactions import (
    refused_while_closing,
    report_interaction_error,
    send_ephemeral,
)
from bot.discord.render import ArticleLink

log = logging.getLogger("newsbot.discord")

_ID = r"(?P<id>[A-Za-z0-9_-]{1,64})"
QUOTES_GONE = "Those quotes are no longer kept (the answer is old, or I restarted); ask again."
SHELF_ANSWERS = 500


class ArticlePages(Protocol):
    """What the article buttons need: an article's rendered pages."""

    async def article_pages(self, article_id: str) -> list[discord.Embed]: ...


class QuoteShelf:
    """The other quotes of recent answers, rendered, under a short random key (newest kept)."""

    def __init__(self, limit: int = SHELF_ANSWERS) -> None:
        self._items: OrderedDict[str, list[discord.Embed]] = OrderedDict()
        self._limit = limit

    def put(self, embeds: list[discord.Embed]) -> str:
        key = secrets.token_hex(8)
        self._items[key] = embeds
        while len(self._items) > self._limit:
            self._items.popitem(last=False)
        return key

    def get(self, key: str) -> list[discord.Embed] | None:
        return self._items.get(key)


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

    pages: ClassVar[ArticlePages | None] = None  # set by ``bound_buttons``

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
            pages = await _article_pages(self.pages, self.article_id)
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

    pages: ClassVar[ArticlePages | None] = None  # set by ``bound_buttons``

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
            pages = await _article_pages(self.pages, self.article_id)
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


async def _article_pages(source: ArticlePages | None, article_id: str) -> list[discord.Embed]:
    if source is None:
        raise RuntimeError("article buttons were registered without bound_buttons()")
    return await source.article_pages(article_id)


class MoreQuotesButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"newsbot:quotes:(?P<key>[0-9a-f]{1,32})",
):
    """Shows the other sources' quotes of an answer to the member who clicked, privately.

    Private rather than an edit of the answer: the answer stays short for everyone in a busy
    channel, every member who wants the quotes gets them without expanding them for the
    others, and a click changes nothing anyone else sees.
    """

    def __init__(self, key: str, label: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=label, style=discord.ButtonStyle.primary, custom_id=f"newsbot:quotes:{key}"
            )
        )
        self.key = key

    shelf: ClassVar[QuoteShelf | None] = None  # set by ``bound_buttons``

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: Any
    ) -> MoreQuotesButton:
        return cls(match["key"], item.label or "More quotes")

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return not await refused_while_closing(interaction)

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            embeds = self.shelf.get(self.key) if self.shelf is not None else None
            if not embeds:
                await send_ephemeral(interaction, QUOTES_GONE)
                return
            await interaction.response.send_message(
                embeds=embeds, ephemeral=True, allowed_mentions=NO_MENTIONS
            )
        except Exception as exc:
            await report_interaction_error(interaction, exc, "more quotes button")


def bound_buttons(
    pages: ArticlePages, shelf: QuoteShelf
) -> tuple[type[discord.ui.DynamicItem[Any]], ...]:
    """The dynamic button classes to register on the client, each bound to its service."""
    full = FullArticleButton.__discord_ui_compiled_template__
    page = ArticlePageButton.__discord_ui_compiled_template__
    quotes = MoreQuotesButton.__discord_ui_compiled_template__

    class BoundFullArticle(FullArticleButton, template=full):
        pass

    class BoundArticlePage(ArticlePageButton, template=page):
        pass

    class BoundMoreQuotes(MoreQuotesButton, template=quotes):
        pass

    BoundFullArticle.pages = BoundArticlePage.pages = pages
    BoundMoreQuotes.shelf = shelf
    return BoundFullArticle, BoundArticlePage, BoundMoreQuotes


def more_quotes_label(count: int) -> str:
    return f"More quotes ({count})"


def answer_view(
    links: Sequence[ArticleLink], *, quotes_key: str | None = None, more: int = 0
) -> discord.ui.View:
    """The other sources' quotes button (when there are any), then one Full-article button
    per quoted article."""
    items: list[discord.ui.Item[Any]] = []
    if quotes_key is not None and more:
        items.append(MoreQuotesButton(quotes_key, more_quotes_label(more)))
    items += [FullArticleButton(link.article_id, link.label) for link in links]
    return static_view(*items)


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
