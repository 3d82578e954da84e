"""Source readers: files, folders and glob patterns -> Articles, or SkippedItems saying why not.

Formats: the plain-text news dump (``textdump``), JSON Lines (``jsonl``), HTML (``html``) and
plain ``.txt``/``.md`` (``plaintext``). One bad file or line never stops the others.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from index.model import Article, SkippedItem
from index.sources.common import (
    DUMP_HEADER,
    is_dump,
    one_line,
    parse_published,
    read_head,
    read_text,
)
from index.sources.html import read_html
from index.sources.jsonl import read_jsonl
from index.sources.plaintext import read_plaintext
from index.sources.textdump import read_dump

__all__ = ["count_items", "parse_published", "read_html", "read_sources"]

_HTML = frozenset({".html", ".htm", ".xhtml"})
_JSONL = frozenset({".jsonl", ".ndjson"})
_TEXT = frozenset({".txt", ".md", ".markdown"})
_GLOB_CHARS = frozenset("*?[")


def read_sources(
    paths: Iterable[str | Path],
    *,
    source: str | None = None,
    max_file_bytes: int = 20_000_000,
) -> Iterator[Article | SkippedItem]:
    """Files, folders (recursive, sorted, hidden files skipped) and glob patterns.

    Dispatch is by extension, except that any text file whose first line is a dump header
    (``date YYYY-MM-DD N``) is read as a dump. ``source`` names the outlet for formats that do
    not carry one (a JSONL line's own ``source`` and an HTML page's site name win over it).
    A file reached twice (say, by a folder and a glob) is read once.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    seen: set[Path] = set()
    for raw in paths:
        for item in _expand(str(raw)):
            if isinstance(item, SkippedItem):
                yield item
                continue
            try:
                key = item.resolve()
            except (OSError, RuntimeError) as exc:  # a symlink loop, a name too long
                yield SkippedItem(str(item), f"cannot resolve the path ({exc})")
                continue
            if key in seen:
                continue
            seen.add(key)
            yield from _read_file(item, source, max_file_bytes)


def count_items(paths: Iterable[str | Path], *, max_file_bytes: int = 20_000_000) -> int:
    """How many items ``read_sources`` will yield for ``paths``, for a progress bar's total:
    a JSONL line or a dump's article each, one for any other file or unreadable path. Reads
    only JSONL and dump files (their lines, not their JSON); exact but for a file that
    changes meanwhile or a path reached twice through different names."""
    total, seen = 0, set()
    for raw in [paths] if isinstance(paths, str | Path) else paths:
        for item in _expand(str(raw)):
            if isinstance(item, Path):
                if item in seen:
                    continue
                seen.add(item)
                total += _items_in(item, max_file_bytes)
            else:
                total += 1
    return total


def _items_in(path: Path, limit: int) -> int:
    try:
        if not path.is_file() or path.stat().st_size > limit:
            return 1
        suffix = path.suffix.lower()
        if suffix in _HTML or (suffix not in _JSONL | _TEXT and not _sniff_dump(path)):
            return 1
        data = path.read_bytes()
    except OSError:
        return 1
    if _DUMP_LINE.match(data.removeprefix(b"\xef\xbb\xbf")):
        return max(1, len(_DUMP_LINE.findall(data)))
    if suffix in _JSONL:
        return max(1, sum(1 for line in data.split(b"\n") if line.strip()))
    return 1


# DUMP_HEADER, on bytes and for every line.
_DUMP_LINE = re.compile(rb"^[ \t]*date[ \t]+\d{4}-\d{2}-\d{2}[ \t]+\d+[ \t]*\r?$", re.MULTILINE)


def _expand(raw: str) -> Iterator[Path | SkippedItem]:
    path = Path(os.path.expanduser(raw))
    try:
        is_dir = path.is_dir()
    except OSError as exc:  # a name too long for the file system, and the like
        yield SkippedItem(raw, f"cannot read the path ({exc.strerror or exc})")
        return
    if is_dir:
        yield from _walk(path)
    elif path.exists():
        yield path
    elif _GLOB_CHARS & set(raw):
        matches = sorted(glob.glob(os.path.expanduser(raw), recursive=True))
        if not matches:
            yield SkippedItem(raw, "glob pattern matched no files")
        for match in matches:
            p = Path(match)
            yield from (_walk(p) if p.is_dir() else [p])
    else:
        yield SkippedItem(raw, "no such file or directory")


def _walk(folder: Path) -> Iterator[Path]:
    """Every non-hidden file under ``folder``, in path order (a/b/c.txt before a/z.txt)."""
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(Path(root) / name for name in files if not name.startswith("."))
    yield from sorted(found, key=lambda p: p.relative_to(folder).parts)


def _read_file(path: Path, source: str | None, limit: int) -> Iterator[Article | SkippedItem]:
    origin = str(path)
    try:
        if not path.is_file():
            yield SkippedItem(origin, "not a regular file")
            return
        suffix = path.suffix.lower()
        if suffix not in _HTML | _JSONL | _TEXT and not _sniff_dump(path):
            yield SkippedItem(origin, f"unsupported file type {suffix or '(no extension)'!r}")
            return
        text = read_text(path, limit)
        if isinstance(text, SkippedItem):
            yield text
        elif is_dump(text):
            yield from read_dump(text, origin, source=source)
        elif suffix in _JSONL:
            yield from read_jsonl(text, origin, source=source)
        elif suffix in _HTML:
            yield read_html(text, origin, source=source)
        else:
            yield read_plaintext(text, origin, markdown=suffix != ".txt", source=source)
    except Exception as exc:  # one unreadable file must not stop the others
        yield SkippedItem(origin, one_line(f"failed to read: {type(exc).__name__}: {exc}"))


def _sniff_dump(path: Path) -> bool:
    """An extension we do not know may still be a dump (dump files are often extensionless)."""
    try:
        head = read_head(path)
    except OSError:
        return False
    first = head.removeprefix(b"\xef\xbb\xbf").split(b"\n", 1)[0].rstrip(b"\r")
    return DUMP_HEADER.match(first.decode("utf-8", "replace")) is not None
