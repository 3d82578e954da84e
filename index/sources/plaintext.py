"""Plain ``.txt``/``.md`` articles: the first non-empty line is the title, the rest the body."""

from __future__ import annotations

from index.model import Article, SkippedItem
from index.sources.common import one_line

# A first "line" longer than this is a paragraph, not a title: it stays in the body.
_MAX_TITLE_CHARS = 300


def read_plaintext(
    text: str, origin: str, *, markdown: bool = False, source: str | None = None
) -> Article | SkippedItem:
    """One article; ``text`` is already decoded with newlines normalised to ``\\n``."""
    stripped = text.strip()
    first, _, rest = stripped.partition("\n")
    title = first.strip()
    if markdown:
        title = title.lstrip("#").strip()
    body = rest.strip()
    if len(title) > _MAX_TITLE_CHARS:
        title, body = one_line(title, 120), stripped
    if not title:
        return SkippedItem(origin, "no title line")
    if not body:
        return SkippedItem(origin, "no body text after the title line")
    return Article(title=title, body=body, origin=origin, published=None, source=source)
