"""The Engine end to end on tiny corpora: seed questions, verbatim quotes, dedupe, incremental
ingest, bad inputs, fusion weights, follow-ups and browsing."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import index.engine as engine_module
from index.answer_types import find_answer_words
from index.config import EngineConfig
from index.dense import DenseIndex, Encoder
from index.engine import Engine, dense_texts, lexical_text
from index.errors import IngestError
from index.lexical import LexicalIndex
from index.model import Answer, Article, RetrievedPassage, Span
from index.pooling import span_vectors
from index.question import question_kind
from index.retrieve import Filters
from index.segment import PassageSpan, pack_passages
from index.sentences import sentence_units
from index.snapshot import current_name, load_snapshot
from tests.conftest import SAMPLE_DIR

SEED_TITLE = "Japan, South Korea to Link Radar Systems to Track North Korea Missiles: Source"


class CountingEncoder:
    """The real encoder, counting every text it is asked to embed."""

    def __init__(self, inner: Encoder) -> None:
        self.inner = inner
        self.texts: list[str] = []

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.texts.extend(texts)
        return self.inner.encode(texts)

    # Through our encode and encode_tokens, so every window is counted.
    encode_windows = Encoder.encode_windows

    @property
    def backend(self) -> CountingEncoder:
        return self

    def encode_tokens(self, texts: Sequence[str]):
        self.texts.extend(texts)
        return self.inner.backend.encode_tokens(texts)

    def encode_question(self, text: str) -> np.ndarray:
        self.texts.append(text)
        return self.inner.encode_question(text)


@pytest.fixture
def counting(encoder) -> CountingEncoder:
    return CountingEncoder(encoder)


@pytest.fixture(scope="module")
def seed_engine(tmp_path_factory, encoder) -> Engine:
    """The bundled sample, ingested once for the read-only questions of this module."""
    engine = Engine(EngineConfig(data_dir=tmp_path_factory.mktemp("seed")), encoder)
    engine.ingest_paths([SAMPLE_DIR])
    yield engine
    engine.close()


@pytest.fixture
def counted_engine(counting, tmp_path) -> Engine:
    engine = Engine(EngineConfig(data_dir=tmp_path / "counted"), counting)  # type: ignore[arg-type]
    yield engine
    engine.close()


def _jsonl(path: Path, *articles: dict) -> Path:
    path.write_text("".join(json.dumps(a) + "\n" for a in articles), encoding="utf-8")
    return path


def _article_ids(engine: Engine) -> list[str]:
    return [h.article_id for h in engine.headlines(limit=1000)]


def _assert_verbatim(engine: Engine, answer: Answer) -> None:
    """Every quote is a slice of its passage, and the passage a slice of the stored body."""
    for q in answer.quotes:
        assert q.text == q.passage[q.text_start : q.text_end]
        if q.highlight is not None:
            assert q.text[q.highlight_start : q.highlight_start + len(q.highlight)] == q.highlight
        stored = engine.article(q.article.id)
        assert stored is not None
        holders = [
            rp
            for rp in answer.passages
            if rp.article.id == q.article.id and rp.passage.text == q.passage
        ]
        assert holders, "the quoted passage is one of the retrieved passages"
        p = holders[0].passage
        assert stored.body[p.start : p.end] == q.passage
    for rp in answer.passages:
        stored = engine.article(rp.article.id)
        assert stored.body[rp.passage.start : rp.passage.end] == rp.passage.text


# --- the seed questions ----------------------------------------------------------------------


def test_when_is_the_shangri_la_dialogue(seed_engine):
    answer = seed_engine.quote_answer("When is the Shangri-La Dialogue?")
    assert not answer.abstained and answer.reason is None
    top = answer.quotes[0]
    assert top.sentence.startswith("Defense ministers from Japan and South Korea are separately")
    assert top.highlight == "from June 2 to 4"
    assert top.sentence_start is not None and top.sentence_end is not None
    assert top.highlight_start is not None
    assert top.sentence_start <= top.highlight_start < top.sentence_end  # in the sentence
    assert top.text[top.sentence_start : top.sentence_end] == top.sentence
    assert top.article.title == SEED_TITLE
    assert answer.confidence is not None and answer.confidence >= 0.5
    _assert_verbatim(seed_engine, answer)


def test_who_is_the_japanese_governments_top_spokesman(seed_engine):
    answer = seed_engine.quote_answer("Who is the Japanese government's top spokesman?")
    assert not answer.abstained
    top = answer.quotes[0]
    assert top.sentence.startswith("The Japanese government’s top spokesman, Hirokazu Matsuno")
    assert top.highlight == "Hirokazu Matsuno"
    _assert_verbatim(seed_engine, answer)


def test_a_quote_carries_a_sentence_of_context_either_side_within_100_words(engine_factory):
    question = "Who is the Japanese government's top spokesman?"
    with_context = engine_factory()
    with_context.ingest_paths([SAMPLE_DIR])
    quote = with_context.quote_answer(question).quotes[0]
    before, after = quote.text[: quote.sentence_start], quote.text[quote.sentence_end :]
    assert before.strip().endswith("Reuters reported.")  # the sentence before it
    assert after.strip().startswith("A South Korean defense ministry spokesman")  # and after
    assert len(quote.text.split()) <= 100
    assert quote.passage[quote.text_start : quote.text_end] == quote.text
    assert with_context.quote_answer(question).to_json()["quotes"][0]["sentence"] == quote.sentence

    alone = engine_factory(with_context.config.data_dir, quote_context=False)
    lone = alone.quote_answer(question).quotes[0]
    assert lone.text == quote.sentence and lone.highlight == quote.highlight


def test_an_unrelated_question_abstains_with_the_closest_headlines(seed_engine):
    answer = seed_engine.quote_answer("What is the price of bitcoin?")
    assert answer.abstained
    assert answer.reason in ("low_confidence", "no_match")
    assert answer.quotes == ()
    assert [h.title for h in answer.closest] == [SEED_TITLE]
    assert answer.confidence is not None and answer.confidence < 0.5


def test_an_empty_index_abstains_with_reason_empty_index(engine_factory):
    engine = engine_factory()
    answer = engine.quote_answer("When is the Shangri-La Dialogue?", qid="q1")
    assert answer.abstained and answer.reason == "empty_index"
    assert answer.quotes == () and answer.passages == () and answer.id == "q1"
    assert engine.search("anything") == []
    assert engine.stats().articles == 0 and engine.stats().indexed_passages == 0


@pytest.mark.parametrize("max_quotes", [1, 3])
def test_quotes_come_from_distinct_articles(engine_factory, tmp_path, max_quotes):
    engine = engine_factory(max_quotes=max_quotes)
    restated = {
        "title": "Asia security forum dates set",
        "text": "The IISS Shangri-La Dialogue will be held in Singapore from June 2 to 4, "
        "organisers said. Defence chiefs from across Asia are expected to attend.",
        "url": "https://news.example/forum",
    }
    engine.ingest_paths([SAMPLE_DIR, _jsonl(tmp_path / "r.jsonl", restated, ARTICLE)])
    answer = engine.quote_answer("When is the Shangri-La Dialogue?")
    ids = [q.article.id for q in answer.quotes]
    assert len(ids) == len(set(ids)) == min(max_quotes, 2)
    assert all(q.highlight == "from June 2 to 4" for q in answer.quotes)
    assert all("Rotterdam" not in q.text for q in answer.quotes)
    _assert_verbatim(engine, answer)


def test_relative_dates_in_quotes_are_resolved(seed_engine):
    answer = seed_engine.quote_answer("When did Kishida meet Yoon in Seoul?")
    top = answer.quotes[0]
    assert "on Sunday" in top.text
    assert top.highlight == "on Sunday"
    assert ("on Sunday", "2023-05-07") in top.resolved_dates


def test_a_follow_up_carries_the_question_it_follows(seed_engine):
    alone = seed_engine.quote_answer("and where will it take place?")
    followed = seed_engine.quote_answer(
        "and where will it take place?", context=["When is the Shangri-La Dialogue?"]
    )
    assert alone.abstained
    assert not followed.abstained
    assert "Shangri-La Dialogue" in followed.quotes[0].text
    assert followed.quotes[0].highlight == "Singapore"


def test_answer_json_schema(seed_engine):
    data = seed_engine.quote_answer("When is the Shangri-La Dialogue?", qid="7").to_json()
    assert data["id"] == "7" and data["question"] == "When is the Shangri-La Dialogue?"
    assert data["abstained"] is False and data["reason"] is None
    quote = data["quotes"][0]
    assert {
        "text",
        "passage",
        "highlight",
        "article_id",
        "title",
        "source",
        "published",
        "url",
        "score",
    } <= set(quote)
    assert quote["highlight"] == "from June 2 to 4"
    assert quote["published"] == "2023-05-10T01:24:00+00:00"
    assert data["passages"] and {"text", "article_id", "score"} <= set(data["passages"][0])
    assert {"embed", "lexical", "dense", "fuse", "quote", "total"} <= set(data["timings_ms"])
    json.dumps(data)  # serialisable as is


# --- dedupe and incremental ingest -----------------------------------------------------------

ARTICLE = {
    "title": "Port strike ends in Rotterdam",
    "text": "Dock workers in Rotterdam ended a three-day strike on Friday. "
    "The union said wages will rise by 4 percent next year.",
    "url": "https://news.example/port",
    "source": "Example Wire",
    "published": "2023-05-12T09:00:00Z",
}
OTHER = {
    "title": "Library opens in Turku",
    "text": "A new city library opened in Turku with room for 200,000 books. "
    "The mayor called it a gift to every reader.",
    "url": "https://news.example/library",
    "source": "Example Wire",
    "published": "2023-05-11T09:00:00Z",
}


def test_the_same_url_twice_is_one_article_and_nothing_is_re_embedded(
    counted_engine, counting, tmp_path
):
    path = _jsonl(tmp_path / "a.jsonl", ARTICLE)
    first = counted_engine.ingest_paths([path])
    assert (first.added, first.updated, first.unchanged) == (1, 0, 0)
    embedded = len(counting.texts)
    assert embedded == first.passages > 0
    epoch = counted_engine.store.epoch()

    again = counted_engine.ingest_paths([path])
    assert (again.added, again.updated, again.unchanged, again.passages) == (0, 0, 1, 0)
    assert len(counting.texts) == embedded  # nothing re-embedded
    assert counted_engine.store.epoch() == epoch  # and nothing written
    assert counted_engine.stats().articles == 1


def test_a_changed_body_updates_in_place_and_replaces_passages(counted_engine, counting, tmp_path):
    counted_engine.ingest_paths([_jsonl(tmp_path / "a.jsonl", ARTICLE)])
    (article_id,) = _article_ids(counted_engine)
    old_ids = {r.id for r in counted_engine.store.iter_passage_rows()}
    counting.texts.clear()

    changed = dict(ARTICLE, text="Dock workers in Rotterdam voted to strike again on Monday.")
    report = counted_engine.ingest_paths([_jsonl(tmp_path / "b.jsonl", changed)])
    assert (report.added, report.updated, report.unchanged) == (0, 1, 0)
    assert len(counting.texts) == report.passages == 1  # only the new body was embedded
    assert "voted to strike again" in counting.texts[0]

    assert _article_ids(counted_engine) == [article_id]  # the id is kept
    stored = counted_engine.article(article_id)
    assert stored.body == changed["text"]
    new_ids = {r.id for r in counted_engine.store.iter_passage_rows()}
    assert set(load_snapshot(counted_engine.config.index_dir).passage_ids.tolist()) == new_ids
    assert new_ids.isdisjoint(old_ids)
    assert counted_engine.store.passages(sorted(old_ids)) == {}
    answer = counted_engine.quote_answer("When did Rotterdam dock workers vote to strike again?")
    assert not answer.abstained
    assert answer.quotes[0].text == changed["text"]
    assert all("three-day strike" not in rp.passage.text for rp in answer.passages)


def test_a_changed_title_alone_is_an_update(counted_engine, counting, tmp_path):
    counted_engine.ingest_paths([_jsonl(tmp_path / "a.jsonl", ARTICLE)])
    renamed = dict(ARTICLE, title="Rotterdam port strike is over")
    report = counted_engine.ingest_paths([_jsonl(tmp_path / "b.jsonl", renamed)])
    assert (report.added, report.updated, report.unchanged) == (0, 1, 0)
    assert [h.title for h in counted_engine.headlines()] == ["Rotterdam port strike is over"]


def test_the_same_body_without_url_in_other_spacing_and_case_is_one_article(
    counted_engine, counting, tmp_path
):
    body = (
        "Dock workers in Rotterdam ended a three-day strike on Friday.\n\n"
        "The union said wages will rise by 4 percent next year."
    )
    (tmp_path / "one.txt").write_text("Port strike ends\n" + body, encoding="utf-8")
    respaced = "  " + body.upper().replace(" ", "   ").replace("\n\n", "\n \n\t")
    (tmp_path / "two.txt").write_text("Port strike ends\n" + respaced, encoding="utf-8")

    first = counted_engine.ingest_paths([tmp_path / "one.txt"])
    assert first.added == 1
    (article_id,) = _article_ids(counted_engine)
    embedded = len(counting.texts)

    second = counted_engine.ingest_paths([tmp_path / "two.txt"])
    assert (second.added, second.updated, second.unchanged) == (0, 0, 1)
    assert len(counting.texts) == embedded
    assert _article_ids(counted_engine) == [article_id]
    assert counted_engine.article(article_id).body == body  # the stored copy is kept


def test_duplicates_within_one_ingest_are_one_article(counted_engine, counting, tmp_path):
    path = _jsonl(tmp_path / "dups.jsonl", ARTICLE, OTHER, ARTICLE)
    report = counted_engine.ingest_paths([path])
    assert (report.added, report.unchanged) == (2, 1)
    assert counted_engine.stats().articles == 2
    assert len(counting.texts) == report.passages


def test_incremental_ingest_embeds_only_new_passages(counted_engine, counting, tmp_path):
    counted_engine.ingest_paths([_jsonl(tmp_path / "a.jsonl", ARTICLE)])
    counting.texts.clear()
    third = {
        "title": "Bridge reopens in Porto",
        "text": "The Luis I bridge in Porto reopened after repairs. "
        "Trams will cross it again from Monday. Cyclists must dismount.",
        "url": "https://news.example/bridge",
        "published": "2023-05-13T09:00:00Z",
    }
    report = counted_engine.ingest_paths([_jsonl(tmp_path / "all.jsonl", ARTICLE, OTHER, third)])
    assert (report.added, report.updated, report.unchanged) == (2, 0, 1)
    words = counted_engine.config.passage_words
    expected = len(pack_passages(OTHER["text"], words)) + len(pack_passages(third["text"], words))
    assert len(counting.texts) == report.passages == expected
    assert not any("Rotterdam" in t for t in counting.texts)
    assert counted_engine.stats().articles == 3
    assert load_snapshot(counted_engine.config.index_dir).epoch == counted_engine.store.epoch()


def test_small_passages_embed_one_text_per_passage(tmp_path, encoder):
    counting = CountingEncoder(encoder)
    engine = Engine(EngineConfig(data_dir=tmp_path / "small", passage_words=12), counting)  # type: ignore[arg-type]
    try:
        report = engine.ingest_paths([_jsonl(tmp_path / "a.jsonl", ARTICLE, OTHER)])
        assert report.passages == 4 == len(counting.texts)
        assert engine.stats().passages == 4 == engine.stats().indexed_passages
        for text in counting.texts:  # the headline goes with every passage
            assert text.startswith((ARTICLE["title"] + ". ", OTHER["title"] + ". "))
    finally:
        engine.close()


def test_a_passage_longer_than_the_model_reads_is_embedded_as_the_mean_of_its_windows(
    tmp_path, encoder
):
    sentences = [
        f"Sentence number {i} tells of the harbour works in Porto and Lisbon." for i in range(24)
    ]
    long = {**ARTICLE, "text": " ".join(sentences), "url": "https://news.example/long"}
    counting = CountingEncoder(encoder)
    engine = Engine(EngineConfig(data_dir=tmp_path / "long"), counting)  # type: ignore[arg-type]
    try:
        report = engine.ingest_paths([_jsonl(tmp_path / "a.jsonl", long)])
        assert report.passages == 1  # 288 words: one passage, more than MiniLM reads
        windows = counting.texts
        assert len(windows) == 2
        assert all(w.startswith(ARTICLE["title"] + ". ") for w in windows)
        # Every sentence is read, the last one included, each exactly once.
        read = " ".join(w.removeprefix(ARTICLE["title"] + ". ") for w in windows)
        assert read == long["text"]
        expected = encoder.encode(windows).mean(axis=0)
        expected /= np.linalg.norm(expected)
        vector = load_snapshot(engine.config.index_dir).dense.vectors[0]
        np.testing.assert_allclose(vector, expected, atol=1e-5)
    finally:
        engine.close()


# --- bad inputs ------------------------------------------------------------------------------


def test_each_bad_input_is_skipped_with_a_reason_and_the_rest_is_ingested(engine_factory, tmp_path):
    engine = engine_factory(max_file_bytes=2_000)
    engine.ingest_paths([_jsonl(tmp_path / "first.jsonl", ARTICLE)])
    before = _article_ids(engine)

    bad = tmp_path / "inbox"
    bad.mkdir()
    (bad / "empty.txt").write_bytes(b"")
    (bad / "binary.txt").write_bytes(b"Title\n\x00\x01\x02 binary \x00 junk")
    (bad / "huge.txt").write_text("Big title\n" + "Words go on and on. " * 200, encoding="utf-8")
    (bad / "latin1.txt").write_bytes("Café title\nLe café est fermé.".encode("latin-1"))
    (bad / "nohtml.html").write_text(
        "<html><head><title>Empty</title></head><body><script>var x = 1;</script></body></html>",
        encoding="utf-8",
    )
    (bad / "lines.jsonl").write_text(
        json.dumps(OTHER)
        + "\n"
        + '{"title": "Broken", "text": "no closing brace"\n'
        + json.dumps(dict(OTHER, url="https://news.example/d", published="someday soon"))
        + "\n",
        encoding="utf-8",
    )
    (bad / "good.txt").write_text(
        "Tram line extended\nThe city extended its tram line to the airport on Monday.",
        encoding="utf-8",
    )
    report = engine.ingest_paths([bad])
    reasons = {Path(s.origin).name: s.reason for s in report.skipped}

    assert reasons.keys() == {
        "empty.txt",
        "binary.txt",
        "huge.txt",
        "latin1.txt",
        "nohtml.html",
        "lines.jsonl:2",  # the line number names the malformed line
        "lines.jsonl:3",
    }
    assert "empty" in reasons["empty.txt"]
    assert "binary" in reasons["binary.txt"]
    assert "too large" in reasons["huge.txt"] and "2000" in reasons["huge.txt"]
    assert "UTF-8" in reasons["latin1.txt"]
    assert "no article text" in reasons["nohtml.html"]
    assert "invalid JSON" in reasons["lines.jsonl:2"]
    assert "someday soon" in reasons["lines.jsonl:3"]
    for s in report.skipped:
        assert str(bad) in s.origin and "\n" not in s.reason

    assert report.added == 2  # lines.jsonl:1 and good.txt
    titles = {h.title for h in engine.headlines(limit=100)}
    assert titles == {ARTICLE["title"], OTHER["title"], "Tram line extended"}
    assert set(before) <= set(_article_ids(engine))  # nothing already stored is lost
    answer = engine.quote_answer("When did the Rotterdam dock workers end their strike?")
    assert not answer.abstained and "Rotterdam" in answer.quotes[0].text


def test_a_model_of_another_dimension_is_refused_and_nothing_is_written(engine_factory, tmp_path):
    engine = engine_factory()
    engine.store.set_meta({"dimension": "128", "model": "other-model"})
    with pytest.raises(IngestError, match="128"):
        engine.ingest_paths([_jsonl(tmp_path / "a.jsonl", ARTICLE)])
    assert engine.stats().articles == 0 and engine.store.epoch() == 0


# --- fusion weights --------------------------------------------------------------------------

# BM25 favours LEXICAL (it repeats "car", "crash", "highway"); the sentence vectors favour
# SEMANTIC (a road accident told in other words).
LEXICAL = {
    "title": "Crypto crash wipes out car dealer",
    "text": "A crash in crypto prices wiped out the savings of a car dealer, "
    "who sold his highway billboard business and his car.",
    "url": "https://news.example/crypto",
}
SEMANTIC = {
    "title": "Motorway collision injures three",
    "text": "A lorry slammed into two vehicles on the motorway near Leeds, injuring three "
    "drivers. Police closed the road for hours after the crash.",
    "url": "https://news.example/motorway",
}
FILLER = [
    {"title": "Bakery wins prize", "text": "A bakery in Lyon won a national prize for bread."},
    {"title": "Budget approved", "text": "The council approved the budget after a debate."},
]


@pytest.fixture(scope="module")
def fusion_data(tmp_path_factory, encoder) -> Path:
    data = tmp_path_factory.mktemp("fusion")
    corpus = _jsonl(data / "c.jsonl", LEXICAL, SEMANTIC, *FILLER)
    with Engine(EngineConfig(data_dir=data / "data"), encoder) as engine:
        engine.ingest_paths([corpus])
    return data / "data"


@pytest.mark.parametrize(
    "lexical_weight, dense_weight, first",
    [(1.0, 0.0, LEXICAL), (0.0, 1.0, SEMANTIC), (1.0, 0.2, LEXICAL), (0.2, 1.0, SEMANTIC)],
)
def test_fusion_weights_change_the_ranking(
    engine_factory, fusion_data, lexical_weight, dense_weight, first
):
    engine = engine_factory(  # the fused order itself, not reordered by sentence coverage
        fusion_data, lexical_weight=lexical_weight, dense_weight=dense_weight, sentence_weight=0.0
    )
    passages = engine.quote_answer("car crash on the highway").passages
    assert passages[0].article.url == first["url"]
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)


@pytest.fixture
def phrase_flags(monkeypatch) -> list[bool]:
    """The ``phrases`` argument of every BM25 search, through the real search."""
    flags: list[bool] = []
    real = LexicalIndex.search

    def search(self, tokens, k, weight_mask=None, phrases=False):
        flags.append(phrases)
        return real(self, tokens, k, weight_mask, phrases)

    monkeypatch.setattr(LexicalIndex, "search", search)
    return flags


@pytest.fixture
def window_flags(monkeypatch) -> list[bool]:
    """The ``best_window`` argument of every dense search, through the real search."""
    flags: list[bool] = []
    real = DenseIndex.top

    def top(self, first_pass, query, k, mask=None, best_window=False):
        flags.append(best_window)
        return real(self, first_pass, query, k, mask, best_window)

    monkeypatch.setattr(DenseIndex, "top", top)
    return flags


def _flags_per_question(
    engine: Engine, asked: list[tuple[str, str]], spied: list[bool]
) -> list[set[bool]]:
    """The flags each question's searches were called with, per question."""
    flags = []
    for question, retriever in asked:
        spied.clear()
        engine.quote_answer(question, retriever=retriever)
        assert spied, question
        flags.append(set(spied))
    return flags


