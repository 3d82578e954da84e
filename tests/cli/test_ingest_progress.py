"""Ingest that says when it ends: a real total for files whose item count is known, and a
final line with the rates."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import bot.cli
import bot.cli.common
from bot.cli.ingest import ingest_items
from bot.settings import Settings
from index.engine import Engine
from index.sources import count_items, read_sources

DUMP = (
    "date 2024-01-02 {n}\n3 January 2024\nHeadline {n}\nStory Code : {n}\nHeadline {n}\nBody {n}.\n"
)


def _mixed(folder: Path) -> Path:
    """Every kind of file read_sources knows, and some it skips."""
    folder.mkdir()
    lines = [json.dumps({"title": f"T{i}", "text": f"Body {i}."}) for i in range(3)]
    (folder / "a.jsonl").write_text("\n".join([*lines, "", "{broken"]) + "\n")
    (folder / "b.txt").write_text("".join(DUMP.format(n=n) for n in range(4)))  # a dump, as .txt
    (folder / "c").write_text(DUMP.format(n=9))  # an extensionless dump
    (folder / "d.html").write_text("<html><title>x</title><p>Text.</p></html>")
    (folder / "e.md").write_text("# Title\n\nSome text.\n")
    (folder / "f.pdf").write_bytes(b"%PDF")  # unsupported: one skipped item
    (folder / "g.jsonl").write_text("x\n" * 1000)  # too large below: one skipped item
    return folder


def test_the_count_is_what_reading_yields(tmp_path):
    folder = _mixed(tmp_path / "in")
    targets = [str(folder), str(folder / "a.jsonl"), str(tmp_path / "missing"), "nomatch*.txt"]
    items = list(read_sources(targets, max_file_bytes=1000))
    # 4 JSONL lines (one broken), 4 + 1 dump articles, html, md, pdf, the large file, 2 paths
    assert count_items(targets, max_file_bytes=1000) == len(items) == 15


def test_ingest_items_announce_the_total_before_the_first_item(tmp_path):
    folder = _mixed(tmp_path / "in")
    heard: list[int] = []
    items = ingest_items(Settings(), [str(folder)], on_total=heard.append)
    first = next(items)
    assert heard == [count_items([str(folder)])] and first is not None
    assert heard[0] == 1 + sum(1 for _ in items)


def test_the_ingest_command_ends_with_its_rates(tmp_path, monkeypatch, encoder):
    monkeypatch.setattr(bot.cli.common, "new_engine", functools.partial(Engine, encoder=encoder))
    folder = _mixed(tmp_path / "in")
    result = CliRunner().invoke(
        bot.cli.app, ["--data-dir", str(tmp_path / "data"), "ingest", str(folder)]
    )
    assert result.exit_code == 0, result.output
    line = re.search(
        r"added (\d+), updated (\d+), unchanged (\d+), .*\((\d+) passages indexed\) "
        r"in ([\d.]+) s: ([\d.]+) articles/s, ([\d.]+) passages/s",
        result.stdout,
    )
    assert line, result.stdout
    added, updated, unchanged, passages, seconds, per_article, per_passage = map(
        float, line.groups()
    )
    articles = added + updated + unchanged
    assert articles >= 5 and passages >= articles and seconds > 0 and per_article > 0
    assert per_passage / per_article == pytest.approx(passages / articles, rel=0.05)
