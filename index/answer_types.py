"""Answer types: the words of a sentence that are the kind of thing a question asks for.

A date for "when", a number or amount for "how many / how much", a name for "who" and "which
company", a place for "where", a reason for "why". Patterns over the sentence's own text, so a
highlight is always a verbatim slice of it.
"""

from __future__ import annotations

import re

from index.model import Span
from index.question import QuestionKind
from index.timeref import WEEKDAYS

_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December"
    "|Jan\\.?|Feb\\.?|Mar\\.?|Apr\\.?|Jun\\.?|Jul\\.?|Aug\\.?|Sept?\\.?|Oct\\.?|Nov\\.?|Dec\\.?"
)
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_YEAR = r"(?:,?\s+\d{4})?"
# Most specific first: a range, a full date, a month and day, a weekday, a month or a year.
_DATE_PATTERNS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        rf"\bfrom\s+(?:{_MONTHS})\s+{_DAY}\s*(?:to|-|–|until|through)\s*(?:(?:{_MONTHS})\s+)?{_DAY}{_YEAR}",
        rf"\bfrom\s+{_DAY}\s*(?:to|-|–|until)\s*{_DAY}\s+(?:{_MONTHS}){_YEAR}",
        rf"\b(?:{_MONTHS})\s+{_DAY}\s*(?:-|–|to)\s*{_DAY}{_YEAR}",
        rf"\b(?:(?:{'|'.join(WEEKDAYS)}),?\s+)?(?:{_MONTHS})\s+{_DAY}{_YEAR}\b",
        rf"\b{_DAY}\s+(?:{_MONTHS}){_YEAR}\b",
        r"\b(?:(?:last|next|this|on)\s+)?(?:" + "|".join(WEEKDAYS) + r")\b",
        r"\b(?:yesterday|today|tomorrow|tonight|(?:last|next|this)\s+(?:week|month|year))\b",
        rf"\b(?:early|mid|late|in|by|since|until)[\s-]+(?:{_MONTHS})(?:\s+\d{{4}})?\b",
        r"\b(?:in|since|by|until)\s+(?:19|20)\d{2}\b",
    )
]
# A number and what it counts ("32 points", "$9.3 billion", "17.9%", "two goals"); not a
# number inside a word ("GLP-1"), nor a number word before a function word ("two or more").
_FUNCTION = (
    "(?:or|and|of|the|to|in|on|at|by|for|from|with|as|a|an|more|less|than|who|that|which|"
    "this|is|was|were|are|since|after|before)"
)
_NUMBER = re.compile(
    r"(?:[$€£¥]\s?)?(?<![\w.-])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+|[½¼¾])?"
    rf"(?:\s?(?:%|percent|per cent|million|billion|trillion|thousand|hundred|(?!{_FUNCTION}\b)[a-zA-Z]+))?"
    r"|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens?|hundreds|"
    r"thousands|millions)(?:\s+(?!(?:or|and|to|more|less|than|a|an|of)\b)[a-zA-Z]+|(?=\s+of\b))",
    re.IGNORECASE,
)
# The day of a date ("September 23"): not a count.
_DAY_OF_MONTH = re.compile(rf"\b(?:{_MONTHS})\s*$", re.IGNORECASE)
# A year alone ("in 2023", "2024 season") is a date, not a count or an amount.
_YEAR_ONLY = re.compile(r"(?:19|20)\d{2}(?:\s+[a-zA-Z]+)?")
_NAME = re.compile(
    r"\b[A-Z][\w’'.-]*"
    r"(?:\s+(?:(?:de|der|den|van|von|bin|ibn|al|da|di|du|dos|del|la|le|of|the)\s+)*[A-Z][\w’'.-]*)*"
)
_PLACE_NAME = r"(?:the\s+)?[A-Z][\w’'.-]*(?:\s+[A-Z][\w’'.-]*)*"
# "in Austin, Houston and Phoenix", "at Wembley", "an Atlanta-based startup"
_PLACE = re.compile(
    rf"\b(?:in|at|near|to)\s+({_PLACE_NAME}(?:,\s+{_PLACE_NAME})*(?:,?\s+and\s+{_PLACE_NAME})?)"
    r"|\b([A-Z][\w’'.]*(?:\s+[A-Z][\w’'.]*)*)-based\b"
)
_NOT_NAMES = frozenset(
    [m.lower() for m in _MONTHS.replace("\\.?", "").split("|")]
    + list(WEEKDAYS)
    + [
        "the",
        "a",
        "an",
        "and",
        "but",
        "he",
        "she",
        "it",
        "they",
        "we",
        "i",
        "this",
        "that",
        "in",
        "on",
        "at",
        "for",
        # picture credits
        "photo",
        "credit",
        "getty",
        "images",
    ]
)


