"""Relative time words in a quote ("on Sunday", "next month") resolved against the article date.

A reader in Discord sees the quote days or months after it was written: "Sunday" alone is
useless there, "Sunday (7 May 2023)" is not.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

_RELATIVE = re.compile(
    r"\b(?:(?P<mod>last|next|this|this coming|coming|on)\s+)?(?P<weekday>"
    + "|".join(WEEKDAYS)
    + r")\b"
    r"|\b(?P<word>yesterday|today|tomorrow|tonight)\b"
    r"|\b(?P<mod2>last|next|this)\s+(?P<unit>week|month|year)\b",
    re.IGNORECASE,
)
_FUTURE = re.compile(r"\b(will|would|to be|scheduled|plans? to|is set to|upcoming)\b", re.I)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def resolve_relative_dates(text: str, published: date) -> list[tuple[str, str]]:
    """(phrase as written, resolved ISO date, month "YYYY-MM" or year "YYYY") in text order.

    A bare weekday points back to the most recent such day (news reports what happened)
    unless the phrase says "next"/"coming" or the sentence speaks of the future.
    """
    future_tense = bool(_FUTURE.search(text))
    found: list[tuple[str, str]] = []
    for m in _RELATIVE.finditer(text):
        phrase = m.group()
        if m["weekday"]:
            mod = (m["mod"] or "").lower()
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
            found.append((phrase, resolved.isoformat()))
        elif m["word"]:
            offset = {"yesterday": -1, "today": 0, "tonight": 0, "tomorrow": 1}[m["word"].lower()]
            found.append((phrase, (published + timedelta(days=offset)).isoformat()))
        else:
            step = {"last": -1, "next": 1, "this": 0}[m["mod2"].lower()]
            unit = m["unit"].lower()
            if unit == "week":
                monday = published - timedelta(days=published.weekday()) + timedelta(weeks=step)
                found.append((phrase, f"week of {monday.isoformat()}"))
            elif unit == "month":
                found.append((phrase, _add_months(published, step).strftime("%Y-%m")))
            else:
                found.append((phrase, str(published.year + step)))
    return found