def test_which_and_who_questions_rank_passages_by_their_best_window(
    seed_engine, engine_factory, window_flags, tmp_path
):
    snap = seed_engine.backend.snapshot()
    assert (np.asarray(snap.dense.windows.counts) > 1).any()  # the sample has such passages
    asked = [
        ("Which forum will the defense ministers of Japan and South Korea attend?", "hybrid"),
        ("Who is the Japanese government's top spokesman?", "hybrid"),
        ("Did Japan and South Korea agree to link radar systems?", "hybrid"),
        ("Which forum will the defense ministers of Japan and South Korea attend?", "dense"),
    ]
    flags = _flags_per_question(seed_engine, asked, window_flags)
    assert flags == [{True}, {True}, {False}, {False}]  # yes/no and the ablation: vectors

    off = engine_factory(tmp_path / "off", window_search=False)
    off.ingest_paths([SAMPLE_DIR])
    window_flags.clear()
    off.quote_answer(asked[0][0])
    assert window_flags and not any(window_flags)


def test_which_and_who_questions_search_phrases_and_yes_no_questions_do_not(
    seed_engine, engine_factory, phrase_flags, tmp_path
):
    assert seed_engine.backend.snapshot().lexical.has_phrases
    asked = [
        ("Which forum will the defense ministers of Japan and South Korea attend?", "hybrid"),
        ("Who is the Japanese government's top spokesman?", "hybrid"),
        ("Did Japan and South Korea agree to link radar systems?", "hybrid"),
        ("Which forum will the defense ministers of Japan and South Korea attend?", "bm25"),
    ]
    flags = _flags_per_question(seed_engine, asked, phrase_flags)
    # Yes/no questions and the BM25-only ablation search words alone.
    assert flags == [{True}, {True}, {False}, {False}]

    off = engine_factory(tmp_path / "off", phrase_search=False)
    off.ingest_paths([SAMPLE_DIR])
    assert not off.backend.snapshot().lexical.has_phrases  # not built when not searched
    phrase_flags.clear()
    off.quote_answer(asked[0][0])
    assert phrase_flags and not any(phrase_flags)
    # Turning it on again rebuilds the index with pair columns, with nothing re-ingested.
    assert engine_factory(tmp_path / "off").backend.snapshot().lexical.has_phrases