# Questions after an entity that several articles describe ("which company ...", "who ...").
_REASON = re.compile(
    r"\b(?:because(?:\s+of)?|due\s+to|owing\s+to|as\s+a\s+result\s+of|in\s+order\s+to|"
    r"so\s+that|amid|citing|after|following|since|to\s+(?:avoid|protect|help|prevent|reduce|"
    r"boost|cut|save|focus|comply|address))\b[^.;:!?]{3,120}",
    re.IGNORECASE,
)
# "which company ...", "what team ...": a name is asked for; "what did ...", "what is ..." not.
_ASKS_NAME = re.compile(
    r"^\W*(?:and\s+)?(?:which|what)\s+(?!is\b|are\b|was\b|were\b|did\b|does\b|do\b|has\b|"
    r"have\b|had\b|happened\b|happens\b|about\b|s\b|will\b|would\b|can\b|could\b|should\b|"
    r"time\b|date\b|day\b|year\b|month\b|kind\b|type\b|sort\b)[a-z]+",
    re.IGNORECASE,
)


def asks_for_name(question: str) -> bool:
    return bool(_ASKS_NAME.match(question.replace("’", "'")))


# "what did she say", "what does the sign read", "what did he call it": words are asked for.
_ASKS_WORDS = re.compile(
    r"^\W*(?:and\s+)?what\b.*\b(?:say|said|says|read|reads|call|called|calls|write|wrote|"
    r"tweet|tweeted|post|posted|tell|told)\b",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"[“\"]([^”\"]{2,200})[”\"]")


def has_answer_type(kind: QuestionKind, question: str) -> bool:
    """Whether a question of this kind asks for something a pattern can find."""
    return kind in ("when", "where", "who", "how_many", "how_much", "why") or (
        kind == "what" and (asks_for_name(question) or bool(_ASKS_WORDS.match(question)))
    )


def find_answer_words(sentence: str, kind: QuestionKind, question: str) -> Span | None:
    """The words of ``sentence`` that answer a question of this kind, if they can be found."""
    span = _answer_span(sentence, kind, question)
    if span is None:
        return None
    end = span.end
    while end > span.start and sentence[end - 1] in ".,;:!?":
        end -= 1  # the sentence's punctuation is not part of the answer
    return Span(span.start, end) if end > span.start else None


def _answer_span(sentence: str, kind: QuestionKind, question: str) -> Span | None:
    asked = {w.lower() for w in re.findall(r"[\w’'-]+", question)}
    if kind == "when":
        for pattern in _DATE_PATTERNS:
            m = pattern.search(sentence)
            if m:
                return Span(m.start(), m.end())
        return None
    if kind in ("how_many", "how_much"):
        return _amount(sentence, asked)
    if kind == "where":
        for m in _PLACE.finditer(sentence):
            group = 1 if m.group(1) else 2
            words = [w.strip(".,;:’'").lower() for w in m.group(group).split()]
            named = words[0] not in _NOT_NAMES or len(words) > 1
            if named and not all(w in asked for w in words):
                return Span(m.start(group), m.end(group))
        return None
    if kind == "why":
        m = _REASON.search(sentence)
        return Span(m.start(), m.end()) if m else None
    if kind == "who" or (kind == "what" and asks_for_name(question)):
        return _name(sentence, asked)
    if kind == "what" and _ASKS_WORDS.match(question):
        m = _QUOTED.search(sentence)
        return Span(m.start(1), m.end(1)) if m else None
    return None


def _amount(sentence: str, asked: set[str]) -> Span | None:
    """The first number that counts what the question names ("2½ million podcast downloads"
    for "how many downloads"), else the first number; not a year, nor a day of a month."""
    first = None
    counted = {w[:5] for w in asked if len(w) > 2}  # "downloads", "download": one word
    for m in _NUMBER.finditer(sentence):
        text = m.group()
        if text.split()[0].lower() in asked or _YEAR_ONLY.fullmatch(text):
            continue
        if _DAY_OF_MONTH.search(sentence[: m.start()]):
            continue
        after = re.findall(r"[\w’'-]+", sentence[m.start() : m.end() + 40].lower())[:4]
        if any(w[:5] in counted for w in after):
            return Span(m.start(), m.end())
        first = first or Span(m.start(), m.end())
    return first


def _name(sentence: str, asked: set[str]) -> Span | None:
    """The first name the question does not already hold; a full name ("Danielle Sassoon")
    over a lone capitalised word ("Amazon", "United") that comes before it."""
    single = None
    for m in _NAME.finditer(sentence):
        words = [w.strip(".,’'") for w in m.group().split()]
        if m.start() == 0 and len(words) == 1:
            continue  # a capital that only starts the sentence
        content = [w.lower() for w in words if w.lower() not in _NOT_NAMES]
        if not content or any(w in asked for w in content):
            continue  # not a name, or the one the question already names
        if all(w.isupper() for w in words) and max(map(len, words)) >= 5:
            continue  # a shouted caption or credit ("ASSOCIATED PRESS")
        if len(content) > 1:
            return Span(m.start(), m.end())
        single = single or Span(m.start(), m.end())
    return single
