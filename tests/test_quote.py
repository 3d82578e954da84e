"""Question kinds, the answering words inside a sentence, and answer confidence.

Choosing and slicing quotes is tested end to end through the Engine (test_engine.py)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from index.model import ConfidenceSignals, Passage, RetrievedPassage, Span, StoredArticle
from index.quote import (
    ArticleWeights,
    ConfidenceWeights,
    answer_confidence,
    article_features,
    classify_question,
    find_answer_words,
    headline_free_coverage,
    rank_by_article_share,
    rank_sentences,
    rerank_by_best_sentence,
    reserve_part_slots,
    sentence_units,
)
from index.tokenize import NewsTokenizer

NOW = datetime(2023, 5, 10, tzinfo=UTC)

SHANGRI = (
    "Defense ministers from Japan and South Korea are separately arranging to meet on the "
    "sidelines of the IISS Shangri-La Dialogue to be held in Singapore from June 2 to 4, in "
    "what would be the first such meeting since November 2019."
)
MATSUNO = (
    "The Japanese government’s top spokesman, Hirokazu Matsuno, said no decision has been "
    "made yet on the planned agreement, without elaborating."
)


@pytest.mark.parametrize(
    "question, kind",
    [
        ("When is the Shangri-La Dialogue?", "when"),
        ("What date is the summit?", "when"),
        ("what year did the talks start?", "when"),
        ("And when is it?", "when"),
        ("Since when is he minister?", "when"),
        ("Where will the summit be held?", "where"),
        ("and where is it held?", "where"),
        ("Who is the Japanese government's top spokesman?", "who"),
        ("Whose radar systems are linked?", "who"),
        ("How many countries are in talks?", "how_many"),
        ("How much did the bridge cost?", "how_much"),
        ("Which country hosts the dialogue?", "which"),
        ("What is the price of bitcoin?", "which"),
        ("Is the deal done?", "yes_no"),
        ("Did Japan agree?", "yes_no"),
        ("Tell me about Japan", "other"),
    ],
)
def test_classify_question(question, kind):
    assert classify_question(question) == kind


def _answer(sentence: str, kind, question: str) -> str | None:
    span = find_answer_words(sentence, kind, question)
    return None if span is None else sentence[span.start : span.end]


@pytest.mark.parametrize(
    "sentence, kind, question, expected",
    [
        (SHANGRI, "when", "When is the Shangri-La Dialogue?", "from June 2 to 4"),
        ("The vote took place on November 18, 2023.", "when", "When?", "November 18, 2023"),
        ("The vote took place on Nov. 18, 2023 in Paris.", "when", "When?", "Nov. 18, 2023"),
        ("The meeting was held on 4 June 2023.", "when", "When?", "4 June 2023"),
        ("Kishida met Yoon in Seoul on Sunday.", "when", "When did they meet?", "on Sunday"),
        ("The talks began in 2019.", "when", "When did the talks begin?", "in 2019"),
        ("The report comes out in late March.", "when", "When?", "late March"),
        ("Nothing dated is said here.", "when", "When?", None),
        (MATSUNO, "who", "Who is the Japanese government's top spokesman?", "Hirokazu Matsuno"),
        (
            "On Sunday, Prime Minister Fumio Kishida met President Yoon.",
            "who",
            "Who met Yoon?",
            "Prime Minister Fumio Kishida",
        ),
        ("nobody is named in lower case text.", "who", "Who?", None),
        (
            "A spokesman said the three countries have been in talks.",
            "how_many",
            "How many countries are in talks?",
            "three countries",
        ),
        (
            "Police arrested 1,200 people in 2023.",
            "how_many",
            "How many people were arrested?",
            "1,200 people",
        ),
        ("The deal is worth $4.5 billion.", "how_much", "How much is it worth?", "$4.5 billion"),
        (
            "The summit will be held in Singapore in early June.",
            "where",
            "Where will the summit be held?",
            "Singapore",
        ),
        ("Kishida met Yoon in Seoul on Sunday.", "where", "Where did they meet?", "Seoul"),
        # A place the question already names is not the answer.
        ("They met in Seoul on Sunday.", "where", "Where in Seoul did they meet?", None),
    ],
)
def test_find_answer_words(sentence, kind, question, expected):
    assert _answer(sentence, kind, question) == expected


def _confidence(cosine: float, coverage: float, second: float = 0.0, unindexed: int = 0) -> float:
    return answer_confidence(ConfidenceSignals(cosine, coverage, second, unindexed))


def test_answer_confidence_rises_with_similarity_and_coverage():
    low, mid, high = _confidence(0.1, 0.0), _confidence(0.5, 0.5), _confidence(0.8, 1.0)
    assert 0 < low < mid < high < 1
    assert low < 0.5 < high


def test_a_second_reporting_article_raises_and_an_unindexed_outlet_lowers_confidence():
    base = _confidence(0.5, 0.5)
    assert _confidence(0.5, 0.5, second=0.5) > base
    assert _confidence(0.5, 0.5, unindexed=1) < base
    # A strong match still answers when the question also cites an outlet we lack...
    assert _confidence(0.8, 1.0, second=0.8, unindexed=1) > 0.5
    # ...and weights are applied per signal, so zero weights give the bias alone.
    flat = ConfidenceWeights(0.0, 0.0, 0.0, 0.0, bias=0.0)
    assert answer_confidence(ConfidenceSignals(0.9, 0.9, 0.9, 3), flat) == 0.5


def test_confidence_of_a_question_citing_very_many_unindexed_outlets_is_zero_not_overflow():
    # quote.py answer_confidence: math.exp(-z) overflowed once z < -709 (~130 outlets).
    assert _confidence(0.9, 1.0, unindexed=140) == pytest.approx(0.0, abs=1e-12)
    assert _confidence(0.9, 1.0, unindexed=10**6) >= 0.0


def _flat_idf(tokens: Sequence[str]) -> dict[str, float]:
    """Every word weighs the same, so coverage is a plain share of the question's words."""
    return dict.fromkeys(tokens, 1.0)


