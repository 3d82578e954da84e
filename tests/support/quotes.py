"""A hand-made quote with context sentences, for renderer tests."""

from __future__ import annotations

from datetime import UTC, datetime

from index.model import Quote, StoredArticle


def context_quote(text: str, sentence: str, words: str) -> Quote:
    """``text`` as a whole passage quoted, its answering sentence ``sentence`` and, inside
    it, the answering ``words``."""
    day = datetime(2023, 5, 10, tzinfo=UTC)
    article = StoredArticle("a1", "Title", "", day, "Outlet", None, "test", day)
    s = text.index(sentence)
    return Quote(
        text,
        text,
        0,
        len(text),
        words,
        text.index(words, s),
        article,
        1.0,
        sentence_start=s,
        sentence_end=s + len(sentence),
    )