def test_bm25_and_dense_disagree_on_the_fusion_corpus(engine_factory, fusion_data):
    engine = engine_factory(fusion_data)
    bm25 = engine.quote_answer("car crash on the highway", retriever="bm25").passages
    dense = engine.quote_answer("car crash on the highway", retriever="dense").passages
    assert bm25[0].article.url == LEXICAL["url"]
    assert dense[0].article.url == SEMANTIC["url"]


# --- filters, search and browsing ------------------------------------------------------------


def test_source_filters_and_browsing(engine_factory, tmp_path):
    engine = engine_factory()
    other_source = dict(OTHER, source="Turku Daily")
    engine.ingest_paths([_jsonl(tmp_path / "a.jsonl", ARTICLE, other_source)])
    assert [h.title for h in engine.headlines()] == [ARTICLE["title"], OTHER["title"]]
    assert [h.title for h in engine.headlines(source="turku daily")] == [OTHER["title"]]
    assert engine.sources() == [("Example Wire", 1), ("Turku Daily", 1)]

    only = engine.quote_answer(
        "When did the dock workers end their strike?", filters=Filters(sources=("Turku Daily",))
    )
    assert only.passages and all(rp.article.source == "Turku Daily" for rp in only.passages)
    assert not any("Rotterdam" in q.text for q in only.quotes)

    found = engine.search("library books")
    assert found[0].article.title == OTHER["title"]
    assert len({rp.article.id for rp in found}) == len(found)

    stats = engine.stats()
    assert (stats.articles, stats.sources) == (2, 2)
    assert stats.passages == stats.indexed_passages == 2
    assert stats.newest.title == ARTICLE["title"]
    assert stats.last_ingest is not None and stats.model == "all-MiniLM-L6-v2"


