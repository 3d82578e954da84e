"""Answers and headlines as terminal text (rich markup); the CLI's only renderer."""

from __future__ import annotations

import itertools
from datetime import datetime

from rich.markup import escape

from index.model import Answer, Headline, Quote


def format_date(value: datetime | None) -> str:
    return f"{value.day} {value:%B %Y}" if value else "date unknown"


def quote_markup(quote: Quote) -> str:
    """The quote with its answering sentence underlined and, inside it, the answering words
    in bold between ** so they show even when piped."""
    text = quote.text
    cuts = {0, len(text)}
    sentence = (quote.sentence_start, quote.sentence_end)
    if sentence[0] is not None and sentence[1] is not None:
        cuts |= {sentence[0], sentence[1]}
    words = None
    if quote.highlight is not None and quote.highlight_start is not None:
        words = (quote.highlight_start, quote.highlight_start + len(quote.highlight))
        cuts |= set(words)
    points = sorted(cuts)
    pieces = []
    for a, b in itertools.pairwise(points):
        piece = escape(text[a:b])
        if words and words[0] <= a and b <= words[1]:
            piece = f"[bold yellow]**{piece}**[/]"
        if (
            None not in sentence
            and sentence[0] <= a
            and b <= sentence[1]
            and sentence != (0, len(text))
        ):
            piece = f"[underline]{piece}[/]"
        pieces.append(piece)
    text = "".join(pieces)
    before = "..." if quote.text_start > 0 else ""
    after = "..." if quote.text_end < len(quote.passage) else ""
    return f'"{before}{text}{after}"'


def source_line(title: str, source: str | None, published: datetime | None, url: str | None) -> str:
    parts = [p for p in (source, format_date(published) if published else None) if p]
    if url:
        parts.append(url)
    meta = f"\n  ({escape(', '.join(parts))})" if parts else ""
    return f"- [bold]{escape(title)}[/]{meta}"


def answer_markup(answer: Answer) -> str:
    if answer.abstained:
        if answer.reason == "empty_index":
            return (
                "The index is empty. Add news first: `newsbot ingest --sample` for the bundled "
                "sample, or `newsbot ingest PATH...` for your own files."
            )
        lines = ["The indexed news does not answer that."]
        if answer.closest:
            lines.append("Closest headlines:")
            lines += [headline_markup(h) for h in answer.closest]
        return "\n".join(lines)
    blocks = []
    for q in answer.quotes:
        a = q.article
        block = quote_markup(q) + "\n" + source_line(a.title, a.source, a.published, a.url)
        if q.resolved_dates:
            block += "\n  " + escape(
                "; ".join(f'"{phrase}" = {value}' for phrase, value in q.resolved_dates)
            )
        blocks.append(block)
    return "\n\n".join(blocks)


def headline_markup(h: Headline) -> str:
    tail = f" {escape(h.url)}" if h.url else ""
    return f"- {escape(h.title)} [dim]({escape(h.source or 'unknown outlet')}, {format_date(h.published)})[/]{tail}"
