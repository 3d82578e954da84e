"""Milvus filter expressions and fusion weights that mirror the local retriever exactly.

The local backend restricts lists with boolean masks over its snapshot (``Filters`` for the
user's hard constraints, one mask per outlet or day a question names); here the same rows
are selected by scalar filter expressions on the collection's indexed fields.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

from index.backends.milvus_schema import UNKNOWN_PUBLISHED
from index.retrieve import ANY_YEAR, Filters, Focus, day_window, period_window

NOTHING = "id < 0"  # a filter no passage passes (ids start at 1)


def literal(value: str) -> str:
    """A Milvus string literal: double quotes, backslash escapes."""
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    )
    return f'"{escaped}"'


def matching_sources(names: Sequence[str], known: Sequence[str]) -> list[str]:
    """The indexed outlet names that equal any of ``names`` ignoring case (as the local
    snapshot's source mask does); Milvus compares strings exactly."""
    wanted = {n.casefold() for n in names}
    return [s for s in known if s.casefold() in wanted]


def sources_expr(names: Sequence[str]) -> str:
    if not names:
        return NOTHING
    return f"source in [{', '.join(literal(n) for n in names)}]"


def and_(*parts: str | None) -> str | None:
    present = [p for p in parts if p]
    if not present:
        return None
    if NOTHING in present:
        return NOTHING
    return " and ".join(f"({p})" for p in present) if len(present) > 1 else present[0]


def base_expr(filters: Filters | None, known_sources: Sequence[str]) -> str | None:
    """The user's explicit constraints; None when there are none. Passages of unknown date
    never pass a date constraint (the local mask compares NaN, which is never true)."""
    if filters is None:
        return None
    parts: list[str] = []
    if filters.sources:
        parts.append(sources_expr(matching_sources(filters.sources, known_sources)))
    if filters.since is not None or filters.until is not None:
        low = (
            math.ceil(filters.since.timestamp())
            if filters.since is not None
            else UNKNOWN_PUBLISHED + 1
        )
        parts.append(f"published >= {low}")
        if filters.until is not None:
            parts.append(f"published < {math.ceil(filters.until.timestamp())}")
    return and_(*parts)


def _day_expr(day: date) -> str:
    if day.year != ANY_YEAR:
        start, end = day_window(day)
        return f"(published >= {int(start.timestamp())} and published < {int(end.timestamp())})"
    # A day without a year: that month and day, give or take one, in any year (never
    # crossing into the neighbouring month, like the local mask).
    days = [d for d in (day.day - 1, day.day, day.day + 1) if 1 <= d <= 31]
    return f"month_day in [{', '.join(str(day.month * 100 + d) for d in days)}]"


def focus_expr(focus: Focus, known_sources: Sequence[str]) -> str:
    """The passages one named outlet, the named days or the named periods select."""
    if focus.source:
        return sources_expr(matching_sources([focus.source], known_sources))
    if focus.periods:
        spans = [period_window(p) for p in focus.periods]
        return " or ".join(
            f"(published >= {int(a.timestamp())} and published < {int(b.timestamp())})"
            for a, b in spans
        )
    if not focus.dates:
        return NOTHING
    return " or ".join(_day_expr(d) for d in focus.dates)
