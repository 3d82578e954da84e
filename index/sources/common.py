"""Helpers shared by the source readers: reading one file safely and parsing dates."""

from __future__ import annotations

import codecs
import re
import warnings
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import parser as _dateparser
from dateutil.parser import UnknownTimezoneWarning

from index.model import SkippedItem

# A dump's first line: ``date 2023-05-10 0`` (leading whitespace allowed).
DUMP_HEADER = re.compile(r"^[ \t]*date[ \t]+(\d{4}-\d{2}-\d{2})[ \t]+(\d+)[ \t]*$")

# Abbreviations news sites print after a time. Ambiguous ones (IST, CST in Asia...) take their
# most common newsroom meaning; anything else is refused rather than silently dropped.
_TZ_OFFSETS_H = {
    "UTC": 0,
    "UT": 0,
    "GMT": 0,
    "Z": 0,
    "EST": -5,
    "EDT": -4,
    "CST": -6,
    "CDT": -5,
    "MST": -7,
    "MDT": -6,
    "PST": -8,
    "PDT": -7,
    "BST": 1,
    "CET": 1,
    "CEST": 2,
    "EET": 2,
    "EEST": 3,
    "IST": 5.5,
    "JST": 9,
    "KST": 9,
    "AEST": 10,
    "AEDT": 11,
}
# US zone names without standard/daylight ("8:45 a.m. ET") follow the calendar.
_TZ_ZONES = {"ET": "America/New_York", "CT": "America/Chicago", "PT": "America/Los_Angeles"}


def _tzinfos() -> dict[str, int | tzinfo]:
    table: dict[str, int | tzinfo] = {k: int(h * 3600) for k, h in _TZ_OFFSETS_H.items()}
    for name, zone in _TZ_ZONES.items():
        try:
            table[name] = ZoneInfo(zone)
        except ZoneInfoNotFoundError:  # no tz database: standard time is the better guess
            table[name] = table[name[0] + "ST"]
    return table


_TZINFOS = _tzinfos()

# "Sept." is how AP style writes September; dateutil only knows "Sep".
_SEPT = re.compile(r"\bSept\b\.?", re.IGNORECASE)
_AMPM = re.compile(r"\b([ap])\.m\.", re.IGNORECASE)
# Two different defaults: a field missing from the text shows up as a difference.
_DEFAULT_A = datetime(1904, 1, 1)
_DEFAULT_B = datetime(1905, 2, 2)


# Publication years outside this range are placeholders or typos ("9999-12-31"). Let in,
# they break date arithmetic later: a quote's "next week", a question's day, recency.
EARLIEST_YEAR = 1900


def plausible_published(when: datetime) -> bool:
    """Whether ``when`` falls in a year news could be published: 1900 to next year."""
    return EARLIEST_YEAR <= when.year <= datetime.now(UTC).year + 1


def check_published(when: datetime, origin: str, label: str, value: object) -> datetime:
    """``when``, or ValueError naming ``origin`` and the ``label`` ``value`` it came from."""
    if not plausible_published(when):
        raise ValueError(
            f"{origin}: {label} {value!r} is out of range (year {when.year}; publication "
            f"years run from {EARLIEST_YEAR} to {datetime.now(UTC).year + 1})"
        )
    return when


def parse_published(value: str | None, origin: str) -> datetime | None:
    """ISO 8601 and common news formats -> timezone-aware datetime (naive ones are UTC).

    None or blank gives None. Text that is not a complete date (year, month and day), or
    whose year is out of range, raises ValueError naming ``origin`` and the value.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    parsed = _parse(text)
    if parsed is None:
        raise ValueError(
            f"{origin}: unrecognised date {value!r} (expected ISO 8601 such as"
            " 2023-05-10T01:24:00+00:00, or a full date such as '10 May 2023 01:24')"
        )
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed.isoformat()  # what the store writes; dateutil takes "+2500", isoformat does not
    except ValueError:
        raise ValueError(
            f"{origin}: date {value!r} has an impossible time-zone offset (at most +-23:59)"
        ) from None
    return check_published(parsed, origin, "date", value)


def _parse(text: str) -> datetime | None:
    iso = text[:-1] + "+00:00" if text.endswith(("z", "Z")) else text
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        pass
    cleaned = _AMPM.sub(r"\1m", _SEPT.sub("Sep", text))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", UnknownTimezoneWarning)
            a = _dateparser.parse(cleaned, default=_DEFAULT_A, tzinfos=_TZINFOS)
            b = _dateparser.parse(cleaned, default=_DEFAULT_B, tzinfos=_TZINFOS)
    except (ValueError, OverflowError, UnknownTimezoneWarning):
        return None
    if (a.year, a.month, a.day) != (b.year, b.month, b.day):
        return None  # year, month or day missing: not a publication date
    return a


def utc_from_timestamp(value: float, origin: str) -> datetime:
    """Unix seconds (as some JSON exports write them) -> aware UTC datetime."""
    try:
        when = datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ValueError(f"{origin}: timestamp {value!r} out of range") from exc
    return check_published(when, origin, "timestamp", value)


def read_text(path: Path, max_file_bytes: int) -> str | SkippedItem:
    """The whole file as text, or a SkippedItem saying in one line why it cannot be read."""
    origin = str(path)
    try:
        size = path.stat().st_size
        if size > max_file_bytes:
            return SkippedItem(origin, f"file too large ({size} bytes, limit {max_file_bytes})")
        data = path.read_bytes()
    except OSError as exc:
        return SkippedItem(origin, f"cannot read file: {exc.strerror or exc}")
    return decode(data, origin)


def read_head(path: Path, n: int = 4096) -> bytes:
    with path.open("rb") as f:
        return f.read(n)


def decode(data: bytes, origin: str) -> str | SkippedItem:
    if not data.strip():
        return SkippedItem(origin, "empty file")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return SkippedItem(origin, "UTF-16 text is not supported; save the file as UTF-8")
    if b"\x00" in data:
        return SkippedItem(origin, "binary file (contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return SkippedItem(origin, f"not UTF-8 text (invalid byte at offset {exc.start})")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def is_dump(text: str) -> bool:
    first = text.split("\n", 1)[0]
    return DUMP_HEADER.match(first) is not None


def one_line(text: str, limit: int = 200) -> str:
    """Collapse whitespace so a reason or title fits on one line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


_BOMS = (  # UTF-32's before UTF-16's: FF FE 00 00 starts with FF FE
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def bom_encoding(data: bytes) -> str | None:
    """The codec a byte-order mark at the start of ``data`` names (one that drops the mark),
    or None. A mark outranks any charset a server or a declaration claims, as in browsers."""
    return next((codec for mark, codec in _BOMS if data.startswith(mark)), None)