def test_a_second_engine_on_the_same_data_sees_the_index(engine_factory, tmp_path):
    data = tmp_path / "shared"
    writer = engine_factory(data)
    writer.ingest_paths([_jsonl(tmp_path / "a.jsonl", ARTICLE)])
    reader = engine_factory(data)
    assert reader.stats().indexed_passages == 1
    writer.ingest_paths([_jsonl(tmp_path / "b.jsonl", OTHER)])
    # The reader picks up the snapshot the writer published.
    assert reader.stats().indexed_passages == 2
    assert reader.search("library")[0].article.title == OTHER["title"]


# --- regressions found by review: each failed on the code before its fix -------------------


def test_one_story_with_and_without_url_in_one_batch_does_not_crash(engine_factory):
    # engine.py _ingest_batch: keys[body_hash] is re-pointed to the URL's slot by the third
    # item, so the fourth lands in a second slot; both slots then INSERT the same body id.
    engine: Engine = engine_factory()
    body = "The port strike ended on Friday. Workers returned to the docks."
    items = [
        Article("Port strike ends", body, "a"),
        Article("Port strike ends", "An earlier draft. It was short.", "b", url="https://x/9"),
        Article("Port strike ends", body, "c", url="https://x/9"),
        Article("Port strike ends", body, "d"),
    ]
    report = engine.ingest(items)  # raised sqlite3.IntegrityError: UNIQUE constraint failed
    assert report.added + report.updated >= 1
    articles, _ = engine.store.counts()
    assert 1 <= articles <= 2


