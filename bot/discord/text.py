"""Discord's size limits, and the helpers that keep untrusted text inside them and inert.

Quoted news is untrusted: a quote may contain ``@everyone``, ``<@123>``, masked links or
markdown. Everything that shows article text goes through :func:`escape` (markdown and
mentions neutralised) and is cut with :func:`fit` / :func:`fit_tail`, which prefer a sentence
boundary and mark the cut with an ellipsis, so a reader never gets half a word silently.

Cutting happens on the raw text and escaping afterwards (:func:`fit_escaped`), so a cut never
splits an escape sequence (a dangling ``\\`` would escape the ellipsis or the next marker).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from urllib.parse import quote, urlsplit

import discord

# https://discord.com/developers/docs/resources/message#embed-object-embed-limits
MESSAGE_CONTENT = 2000
EMBED_TITLE = 256
EMBED_DESCRIPTION = 4096
EMBED_FIELDS = 25
FIELD_NAME = 256
FIELD_VALUE = 1024
EMBED_FOOTER = 2048
EMBED_AUTHOR = 256
EMBED_TOTAL = 6000  # all embeds of one message together
EMBEDS_PER_MESSAGE = 10
BUTTON_LABEL = 80
CHOICE_NAME = 100
CHOICE_VALUE = 100
CHOICES = 25
URL_MAX = 2048

ELLIPSIS = "…"

_SPACE = re.compile(r"\s+")
# The end of a sentence: terminal punctuation, optional closing quotes/brackets, then space.
_SENTENCE_END = re.compile(r"[.!?…][\"'’”)\]]*(?=\s)")
# @everyone/@here, and the start of anything Discord could parse as a mention (<@id>, <@!id>,
# <@&role>, <#channel>), even a partial one next to a bold marker.
_MENTION = re.compile(r"@(everyone|here)|<(?=[@#])")


def squash(text: str) -> str:
    """Whitespace runs to one space: quotes are shown inline, inside one block quote line."""
    return _SPACE.sub(" ", text).strip()


def escape(text: str) -> str:
    """Markdown and mentions made inert, for any text that came from an article or a user.

    ``escape_markdown`` handles ``*_~|`\\``, headings, lists and block quotes; masked links
    are broken here by escaping every ``](``. ``escape_markdown`` is never shown a ``](``: it
    treats a whole ``[...](...)`` span (from a line's first ``[`` to its last ``)``) as one
    link and only puts a backslash in front of it, which left every spoiler, code span or bold
    inside the span live. Mentions get a zero-width space so they show as text, not as a pill
    (they could never ping: every send disables mentions, this is about what the reader sees).
    """
    pieces = [discord.utils.escape_markdown(piece) for piece in text.split("](")]
    return _MENTION.sub(_break_mention, "]\\(".join(pieces))


def _break_mention(match: re.Match[str]) -> str:
    if match.group(1):
        return "@\u200b" + match.group(1)
    return "<\u200b"


def link_text(text: str) -> str:
    """Escaped text that can sit inside ``[...]`` of a masked link without closing it."""
    return escape(text).replace("[", "\\[").replace("]", "\\]")


def safe_url(url: str | None) -> str | None:
    """An http(s) URL Discord accepts in an embed or a masked link, or None.

    Characters that would end a masked link (``()<>`` and spaces) are percent-encoded.
    """
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if any(ord(c) < 33 for c in url):
        return None
    cleaned = quote(url, safe=":/?#@!$&'*+,;=%-._~[]")
    return cleaned if len(cleaned) <= 512 else None


def cut_point(text: str, room: int, *, space_floor: int | None = None) -> int:
    """Where to cut ``text`` to keep at most ``room`` characters: after the last sentence end
    in the second half of the room, else at the last space at or past ``space_floor``
    (default: half the room), else hard at ``room``."""
    if len(text) <= room:
        return len(text)
    floor = room // 2
    best = None
    for m in _SENTENCE_END.finditer(text, 0, room + 1):
        if m.end() >= floor:
            best = m.end()
    if best is not None and best > 0:
        return best
    space_floor = floor if space_floor is None else space_floor
    space = text.rfind(" ", 0, room + 1)
    return space if space >= space_floor and space > 0 else max(0, room)


def start_point(text: str, room: int) -> int:
    """Mirror of :func:`cut_point`: where to start to keep at most ``room`` characters of the
    end of ``text``, preferring the start of a sentence, then of a word."""
    if len(text) <= room:
        return 0
    start = len(text) - room
    ceiling = start + room // 2
    for m in _SENTENCE_END.finditer(text, max(0, start - 2), ceiling):
        begin = m.end() + 1  # skip the space after the sentence end
        if start <= begin <= ceiling:
            return begin
    space = text.find(" ", start, ceiling)
    return space + 1 if space != -1 else start


def fit(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters at a sentence end (else a word boundary, else
    hard), the cut marked with an ellipsis."""
    if len(text) <= limit:
        return text
    if limit <= len(ELLIPSIS) + 1:
        return ELLIPSIS[:limit]
    return text[: cut_point(text, limit - 2)].rstrip() + " " + ELLIPSIS


def fit_tail(text: str, limit: int) -> str:
    """Like :func:`fit` but keeps the end of ``text`` (the part next to what follows it)."""
    if len(text) <= limit:
        return text
    if limit <= len(ELLIPSIS) + 1:
        return ELLIPSIS[:limit]
    return ELLIPSIS + " " + text[start_point(text, limit - 2) :].lstrip()


def split_escaped(text: str, limit: int) -> list[str]:
    """``text`` in consecutive escaped pieces of at most ``limit`` characters each, cut at
    sentence ends or word boundaries (no ellipsis: the pieces continue each other)."""
    pieces: list[str] = []
    rest = text.strip()
    while rest:
        budget = limit
        while True:
            # Pages need not be full: any sentence end or space beats splitting a word.
            k = max(1, cut_point(rest, budget, space_floor=1))
            piece = escape(rest[:k].rstrip())
            if len(piece) <= limit or budget <= 1:
                break
            budget -= max(1, len(piece) - limit)
        pieces.append(piece[:limit])
        rest = rest[k:].lstrip()
    return pieces


def fit_escaped(
    text: str,
    limit: int,
    *,
    tail: bool = False,
    transform: Callable[[str], str] = escape,
) -> str:
    """``transform(cut(text))`` no longer than ``limit``: cut the raw text, then escape it,
    shrinking the raw budget by however much escaping grew it."""
    cut = fit_tail if tail else fit
    budget = limit
    while True:
        out = transform(cut(text, budget))
        if len(out) <= limit or budget <= 0:
            return out[:limit] if len(out) > limit else out
        budget -= max(1, len(out) - limit)


def embed_total(embeds: Iterable[discord.Embed]) -> int:
    """The characters Discord counts against the 6,000 of a message (titles, descriptions,
    field names and values, footers, author names)."""
    return sum(len(e) for e in embeds)


def limit_violations(content: str | None, embeds: Iterable[discord.Embed]) -> list[str]:
    """Every way one message would break Discord's limits (empty when it fits)."""
    problems: list[str] = []
    embeds = list(embeds)
    if content is not None and len(content) > MESSAGE_CONTENT:
        problems.append(f"content {len(content)} > {MESSAGE_CONTENT}")
    if len(embeds) > EMBEDS_PER_MESSAGE:
        problems.append(f"{len(embeds)} embeds > {EMBEDS_PER_MESSAGE}")
    for i, e in enumerate(embeds):
        checks = [
            ("title", len(e.title or ""), EMBED_TITLE),
            ("description", len(e.description or ""), EMBED_DESCRIPTION),
            ("fields", len(e.fields), EMBED_FIELDS),
            ("footer", len(e.footer.text or ""), EMBED_FOOTER),
            ("author", len(e.author.name or ""), EMBED_AUTHOR),
            ("url", len(e.url or ""), URL_MAX),
        ]
        for f in e.fields:
            checks.append(("field name", len(f.name or ""), FIELD_NAME))
            checks.append(("field value", len(f.value or ""), FIELD_VALUE))
        problems += [f"embed {i} {what} {n} > {most}" for what, n, most in checks if n > most]
    total = embed_total(embeds)
    if total > EMBED_TOTAL:
        problems.append(f"embeds total {total} > {EMBED_TOTAL}")
    return problems
