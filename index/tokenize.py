"""Tokens for BM25, shaped for news text.

News names things with digits and hyphens ("F-35", "Shangri-La", "2023", "$1,000"): those
stay whole tokens, and a hyphenated name also yields its parts so "Shangri La" still matches.
Everything is case-folded and NFKC-normalized; English stop words are dropped.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

import Stemmer

STOP_WORDS: frozenset[str] = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "also",
        "would",
        "could",
        "may",
        "might",
        "must",
        "shall",
        "s",
        "t",
        "d",
        "ll",
        "m",
        "o",
        "re",
        "ve",
        "y",
        "said",
        "says",
        "according",
    ]
)

# A word: letters/digits joined by hyphens, apostrophes, periods or commas inside it.
_WORD = re.compile(r"[^\W_]+(?:[-'’.,][^\W_]+)*")
_POSSESSIVE = re.compile(r"['’]s$")
_NUMBER = re.compile(r"^\d[\d,.]*$")
# "May" the month, which a date or a preposition of time gives away: "in May", "May 5",
# "early May", "5 May", "May 2024". Elsewhere "may" is the verb, a stop word.
_MONTH_MAY = re.compile(
    r"(?:\b(?:in|of|early|late|mid|since|until|by|through|from|last|next|this|during)\s+"
    r"|\d(?:st|nd|rd|th)?\s+|\bmid-)(?P<after>may)\b(?!-)"
    r"|\b(?P<before>may)(?=,?\s+\d)"
)


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


class NewsTokenizer:
    """Turns text into BM25 tokens; the same instance serves documents and queries."""

    def __init__(self, *, stem: bool = True) -> None:
        self.stem = stem
        # Word -> its tokens. News vocabulary repeats, and a question's quoting step
        # tokenizes every sentence of ~15 passages: the cache saves ~3 ms a question.
        self._cache: dict[str, tuple[str, ...]] = {}

    def _stem(self, word: str) -> str:
        return _stemmer().stemWord(word) if self.stem else word

    def tokens(self, text: str) -> list[str]:
        out: list[str] = []
        cache = self._cache
        folded = unicodedata.normalize("NFKC", text).casefold()
        months = (
            {
                m.start("after") if m["after"] else m.start("before")
                for m in _MONTH_MAY.finditer(folded)
            }
            if "may" in folded
            else ()
        )
        for match in _WORD.finditer(folded):
            word = match.group()
            if months and match.start() in months:
                out.append("may")  # the month: a stop word only as the verb
                continue
            tokens = cache.get(word)
            if tokens is None:
                tokens = tuple(self._word_tokens(word))
                if len(cache) < 500_000:
                    cache[word] = tokens
            out += tokens
        return out

    def _word_tokens(self, word: str) -> Iterable[str]:
        word = _POSSESSIVE.sub("", word).replace("’", "'")
        if _NUMBER.match(word):
            # "1,000" and "1000" are the same number; a trailing period is punctuation.
            yield word.replace(",", "").rstrip(".")
            return
        word = word.strip(".,'")
        if "-" in word:
            parts = [p for p in re.split(r"[-.,']", word) if p]
            yield word  # the whole hyphenated name, unstemmed: "shangri-la", "f-35"
            for part in parts:
                if len(part) > 1 and part not in STOP_WORDS:
                    yield part if part.isdigit() else self._stem(part)
            return
        if "." in word and word.replace(".", "").isalpha():
            yield word.replace(".", "")  # an acronym, never a stop word: "u.s." -> "us"
            return
        if not word or word in STOP_WORDS:
            return
        if "," in word or "'" in word:
            for part in re.split(r"[,']", word):
                if len(part) > 1 and part not in STOP_WORDS:
                    yield self._stem(part)
            return
        yield self._stem(word) if word.isalpha() else word