def test_who_answer_is_not_the_person_the_question_names():
    # find_answer_words("who"): a name with one asked word ("Kishida") is returned.
    sentence = (
        "Resuming their “shuttle diplomacy”, Japanese Prime Minister Fumio Kishida met with "
        "South Korean President Yoon Suk- yeol in Seoul on Sunday."
    )
    span = find_answer_words(sentence, "who", "Who did Kishida meet in Seoul?")
    assert span is not None
    answer = sentence[span.start : span.end]
    assert "Kishida" not in answer and "Yoon" in answer


def test_batches_committed_before_a_failure_are_published(engine_factory):
    # engine.py ingest: the snapshot is built only after the loop, so when a later batch
    # raises, the batches already committed stay invisible to this engine until reopened.
    engine: Engine = engine_factory()

    def items():
        for i in range(40):
            yield Article(f"Story {i}", f"Officials in town {i} opened a new school.", str(i))
        raise OSError("the feed connection dropped")

    with pytest.raises(OSError):
        engine.ingest(items())
    assert engine.store.counts()[0] == 32
    assert engine.stats().indexed_passages == engine.store.counts()[1]


def test_an_article_that_cannot_be_stored_is_skipped_and_its_batch_kept(engine_factory):
    # engine.py ingest: item.body_hash raised UnicodeEncodeError on a lone surrogate (a JSON
    # "\ud800" escape), which aborted the whole ingest with no file named; in a title or in
    # metadata it failed inside the batch's transaction instead, losing the batch.
    engine: Engine = engine_factory()
    items = [
        Article("Port strike ends", "The port strike ended on Friday. Workers returned.", "a:1"),
        Article("Bad body", "Broken \ud800 text. It has two sentences.", "b:1"),
        Article("Bad title \udc80", "A fine body about rain. It rained all day.", "b:2"),
        Article(
            "Bad tag", "A fine body about snow. It snowed all day.", "b:3", metadata={"t": "\ud800"}
        ),
        Article("Library opens", "A new library opened in Turku. It holds many books.", "a:2"),
    ]
    report = engine.ingest(items)
    assert report.added == 2 and engine.store.counts()[0] == 2
    assert [s.origin for s in report.skipped] == ["b:1", "b:2", "b:3"]
    assert [s.reason.split()[0] for s in report.skipped] == ["text", "title", "metadata"]
    assert all("not valid Unicode" in s.reason and "\n" not in s.reason for s in report.skipped)
    assert engine.stats().indexed_passages == engine.store.counts()[1]


def test_an_unexpected_error_of_one_article_skips_it_not_the_batch(engine_factory, monkeypatch):
    # engine.py ingest: any error preparing one article propagated and lost the whole batch.
    # The error is injected where preparing an article does its work, so the test does not
    # depend on finding an input that breaks it.
    engine: Engine = engine_factory()
    real = engine_module.pack_passages

    def fails_on_one(body: str, words: int):
        if "cursed" in body:
            raise ValueError("no sentences could be packed")
        return real(body, words)

    monkeypatch.setattr(engine_module, "pack_passages", fails_on_one)
    report = engine.ingest(
        [
            Article("Port strike ends", "The port strike ended on Friday.", "a:1"),
            Article("Cursed", "A cursed body. Two sentences.", "b:1"),
            Article("Library opens", "A new library opened in Turku.", "a:2"),
        ]
    )
    assert report.added == 2
    assert [str(s) for s in report.skipped] == [
        "b:1: cannot ingest: ValueError: no sentences could be packed"
    ]


def test_a_question_with_a_lone_surrogate_is_answered(engine_factory):
    # The HF tokenizer raised TypeError on a lone surrogate in a question, as SQLite did on
    # one in a headline topic.
    engine: Engine = engine_factory()
    engine.ingest([Article("Port strike ends", "The port strike ended on Friday.", "a:1")])
    answer = engine.quote_answer("\ud800 When did the port strike end?", context=["\udc80 x"])
    assert "\ud800" not in answer.question and answer.passages
    assert engine.search("port strike \ud800")
    assert engine.headlines(topic="\ud800") == []


