"""The Engine end to end on tiny corpora: seed questions, verbatim quotes, dedupe, incremental
ingest, bad inputs, fusion weights, follow-ups and browsing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from index.config import EngineConfig
from index.dense import DenseIndex, Encoder
from index.engine import Engine
from index.errors import IngestError
from index.lexical import LexicalIndex
from index.model import Answer
from index.retrieve import Filters
from index.segment import pack_passages
from index.snapshot import load_snapshot

SEED_TITLE = "Japan, South Korea to Link Radar Systems to Track North Korea Missiles: Source"
SAMPLE_DIR = Path(__file__).resolve().parents[1] / "bot" / "samples"


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

    encode_windows = Encoder.encode_windows  # through our encode, so every window is counted

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
    alone = seed_engine.quote_answer("and where is it held?")
    followed = seed_engine.quote_answer(
        "and where is it held?", context=["When is the Shangri-La Dialogue?"]
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
