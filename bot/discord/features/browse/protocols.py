"""What the browse feature needs of the index (``bot.discord.services.EngineBrowse``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import discord

from index.model import Headline, RetrievedPassage


class Browse(Protocol):
    async def headlines(
        self, *, limit: int, source: str | None = None, topic: str | None = None
    ) -> list[Headline]: ...

    async def search(self, query: str, *, limit: int) -> Sequence[RetrievedPassage]: ...

    async def sources(self) -> list[tuple[str, int]]: ...

    async def cached_sources(self) -> list[tuple[str, int]]:
        """The outlets, possibly a minute old (for autocomplete)."""
        ...

    async def article_pages(self, article_id: str) -> list[discord.Embed]:
        """The article's rendered pages; ``errors.ArticleNotFound`` when it is gone."""
        ...

    async def resolve_article(self, value: str) -> str | None:
        """The article id ``value`` is, or names by headline words; None when none."""
        ...