def test_an_article_whose_url_a_copy_took_over_returns_edited_without_a_crash(engine_factory):
    # engine.py _write: a copy of article A at url2 (same text) updates A and moves its URL
    # there; url1 returning with edited text was then inserted under url1's natural id,
    # which A still holds: IntegrityError, and the unrelated article in the batch was lost.
    engine: Engine = engine_factory()
    text = "The council approved the new budget on Tuesday. It adds funding for schools."
    edited = text + " A later edit added a sentence about the mayor."
    engine.ingest([Article("Budget", text, "1", url="https://a.example/1", source="A")])
    engine.ingest([Article("Budget", text, "2", url="https://b.example/2", source="B")])
    other = Article("Sports", "The team won the final match on Sunday. Fans celebrated.", "3")
    report = engine.ingest(
        [other, Article("Budget", edited, "4", url="https://a.example/1", source="A")]
    )
    assert (report.added, report.skipped) == (2, [])
    by_url = {h.url: engine.article(h.article_id) for h in engine.headlines(limit=10)}
    assert set(by_url) == {"https://a.example/1", "https://b.example/2", None}
    assert by_url["https://a.example/1"].body == edited
    assert by_url["https://b.example/2"].body == text  # the copy that took over is kept
    assert by_url[None].title == "Sports"
    # Re-reading the edited article finds it by URL: unchanged, not a third copy.
    again = engine.ingest([Article("Budget", edited, "5", url="https://a.example/1", source="A")])
    assert (again.unchanged, engine.store.counts()[0]) == (1, 3)


def _units_both_ways(engine: Engine, question: str) -> list[tuple[list, list, bool]]:
    """Per stored passage: its sentence units from the stored tokens, the same units
    tokenized afresh, and whether ingest stored its sentences' tokens."""
    ids = [row.id for row in engine.store.iter_passage_rows()]
    passages = engine.store.passages(ids)
    articles = engine.store.articles(p.article_id for p in passages.values())
    out = []
    for p in passages.values():
        stored = RetrievedPassage(p, articles[p.article_id], 1.0)
        fresh = RetrievedPassage(replace(p, sentence_tokens=None), articles[p.article_id], 1.0)
        kind = question_kind(question)
        out.append(
            (
                sentence_units([stored], engine.tokenizer, kind, question),
                sentence_units([fresh], engine.tokenizer, kind, question),
                p.sentence_tokens is not None,
            )
        )
    return out


def test_quoting_takes_each_sentences_tokens_from_the_store_as_it_would_tokenize_them(
    engine_factory,
):
    engine: Engine = engine_factory()
    engine.ingest_paths([SAMPLE_DIR])
    engine.ingest(
        [
            # Short sentences are joined into one quotable unit with the next.
            Article(
                "Ferry news", "Fog. Ferries stopped. The harbour ferry resumed on Monday.", "a"
            ),
        ]
    )
    both = _units_both_ways(engine, "When did the harbour ferry resume?")
    assert len(both) >= 2 and all(stored for _, _, stored in both)
    for from_store, tokenized, _ in both:
        assert from_store == tokenized


def test_sentence_tokens_are_not_stored_when_they_are_not_the_passages(engine_factory):
    # Sentences that touch ("May 1.The"): the passage's "1.the" is a word neither holds.
    engine: Engine = engine_factory()
    body = "The strike lasted until May 1.The trains ran again."
    article = Article("Rail news", body, "b")
    vector = np.ones(4, dtype=np.float32)
    touching = PassageSpan(0, len(body), (Span(0, 30), Span(30, len(body))))
    passage = engine._new_passage(article, 0, touching, vector)
    assert passage.sentence_token_counts is None
    assert passage.tokens == engine.tokenizer.tokens(lexical_text(article, body))
    whole = PassageSpan(0, len(body), (Span(0, len(body)),))
    assert engine._new_passage(article, 0, whole, vector).sentence_token_counts is not None


def _sample_store_without(data, column: str, encoder) -> None:
    """The sample ingested by a version from before ``column`` existed."""
    with Engine(EngineConfig(data_dir=data), encoder) as engine:
        engine.ingest_paths([SAMPLE_DIR])
    db = sqlite3.connect(data / "newsbot.sqlite3")
    db.execute(f"ALTER TABLE passages DROP COLUMN {column}")
    db.commit()
    db.close()


def test_a_store_from_before_sentence_tokens_gains_the_column_and_still_quotes(tmp_path, encoder):
    data = tmp_path / "data"
    _sample_store_without(data, "sentence_token_counts", encoder)
    with Engine(EngineConfig(data_dir=data), encoder) as engine:
        both = _units_both_ways(engine, "When is the Shangri-La Dialogue?")
        assert both and not any(stored for _, _, stored in both)
        assert all(from_store == tokenized for from_store, tokenized, _ in both)
        assert not engine.quote_answer("When is the Shangri-La Dialogue?").abstained
        engine.ingest([Article("Ferry news", "The harbour ferry resumed on Monday morning.", "a")])
        assert any(stored for _, _, stored in _units_both_ways(engine, "When did it resume?"))


def _stored_windows(data) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    db = sqlite3.connect(data / "newsbot.sqlite3")
    rows = db.execute(
        "SELECT article_id, vector, window_vectors FROM passages ORDER BY id"
    ).fetchall()
    db.close()
    return [
        (a, np.frombuffer(v, np.float32), None if w is None else np.frombuffer(w, np.float32))
        for a, v, w in rows
    ]


def test_ingest_keeps_each_passages_windows_and_their_mean_is_its_vector(tmp_path, encoder):
    data = tmp_path / "data"
    with Engine(EngineConfig(data_dir=data), encoder) as engine:
        engine.ingest_paths([SAMPLE_DIR])
        article = engine.store.articles([_stored_windows(data)[0][0]]).popitem()[1]
        spans = pack_passages(article.body, engine.config.passage_words)
    stored = _stored_windows(data)
    assert len(stored) == len(spans) and any(w is not None for *_, w in stored)
    for (_, vector, windows), span in zip(stored, spans, strict=True):
        texts = dense_texts(article, span)
        if len(texts) == 1:
            assert windows is None  # its one window is its vector
            continue
        windows = windows.reshape(len(texts), -1)
        np.testing.assert_allclose(windows, encoder.encode(texts), atol=1e-5)
        mean = windows.sum(axis=0)
        np.testing.assert_allclose(mean / np.linalg.norm(mean), vector, atol=1e-6)


