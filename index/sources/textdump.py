"""The plain-text news dump: a ``date YYYY-MM-DD N`` line, a dateline, the headline,
``Story Code : N``, the headline again, the body, then site boilerplate.

The body is kept verbatim (only trailing spaces and repeated blank lines go), because quotes
are exact slices of it. A file holding several dumps one after another gives several articles.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

from index.model import Article, SkippedItem
from index.sources.common import DUMP_HEADER, one_line, plausible_published
from index.timeref import MONTHS

# "Wednesday 10 May 2023 - 01:24"; weekday and time are optional.
_DATELINE = re.compile(
    r"^\s*(?:[A-Za-z]+day,?\s+)?(\d{1,2})\s+([A-Za-z]+)\.?,?\s+(\d{4})"
    r"(?:\s*[-–,]?\s*(\d{1,2}):(\d{2}))?\s*$"
)
# Month names and their usual abbreviations: "31 Novelists 2023" is a headline, not a date.
_MONTHS = {name: n for n, full in enumerate(MONTHS, 1) for name in (full, full[:3])}
_MONTHS["sept"] = 9
_STORY_CODE = re.compile(r"^\s*Story\s+Code\s*:\s*(\S+)\s*$", re.IGNORECASE)
# Site furniture after the body: everything from the first such line on is dropped.
_BOILERPLATE = frozenset({"Comment", "Featured Stories"})


def read_dump(
    text: str, origin: str, *, source: str | None = None
) -> Iterator[Article | SkippedItem]:
    """Articles of one dump file (``text`` already decoded, newlines normalised to ``\\n``)."""
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if DUMP_HEADER.match(line)]
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        where = origin if len(starts) == 1 else f"{origin}:{start + 1}"
        yield _record(lines[start:end], where, source)


def _record(lines: list[str], origin: str, source: str | None) -> Article | SkippedItem:
    header = DUMP_HEADER.match(lines[0])
    assert header is not None
    day = header.group(1)
    metadata: dict[str, str] = {"dump_number": header.group(2)}
    i = 1
    try:
        published = _dateline(lines[i]) if i < len(lines) else None
    except ValueError:
        return SkippedItem(
            origin, f"text dump dateline {one_line(lines[i], 80)!r} is not a valid date"
        )
    if published is not None:
        i += 1
    else:
        try:
            published = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            published = None
    if published is not None and not plausible_published(published):
        published = None  # a "9999" placeholder is no date

    i = _skip_blank(lines, i)
    if i >= len(lines) or _STORY_CODE.match(lines[i]):
        return SkippedItem(origin, "text dump has no headline")
    title = lines[i].strip()
    i = _skip_blank(lines, i + 1)
    if i < len(lines) and (code := _STORY_CODE.match(lines[i])):
        metadata["story_code"] = code.group(1)
        i = _skip_blank(lines, i + 1)
    if i < len(lines) and _same(lines[i], title):
        i += 1

    body_lines: list[str] = []
    for line in lines[i:]:
        if line.strip() in _BOILERPLATE:
            break
        body_lines.append(line.rstrip())
    body = _paragraphs(body_lines)
    if not body:
        return SkippedItem(origin, f"text dump {one_line(title, 80)!r} has no body text")
    return Article(
        title=title,
        body=body,
        origin=origin,
        published=published,
        source=source,
        url=None,
        metadata=metadata,
    )


def _dateline(line: str) -> datetime | None:
    """The dateline's date. ValueError for a dateline naming no real day or time (30
    February, 25:10), which must not pass for the headline; a line that only looks like one
    ("10 Things 2024": no month, weekday or time) is None, since it may be the headline."""
    m = _DATELINE.match(line)
    if not m:
        return None
    day, month, year, hour, minute = m.groups()
    number = _MONTHS.get(month.lower())
    if number is None:
        has_weekday = not line.lstrip()[:1].isdigit()  # the pattern's optional "...day"
        if has_weekday or hour is not None:
            raise ValueError(f"no month {month!r}")
        return None
    return datetime(int(year), number, int(day), int(hour or 0), int(minute or 0), tzinfo=UTC)


def _skip_blank(lines: list[str], i: int) -> int:
    while i < len(lines) and not lines[i].strip():
        i += 1
    return i


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def _paragraphs(lines: list[str]) -> str:
    """Lines as written, with runs of blank lines collapsed to one and the ends trimmed."""
    out: list[str] = []
    for line in lines:
        if not line.strip():
            if out and out[-1] != "":
                out.append("")
        else:
            out.append(line)
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out)
