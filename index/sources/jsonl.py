"""JSON Lines: one article object per line (``title``, ``text``, ``published``, ``url``,
``source``); any other field is kept in ``metadata``. A bad line is skipped on its own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from index.model import Article, SkippedItem, unicode_problem
from index.sources.common import one_line, parse_published, utc_from_timestamp

_FIELDS = ("title", "text", "published", "url", "source")


def read_jsonl(
    text: str, origin: str, *, source: str | None = None
) -> Iterator[Article | SkippedItem]:
    """Articles of one JSONL file; ``source`` is the default for lines without one."""
    for lineno, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            where = f"{origin}:{lineno}"
            try:
                item = _line(line, where, source)
            except RecursionError:  # caught per file, it would lose the lines after this one
                item = SkippedItem(where, "JSON nested too deeply to read")
            yield item


def _line(line: str, origin: str, default_source: str | None) -> Article | SkippedItem:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return SkippedItem(origin, f"invalid JSON: {exc.msg} (column {exc.colno})")
    except ValueError as exc:  # an integer past Python's digit limit: this line, not the file
        return SkippedItem(origin, f"invalid JSON: {exc}")
    if not isinstance(obj, dict):
        return SkippedItem(origin, f"expected a JSON object, got {type(obj).__name__}")
    if (problem := _invalid_unicode(obj)) is not None:
        return SkippedItem(origin, problem)

    texts: dict[str, str] = {}
    for name in ("title", "text"):
        value = obj.get(name)
        if value is None:
            return SkippedItem(origin, f"missing field {name!r}")
        if not isinstance(value, str):
            return SkippedItem(origin, f"field {name!r} is {type(value).__name__}, not a string")
        value = _without_nul(value)
        if not value.strip():
            return SkippedItem(origin, f"field {name!r} is empty")
        texts[name] = value
    title, text = texts["title"], texts["text"]

    try:
        published = _published(obj.get("published"), origin)
    except ValueError as exc:
        return SkippedItem(origin, str(exc).removeprefix(f"{origin}: "))

    url = _optional_str(obj.get("url"))
    source = _optional_str(obj.get("source")) or default_source
    metadata = {k: v for k, v in obj.items() if k not in _FIELDS}
    return Article(
        title=one_line(title, 1000),
        body=text.replace("\r\n", "\n").replace("\r", "\n").strip(),
        origin=origin,
        published=published,
        source=source,
        url=url,
        metadata=metadata,
    )


def _published(value: Any, origin: str) -> datetime | None:
    if value is None or isinstance(value, str):
        return parse_published(value, origin)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return utc_from_timestamp(value, origin)
    raise ValueError(f"{origin}: 'published' is {type(value).__name__}, not a date string")


def _optional_str(value: Any) -> str | None:
    if isinstance(value, str) and (value := _without_nul(value)).strip():
        return value.strip()
    return None


def _invalid_unicode(obj: dict[str, Any]) -> str | None:
    """Why a field of ``obj`` (its name or value, nested values included) is not valid
    Unicode, or None: a "\\ud800" escape decodes to a lone surrogate, which nothing stores."""
    for key, value in obj.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        problem = unicode_problem(f"field name {key!r}", key) or unicode_problem(
            f"field {key!r}", text
        )
        if problem is not None:
            return problem
    return None


def _without_nul(value: str) -> str:
    """``value`` less any NUL (a JSON "\\u0000" escape; raw NUL bytes make a file binary): it
    is never news text, and SQLite's text functions stop at it."""
    return value.replace("\x00", "")