def _retrieved(pid: int, text: str, score: float, title: str = "") -> RetrievedPassage:
    article = StoredArticle(
        f"a-{pid}", title or f"Headline {pid}", text, None, None, None, "t", NOW
    )
    sentences = tuple(Span(m.start(), m.end()) for m in re.finditer(r"[^.]+\.", text))
    return RetrievedPassage(
        Passage(pid, article.id, 0, 0, len(text), text, sentences), article, score
    )


def test_a_passage_whose_one_sentence_covers_the_question_moves_up():
    tok = NewsTokenizer()
    question = "When will the harbour ferry resume service?"
    scattered = _retrieved(1, "The harbour is busy. A ferry sank elsewhere. Service is fine.", 0.05)
    answering = _retrieved(
        2, "Weather was mild. The harbour ferry will resume service on Monday.", 0.045
    )
    other = _retrieved(3, "Nothing here matches at all.", 0.01)
    passages = [scattered, answering, other]
    units = sentence_units(passages, tok, "when", question)
    (coverage,) = headline_free_coverage(passages, units, [tok.tokens(question)], _flat_idf, tok)
    assert coverage[1] == pytest.approx(1.0) and coverage[0] == pytest.approx(0.5)

    kept, same_units = rerank_by_best_sentence(passages, units, coverage, 0.0, keep=3)
    assert [rp.passage.id for rp in kept] == [1, 2, 3] and same_units == units

    moved, renumbered = rerank_by_best_sentence(passages, units, coverage, 0.08, keep=2)
    assert [rp.passage.id for rp in moved] == [2, 1]  # and the third is cut, units too
    assert moved[0].score > moved[1].score  # best first, by the score that ordered them
    assert {u.passage_index for u in renumbered} == {0, 1}
    # Each unit still points at its own passage's text after the renumbering.
    kept_units = [u for u in units if u.passage_index < 2]
    for before, after in zip(kept_units, renumbered, strict=True):
        old, new = passages[before.passage_index], moved[after.passage_index]
        assert old.passage.id == new.passage.id and before.span == after.span