def test_a_store_from_before_windows_gains_the_column_and_still_answers(tmp_path, encoder):
    data = tmp_path / "data"
    question = "Which forum will the defense ministers of Japan and South Korea attend?"
    _sample_store_without(data, "window_vectors", encoder)
    shutil.rmtree(data / "index")  # their index is of an older format: rebuilt from the store
    with Engine(EngineConfig(data_dir=data), encoder) as engine:
        assert not np.asarray(engine.backend.snapshot().dense.windows.counts).any()
        answer = engine.quote_answer(question)  # ranked by the passage vectors alone
        assert answer.passages and not answer.abstained
        body = " ".join(f"The harbour ferry made trip number {n} on Monday." for n in range(30))
        engine.ingest([Article("Ferry news", body, "a")])  # 270 words: two windows
    assert _stored_windows(data)[-1][2] is not None  # new passages keep their windows


# -- found by a bug hunt over ingest and the store: each lost a batch or an article ------------


def _jsonl_file(path, *lines: str):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _line(title: str, **extra: object) -> str:
    fields = {"title": title, "text": f"{title} happened on Monday. It was widely reported."}
    return json.dumps({**fields, **extra})


def test_bad_dates_numbers_and_paths_skip_one_item_not_the_batch(engine_factory, tmp_path):
    # A +2500 offset passed parse_published and failed in the store's transaction; 1e999 and
    # NaN were stored as JSON json_extract rejects; a 5000-digit integer raised a ValueError
    # the JSONL reader took for the whole file's; a symlink loop escaped the path reader.
    engine: Engine = engine_factory()
    folder = tmp_path / "in"
    folder.mkdir()
    _jsonl_file(
        folder / "a.jsonl",
        _line("Port strike ends", published="2023-05-10 10:00 +2500"),
        _line("Library opens", score=float("inf"), rank=[float("nan")]),
        '{"title": "Huge", "text": "x", "n": ' + "9" * 5000 + "}",
        _line("Bridge reopens"),
    )
    (folder / "loop.txt").symlink_to(folder / "loop.txt")
    report = engine.ingest_paths([folder])
    reasons = {s.origin.rsplit("/", 1)[-1]: s.reason for s in report.skipped}
    assert "impossible time-zone offset" in reasons["a.jsonl:1"]
    assert reasons["a.jsonl:3"].startswith("invalid JSON: Exceeds the limit")
    assert reasons["loop.txt"].startswith("cannot resolve the path")
    assert report.added == 2 and len(report.skipped) == 3
    library = next(h for h in engine.headlines() if h.title == "Library opens")
    (stored,) = engine.store._db.execute(
        "SELECT metadata FROM articles WHERE id=?", (library.article_id,)
    ).fetchone()
    assert json.loads(stored) == {"score": "inf", "rank": ["nan"]}  # strict JSON, kept as text


def test_two_items_updating_one_stored_article_in_one_batch_both_stay(engine_factory):
    # One item matched the stored article by URL (new text), the other by its old text (a
    # copy elsewhere): both became updates of it, and the new text was overwritten.
    engine: Engine = engine_factory()
    old = "The harbour reopened on Monday. Ferries sailed again."
    new = "The airport reopened on Tuesday. Flights resumed at noon."
    engine.ingest([Article("Harbour", old, "a", url="https://x/1")])
    report = engine.ingest(
        [
            Article("Harbour (updated)", new, "b", url="https://x/1"),
            Article("Harbour copy", old, "c", url="https://x/9"),
        ]
    )
    assert (report.added, report.updated) == (1, 1)
    bodies = {h.url: engine.article(h.article_id).body for h in engine.headlines()}
    assert bodies == {"https://x/1": new, "https://x/9": old}


def test_a_url_with_spaces_around_it_is_the_same_url(engine_factory):
    engine: Engine = engine_factory()
    report = engine.ingest(
        [
            Article("A", "The harbour reopened on Monday. Ferries sailed.", "a", url="https://x/a"),
            Article(
                "A", "The airport reopened on Tuesday. Flights resumed.", "b", url=" https://x/a "
            ),
        ]
    )  # raised sqlite3.IntegrityError: one id, two URLs
    assert (report.added, report.updated) == (1, 1)
    [only] = engine.headlines()
    assert only.url == "https://x/a" and "airport" in engine.article(only.article_id).body


def test_a_blank_outlet_is_no_outlet(engine_factory):
    # "" or "  " was stored as an outlet: /sources listed it, /headlines offered it.
    engine: Engine = engine_factory()
    engine.ingest(
        [
            Article("A", "The harbour reopened on Monday.", "a", url="https://x/a", source=""),
            Article("B", "The airport reopened on Tuesday.", "b", url="https://x/b", source="  "),
            Article("C", "The station reopened on Friday.", "c", url="https://x/c", source=" W "),
        ]
    )
    assert engine.sources() == [("W", 1)]
    assert sorted((h.title, h.source) for h in engine.headlines()) == [
        ("A", None),
        ("B", None),
        ("C", "W"),
    ]


def test_a_write_that_cannot_begin_does_not_keep_the_store_locked(engine_factory):
    # _Transaction took the store's lock, then BEGIN IMMEDIATE failed ("database is locked")
    # and __exit__ never ran: every later store call, from any thread, waited forever.
    engine: Engine = engine_factory()
    other = sqlite3.connect(engine.config.db_path)
    other.execute("BEGIN IMMEDIATE")  # another process writing
    engine.store._db.execute("PRAGMA busy_timeout=50")
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            engine.ingest([Article("Port strike ends", "The strike ended on Friday.", "a")])
    finally:
        other.rollback()
        other.close()
    counted: list[tuple[int, int]] = []
    reader = threading.Thread(target=lambda: counted.append(engine.store.counts()))
    reader.start()
    reader.join(5)
    assert counted == [(0, 0)]


# -- sentence vectors: pooled at ingest, kept in the index, handed to the answer path ----------


def _stored_sentence_vectors(engine: Engine) -> dict[int, np.ndarray | None]:
    """Each stored passage's sentence vectors as the store holds them (float16 rows)."""
    dimension = engine.encoder.dimension
    return {
        row.id: None
        if row.sentence_vectors is None
        else np.frombuffer(row.sentence_vectors, "<f2").reshape(-1, dimension)
        for row in engine.store.iter_passage_rows()
    }


def _norms_are_one_or_zero(rows: np.ndarray) -> bool:
    norms = np.linalg.norm(np.asarray(rows, np.float32), axis=1)
    return bool(np.all((np.abs(norms - 1) < 2e-3) | (norms == 0)))


