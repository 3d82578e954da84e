"""`newsbot backup` / `newsbot restore`, and that `newsbot config` never shows the token."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

import bot.backup
import bot.cli
from bot.backup import DB_NAME, MANIFEST_NAME, backup_data_dir, restore_data_dir
from bot.cli import app
from index.config import EngineConfig
from index.engine import Engine
from index.errors import NewsbotError
from index.model import Article

from .conftest import SAMPLE_DIR

QUESTION = "When is the Shangri-La Dialogue?"
PER_BATCH = 4


def _articles(start: int) -> list[Article]:
    return [
        Article(
            title=f"Council {i} approves harbour budget",
            body=(
                f"The council of Harbourtown {i} approved a budget of {i} million euros on Monday. "
                f"The money pays for {i} new ferries and a bridge over the river Lune. "
                "Opponents said the vote came too early."
            ),
            origin=f"generated-{i}",
            source="Harbour Gazette",
            published=datetime(2024, 1, 1 + i % 28, tzinfo=UTC),
            url=f"https://example.org/council/{i}",
        )
        for i in range(start, start + PER_BATCH)
    ]


def _assert_consistent(info_articles: int, info_epoch: int) -> None:
    """The sample is epoch 1 with one article; each later epoch is one batch of PER_BATCH new
    articles. A torn copy (part of a batch, or articles of one epoch under another) breaks it."""
    assert info_articles == 1 + PER_BATCH * (info_epoch - 1)


def _assert_answers(engine: Engine, articles: int) -> None:
    stats = engine.stats()
    assert stats.articles == articles
    assert stats.indexed_passages == stats.passages  # the index was rebuilt from the database
    answer = engine.quote_answer(QUESTION)
    assert not answer.abstained
    assert "June 2 to 4" in answer.quotes[0].text


def test_backup_while_another_thread_keeps_ingesting(engine_factory, encoder, tmp_path):
    live = engine_factory(tmp_path / "live")
    live.ingest_paths([SAMPLE_DIR])
    stop = threading.Event()
    ingested: list[int] = []
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            n = 0
            while not stop.is_set() and n < 400:
                report = live.ingest(_articles(1000 + n))
                assert report.added == PER_BATCH
                n += PER_BATCH
                ingested.append(live.store.epoch())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        while not ingested and thread.is_alive():
            stop.wait(0.01)
        backups = []
        for k in range(2):
            target = tmp_path / f"backup-{k}"
            if k == 1:  # once through the command line, as an operator runs it
                result = CliRunner().invoke(
                    app, ["--data-dir", str(tmp_path / "live"), "backup", str(target)]
                )
                assert result.exit_code == 0, result.output
                assert "backed up" in result.output
                info = json.loads((target / MANIFEST_NAME).read_text())
                backups.append((target, info["articles"], info["epoch"]))
            else:
                info = backup_data_dir(tmp_path / "live", target)
                backups.append((target, info.articles, info.epoch))
            epochs_seen = len(ingested)
            while len(ingested) == epochs_seen and thread.is_alive():
                stop.wait(0.01)  # the writer commits again before the next backup
    finally:
        stop.set()
        thread.join(timeout=120)
    assert not errors, errors
    final_epoch = live.store.epoch()

    for target, articles, epoch in backups:
        assert 1 < epoch < final_epoch  # taken while ingest went on, before and after it
        _assert_consistent(articles, epoch)
        assert sorted(p.name for p in target.iterdir()) == [MANIFEST_NAME, DB_NAME]
        db = sqlite3.connect(target / DB_NAME)
        try:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
            orphans = db.execute(
                "SELECT COUNT(*) FROM articles a WHERE NOT EXISTS "
                "(SELECT 1 FROM passages p WHERE p.article_id = a.id)"
            ).fetchone()[0]
            assert orphans == 0
        finally:
            db.close()

    # Open a backup in place with an engine, and query it.
    target, articles, _ = backups[0]
    with Engine(EngineConfig(data_dir=target), encoder) as engine:
        _assert_answers(engine, articles)


def test_restore_replaces_the_database_keeps_the_old_one_and_rebuilds_the_index(
    engine_factory, encoder, tmp_path
):
    source = engine_factory(tmp_path / "source")
    source.ingest_paths([SAMPLE_DIR])
    source.ingest(_articles(0))
    info = backup_data_dir(tmp_path / "source", tmp_path / "backup")
    assert (info.articles, info.epoch) == (1 + PER_BATCH, 2)

    # A data directory with other content and a published index of a different database.
    other = engine_factory(tmp_path / "data")
    other.ingest(_articles(500))
    other.close()
    assert (tmp_path / "data" / "index").is_dir()

    result = CliRunner().invoke(
        app, ["--data-dir", str(tmp_path / "data"), "restore", str(tmp_path / "backup")]
    )
    assert result.exit_code == 0, result.output
    assert f"restored {1 + PER_BATCH} articles" in result.output
    kept = [p for p in (tmp_path / "data").iterdir() if p.name.startswith("pre-restore-")]
    assert len(kept) == 1 and (kept[0] / DB_NAME).is_file()
    assert not (tmp_path / "data" / "index").exists()

    with Engine(EngineConfig(data_dir=tmp_path / "data"), encoder) as engine:
        _assert_answers(engine, 1 + PER_BATCH)
        assert {h.source for h in engine.headlines(limit=50)} >= {"Harbour Gazette"}
        assert not any("500" in h.title for h in engine.headlines(limit=50))

    # The kept database is the one that was replaced, whole.
    with Engine(EngineConfig(data_dir=kept[0]), encoder) as engine:
        assert engine.stats().articles == PER_BATCH


def test_backup_refuses_a_missing_database_and_a_non_empty_target(tmp_path, engine_factory):
    with pytest.raises(NewsbotError, match="no newsbot database"):
        backup_data_dir(tmp_path / "nothing", tmp_path / "b1")
    assert not (tmp_path / "nothing").exists()  # never creates an empty database

    engine_factory(tmp_path / "data").ingest_paths([SAMPLE_DIR])
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(NewsbotError, match="not an empty directory"):
        backup_data_dir(tmp_path / "data", tmp_path / "full")
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["keep.txt"]


def test_a_failed_backup_removes_what_it_made_and_nothing_else(tmp_path, monkeypatch, capsys):
    # backup.py: the target (and its new parents) stayed behind, empty, after the error, so
    # the retry met "exists and is not an empty directory".
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / DB_NAME).write_bytes(b"this is not SQLite" * 100)
    (tmp_path / "empty").mkdir()
    for target in (tmp_path / "new" / "nightly" / "1", tmp_path / "empty"):
        argv = ["newsbot", "--data-dir", str(tmp_path / "data"), "backup", str(target)]
        monkeypatch.setattr("sys.argv", argv)
        with pytest.raises(SystemExit) as exit_info:
            bot.cli.main()
        assert exit_info.value.code == 1
        [line] = capsys.readouterr().err.strip().splitlines()
        assert line.startswith("error: cannot open the store") and "not a database" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "empty"]
    assert list((tmp_path / "empty").iterdir()) == []  # there before: kept, as it was


def test_a_backup_failing_at_its_last_step_removes_its_files(tmp_path, engine_factory, monkeypatch):
    engine_factory(tmp_path / "data").ingest_paths([SAMPLE_DIR])
    (tmp_path / "empty").mkdir()

    def disk_full(path: Path) -> None:
        assert sorted(p.name for p in path.iterdir()) == [MANIFEST_NAME, DB_NAME]
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(bot.backup, "_fsync_dir", disk_full)
    for target in (tmp_path / "empty", tmp_path / "new"):
        with pytest.raises(NewsbotError, match="cannot write the backup"):
            backup_data_dir(tmp_path / "data", target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "empty"]
    assert list((tmp_path / "empty").iterdir()) == []


def test_restore_refuses_something_that_is_not_a_backup(tmp_path):
    (tmp_path / "junk").mkdir()
    with pytest.raises(NewsbotError, match="not a newsbot backup"):
        restore_data_dir(tmp_path / "junk", tmp_path / "data")
    (tmp_path / "junk" / DB_NAME).write_bytes(b"this is not SQLite" * 100)
    # The message names the file the user gave, not the temporary copy it checked.
    with pytest.raises(NewsbotError, match=f"^{tmp_path / 'junk' / DB_NAME}: not a readable"):
        restore_data_dir(tmp_path / "junk", tmp_path / "data")
    assert not (tmp_path / "data" / DB_NAME).exists()


def test_backup_and_restore_at_impossible_paths_are_one_line_errors(tmp_path, engine_factory):
    engine_factory(tmp_path / "data").ingest_paths([SAMPLE_DIR])
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(NewsbotError, match="cannot write the backup"):
        backup_data_dir(tmp_path / "data", tmp_path / "a-file" / "sub")  # NotADirectoryError
    backup_data_dir(tmp_path / "data", tmp_path / "b1")
    with pytest.raises(NewsbotError, match="cannot restore into it"):
        restore_data_dir(tmp_path / "b1", tmp_path / "a-file")  # FileExistsError
    # Two restores within one second each keep the database they replaced.
    first = restore_data_dir(tmp_path / "b1", tmp_path / "data")[1]
    second = restore_data_dir(tmp_path / "b1", tmp_path / "data")[1]
    assert first and second and first != second and (second / DB_NAME).is_file()


SECRET = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.s3cr3t-t0k3n-never-printed"


@pytest.mark.parametrize("via", ["DISCORD_TOKEN", "DISCORD_TOKEN_FILE"])
def test_config_never_prints_the_token_nor_logs_it(via, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSBOT_", "DISCORD_"))}
    env |= {"NEWSBOT_LOG_LEVEL": "DEBUG", "NEWSBOT_DATA_DIR": str(tmp_path / "data")}
    if via == "DISCORD_TOKEN":
        env["DISCORD_TOKEN"] = SECRET
    else:
        token_file = tmp_path / "token"
        token_file.write_text(SECRET + "\n")
        env["DISCORD_TOKEN_FILE"] = str(token_file)
    newsbot = Path(sys.executable).with_name("newsbot")
    done = subprocess.run(
        [str(newsbot), "config"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "NEWSBOT_LOG_LEVEL=DEBUG" in done.stdout.splitlines()  # the run did log at DEBUG
    if via == "DISCORD_TOKEN":
        assert "DISCORD_TOKEN=****" in done.stdout.splitlines()
    else:
        assert f"DISCORD_TOKEN_FILE={tmp_path / 'token'}" in done.stdout.splitlines()
    for fragment in (SECRET, SECRET.split(".")[0], SECRET.split(".")[-1]):
        assert fragment not in done.stdout
        assert fragment not in done.stderr


def test_backup_prints_a_path_that_looks_like_markup_as_it_is(tmp_path, engine_factory):
    """A directory may be called anything, "[/b]" included: rich would read that as a closing
    tag and fail the command after the backup was made."""
    engine_factory(tmp_path / "data").ingest_paths([SAMPLE_DIR])
    target = tmp_path / "nightly [/b]"
    result = CliRunner().invoke(app, ["--data-dir", str(tmp_path / "data"), "backup", str(target)])
    assert result.exit_code == 0, result.output
    assert f"to {target}" in " ".join(result.output.split())
