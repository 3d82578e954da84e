"""The same retrieval and quoting checks on both backends, and the two backends against each
other on the same data: the Milvus backend must rank as the local one does (same BM25 over
the same tokens, same cosine lists, same weighted fusion), not merely "find something".
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from index.backends.milvus_schema import query_string
from index.backends.store_idf import StoreIdf
from index.engine import Engine
from index.model import Article
from index.retrieve import Filters, parse_query
from tests.conftest import SAMPLE_DIR
from tests.milvus.conftest import milvus_config

OUTLETS = ("Fortune", "TechCrunch", "Engadget", "Bloomberg")
TOPICS = (
    ("harbour ferry", "The harbour ferry {n} carried {p} passengers across the bay on {day}."),
    ("chip plant", "The chip plant {n} in Arizona will employ {p} engineers from {day}."),
    ("rail strike", "Union leaders said the rail strike {n} would idle {p} trains on {day}."),
    ("vaccine trial", "The vaccine trial {n} enrolled {p} volunteers, researchers said on {day}."),
    ("solar farm", "The solar farm {n} will power {p} homes once connected on {day}."),
    ("chess final", "The chess final {n} drew {p} spectators to the hall on {day}."),
)
START = datetime(2023, 11, 1, 12, tzinfo=UTC)


def corpus() -> list[Article]:
    """24 short articles: every topic in every outlet, on distinct days."""
    out = []
    for i, (outlet, (topic, sentence)) in enumerate((o, t) for t in TOPICS for o in OUTLETS):
        day = START + timedelta(days=i)
        body = " ".join(
            [
                sentence.format(n=i, p=100 + i * 7, day=day.strftime("%A")),
                f"{outlet} reported that the {topic} drew attention from regulators.",
                f"Officials expect a decision on the {topic} before the end of the year.",
                # Every article a different length, so no two score exactly alike (a tie
                # may be broken either way by either backend).
                " ".join(["Noted"] * (4 * i + 1)) + ".",
            ]
        )
        out.append(
            Article(
                title=f"{topic.title()} {i} makes news",
                body=body,
                origin=f"parity:{i}",
                published=day,
                source=outlet,
                url=f"https://news.example/parity/{i}",
            )
        )
    return out


QUESTIONS = [
    "How many passengers did the harbour ferry carry?",
    "How many engineers will the chip plant employ according to TechCrunch?",
    "What did Fortune report about the rail strike, and what did Engadget say about the solar farm?",
    "Which vaccine trial news was published on November 13, 2023?",
    "What happened to the chess final on November 22?",
    "regulators decision before the end of the year",
    "Which trains would the strike idle?",
]


@pytest.fixture(scope="module")
def parity_data(tmp_path_factory, encoder) -> Path:
    """The corpus ingested once into a local data directory (the store is shared by both)."""
    from index.config import EngineConfig

    data = tmp_path_factory.mktemp("parity") / "data"
    with Engine(EngineConfig(data_dir=data), encoder) as engine:
        engine.ingest(corpus())
        engine.ingest_paths([SAMPLE_DIR])
    return data


@pytest.fixture(scope="module")
def parity_engines(parity_data, encoder, milvus_server) -> Iterator[dict[str, Engine]]:
    """One engine per backend over the same store, shared by the module's read-only tests
    (a fresh collection costs seconds; these tests only read)."""
    from index.config import EngineConfig

    collection = "parity_module"
    engines = {
        # Milvus has no phrase columns (its BM25 counts words) nor window vectors, so the local
        # engine searches words and passage vectors alone here too; phrases leave every word's score as it is (test_lexical).
        "local": Engine(
            EngineConfig(data_dir=parity_data, phrase_search=False, window_search=False), encoder
        ),
        "milvus": Engine(
            EngineConfig(data_dir=parity_data, **milvus_config(milvus_server, collection)),
            encoder,
        ),
    }
    yield engines
    for engine in engines.values():
        engine.close()


@pytest.fixture(params=["local", "milvus"])
def backend_engine(request, parity_engines) -> Engine:
    """An engine over the parity data, on the local backend or on Milvus."""
    return parity_engines[request.param]


@pytest.fixture
def both(parity_engines) -> tuple[Engine, Engine]:
    return parity_engines["local"], parity_engines["milvus"]


# -- the same checks on either backend ------------------------------------------------------


def test_the_seed_question_finds_the_seed_passage(backend_engine):
    answer = backend_engine.quote_answer("when is the Shangri-La Dialogue?")
    assert "Shangri-La Dialogue" in answer.passages[0].passage.text
    assert answer.quotes
    for quote in answer.quotes:  # whatever the engine decides to quote, it is verbatim
        assert quote.passage[quote.text_start : quote.text_end] == quote.text


def test_a_question_naming_two_outlets_retrieves_both(backend_engine):
    answer = backend_engine.quote_answer(QUESTIONS[2])
    top = answer.passages[:4]
    assert {"Fortune", "Engadget"} <= {rp.article.source for rp in top}


def test_a_named_day_brings_that_days_article(backend_engine):
    answer = backend_engine.quote_answer(QUESTIONS[3])
    top = answer.passages[0].article
    assert "Vaccine Trial" in top.title
    assert abs((top.published - datetime(2023, 11, 13, tzinfo=UTC)).days) <= 1


def test_filters_restrict_to_outlet_and_dates(backend_engine):
    only = Filters(sources=("techcrunch",))  # case-insensitive, like the local mask
    found = backend_engine.search("harbour ferry passengers", filters=only)
    assert found and {rp.article.source for rp in found} == {"TechCrunch"}
    window = Filters(since=START + timedelta(days=4), until=START + timedelta(days=8))
    found = backend_engine.search("officials expect a decision", limit=20, filters=window)
    assert found
    assert all(window.since <= rp.article.published < window.until for rp in found)
    assert backend_engine.search("ferry", filters=Filters(sources=("Nobody News",))) == []


def test_an_unrelated_question_abstains(backend_engine):
    answer = backend_engine.quote_answer("What is the boiling point of liquid nitrogen in kelvin?")
    assert answer.abstained


def test_stats_count_every_indexed_passage(backend_engine):
    stats = backend_engine.stats()
    assert stats.indexed_passages == stats.passages > 0


# -- the two backends against each other ----------------------------------------------------


def test_both_backends_rank_the_same_passages(both):
    """Every retriever kind, each question embedded once and searched on both backends."""
    local, milvus = both
    for question in QUESTIONS:
        vector = local.encoder.encode([question])[0]
        parsed = parse_query(question, local.tokenizer, local.backend.known_sources())
        assert set(milvus.backend.known_sources()) == set(local.backend.known_sources())
        for kind in ("hybrid", "bm25", "dense"):
            a = local.backend.search(parsed, vector, k=10, kind=kind)
            b = milvus.backend.search(parsed, vector, k=10, kind=kind)
            assert a.passage_ids == b.passage_ids, (question, kind)
            assert b.scores == pytest.approx(a.scores, abs=1e-9)  # one fusion function
            assert max(b.dense_scores.values()) == pytest.approx(
                max(a.dense_scores.values()), abs=1e-5
            )


def test_both_backends_quote_the_same_sentences(both):
    local, milvus = both
    for question in QUESTIONS:
        a, b = local.quote_answer(question), milvus.quote_answer(question)
        assert [q.text for q in a.quotes] == [q.text for q in b.quotes], question
        assert a.confidence == pytest.approx(b.confidence, abs=1e-4)


def test_milvus_bm25_scores_are_the_local_ones(both):
    """Same idf, tf and lengths: Milvus's BM25 is the local (Lucene) score times k1 + 1,
    which also shows the index's k1 and b reached the server."""
    local, milvus = both
    snap = local.backend.snapshot()
    tokens = local.tokenizer.tokens("harbour ferry passengers regulators decision")
    want = dict(zip(snap.passage_ids.tolist(), snap.lexical.scores(tokens).tolist(), strict=True))
    found = milvus.backend.conn.call(
        "search",
        lambda c: c.search(
            milvus.backend.collection, data=[query_string(tokens)], anns_field="sparse", limit=100
        ),
    )[0]
    assert len(found) == sum(1 for s in want.values() if s > 0)
    k1 = milvus.config.bm25_k1
    for hit in found:
        assert abs(hit["distance"]) == pytest.approx(want[hit["id"]] * (k1 + 1), rel=1e-4)