def test_ingest_pools_a_vector_per_sentence_in_the_window_that_holds_it(seed_engine, encoder):
    stored = _stored_sentence_vectors(seed_engine)
    passages = seed_engine.store.passages(list(stored))
    articles = seed_engine.store.articles(p.article_id for p in passages.values())
    several = 0
    for pid, p in passages.items():
        rows = stored[pid]
        assert rows is not None and len(rows) == len(p.sentences) and _norms_are_one_or_zero(rows)
        article = articles[p.article_id]
        span = PassageSpan(
            p.start, p.end, tuple(Span(s.start + p.start, s.end + p.start) for s in p.sentences)
        )
        windows = dense_texts(article, span)
        several += len(windows) > 1
        # Found again by its text in the window that reads it, after the headline.
        expected, sentences = [], iter(p.text[s.start : s.end] for s in p.sentences)
        for window in windows:
            outputs = encoder.backend.encode_tokens([window])
            at, found = len(article.title) + 2, []
            while (sentence := next(sentences, None)) is not None:
                start = window.index(sentence, at)
                at = start + len(sentence)
                found.append((start, at))
                if at == len(window):
                    break
            expected.append(span_vectors(outputs.tokens[0], outputs.offsets[0], found))
        np.testing.assert_allclose(rows, np.concatenate(expected), atol=2e-3)
    assert several  # the sample has passages of several windows


def test_sentences_past_what_the_model_reads_get_zero_rows_in_their_window(engine_factory):
    # Made-up codes take many word pieces each: a 150-word window is far past 256 of them.
    body = " ".join(f"Crew {i} logged code qzx{i}vk-{i}prw7 at dock kjv{i}q." for i in range(60))
    engine = engine_factory()
    engine.ingest([Article("Dock log", body, "log")])
    stored = _stored_sentence_vectors(engine)
    passages = engine.store.passages(list(stored))
    first = passages[min(passages)]
    rows = stored[first.id].astype(np.float32)
    assert len(rows) == len(first.sentences) and _norms_are_one_or_zero(rows)
    read = np.linalg.norm(rows, axis=1) > 0
    assert read[0] and not read.all()  # the first is read, a later one is past truncation
    # The next window is read afresh: a sentence after an unread one has a vector again.
    assert np.flatnonzero(read)[-1] > np.flatnonzero(~read)[0]


def test_sentence_vectors_survive_the_snapshot_and_arrive_on_retrieved_passages(tmp_path, encoder):
    data = tmp_path / "data"
    with Engine(EngineConfig(data_dir=data), encoder) as engine:
        engine.ingest_paths([SAMPLE_DIR])
        stored = _stored_sentence_vectors(engine)
        built = engine.backend.snapshot().name
    with Engine(EngineConfig(data_dir=data), encoder) as engine:  # the published files, mapped
        snapshot = engine.backend.snapshot()
        assert snapshot.name == built
        assert isinstance(snapshot.dense.sentences.vectors, np.memmap)
        assert snapshot.dense.sentences.vectors.dtype == np.float16
        long = "Which forum will the defense ministers of Japan and South Korea attend in June?"
        answered = [
            engine.search("Shangri-La Dialogue"),
            engine.deliberate("When is the Shangri-La Dialogue?").passages,
            engine.deliberate(long).passages,  # reranked
            engine.quote_answer(long).passages,
        ]
        for passages in answered:
            assert passages
            for rp in passages:
                assert rp.sentence_vectors.dtype == np.float32
                assert len(rp.sentence_vectors) == len(rp.passage.sentences)
                np.testing.assert_array_equal(rp.sentence_vectors, stored[rp.passage.id])


def test_a_sentences_vector_is_nearest_the_question_it_answers(engine_factory):
    sentences = [
        "The city council met on Tuesday evening to discuss the annual budget.",
        "A new ferry line to the northern islands will open in March.",
        "The mayor said the old library will be turned into a museum of local history.",
        "Ticket prices for the stadium rose by ten percent after the renovation.",
        "Heavy snow closed the mountain pass for three days last week.",
    ]
    engine = engine_factory()
    engine.ingest([Article("City news roundup", " ".join(sentences), "roundup")])
    questions = {
        "When will the ferry to the northern islands start running?": 1,
        "What will happen to the old library building?": 2,
        "How much more do stadium tickets cost?": 3,
        "Why was the mountain pass closed?": 4,
    }
    for question, answer in questions.items():
        (rp,) = engine.search(question, limit=1)
        assert len(rp.passage.sentences) == len(sentences)
        cosines = rp.sentence_vectors @ engine.encoder.encode_question(question)
        assert int(np.argmax(cosines)) == answer, (question, cosines)


def test_a_store_from_before_sentence_vectors_migrates_and_answers_without_them(tmp_path, encoder):
    data = tmp_path / "data"
    question = "When is the Shangri-La Dialogue?"
    _sample_store_without(data, "sentence_vectors", encoder)
    generation = data / "index" / current_name(data / "index")
    for path in generation.glob("sentence_*.npy"):  # and an index of that version
        path.unlink()
    with Engine(EngineConfig(data_dir=data), encoder) as engine:
        assert engine.backend.snapshot().dense.sentences is None
        assert all(rows is None for rows in _stored_sentence_vectors(engine).values())
        answer = engine.quote_answer(question)
        assert not answer.abstained and answer.passages
        assert all(rp.sentence_vectors is None for rp in answer.passages)
        ferry = "The harbour ferry to the Shangri-La Hotel resumed on Monday morning."
        engine.ingest([Article("Ferry news", ferry, "a")])
        by_article = {rp.article.title: rp for rp in engine.search("Shangri-La", limit=20)}
    # The new article's passage has them; those stored before still have none.
    assert by_article["Ferry news"].sentence_vectors.shape == (1, encoder.dimension)
    assert sum(rp.sentence_vectors is None for rp in by_article.values()) == len(by_article) - 1


def test_a_changed_article_re_ingested_replaces_its_sentence_vectors(engine_factory):
    engine = engine_factory()
    engine.ingest([Article(ARTICLE["title"], ARTICLE["text"], "1", url=ARTICLE["url"])])
    ((old_id, old_rows),) = _stored_sentence_vectors(engine).items()
    changed = (
        "Dock workers in Rotterdam voted to strike again on Monday. "
        "Ferries to the islands were cancelled. The port authority called for talks."
    )
    assert engine.ingest([Article(ARTICLE["title"], changed, "2", url=ARTICLE["url"])]).updated
    ((new_id, new_rows),) = _stored_sentence_vectors(engine).items()
    assert new_id != old_id and (len(old_rows), len(new_rows)) == (2, 3)
    snapshot = engine.backend.snapshot()
    assert snapshot.sentence_vectors([old_id]) == [None]
    (rp,) = engine.search("Which ferries were cancelled?", limit=1)
    assert rp.passage.id == new_id
    np.testing.assert_array_equal(rp.sentence_vectors, new_rows)
    # The answering sentence is the new body's, and the question is nearest it.
    cosines = rp.sentence_vectors @ engine.encoder.encode_question("Which ferries were cancelled?")
    assert int(np.argmax(cosines)) == 1
