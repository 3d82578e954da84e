"""Sentences and sentence-aligned passages as character spans of the stored body.

Spans, not copies: a quote is ``body[start:end]``, so it is verbatim by construction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from index.model import Span

_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "mt",
        "gen",
        "gov",
        "sen",
        "rep",
        "col",
        "lt",
        "sgt",
        "capt",
        "cmdr",
        "adm",
        "rev",
        "hon",
        "pres",
        "inc",
        "corp",
        "co",
        "ltd",
        "llc",
        "plc",
        "bros",
        "no",
        "nos",
        "vs",
        "etc",
        "fig",
        "approx",
        "dept",
        "est",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
        "sat",
        "sun",
        "a.m",
        "p.m",
        "e.g",
        "i.e",
        "u.s",
        "u.k",
        "u.n",
        "e.u",
    ]
)
# Abbreviations only when a number follows ("No. 5", "Nos. 3 and 4"); otherwise plain words.
_NUMBER_ABBREVIATIONS = frozenset(["no", "nos"])
# End of a sentence: terminal punctuation plus closing quotes/brackets, then white space.
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s+[\"'“‘(\[]?[^\W_a-z])|\n\s*\n|\n(?=\s*\S)")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True, slots=True)
class PassageSpan:
    start: int
    end: int
    sentences: tuple[Span, ...]  # absolute offsets into the body


def _is_abbreviation(body: str, end: int) -> bool:
    """True when the period ending at ``end`` belongs to an abbreviation or an initial."""
    if body[end - 1] != ".":
        return False
    start = end - 1
    while start > 0 and not body[start - 1].isspace():
        start -= 1
    word = body[start : end - 1].lstrip("\"'“‘(").casefold()
    if word in _NUMBER_ABBREVIATIONS:
        # "No. 5" abbreviates "number"; "The answer was no. The minister..." ends a sentence.
        rest = body[end:].lstrip()
        return rest[:1].isdigit()
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def split_sentences(body: str) -> list[Span]:
    """Sentence spans with surrounding white space trimmed; empty text yields nothing."""
    spans: list[Span] = []
    start = 0
    for match in _BOUNDARY.finditer(body):
        end = match.end()
        if match.group()[0] == "." and _is_abbreviation(body, match.start() + 1):
            continue
        _append_trimmed(body, start, end, spans)
        start = end
    _append_trimmed(body, start, len(body), spans)
    return spans


def _append_trimmed(body: str, start: int, end: int, spans: list[Span]) -> None:
    while start < end and body[start].isspace():
        start += 1
    while end > start and body[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append(Span(start, end))


def _word_count(body: str, span: Span) -> int:
    return len(_WORD.findall(body, span.start, span.end))


def _split_long(body: str, span: Span, max_words: int) -> list[Span]:
    """A run-on "sentence" (tables, lists) cut at word boundaries into pieces of max_words."""
    words = list(_WORD.finditer(body, span.start, span.end))
    return [
        Span(words[i].start(), words[min(i + max_words, len(words)) - 1].end())
        for i in range(0, len(words), max_words)
    ]


def pack_passages(body: str, max_words: int) -> list[PassageSpan]:
    """Consecutive whole sentences packed into passages of at most ``max_words`` words."""
    pieces: list[Span] = []
    for sentence in split_sentences(body):
        n = _word_count(body, sentence)
        pieces += [sentence] if n <= max_words else _split_long(body, sentence, max_words)
    return pack_spans(body, pieces, max_words)


def pack_spans(body: str, spans: Sequence[Span], max_words: int) -> list[PassageSpan]:
    """Consecutive spans grouped greedily into runs of at most ``max_words`` words (a span
    longer than that stands alone)."""
    groups: list[PassageSpan] = []
    current: list[Span] = []
    words = 0
    for span in spans:
        n = _word_count(body, span)
        if current and words + n > max_words:
            groups.append(PassageSpan(current[0].start, current[-1].end, tuple(current)))
            current, words = [], 0
        current.append(span)
        words += n
    if current:
        groups.append(PassageSpan(current[0].start, current[-1].end, tuple(current)))
    return groups