def test_coverage_counts_only_the_question_words_the_headline_lacks():
    """Every passage of an article matched the headline's words; what tells them apart is
    the rest of the question."""
    tok = NewsTokenizer()
    question = "Which harbour ferry from the quay was delayed by fog?"
    lead = _retrieved(1, "The harbour ferry sails daily from the quay.", 0.05, "Harbour ferry news")
    answer = _retrieved(2, "Fog delayed it on Monday morning.", 0.04, "Harbour ferry news")
    passages = [lead, answer]
    units = sentence_units(passages, tok, "which", question)
    (coverage,) = headline_free_coverage(passages, units, [tok.tokens(question)], _flat_idf, tok)
    # The headline holds "harbour" and "ferry": the rest is "quay", "delay" and "fog".
    assert coverage == {0: pytest.approx(1 / 3), 1: pytest.approx(2 / 3)}
    # Whole-question coverage would have preferred the lead (harbour + ferry > fog + delay).
    ranked = rank_sentences(units, tok.tokens(question), _flat_idf)
    whole = {c.unit.passage_index: c.coverage for c in ranked}
    assert whole[0] > whole[1]


def test_coverage_of_each_part_of_a_many_part_question():
    tok = NewsTokenizer()
    both = _retrieved(1, "Fog and a strike hit the ferry and the rail line.", 0.05)
    rail = _retrieved(2, "The rail strike began on Monday at dawn.", 0.04)
    passages = [both, rail]
    units = sentence_units(passages, tok, "other", "")
    parts = [tok.tokens("ferry delayed by fog"), tok.tokens("rail strike began Monday")]
    ferry, strike = headline_free_coverage(passages, units, parts, _flat_idf, tok)
    assert ferry == {0: pytest.approx(2 / 3), 1: 0.0}
    # The second passage answers the second part whole; the first only half of it.
    assert strike == {0: pytest.approx(2 / 4), 1: pytest.approx(1.0)}


def test_part_coverage_orders_the_kept_passages_but_does_not_choose_them():
    tok = NewsTokenizer()
    passages = [
        _retrieved(1, "First passage text is here today.", 0.05),
        _retrieved(2, "Second passage text is here today.", 0.04),
        _retrieved(3, "Third passage text is here today.", 0.03),
    ]
    units = sentence_units(passages, tok, "other", "")
    part = {0: 0.0, 1: 1.0, 2: 1.0}  # the third answers a part whole, but ranks last
    kept, renumbered = rerank_by_best_sentence(passages, units, {}, 0.1, 2, [part], 0.06)
    assert [rp.passage.id for rp in kept] == [2, 1]
    assert {u.passage_index for u in renumbered} == {0, 1}


def test_a_part_no_kept_passage_answers_takes_an_articles_further_passage_slot():
    articles = ["ferry", "ferry", "rail", "ferry", "port"]  # by fused rank
    strike = {0: 0.2, 1: 0.1, 2: 0.3, 3: 0.0, 4: 0.9}  # the "port" passage answers this part
    # Kept 0-3: the last passage of an article already kept higher (3, "ferry") gives way.
    assert reserve_part_slots([0, 1, 2, 3], articles, [strike], 2, 0.5) == [0, 1, 2, 4]
    # Not when it covers too little of the part, nor when a kept passage covers it as well.
    assert reserve_part_slots([0, 1, 2, 3], articles, [strike], 2, 0.95) == [0, 1, 2, 3]
    as_well = {**strike, 2: 0.9}
    assert reserve_part_slots([0, 1, 2, 3], articles, [as_well], 2, 0.5) == [0, 1, 2, 3]
    # Every kept passage is its article's only one: nothing to give up.
    assert reserve_part_slots([0, 2], articles, [strike], 2, 0.5) == [0, 2]


def test_part_slots_go_to_the_parts_in_question_order_up_to_the_limit():
    articles = ["a", "a", "a", "b", "c", "d"]
    parts = [{3: 0.8}, {4: 0.8}, {5: 0.8}]  # each answered only by a passage not kept
    assert reserve_part_slots([0, 1, 2], articles, parts, 2, 0.5) == [0, 3, 4]
    assert reserve_part_slots([0, 1, 2], articles, parts, 0, 0.5) == [0, 1, 2]
    # Ties go to the better fused passage (the lower index).
    assert reserve_part_slots([0, 1], articles, [{3: 0.8, 4: 0.8}], 1, 0.5) == [0, 3]


