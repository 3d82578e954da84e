"""Rerank: passages reordered by their best sentence, part slots and article shares."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from index.model import Passage, RetrievedPassage, Span, StoredArticle
from index.rerank import (
    ArticleWeights,
    article_features,
    headline_free_coverage,
    rank_by_article_share,
    rerank_by_best_sentence,
    reserve_part_slots,
)
from index.sentences import SENTENCE_FEATURES, SentenceContext, sentence_features, sentence_units
from index.tokenize import NewsTokenizer

NOW = datetime(2023, 5, 10, tzinfo=UTC)


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
    units = sentence_units(passages, tok, "what", question)
    (coverage,) = headline_free_coverage(passages, units, [tok.tokens(question)], _flat_idf, tok)
    # The headline holds "harbour" and "ferry": the rest is "quay", "delay" and "fog".
    assert coverage == {0: pytest.approx(1 / 3), 1: pytest.approx(2 / 3)}
    # Whole-question coverage would have preferred the lead (harbour + ferry > fog + delay).
    rows = sentence_features(
        units, passages, context=SentenceContext(tok.tokens(question)), idf=_flat_idf, tokenizer=tok
    )
    whole = rows[:, SENTENCE_FEATURES.index("coverage")]
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
    units = sentence_units(passages, NewsTokenizer(), "what", "")
    kept, _ = rerank_by_best_sentence(passages, units, {}, 0.0, 2)
    assert [rp.passage.id for rp in kept] == [1, 2]
    kept, renumbered = rerank_by_best_sentence(
        passages, units, {}, 0.0, 2, article_temperature=60.0, named_outlets=("Rail Times",)
    )
    assert [rp.passage.id for rp in kept] == [3, 1]
    assert {u.passage_index for u in renumbered} == {0, 1}


def test_reranked_passages_keep_their_sentence_vectors():
    tok = NewsTokenizer()
    question = "When will the harbour ferry resume service?"
    first = _retrieved(1, "The harbour is busy. Service is fine.", 0.05)
    second = _retrieved(2, "The harbour ferry will resume service on Monday.", 0.045)
    vectors = {1: np.eye(2, 4, dtype=np.float32), 2: np.eye(1, 4, 2, dtype=np.float32)}
    passages = [replace(rp, sentence_vectors=vectors[rp.passage.id]) for rp in (first, second)]
    units = sentence_units(passages, tok, "when", question)
    (coverage,) = headline_free_coverage(passages, units, [tok.tokens(question)], _flat_idf, tok)
    moved, _ = rerank_by_best_sentence(passages, units, coverage, 0.08, keep=2)
    assert [rp.passage.id for rp in moved] == [2, 1]
    for rp in moved:
        assert rp.sentence_vectors is vectors[rp.passage.id]
