"""Query parsing, follow-ups, reciprocal rank fusion and the hybrid retriever over a snapshot."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest

from index.dense import DenseIndex
from index.lexical import LexicalIndex
from index.retrieve import (
    ANY_YEAR,
    Filters,
    HybridRetriever,
    follow_up_text,
    parse_query,
    reciprocal_rank_fusion,
)
from index.snapshot import IndexSnapshot
from index.tokenize import NewsTokenizer

TOK = NewsTokenizer()
SOURCES = ["TechCrunch", "The Verge", "The Independent - Life and Style", "BBC", "Reuters"]


# --- query parsing ---------------------------------------------------------------------------


def test_outlets_named_in_the_question_are_detected():
    q = parse_query("According to TechCrunch and The Verge, what happened to OpenAI?", TOK, SOURCES)
    assert q.sources == ("TechCrunch", "The Verge")
    # Case-insensitive, and "The Independent" / "Independent" name the long outlet name.
    assert parse_query("what did bbc say?", TOK, SOURCES).sources == ("BBC",)
    assert parse_query("What did the Independent report?", TOK, SOURCES).sources == (
        "The Independent - Life and Style",
    )
    assert parse_query("Did Independent cover it?", TOK, SOURCES).sources == (
        "The Independent - Life and Style",
    )


def test_a_longer_outlet_name_wins_over_a_shorter_one_inside_it():
    sources = ["The Independent - Travel", "The Independent - Life and Style", "The Verge"]
    q = parse_query("What did The Independent - Life and Style say?", TOK, sources)
    assert q.sources == ("The Independent - Life and Style",)
    # The shared short name alone names both.
    assert set(parse_query("What did the Independent say?", TOK, sources).sources) == {
        "The Independent - Travel",
        "The Independent - Life and Style",
    }


def test_each_outlet_searches_with_the_words_around_its_mention():
    q = parse_query(
        "Which chip did TechCrunch review, and which phone did The Verge rank first?",
        TOK,
        SOURCES,
    )
    tech, verge = q.focuses  # each reaches from the previous outlet's mention to the next's
    assert "chip" in tech.tokens and "rank" not in tech.tokens
    assert "rank" in verge.tokens and "chip" not in verge.tokens
    # Outlets listed after it have no words of their own: each uses the whole question.
    listed = parse_query(
        "Who won the final, reported by TechCrunch, BBC and Reuters?", TOK, SOURCES
    )
    assert [f.source for f in listed.focuses] == ["TechCrunch", "BBC", "Reuters"]
    first, *together = listed.focuses  # the first reaches back to the question's start
    assert "final" in first.tokens
    assert all(f.tokens == listed.tokens for f in together)


def test_outlet_names_match_whole_words_only():
    assert parse_query("What did TechCrunchy say?", TOK, SOURCES).sources == ()
    assert parse_query("Reutersville news", TOK, SOURCES).sources == ()
    assert parse_query("What did Reuters say?", TOK, ()).sources == ()


@pytest.mark.parametrize(
    "question, dates",
    [
        ("What happened on November 18, 2023?", (date(2023, 11, 18),)),
        ("What happened on Nov. 18?", (date(ANY_YEAR, 11, 18),)),
        ("What happened on Nov 18 2023?", (date(2023, 11, 18),)),
        ("What did BBC say on 18th November?", (date(ANY_YEAR, 11, 18),)),
        ("published on 3 March 2021", (date(2021, 3, 3),)),
        ("What happened on Sept. 5, 2022?", (date(2022, 9, 5),)),
        ("between June 2 and June 4", (date(ANY_YEAR, 6, 2), date(ANY_YEAR, 6, 4))),
        ("What happened on February 29?", (date(ANY_YEAR, 2, 29),)),  # a day of leap years
        ("What happened on February 29, 2024?", (date(2024, 2, 29),)),
        ("What happened on February 29, 2023?", ()),  # not a day
        ("What happened on February 30?", ()),  # not a day
        ("What happened on December 31, 9999?", ()),  # no day after it: nothing to search
        ("What happened on 30 December 9999?", ()),
        ("What happened on January 1, 0001?", ()),  # no day before it
        ("What happened in 2023?", ()),
    ],
)
def test_dates_in_the_question_are_parsed(question, dates):
    assert parse_query(question, TOK, SOURCES).dates == dates


def test_parsed_query_keeps_text_and_tokens():
    q = parse_query("When is the Shangri-La Dialogue?", TOK)
    assert q.text == "When is the Shangri-La Dialogue?"
    assert q.tokens == ("shangri-la", "shangri", "la", "dialogu")


def test_follow_up_text_joins_the_previous_question():
    context = [
        "Who is the Japanese government's top spokesman?",
        "When is the Shangri-La Dialogue?",
    ]
    assert (
        follow_up_text("and where is it held?", context)
        == "When is the Shangri-La Dialogue? and where is it held?"
    )
    assert follow_up_text("What about Seoul?", context).startswith("When is the Shangri-La")
    assert follow_up_text("Where?", context) == "When is the Shangri-La Dialogue? Where?"
    # A complete new question stands alone, and without context nothing is joined.
    standalone = "Who is the Japanese government's top spokesman?"
    assert follow_up_text(standalone, context[1:]) == standalone
    assert follow_up_text("and where is it held?", []) == "and where is it held?"


# --- fusion ----------------------------------------------------------------------------------


def test_reciprocal_rank_fusion_math():
    fused = dict(reciprocal_rank_fusion([([1, 2, 3], 1.0), ([3, 1], 0.5)], k=60))
    assert fused[1] == pytest.approx(1 / 61 + 0.5 / 62)
    assert fused[2] == pytest.approx(1 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 0.5 / 61)
    ordered = reciprocal_rank_fusion([([1, 2, 3], 1.0), ([3, 1], 0.5)], k=60)
    assert [row for row, _ in ordered] == [1, 3, 2]


def test_fusion_weights_decide_the_order():
    lists = [([10, 20], 1.0), ([20, 10], 1.0)]
    # Equal weights and mirrored ranks: a tie, broken by the smaller row.
    tied = reciprocal_rank_fusion(lists, k=1)
    assert tied[0][1] == pytest.approx(tied[1][1]) and [r for r, _ in tied] == [10, 20]
    assert [r for r, _ in reciprocal_rank_fusion([([10, 20], 1.0), ([20, 10], 3.0)], k=1)] == [
        20,
        10,
    ]
    assert reciprocal_rank_fusion([([10, 20], 1.0), ([20, 10], 3.0)], k=1)[0][1] == pytest.approx(
        1 / 3 + 3 / 2
    )


def test_fusion_skips_zero_weight_lists_and_handles_empty_input():
    assert reciprocal_rank_fusion([([1, 2], 1.0), ([3], 0.0)], k=1) == [(1, 0.5), (2, 1 / 3)]
    assert reciprocal_rank_fusion([], k=60) == []
    assert reciprocal_rank_fusion([([], 1.0)], k=60) == []
    # numpy rows work and come back as Python ints.
    out = reciprocal_rank_fusion([(np.array([7, 5]), 1.0)], k=0)
    assert out == [(7, 1.0), (5, 0.5)] and all(type(r) is int for r, _ in out)


# --- the hybrid retriever over a hand-made snapshot -----------------------------------------

DOCS = [
    # (text, source, published, unit vector direction)
    ("Apple unveils a new iPhone with a faster chip", "TechCrunch", "2023-11-18", 0),
    ("Apple shares rise after the iPhone launch", "Reuters", "2023-11-17", 0),
    ("The Verge reviews the new iPhone camera", "The Verge", "2022-11-18", 1),
    ("Storm floods the coast of Kerala", "BBC", "2023-06-01", 2),
    ("Central bank raises interest rates again", "Reuters", "2023-06-02", 3),
    ("Smartphone makers report weak demand", "TechCrunch", None, 1),
    ("iPhone sales slow in Europe", "BBC", "2023-03-01", 1),
]


def _snapshot() -> IndexSnapshot:
    sources = list(dict.fromkeys(s for _, s, _, _ in DOCS))
    vectors = np.zeros((len(DOCS), 8), dtype=np.float32)
    for i, (_, _, _, axis) in enumerate(DOCS):
        vectors[i, axis] = 1.0
        vectors[i, 4 + i % 4] = 0.1 * (i + 1)  # small distinct components break ties
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return IndexSnapshot(
        epoch=1,
        name="test",
        passage_ids=np.arange(100, 100 + len(DOCS), dtype=np.int64),
        published_ts=np.array(
            [
                datetime.fromisoformat(p).replace(tzinfo=UTC).timestamp() if p else np.nan
                for _, _, p, _ in DOCS
            ]
        ),
        source_codes=np.array([sources.index(s) for _, s, _, _ in DOCS], dtype=np.int32),
        sources=tuple(sources),
        lexical=LexicalIndex.build([TOK.tokens(t) for t, _, _, _ in DOCS]),
        dense=DenseIndex(vectors),
    )


@pytest.fixture(scope="module")
def snap() -> IndexSnapshot:
    return _snapshot()


def _axis(i: int) -> np.ndarray:
    v = np.zeros(8, dtype=np.float32)
    v[i] = 1.0
    return v


def test_bm25_dense_and_hybrid_lists(snap):
    r = HybridRetriever(snap)
    q = parse_query("interest rates", TOK, snap.sources)
    assert r.retrieve(q, None, kind="bm25").rows == [4]
    dense = r.retrieve(q, _axis(2), kind="dense")
    assert dense.rows[0] == 3 and len(dense.rows) == len(DOCS)
    assert dense.dense_scores[3] == pytest.approx(float(snap.dense.vectors[3] @ _axis(2)))
    hybrid = r.retrieve(q, _axis(2), kind="hybrid", k=3)
    assert len(hybrid.rows) == 3 and set(hybrid.rows) >= {3, 4}
    assert hybrid.scores == sorted(hybrid.scores, reverse=True)
    assert {"lexical", "dense", "fuse"} <= set(hybrid.timings_ms)


def test_weights_change_the_hybrid_ranking(snap):
    # BM25 prefers the rates story, the question vector points at the storm story.
    q = parse_query("interest rates", TOK, snap.sources)
    lexical_first = HybridRetriever(snap, lexical_weight=1.0, dense_weight=0.1, rrf_k=1)
    dense_first = HybridRetriever(snap, lexical_weight=0.1, dense_weight=1.0, rrf_k=1)
    assert lexical_first.retrieve(q, _axis(2)).rows[0] == 4
    assert dense_first.retrieve(q, _axis(2)).rows[0] == 3


def test_filters_are_hard_constraints(snap):
    r = HybridRetriever(snap)
    q = parse_query("iPhone", TOK, snap.sources)
    only = r.retrieve(q, _axis(0), filters=Filters(sources=("reuters",)))
    assert only.rows and all(DOCS[row][1] == "Reuters" for row in only.rows)
    since = datetime(2023, 1, 1, tzinfo=UTC)
    dated = r.retrieve(q, _axis(0), filters=Filters(since=since))
    assert dated.rows and 2 not in dated.rows and 5 not in dated.rows  # 2022, and undated
    assert all(snap.published_ts[row] >= since.timestamp() for row in dated.rows)
    until = r.retrieve(q, _axis(0), filters=Filters(until=since))
    assert until.rows == [2]


def test_a_named_outlet_brings_its_evidence_into_the_top_k(snap):
    r = HybridRetriever(snap)
    plain = parse_query("new iPhone", TOK, ())
    named = parse_query("new iPhone according to the BBC", TOK, snap.sources)
    assert named.sources == ("BBC",)
    assert 6 not in r.retrieve(plain, _axis(0), k=3).rows
    assert 6 in r.retrieve(named, _axis(0), k=3).rows


def test_a_named_day_brings_that_days_articles_forward(snap):
    r = HybridRetriever(snap)
    # "November 18" without a year: both Nov 18 articles (2022 and 2023) and the day around.
    mask = r._day_mask([date(ANY_YEAR, 11, 18)])
    assert mask.tolist() == [True, True, True, False, False, False, False]
    mask = r._day_mask([date(2023, 6, 2)])
    assert mask.tolist() == [False, False, False, True, True, False, False]
    plain = parse_query("What happened?", TOK, snap.sources)
    assert set(r.retrieve(plain, _axis(0), k=2).rows) == {0, 1}
    dated = parse_query("What happened on June 2, 2023?", TOK, snap.sources)
    assert set(r.retrieve(dated, _axis(0), k=2).rows) == {3, 4}


def test_february_29_without_a_year_selects_that_day_of_the_leap_years():
    # retrieve.py parse_query: year 1 stood for "any year" and has no February 29, so the
    # day was dropped and the question searched every day.
    days = ["2024-02-29", "2020-02-28", "2023-03-01", "2022-02-10"]
    leap = IndexSnapshot(
        epoch=1,
        name="leap",
        passage_ids=np.arange(len(days), dtype=np.int64),
        published_ts=np.array(
            [datetime.fromisoformat(d + "T12:00+00:00").timestamp() for d in days]
        ),
        source_codes=np.full(len(days), -1, dtype=np.int32),
        sources=(),
        lexical=None,
        dense=DenseIndex(np.eye(len(days), 8, dtype=np.float32)),
    )
    (day,) = parse_query("What happened on February 29?", TOK).dates
    assert HybridRetriever(leap)._day_mask([day]).tolist() == [True, True, False, False]


def test_an_empty_snapshot_retrieves_nothing():
    empty = IndexSnapshot(
        epoch=0,
        name="empty",
        passage_ids=np.zeros(0, dtype=np.int64),
        published_ts=np.zeros(0),
        source_codes=np.zeros(0, dtype=np.int32),
        sources=(),
        lexical=None,
        dense=DenseIndex(np.zeros((0, 8), dtype=np.float32)),
    )
    out = HybridRetriever(empty).retrieve(parse_query("anything", TOK), _axis(0))
    assert out.rows == [] and out.scores == []


def test_a_question_that_asks_several_things_is_split_into_its_parts():
    q = parse_query(
        "Which company, known for its e-reader lineup and for selling cables for $15.99, "
        "has a history of invite-only deals?",
        TOK,
        SOURCES,
    )
    # "Which company" is too short to stand alone and joins the next part.
    assert q.clauses == (
        ("compani", "known", "e-reader", "reader", "lineup"),
        ("sell", "cabl", "15.99"),
        ("histori", "invite-only", "invit", "deal"),
    )
    assert parse_query("When is the Shangri-La Dialogue?", TOK).clauses == ()
    assert parse_query("Did TechCrunch and BBC agree?", TOK, SOURCES).clauses == ()