def test_rerank_brings_in_the_passage_of_an_unanswered_part():
    tok = NewsTokenizer()
    lead = _retrieved(1, "The ferry sails daily.", 0.05, "Ferry news")
    more = _retrieved(2, "The ferry has a new captain.", 0.04, "Ferry news")
    more = RetrievedPassage(more.passage, lead.article, more.score)  # the lead's article
    rail = _retrieved(3, "The rail strike began on Monday.", 0.01, "Rail news")
    passages = [lead, more, rail]
    units = sentence_units(passages, tok, "other", "")
    parts = [tok.tokens("ferry sails daily"), tok.tokens("rail strike began Monday")]
    coverage, *by_part = headline_free_coverage(
        passages, units, [tok.tokens("ferry sails daily rail strike"), *parts], _flat_idf, tok
    )
    kept, renumbered = rerank_by_best_sentence(passages, units, coverage, 0.0, 2)
    assert [rp.passage.id for rp in kept] == [1, 2]
    kept, renumbered = rerank_by_best_sentence(
        passages, units, coverage, 0.0, 2, by_part, part_slots=1, part_slot_share=0.5
    )
    assert [rp.passage.id for rp in kept] == [1, 3]
    # The units follow: the rail passage's sentence is now unit of kept passage 1.
    rail_units = [u for u in renumbered if u.passage_index == 1]
    assert [kept[1].passage.text[u.span.start : u.span.end] for u in rail_units] == [
        "The rail strike began on Monday."
    ]


def test_article_features_score_ratio_parts_led_and_named_outlet():
    scores = [0.10, 0.08, 0.05, 0.04]
    articles = ["a", "a", "b", "c"]
    by_part = [{0: 0.1, 2: 0.9}, {0: 0.5}]  # "b" covers the first part best, "a" the second
    features = article_features(scores, articles, ["X", "X", "Y", "Z"], by_part, {"Y"})
    assert features == {
        "a": pytest.approx((1.0, 1.0, 0.0)),
        "b": pytest.approx((0.5, 1.0, 1.0)),
        "c": pytest.approx((0.4, 0.0, 0.0)),
    }
    assert article_features(scores, articles, ["X", "X", "Y", "Z"], [], ())["a"][1:] == (0.0, 0.0)


def test_an_articles_passages_split_its_chance():
    scores = [0.100, 0.099, 0.098, 0.050]
    articles = ["a", "a", "a", "b"]
    features = {"a": (1.0, 0.0, 1.0), "b": (0.5, 0.0, 0.0)}
    # Equal chances: the lone passage of "b" holds all of its article's, "a"'s three share.
    even = ArticleWeights(score_ratio=0.0, parts_led=0.0, outlet_named=0.0, bias=0.0)
    assert rank_by_article_share(scores, articles, features, 60.0, even) == [3, 0, 1, 2]
    # An article the question points at (its outlet named) outweighs a long shot.
    named = ArticleWeights(score_ratio=0.0, parts_led=0.0, outlet_named=10.0, bias=-5.0)
    assert rank_by_article_share(scores, articles, features, 60.0, named) == [0, 1, 2, 3]


def test_rerank_by_article_share_brings_in_the_named_outlets_article():
    lead = _retrieved(1, "The ferry sails daily.", 0.050, "Ferry news")
    more = _retrieved(2, "The ferry has a new captain.", 0.049, "Ferry news")
    more = RetrievedPassage(more.passage, lead.article, more.score)  # the lead's article
    rail = _retrieved(3, "The rail strike began on Monday.", 0.048, "Rail news")
    rail = RetrievedPassage(rail.passage, replace(rail.article, source="Rail Times"), rail.score)
    passages = [lead, more, rail]
    units = sentence_units(passages, NewsTokenizer(), "which", "")
    kept, _ = rerank_by_best_sentence(passages, units, {}, 0.0, 2)
    assert [rp.passage.id for rp in kept] == [1, 2]
    kept, renumbered = rerank_by_best_sentence(
        passages, units, {}, 0.0, 2, article_temperature=60.0, named_outlets=("Rail Times",)
    )
    assert [rp.passage.id for rp in kept] == [3, 1]
    assert {u.passage_index for u in renumbered} == {0, 1}
