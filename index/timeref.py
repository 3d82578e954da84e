"""Relative time words in a quote ("on Sunday", "next month") resolved against the article date.

A reader in Discord sees the quote days or months after it was written: "Sunday" alone is
useless there, "Sunday (7 May 2023)" is not.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august")
MONTHS += ("september", "october", "november", "december")

_RELATIVE = re.compile(
    r"\b(?:(?P<mod>last|next|this|this coming|coming|on)\s+)?(?P<weekday>"
    + "|".join(WEEKDAYS)
    + r")\b"
    r"|\b(?P<word>yesterday|today|tomorrow|tonight)\b"
    r"|\b(?P<mod2>last|next|this)\s+(?P<unit>week|month|year)\b",
    re.IGNORECASE,
)
_FUTURE = re.compile(r"\b(will|would|to be|scheduled|plans? to|is set to|upcoming)\b", re.I)
# Past-tense verbs: "said on Monday that it would ..." reports Monday, it does not announce it.
_PAST = re.compile(
    r"\b(?:said|told|met|was|were|had|did|went|came|took|gave|made|held|began|left|saw|won|"
    r"lost|fell|rose|spoke|wrote|sent|struck|[a-z]{2,}ed)\b",
    re.I,
)
_NOT_PAST = frozenset(
    ["need", "feed", "speed", "indeed", "seed", "shed", "hundred", "proceed", "succeed", "exceed"]
)
_PASSIVE = re.compile(r"\b(?:be|been|being)\s+$", re.I)  # "will be held": not a past verb
_SENTENCE_END = re.compile(r"[.!?][\"'”’)]*\s+")


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def resolve_relative_dates(text: str, published: date) -> list[tuple[str, str]]:
    """(phrase as written, resolved ISO date, month "YYYY-MM" or year "YYYY") in text order.

    A bare weekday points back to the most recent such day (news reports what happened)
    unless the phrase says "next"/"coming" or the verb nearest to it speaks of the future.
    """
    found: list[tuple[str, str]] = []
    for m in _RELATIVE.finditer(text):
        try:
            found.append((m.group(), _resolve(m, text, published)))
        except (OverflowError, ValueError):  # past the calendar's ends (a year-9999 article)
            continue
    return found


def _resolve(m: re.Match[str], text: str, published: date) -> str:
    """The date (or week, month, year) the phrase matched by ``m`` in ``text`` names."""
    if m["weekday"]:
        mod = (m["mod"] or "").lower()
        future_tense = _future_tense(text, m.start(), m.end())
        target = WEEKDAYS.index(m["weekday"].lower())
        delta = target - published.weekday()
        if mod in ("next", "coming", "this coming") or (mod != "last" and future_tense):
            resolved = published + timedelta(days=delta if delta > 0 else delta + 7)
            if mod == "next" and delta <= 0:
                resolved = published + timedelta(days=delta + 7)
        else:
            resolved = published + timedelta(days=delta if delta <= 0 else delta - 7)
            if mod == "last" and delta == 0:
                resolved = published - timedelta(days=7)
        return resolved.isoformat()
    if m["word"]:
        offset = {"yesterday": -1, "today": 0, "tonight": 0, "tomorrow": 1}[m["word"].lower()]
        return (published + timedelta(days=offset)).isoformat()
    step = {"last": -1, "next": 1, "this": 0}[m["mod2"].lower()]
    unit = m["unit"].lower()
    if unit == "week":
        monday = published - timedelta(days=published.weekday()) + timedelta(weeks=step)
        return f"week of {monday.isoformat()}"
    if unit == "month":
        return _add_months(published, step).strftime("%Y-%m")
    return str(published.year + step)


def _future_tense(text: str, start: int, end: int) -> bool:
    """Whether the verb nearest to the phrase at ``text[start:end]`` speaks of the future.

    The nearest marker before the phrase in its sentence decides ("will meet on Friday",
    "said on Monday that it would"); a phrase that opens its sentence ("On Friday, the
    ministers will meet") takes the nearest one after it. Neither means the past.
    """
    sentence_start = max((m.end() for m in _SENTENCE_END.finditer(text, 0, start)), default=0)
    verdict = _nearest_marker(text[sentence_start:start], last=True)
    if verdict is None:
        stop = _SENTENCE_END.search(text, end)
        verdict = _nearest_marker(text[end : stop.start() if stop else len(text)], last=False)
    return bool(verdict)


def _nearest_marker(text: str, *, last: bool) -> bool | None:
    """True for a future marker, False for a past verb, None for neither: the last (or first)
    one in ``text``; a word that is both ("scheduled") counts as future."""
    marks = [(m.start(), True) for m in _FUTURE.finditer(text)]
    for m in _PAST.finditer(text):
        if m.group().lower() not in _NOT_PAST and not _PASSIVE.search(text, 0, m.start()):
            marks.append((m.start(), False))
    if not marks:
        return None
    if last:
        return max(marks)[1]
    return min(marks, key=lambda mark: (mark[0], not mark[1]))[1]