def test_sampled_idf_is_close_to_the_exact_one(both):
    _, milvus = both
    exact = StoreIdf.from_store(milvus.store)
    sampled = StoreIdf.from_store(milvus.store, sample=12)
    assert exact.exact and not sampled.exact and sampled.docs >= 8
    for word in ("harbour", "ferri", "regul"):
        assert sampled.idf([word])[word] == pytest.approx(exact.idf([word])[word], abs=0.5)
    assert "nosuchword" not in exact.idf(["nosuchword"])
    assert "nosuchword" in sampled.idf(["nosuchword"])  # unseen in a sample: the rarest


def test_idf_is_the_local_index_idf(both):
    local, milvus = both
    tokens = ["ferri", "harbour", "regul", "nosuchword", "shangri-la"]
    want = local.backend.idf(tokens)
    got = milvus.backend.idf(tokens)
    assert got.keys() == want.keys() and "nosuchword" not in got
    for t in want:
        assert got[t] == pytest.approx(want[t], rel=1e-6)


def test_recency_preference_ranks_alike(parity_data, parity_engines, engine_factory, milvus_server):
    local = engine_factory(parity_data, recency_half_life_days=7.0)
    milvus = engine_factory(  # the module's collection, already in sync: opens at once
        parity_data,
        recency_half_life_days=7.0,
        **milvus_config(milvus_server, "parity_module"),
    )
    for question in QUESTIONS[:3]:
        a = [rp.passage.id for rp in local.search(question, limit=5)]
        b = [rp.passage.id for rp in milvus.search(question, limit=5)]
        assert a == b, question
