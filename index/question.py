"""Parse: what a chat question asks, which times it names, which outlets it cites.

Plain functions of the question text (and today's date, and the indexed outlets' names), so
each rule can be checked by hand. Retrieval turns the result into its search lists.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Literal

from index.timeref import MONTHS, WEEKDAYS

QuestionKind = Literal[
    "who", "what", "when", "where", "how_much", "how_many", "why", "yes_no", "other"
]

_LEAD = r"^(?:and\s+|so\s+|but\s+|ok\s+|hey\s+|pls\s+|please\s+)*"
_YES_NO = r"(?:is|are|was|were|do|does|did|has|have|had|can|could|will|would|should|isn't|didn't|doesn't|hasn't)"


def question_kind(question: str) -> QuestionKind:
    """What a person asks for, from the question's words: who, when, where, how much ...

    Chat questions often lack the opening wh-word ("latest on the strike", "musk's salary
    how much") or bury it ("so who won"), so a wh-word anywhere counts when none leads."""
    q = re.sub(r"[’`]", "'", question.strip().lower())
    q = re.sub(_LEAD, "", q)
    if re.match(r"(?:when|what (?:date|day|time|year|month))\b", q) or re.search(
        r"\b(?:when (?:is|was|will|did|does|do|are|were)|what (?:date|day|time))\b", q
    ):
        return "when"
    if re.match(r"how (?:many|much)\b", q):
        return "how_many" if q.startswith("how many") else "how_much"
    if re.match(r"(?:where)\b", q):
        return "where"
    if re.match(r"(?:who|whom|whose)\b", q):
        return "who"
    if re.match(r"(?:why|how come)\b", q):
        return "why"
    if re.match(r"(?:what|which)\b", q):
        return "what"
    if re.match(_YES_NO + r"\b", q):
        return "yes_no"
    for word, kind in (
        ("how many", "how_many"),
        ("how much", "how_much"),
        ("who", "who"),
        ("where", "where"),
        ("why", "why"),
        ("when", "when"),
    ):
        if re.search(rf"\b{word}\b", q):
            return kind  # type: ignore[return-value]
    return "what" if re.search(r"\b(?:what|which)\b", q) else "other"


_FOLLOWS_ON = re.compile(r"^\W*(?:and|but|so|also|what about|how about)\b", re.IGNORECASE)


def needs_context(question: str, own_words: int) -> bool:
    """A follow-up that says almost nothing of its own ("and where is it held?", "what about
    it?"): without the question it follows, any quote would answer a guess."""
    return own_words <= 2 and bool(_FOLLOWS_ON.match(question))


# -- who says so ---------------------------------------------------------------------------

_SAYS = (
    r"say|says|said|report|reports|reported|find|found|estimate|estimated|predict|predicted|"
    r"think|claim|claimed|warn|warned|announce|project|forecast|reveal|describe|expect|call|"
    r"rank|note|show|count|see|conclude|write|wrote|tell|told"
)
_SOURCE = re.compile(
    r"\baccording\s+to\s+(?:an?\s+|the\s+)?(?P<per>[^,;?!]{2,60}?)\s*(?:[,;?!]|$)"
    r"|\b(?:what|how)\s+(?:did|does|do|has|have|had)\s+(?:an?\s+|the\s+)?(?P<said>[^,;?!]{2,60}?)"
    rf"\s+(?:{_SAYS})\b",
    re.IGNORECASE,
)


def attributed_source(question: str) -> str | None:
    """Who the question says states the answer: "according to X, ...", "what did X say
    about ...". When no passage that answers names X, the news does not report what X
    said, however well the rest of the question matches."""
    m = _SOURCE.search(question.replace("’", "'"))
    if m is None:
        return None
    name = (m.group("per") or m.group("said")).strip()
    return name if len(name.split()) <= 6 else None


# -- times -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Period:
    """Days a question names, first and last inclusive, resolved against the day it is asked."""

    first: date
    last: date
    text: str


_MONTH_NAMES = "|".join(MONTHS)
_MONTH_ABBR = "|".join(m[:3] for m in MONTHS if m != "may") + "|sept"
_PERIOD = re.compile(
    r"\b(?P<word>yesterday|today|tonight|this morning|last night)\b"
    r"|\b(?P<rel>this|last|past|previous)\s+(?P<unit>week|month|year|weekend)\b"
    r"|\b(?P<mod>last|this|on|since)?\s*(?P<weekday>" + "|".join(WEEKDAYS) + r")\b"
    r"|\b(?P<month>" + _MONTH_NAMES + "|" + _MONTH_ABBR + r")\.?\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?"
    r"(?:,?\s+(?P<dyear>(?:19|20)\d{2}))?\b"
    r"|\b(?P<dday>\d{1,2})(?:st|nd|rd|th)?\s+(?P<dmonth>"
    + _MONTH_NAMES
    + "|"
    + _MONTH_ABBR
    + r")\b"
    r"(?:,?\s+(?P<ddyear>(?:19|20)\d{2}))?"
    r"|\b(?P<mprep>in|during|since|by|until|early|mid|late|of|this|last|next)[\s-]+"
    r"(?P<pmonth>" + _MONTH_NAMES + r")\b(?:\s+(?P<myear>(?:19|20)\d{2}))?"
    r"|\b(?P<bmonth>" + _MONTH_NAMES.replace("may|", "") + r")\s+(?P<byear>(?:19|20)\d{2})\b"
    r"|\b(?P<year>(?:19|20)\d{2})\b",
    re.IGNORECASE,
)


def _month_number(name: str) -> int:
    key = name.lower()[:3]
    return next(i for i, m in enumerate(MONTHS, start=1) if m.startswith(key))


def _month_span(year: int, month: int) -> tuple[date, date]:
    first = date(year, month, 1)
    following = date(year + (month == 12), month % 12 + 1, 1)
    return first, following - timedelta(days=1)


def _latest_month(month: int, today: date) -> int:
    """The year of the most recent such month, this one included: chat asks about news."""
    return today.year if month <= today.month else today.year - 1


def _period(m: re.Match[str], today: date) -> tuple[date, date] | None:
    if m["word"]:
        back = 1 if m["word"].lower() in ("yesterday", "last night") else 0
        day = today - timedelta(days=back)
        return day, day
    if m["unit"]:
        unit, rel = m["unit"].lower(), m["rel"].lower()
        if unit in ("week", "weekend"):
            if rel == "past":
                return today - timedelta(days=7), today
            monday = today - timedelta(days=today.weekday())
            if rel == "this":
                return monday, today
            return monday - timedelta(days=7), monday - timedelta(days=1)
        if unit == "month":
            if rel == "past":
                return today - timedelta(days=31), today
            first = today.replace(day=1)
            if rel == "this":
                return first, today
            return _month_span((first - timedelta(days=1)).year, (first - timedelta(days=1)).month)
        year = today.year - (rel != "this")
        return date(year, 1, 1), (today if rel == "this" else date(year, 12, 31))
    if m["weekday"]:
        back = (today.weekday() - WEEKDAYS.index(m["weekday"].lower())) % 7
        if (m["mod"] or "").lower() == "last" and back == 0:
            back = 7
        day = today - timedelta(days=back)
        return day, day
    if m["month"] or m["dmonth"]:
        month = _month_number(m["month"] or m["dmonth"])
        year_text = m["dyear"] or m["ddyear"]
        if not year_text:
            return None  # a day of any year: retrieval's named days
        day = date(int(year_text), month, int(m["day"] or m["dday"]))
        return day, day
    if m["pmonth"]:
        month = _month_number(m["pmonth"])
        if m["myear"]:
            return _month_span(int(m["myear"]), month)
        prep = m["mprep"].lower()
        year = _latest_month(month, today)
        if prep == "next" or (prep != "last" and month > today.month and prep in ("until", "by")):
            year = today.year + (month <= today.month)
        return _month_span(year, month)
    if m["bmonth"]:
        return _month_span(int(m["byear"]), _month_number(m["bmonth"]))
    year = int(m["year"])
    return date(year, 1, 1), date(year, 12, 31)


def question_periods(question: str, today: date) -> tuple[Period, ...]:
    """The days each time phrase of the question names ("yesterday", "last week", "in may",
    "November 18", "2023"), resolved against ``today``. A bare "may" is a verb; "in may",
    "may 5" and "may 2024" are the month."""
    out = []
    for m in _PERIOD.finditer(question):
        try:
            span = _period(m, today)
        except (ValueError, OverflowError):  # "February 30", the calendar's ends
            continue
        if span is not None:
            out.append(Period(span[0], span[1], m.group().strip()))
    return tuple(out)


# -- outlets ---------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def outlet_aliases(source: str) -> tuple[str, ...]:
    """Ways a question names an outlet, longest first: "The Independent - Life and Style" ->
    "The Independent" -> "Independent"; "Cnbc | World Business News Leader" -> "Cnbc"."""
    names = {source, re.split(r"\s+[-|:]\s+", source)[0].strip()}
    names |= {n[4:] for n in names if n.lower().startswith("the ")}
    names |= {n.removesuffix(".com") for n in names}
    return tuple(sorted((n for n in names if len(n) >= 3), key=lambda n: (-len(n), n)))


# The words around an outlet's name that attribute a report to it: "according to X",
# "X reported", "what did X say", "an article from X", "on X" ... A name with none of these
# around it is a word of the question ("the independent schools report", "fortune 500").
_BEFORE = (
    r"(?:according\s+to|as\s+(?:reported|stated|noted|written)\s+(?:by|in)|"
    r"(?:reported|published|written|covered|posted|stated|noted|claimed|said|provided|shared|"
    r"offered|given|mentioned|highlighted|detailed|described|discussed|featured|cited)\s+"
    r"(?:by|in|on)|"
    r"(?:article|report|piece|story|coverage|analysis|review|feature|column|post|news|headlines?|"
    r"reporting|writers?|reporters?)s?\s+(?:from|by|in|on|at)|"
    r"(?:what|how)\s+(?:did|does|do|has|have)|did|does|per|via|from|by|in)\s+"
    r"(?:both\s+|either\s+)?(?:the\s+)?['‘\"“]?$"
)
_AFTER = (
    r"^['’\"”]?(?:'s?\s+)?(?:\s*(?:has|have|had|just|recently|also|first))?\s*"
    r"(?:says?|said|reports?|reported|reporting|writes?|wrote|claims?|claimed|notes?|noted|"
    r"covers?|covered|published|articles?|reports?|pieces?|stor(?:y|ies)|coverage|analysis|"
    r"reviews?|headlines?|"
    r"thinks?|suggests?|explains?|describes?|described|mentions?|mentioned|stated|states|"
    r"say|report|cover|write|rank|ranked|rates?|rated|recommends?|recommended|picks?|picked|"
    r"names?|named|calls?|called|lists?|listed|predicts?|predicted|reveals?|revealed|"
    r"announced|confirmed|highlights?|highlighted|argues?|argued|believes?|found|finds|"
    r"estimates?|estimated|cites?|cited|interviewed|asked|tested|review)\b"
)


@dataclass(frozen=True, slots=True)
class OutletMention:
    start: int
    end: int
    source: str


def attributed_outlets(question: str, known_sources: Sequence[str]) -> list[OutletMention]:
    """Indexed outlets the question attributes a report to, in question order. A mention
    inside a longer one is not its own ("The Independent - Travel" is not also "The
    Independent - Life and Style")."""
    lowered = question.casefold()
    found: list[OutletMention] = []
    for source in known_sources:
        for alias in outlet_aliases(source):
            name = alias.casefold()
            if name not in lowered:  # cheap test first: most outlets are not named
                continue
            spans = [
                OutletMention(m.start(), m.end(), source)
                for m in re.finditer(rf"(?<!\w){re.escape(name)}(?!\w)", lowered)
            ]
            if spans:
                found += spans
                break
    mentions = sorted(
        (
            m
            for m in found
            if not any(
                o.start <= m.start and m.end <= o.end and o.end - o.start > m.end - m.start
                for o in found
            )
        ),
        key=lambda m: (m.start, m.end),
    )
    attributed: list[OutletMention] = []
    for m in mentions:
        listed = bool(attributed) and _LISTED.fullmatch(lowered[attributed[-1].end : m.start])
        if listed or _attributed(lowered, m.start, m.end):
            attributed.append(m)
    # "X, Y and Z reported": the verb after the last attributes the whole list.
    for m in reversed(mentions):
        if m not in attributed and any(
            a.start > m.end and _LISTED.fullmatch(lowered[m.end : a.start]) for a in attributed
        ):
            attributed.append(m)
    return sorted(attributed, key=lambda m: (m.start, m.end))


# What stands between the outlets of a list: "X, Y and Z", "X as well as the Y".
_LISTED = re.compile(r"\s*(?:,|and|&|or|as well as|\s)*\s*(?:the\s+)?", re.IGNORECASE)


def _attributed(lowered: str, start: int, end: int) -> bool:
    before = lowered[max(0, start - 40) : start]
    after = lowered[end : end + 40]
    if re.match(r"\s+of\b|\s+\d", after):  # "at the age of", "fortune 500": not the outlet
        return False
    return bool(re.search(_BEFORE, before) or re.match(_AFTER, after))
