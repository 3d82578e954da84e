"""The Milvus backend against a real Milvus Lite server: idempotent re-ingest, replaced
passages, restored stores, schema checks, a server killed mid-sync, a server that is down
(for the CLI and for the Discord bot), and ``newsbot migrate``."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime

import numpy as np
import pytest

import bot.cli
from bot.discord.errors import INDEX_UNAVAILABLE
from index.backends.milvus_query import (
    NOTHING,
    base_expr,
    focus_expr,
    literal,
)
from index.backends.milvus_schema import P_SCHEMA, lexical_string, query_string
from index.backends.milvus_sync import SyncProgress, SyncState
from index.errors import BackendUnavailable, NewsbotError
from index.model import Article
from index.retrieve import ANY_YEAR, Filters, Focus
from tests.conftest import SAMPLE_DIR
from tests.discord.harness import (
    ANSWER_TIMEOUT,
    SHANGRI_LA,
    assert_no_pings,
    bot_settings,
    embed_text,
    running_bot,
    tiny_articles,
)
from tests.milvus.conftest import milvus_config
from tests.support.fake_discord import ErrorLogGuard, FakeDiscord
from tests.support.milvus_server import free_port


def indexed_ids(engine, **where: str) -> list[int]:
    expr = " and ".join(f"{k} == {literal(v)}" for k, v in where.items()) or "id > 0"
    rows = engine.backend.conn.call(
        "list", lambda c: c.query(engine.backend.collection, filter=expr, output_fields=["id"])
    )
    return sorted(int(r["id"]) for r in rows)


def store_ids(engine) -> list[int]:
    return engine.store.passage_ids_between(0, engine.store.max_passage_id() + 1)


# -- expressions and spelling (no server) -----------------------------------------------------


def test_expressions_mirror_the_local_masks():
    assert literal('We "quote" \\ it') == '"We \\"quote\\" \\\\ it"'
    known = ["Fortune", "The Verge"]
    assert base_expr(Filters(sources=("the verge",)), known) == 'source in ["The Verge"]'
    assert base_expr(Filters(sources=("Nobody",)), known) == NOTHING
    until = datetime(2023, 11, 20, tzinfo=UTC)
    expr = base_expr(Filters(until=until), known)
    assert expr is not None and "published >= " in expr  # unknown dates never pass
    assert f"published < {int(until.timestamp())}" in expr
    day = focus_expr(Focus(("x",), dates=(date(2023, 11, 18),)), known)
    start = int(datetime(2023, 11, 17, tzinfo=UTC).timestamp())
    assert day == f"(published >= {start} and published < {start + 3 * 86400})"
    assert focus_expr(Focus(("x",), dates=(date(ANY_YEAR, 11, 30),)), known) == (
        "month_day in [1129, 1130, 1131]"
    )
    assert (
        focus_expr(Focus(("x",), dates=(date(ANY_YEAR, 3, 1),)), known) == "month_day in [301, 302]"
    )
    leap_day = Focus(("x",), dates=(date(ANY_YEAR, 2, 29),))
    assert focus_expr(leap_day, known) == "month_day in [228, 229, 230]"


def test_store_tokens_stay_whole_words_for_the_analyzer():
    spelled = lexical_string("f-35 shangri-la 1,000 u.s café")
    assert len(spelled.split()) == 5
    assert all(w.isalnum() for w in spelled.split())
    assert query_string(["f-35"]) == spelled.split()[0]


# -- against the session server ---------------------------------------------------------------


def test_reingest_and_resending_everything_change_nothing(milvus_engine_factory):
    engine = milvus_engine_factory()
    engine.ingest(tiny_articles(6))
    before = indexed_ids(engine)
    found = engine.search("ferry passengers", limit=6)
    ranked = [rp.passage.id for rp in found]
    assert before == store_ids(engine) and before
    # The collection holds one vector a passage: the sentence vectors come from the store.
    stored = {row.id: row.sentence_vectors for row in engine.store.iter_passage_rows()}
    assert found
    for rp in found:
        assert rp.sentence_vectors.dtype == np.float32
        assert len(rp.sentence_vectors) == len(rp.passage.sentences)
        expected = np.frombuffer(stored[rp.passage.id], "<f2").reshape(
            len(rp.passage.sentences), -1
        )
        np.testing.assert_array_equal(rp.sentence_vectors, expected.astype(np.float32))

    report = engine.ingest(tiny_articles(6))
    assert report.unchanged == 6 and report.added == 0
    # Upserts by primary key: sending every passage again (a crash before the watermark
    # moved) leaves one copy of each.
    backend = engine.backend
    state = backend.passages.state(engine.store)
    backend.passages.incremental(
        engine.store, SyncState(state.nonce, 0, state.epoch), SyncProgress(), None
    )
    assert indexed_ids(engine) == before
    assert backend.passages.indexed_count() == len(before)
    assert [rp.passage.id for rp in engine.search("ferry passengers", limit=6)] == ranked


def test_an_updated_article_replaces_its_passages(milvus_engine_factory):
    engine = milvus_engine_factory()
    first = tiny_articles(3)
    engine.ingest(first)
    changed = Article(
        title=first[1].title,
        body="The harbour ferry was replaced by a bridge. Nobody rides it any more.",
        origin="tiny:changed",
        published=first[1].published,
        source=first[1].source,
        url=first[1].url,
    )
    assert engine.ingest([changed]).updated == 1
    article_id = engine.store.find_existing(changed)[0]
    assert indexed_ids(engine, article_id=article_id) == sorted(
        p for p in store_ids(engine) if engine.store.passages([p])[p].article_id == article_id
    )
    assert indexed_ids(engine) == store_ids(engine)
    answer = engine.quote_answer("What replaced the harbour ferry?")
    assert "bridge" in answer.quotes[0].text


def test_a_store_restored_from_an_older_backup_is_reconciled(milvus_engine_factory, tmp_path):
    engine = milvus_engine_factory(tmp_path / "data")
    engine.ingest(tiny_articles(3))
    backup = tmp_path / "backup.sqlite3"
    engine.store.backup(backup)
    engine.ingest(tiny_articles(3, prefix="Later"))
    assert len(indexed_ids(engine)) == 6
    engine.close()

    restored = tmp_path / "restored"
    restored.mkdir()
    shutil.copy(backup, restored / "newsbot.sqlite3")
    again = milvus_engine_factory(restored)  # same collection: the passages of "Later" go
    assert indexed_ids(again) == store_ids(again) and len(store_ids(again)) == 3
    assert all("Later" not in rp.article.title for rp in again.search("harbour", limit=10))


def test_a_collection_of_another_schema_or_data_directory_is_refused(
    milvus_engine_factory, tmp_path, milvus_server, collection
):
    engine = milvus_engine_factory(tmp_path / "one")
    engine.ingest(tiny_articles(2))
    with pytest.raises(NewsbotError, match="another newsbot data directory"):
        other = milvus_engine_factory(tmp_path / "two")
        other.ingest(tiny_articles(1))
    engine.backend.conn.call(
        "alter",
        lambda c: c.alter_collection_properties(collection, properties={P_SCHEMA: "0"}),
    )
    engine.close()
    with pytest.raises(NewsbotError, match=r"schema v0.*--recreate"):
        milvus_engine_factory(tmp_path / "one")
    done = run_cli(
        ["--data-dir", str(tmp_path / "one"), "migrate", "--to", "milvus", "--recreate"],
        milvus_config(milvus_server, collection),
    )
    assert done.exit_code == 0, done.output
    assert "2 of 2 passages indexed" in done.output


def run_cli(args: list[str], config: dict[str, object]):
    """``newsbot ARGS`` in this process (no second model load), settings from the env."""
    from typer.testing import CliRunner

    from bot.cli import app

    # EngineConfig's milvus_uri is NEWSBOT_MILVUS_URI; its other fields NEWSBOT_ENGINE_*.
    env = {
        f"NEWSBOT_{'' if k.startswith('milvus_') else 'ENGINE_'}{k.upper()}": str(v)
        for k, v in config.items()
    }
    return CliRunner().invoke(app, args, env=env)


def test_migrate_copies_a_local_index_and_resumes(
    tmp_path, engine_factory, milvus_server, collection
):
    data = tmp_path / "data"
    local = engine_factory(data)
    local.ingest_paths([SAMPLE_DIR])
    n = local.stats().passages
    config = milvus_config(milvus_server, collection)
    done = run_cli(["--data-dir", str(data), "migrate", "--to", "milvus"], config)
    assert done.exit_code == 0, done.output
    assert f"{n} of {n} passages indexed ({n} copied" in done.output
    assert "NEWSBOT_ENGINE_BACKEND=milvus" in done.output
    again = run_cli(["--data-dir", str(data), "migrate", "--to", "milvus"], config)
    assert "(0 copied, 0 removed)" in again.output, again.output
    served = engine_factory(data, **config)
    answer = served.quote_answer(SHANGRI_LA)
    assert "June 2" in answer.quotes[0].text


def test_an_unreachable_server_is_one_clear_line(tmp_path, engine_factory, monkeypatch, capsys):
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(BackendUnavailable, match=f"cannot reach Milvus at {uri}"):
        engine_factory(tmp_path / "x", backend="milvus", milvus_uri=uri)
    # The command line as a user runs it: bot.cli.main, its exit code and its stderr.
    monkeypatch.setenv("NEWSBOT_ENGINE_BACKEND", "milvus")
    monkeypatch.setenv("NEWSBOT_MILVUS_URI", uri)
    monkeypatch.setattr("sys.argv", ["newsbot", "--data-dir", str(tmp_path / "y"), "ask", "hi"])
    with pytest.raises(SystemExit) as exit_info:
        bot.cli.main()
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: cannot reach Milvus at {uri}"), err


# -- against a private server that is killed and restarted ------------------------------------


def test_a_killed_server_loses_nothing_acknowledged_and_the_ingest_resumes(
    tmp_path, engine_factory, encoder, private_milvus
):
    from index.backends.milvus import MilvusBackend
    from index.config import EngineConfig
    from index.store import Store

    data = tmp_path / "data"
    engine_factory(data).ingest(tiny_articles(30))  # a local index: nothing in Milvus yet
    config = EngineConfig(data_dir=data, **milvus_config(private_milvus, "killed"))
    store = Store(config.db_path)
    backend = MilvusBackend(config, batch_size=5)
    backend.passages.write_attempts = 40  # long enough for a cold restart on a busy machine
    seen: list[SyncProgress] = []

    def crash_after_two_batches(progress: SyncProgress) -> None:
        seen.append(SyncProgress(**vars(progress)))
        if len(seen) == 2:
            private_milvus.kill()  # SIGKILL: no shutdown, nothing flushed on the way out
            private_milvus.start(wait=False)  # back in a few seconds; the sync retries

    try:
        progress = backend.sync(store, progress=crash_after_two_batches)
        total = len(store.passage_ids_between(0, 10**9))
        assert seen[1].watermark == seen[1].upserted == 10
        # Every batch was sent once: none acknowledged before the crash was lost and re-sent.
        assert progress.upserted == total and not progress.reconciled
        assert backend.passages.indexed_count() == total
    finally:
        backend.close()

    # Down while ingesting: the articles are stored, the ingest says so in one line, and
    # the next engine to open finishes the copy.
    milvus_engine = engine_factory(data, **milvus_config(private_milvus, "killed"))
    milvus_engine.backend.passages.write_attempts = 2
    private_milvus.kill()
    with pytest.raises(BackendUnavailable, match="cannot reach Milvus"):
        milvus_engine.ingest(tiny_articles(4, prefix="Late"))
    milvus_engine.close()
    private_milvus.start()
    resumed = engine_factory(data, **milvus_config(private_milvus, "killed"))
    assert indexed_ids(resumed) == store_ids(resumed)
    assert resumed.stats().indexed_passages == total + 4
    assert any("Late" in rp.article.title for rp in resumed.search("Late number 2 ferry"))
    store.close()


async def test_the_bot_apologizes_while_milvus_is_down_and_recovers(
    tmp_path, engine_factory, private_milvus
):
    engine = engine_factory(tmp_path / "data", **milvus_config(private_milvus, "bot"))
    engine.ingest_paths([SAMPLE_DIR])
    settings = bot_settings(tmp_path / "data")
    async with FakeDiscord() as fake:
        with ErrorLogGuard(("discord", "newsbot")):
            async with running_bot(fake, engine, settings):
                private_milvus.kill()
                reply = await dm(fake, SHANGRI_LA)
                assert reply.json["content"] == INDEX_UNAVAILABLE
                private_milvus.start()
                reply = await dm(fake, SHANGRI_LA)
                assert "June 2" in embed_text(reply.json)
        assert_no_pings(fake.requests)


async def dm(fake: FakeDiscord, text: str):
    mark = len(fake.requests)
    msg = fake.message_payload(text, dm=True)
    await fake.dispatch("MESSAGE_CREATE", msg)
    return await fake.wait_for_request(
        "POST", f"/channels/{msg['channel_id']}/messages", since=mark, timeout=ANSWER_TIMEOUT
    )
