"""Engine results as Discord embeds, always within Discord's limits (see ``text``).

Pure functions of their inputs (``now`` is passed in), so they can be property-tested with
hostile text without a client. Buttons are described here (``ArticleLink``) and built in
``views``; sending is the caller's job.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import discord

from bot.discord.text import (
    BUTTON_LABEL,
    ELLIPSIS,
    EMBED_DESCRIPTION,
    EMBED_TITLE,
    EMBED_TOTAL,
    EMBEDS_PER_MESSAGE,
    FIELD_NAME,
    FIELD_VALUE,
    embed_total,
    escape,
    fit,
    fit_escaped,
    link_text,
    safe_url,
    split_escaped,
    squash,
)
from bot.terminal import format_date
from index.engine import IndexStats
from index.model import Answer, Headline, Quote, RetrievedPassage, StoredArticle

ANSWER_COLOUR = discord.Colour(0x2B8A3E)
ABSTAIN_COLOUR = discord.Colour(0x868E96)
BROWSE_COLOUR = discord.Colour(0x1971C2)

HEADLINES_PER_PAGE = 10
ARTICLE_PAGE_CHARS = 3800  # of escaped body text per page; leaves room for title and footer
FOOTER_CHARS = 200
LEAD_QUOTE_CHARS = 1500  # the first quote with its context: readable at a glance
OTHER_SOURCES = "Other sources"
OTHER_SOURCES_SHOWN = 10
AGREES = "✓ agrees"
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"\w+")
_URL = re.compile(discord.utils._URL_REGEX)  # what escape_markdown leaves alone as a link
NOT_ANSWERED = "The indexed news does not answer that."
EMPTY_INDEX = (
    "The news index is empty, so there is nothing to quote yet. "
    "Whoever runs this bot can add news with `newsbot ingest`."
)


@dataclass(frozen=True)
class ArticleLink:
    """A "Full article" button to attach: the article and the button's label."""

    article_id: str
    label: str


@dataclass(frozen=True)
class Reply:
    """One message to send: optional content, embeds and Full-article buttons."""

    embeds: list[discord.Embed]
    content: str | None = None
    articles: list[ArticleLink] = field(default_factory=list)
    # The quotes after the first, for a button that shows them (never sent with the reply).
    more_quotes: list[discord.Embed] = field(default_factory=list)


# -- small pieces ----------------------------------------------------------------------------


def outlet_and_date(source: str | None, published: datetime | None) -> str:
    return f"{squash(source or '') or 'Unknown outlet'} · {format_date(published)}"


def footer_text(*parts: str) -> str:
    """Footers are plain text (no markdown), so they are only cut, not escaped."""
    return fit(" · ".join(squash(p) for p in parts if squash(p)), FOOTER_CHARS)


def is_recent(published: datetime | None, now: datetime, recent_days: int) -> bool:
    return published is not None and now - published <= timedelta(days=recent_days)


def headline_link(title: str, url: str | None, limit: int) -> str:
    """The headline within ``limit``: a masked link when the URL is usable and leaves the
    title its fair share of the room, else the plain escaped title.

    A URL cannot be cut (half a link is a broken link), so a long one (Google News links run
    to 500 characters) is dropped rather than allowed to push the line, and ten such lines
    the embed, past Discord's limits. The title keeps at least half of ``limit``, or all of
    itself when it needs less.
    """
    href = safe_url(url)
    text = squash(title)
    if href is not None:
        budget = limit - len(href) - len("[]()")
        if budget >= min(len(link_text(text)), limit // 2):
            return f"[{fit_escaped(text, budget, transform=link_text)}]({href})"
    return fit_escaped(text, limit)


def headline_line(h: Headline, number: int | None = None, limit: int = 400) -> str:
    """ "**3.** [Headline](url) — Outlet, 2 June 2023", within ``limit``."""
    meta = fit_escaped(
        f"{squash(h.source or '') or 'Unknown outlet'}, {format_date(h.published)}", 120
    )
    prefix = f"**{number}.** " if number is not None else "• "
    room = max(8, limit - len(prefix) - len(meta) - 3)
    return f"{prefix}{headline_link(h.title, h.url, room)} — {meta}"


# -- answers ---------------------------------------------------------------------------------


def quote_block(quote: Quote, limit: int) -> str:
    """The quote as a block quote with the answering words in bold, escaped, within ``limit``.

    When it is too long, the text after the highlight is cut first, then the text before it,
    then the highlight itself, so the answering words stay visible as long as possible.
    Whitespace runs become single spaces (the block quote is one line); nothing else changes.
    """
    text = quote.text
    start = end = len(text)
    if quote.highlight and quote.highlight_start is not None:
        start = max(0, min(len(text), quote.highlight_start))
        end = max(start, min(len(text), start + len(quote.highlight)))
        # A bold marker inside a URL would become part of the link: bold whole URLs or none.
        for url in _URL.finditer(text):
            if url.start() < start < url.end():
                start = url.start()
            if url.start() < end < url.end():
                end = url.end()
        # Bold markers must hug non-space characters or Discord shows them literally.
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
    before = _SPACES.sub(" ", text[:start]).lstrip()
    bold = _SPACES.sub(" ", text[start:end])
    after = _SPACES.sub(" ", text[end:]).rstrip()
    lead = ELLIPSIS if quote.text_start > 0 else ""
    trail = ELLIPSIS if quote.text_end < len(quote.passage) else ""

    def assemble(b: str, h: str, a: str, *, cut_b: bool = False, cut_a: bool = False) -> str:
        head = "" if cut_b else lead
        tail = "" if cut_a else trail
        return "> " + head + b + (f"**{h}**" if h else "") + a + tail

    e_before, e_bold, e_after = escape(before), escape(bold), escape(after)
    underlined = _with_sentence_underlined(quote, start, end, lead, trail)
    if underlined is not None and len(underlined) <= limit:
        return underlined
    out = assemble(e_before, e_bold, e_after)
    if len(out) <= limit:
        return out
    fixed = len(assemble("", e_bold, ""))
    room_after = limit - fixed - len(e_before)
    if room_after >= 8:
        a = fit_escaped(after, room_after)
        return assemble(e_before, e_bold, a, cut_a=a != e_after)
    room = limit - fixed
    if room >= 16:
        b = fit_escaped(before, room // 2, tail=True)
        a = fit_escaped(after, room - len(b))
        return assemble(b, e_bold, a, cut_b=b != e_before, cut_a=a != e_after)
    squeezed = fit_escaped(bold, max(1, limit - len("> ") - 4))
    return assemble("", squeezed, "", cut_b=True, cut_a=True)


def _with_sentence_underlined(
    quote: Quote, start: int, end: int, lead: str, trail: str
) -> str | None:
    """The block with the answering sentence underlined among its context sentences (and
    the answering words, ``start:end``, bold inside it); None when there is no context, or
    the words lie outside the sentence. Used only uncut: a cut could split a marker pair."""
    text = quote.text
    s, e = quote.sentence_start, quote.sentence_end
    if s is None or e is None or (s, e) == (0, len(text)):
        return None
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    if start == end == len(text):  # no answering words
        start = end = e
    if s == e or not (s <= start <= end <= e):
        return None

    def clean(piece: str) -> str:
        return escape(_SPACES.sub(" ", piece))

    words = f"**{clean(text[start:end])}**" if end > start else ""
    inner = clean(text[s:start]) + words + clean(text[end:e])
    return (
        "> " + lead + clean(text[:s]).lstrip() + f"__{inner}__" + clean(text[e:]).rstrip() + trail
    )


def _dates_line(quote: Quote) -> str:
    shown = [f"“{phrase}” = {value}" for phrase, value in quote.resolved_dates]
    return "📅 " + escape("; ".join(shown)) if shown else ""


def quote_embed(quote: Quote, *, now: datetime, recent_days: int, budget: int) -> discord.Embed:
    """One quote: headline (linked) as the title, the quote, resolved dates, and "reported on"
    when the article is older than ``recent_days``; outlet and date in the footer."""
    a = quote.article
    embed = discord.Embed(
        title=fit_escaped(squash(a.title), EMBED_TITLE) or "Untitled",
        url=safe_url(a.url),
        colour=ANSWER_COLOUR,
    )
    notes = []
    dates = _dates_line(quote)
    if dates:
        notes.append(fit(dates, 300))
    if a.published is None:
        notes.append("*Publication date unknown.*")
    elif not is_recent(a.published, now, recent_days):
        notes.append(f"*Reported on {format_date(a.published)}.*")
    tail = "\n\n" + "\n".join(notes) if notes else ""
    room = max(40, min(EMBED_DESCRIPTION, budget) - len(tail))
    embed.description = quote_block(quote, room) + tail
    embed.set_footer(
        text=footer_text(squash(a.source or "") or "Unknown outlet", format_date(a.published))
    )
    return embed


def abstention_embed(answer: Answer) -> discord.Embed:
    if answer.reason == "empty_index":
        return discord.Embed(description=EMPTY_INDEX, colour=ABSTAIN_COLOUR)
    lines = [NOT_ANSWERED]
    if answer.closest:
        lines += ["", "**Closest headlines:**"]
        lines += [headline_line(h, limit=500) for h in answer.closest[:5]]
    return discord.Embed(description="\n".join(lines), colour=ABSTAIN_COLOUR)


def _button_label(title: str, index: int, count: int) -> str:
    if count == 1:
        return "Full article"
    return fit(f"Full article {index}: {squash(title)}", BUTTON_LABEL)


def render_answer(answer: Answer, *, now: datetime, recent_days: int) -> Reply:
    """The answer as one message that reads at a glance: the first quote's embed (the
    answering sentence in its context, the answer in bold, headline, outlet and date) with
    the other sources (articles) one line each below it; every further quote (the other
    sources', and a runner-up sentence of the lead's own report) rides along in
    ``more_quotes`` for the button that shows them, and a Full-article button per quoted
    article."""
    if answer.abstained or not answer.quotes:
        return Reply([abstention_embed(answer)])
    lead, *rest = answer.quotes
    embed = quote_embed(lead, now=now, recent_days=recent_days, budget=LEAD_QUOTE_CHARS)
    lines = other_source_lines(lead, rest)
    if lines:
        embed.add_field(name=OTHER_SOURCES, value="\n".join(lines), inline=False)
    articles: dict[str, StoredArticle] = {}
    for q in answer.quotes:
        articles.setdefault(q.article.id, q.article)
    links = [
        ArticleLink(a.id, _button_label(a.title, i, len(articles)))
        for i, a in enumerate(articles.values(), start=1)
    ]
    return Reply(
        [embed],
        articles=links[:5],
        more_quotes=quote_embeds(rest, now=now, recent_days=recent_days),
    )


def quote_embeds(
    quotes: Sequence[Quote], *, now: datetime, recent_days: int
) -> list[discord.Embed]:
    """One embed per quote, as many as one message holds, sharing its 6,000 characters."""
    quotes = quotes[:EMBEDS_PER_MESSAGE]
    if not quotes:
        return []
    overhead = EMBED_TITLE + FOOTER_CHARS
    budget = max(200, (EMBED_TOTAL - 100) // len(quotes) - overhead)
    embeds = [quote_embed(q, now=now, recent_days=recent_days, budget=budget) for q in quotes]
    return clamp_total(embeds)


def answer_words(text: str) -> str:
    """Text reduced to its words (case, spacing and punctuation aside), space-separated."""
    return " ".join(_WORD.findall(text.casefold()))


def agrees(lead: Quote, other: Quote) -> bool:
    """Whether ``other`` states the lead quote's answering words. Without answering words
    there is nothing to agree on, so nothing is marked."""
    words = answer_words(lead.highlight or "")
    return bool(words) and f" {words} " in f" {answer_words(other.text)} "


def other_source_lines(lead: Quote, rest: Sequence[Quote]) -> list[str]:
    """One line per other article quoted (its first quote stands for it), in the answer's
    order: outlet, date, headline link, and the agreement marker when any of its quotes
    states the lead's answering words. The lead's own article is not another source."""
    by_article: dict[str, list[Quote]] = {}
    for q in rest:
        if q.article.id != lead.article.id:
            by_article.setdefault(q.article.id, []).append(q)
    sources = list(by_article.values())[:OTHER_SOURCES_SHOWN]
    if not sources:
        return []
    limit = min(300, FIELD_VALUE // len(sources) - 1)
    return [
        source_line(qs[0], agreed=any(agrees(lead, q) for q in qs), limit=limit) for qs in sources
    ]


def source_line(quote: Quote, *, agreed: bool, limit: int) -> str:
    """ "• Outlet, 2 June 2023 — [Headline](url) · ✓ agrees", within ``limit``."""
    a = quote.article
    meta = fit_escaped(
        f"{squash(a.source or '') or 'Unknown outlet'}, {format_date(a.published)}", 100
    )
    mark = f" · {AGREES}" if agreed else ""
    room = max(8, limit - len("• ") - len(meta) - len(" — ") - len(mark))
    return f"• {meta} — {headline_link(a.title, a.url, room)}{mark}"


def clamp_total(embeds: list[discord.Embed]) -> list[discord.Embed]:
    """Drop trailing embeds until the message is within the 6,000-character total (a safety
    net: the budgets above keep it there already)."""
    embeds = embeds[:EMBEDS_PER_MESSAGE]
    while len(embeds) > 1 and embed_total(embeds) > EMBED_TOTAL:
        embeds.pop()
    return embeds


# -- browsing --------------------------------------------------------------------------------


def headline_pages(
    headlines: Sequence[Headline], *, title: str, per_page: int = HEADLINES_PER_PAGE
) -> list[discord.Embed]:
    """Numbered, linked headlines with outlet and date, ``per_page`` to an embed."""
    if not headlines:
        return []
    chunks = [headlines[i : i + per_page] for i in range(0, len(headlines), per_page)]
    pages = []
    line_budget = min(400, (EMBED_DESCRIPTION - 50) // per_page)
    for n, chunk in enumerate(chunks, start=1):
        first = (n - 1) * per_page + 1
        lines = [headline_line(h, first + i, line_budget) for i, h in enumerate(chunk)]
        embed = discord.Embed(
            title=fit(title, EMBED_TITLE), description="\n".join(lines), colour=BROWSE_COLOUR
        )
        embed.set_footer(text=f"Page {n}/{len(chunks)} · {len(headlines)} headlines")
        pages.append(embed)
    return pages


def headlines_title(source: str | None, topic: str | None) -> str:
    """ "Headlines from <outlet> about <topic>", within the title limit. Both were typed by a
    member (the outlet may also be a publisher's name), and embed titles render markdown, so
    both are escaped."""
    title = "Headlines"
    if source:
        title += f" from {fit_escaped(squash(source), 100)}"
    if topic:
        title += f" about {fit_escaped(squash(topic), 100)}"
    return title


def best_snippet(passage_text: str, query: str, limit: int) -> str:
    """The sentence of the passage sharing most words with the query, cut to ``limit``."""
    words = {w for w in query.casefold().split() if len(w) > 2}
    sentences = [s for s in _sentences(passage_text) if s.strip()] or [passage_text]
    best = max(sentences, key=lambda s: len(words & set(s.casefold().split())))
    return fit_escaped(squash(best), limit)


def _sentences(text: str) -> list[str]:
    out, start = [], 0
    for i, ch in enumerate(text):
        if ch in ".!?" and (i + 1 == len(text) or text[i + 1].isspace()):
            out.append(text[start : i + 1])
            start = i + 1
    out.append(text[start:])
    return out


def search_embed(query: str, results: Sequence[RetrievedPassage]) -> discord.Embed:
    # Embed titles render markdown too: the member's query is escaped like article text.
    title = "Search: " + fit_escaped(squash(query), EMBED_TITLE - len("Search: "))
    embed = discord.Embed(title=title, colour=BROWSE_COLOUR)
    if not results:
        embed.description = "No indexed article matches that."
        return embed
    results = results[:10]
    per_field = (EMBED_TOTAL - len(title) - 200) // len(results)
    name_budget = min(FIELD_NAME, per_field // 3)
    for rp in results:
        a = rp.article
        name = fit_escaped(squash(a.title), name_budget) or "Untitled"
        meta = outlet_and_date(a.source, a.published)
        href = safe_url(a.url)
        head = fit_escaped(meta, 150)
        if href and len(href) < per_field // 3:
            head = f"[{fit_escaped(meta, 150, transform=link_text)}]({href})"
        room = min(FIELD_VALUE, per_field - len(name)) - len(head) - 3
        snippet = best_snippet(rp.passage.text, query, max(20, room))
        embed.add_field(name=name, value=f"{head}\n> {snippet}", inline=False)
    while len(embed.fields) > 1 and len(embed) > EMBED_TOTAL:
        embed.remove_field(-1)
    embed.set_footer(text=f"{len(results)} article{'s' if len(results) != 1 else ''}")
    return embed


def article_pages(article: StoredArticle) -> list[discord.Embed]:
    """The full text, escaped, split at paragraph (else sentence, else word) boundaries into
    pages of at most ``ARTICLE_PAGE_CHARS``."""
    chunks = split_text(article.body, ARTICLE_PAGE_CHARS)
    title = fit_escaped(squash(article.title), EMBED_TITLE) or "Untitled"
    pages = []
    for n, chunk in enumerate(chunks, start=1):
        embed = discord.Embed(
            title=title, url=safe_url(article.url), description=chunk, colour=BROWSE_COLOUR
        )
        meta = outlet_and_date(article.source, article.published)
        embed.set_footer(text=footer_text(meta, f"page {n}/{len(chunks)}"))
        pages.append(embed)
    return pages


def split_text(body: str, limit: int) -> list[str]:
    """Escaped chunks of ``body`` of at most ``limit`` characters: whole paragraphs where they
    fit, a long paragraph split at sentence ends (else words)."""
    pieces: list[str] = []
    for paragraph in body.replace("\r\n", "\n").split("\n"):
        pieces += split_escaped(squash(paragraph), limit)
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        candidate = f"{current}\n\n{piece}" if current else piece
        if len(candidate) <= limit:
            current = candidate
        else:
            chunks.append(current)
            current = piece
    if current:
        chunks.append(current)
    return chunks or ["*(This article has no text.)*"]


def sources_embed(sources: Sequence[tuple[str, int]]) -> discord.Embed:
    embed = discord.Embed(title="Indexed outlets", colour=BROWSE_COLOUR)
    if not sources:
        embed.description = "No outlet names yet (articles without an outlet are still indexed)."
        return embed
    lines, used = [], 0
    for i, (name, count) in enumerate(sources):
        line = f"• {fit_escaped(squash(name), 150)} — {count} article{'s' if count != 1 else ''}"
        if used + len(line) + 1 > EMBED_DESCRIPTION - 40:
            lines.append(f"…and {len(sources) - i} more")
            break
        lines.append(line)
        used += len(line) + 1
    embed.description = "\n".join(lines)
    embed.set_footer(text=f"{len(sources)} outlet{'s' if len(sources) != 1 else ''}")
    return embed


def about_embed(stats: IndexStats) -> discord.Embed:
    embed = discord.Embed(
        title="newsbot",
        description=(
            "Answers questions about the indexed news by quoting it verbatim, "
            "and says so when the news does not answer."
        ),
        colour=BROWSE_COLOUR,
    )
    embed.add_field(name="Articles", value=str(stats.articles))
    embed.add_field(name="Passages", value=str(stats.passages))
    embed.add_field(name="Outlets", value=str(stats.sources))
    newest = headline_line(stats.newest, limit=FIELD_VALUE) if stats.newest else "-"
    embed.add_field(name="Newest article", value=newest, inline=False)
    last = (
        discord.utils.format_dt(stats.last_ingest, "f")
        + f" ({discord.utils.format_dt(stats.last_ingest, 'R')})"
        if stats.last_ingest
        else "never"
    )
    embed.add_field(name="Last ingest", value=last, inline=False)
    embed.add_field(name="Version", value=escape(f"{stats.version} · model {stats.model}"))
    return embed
