"""NewsTokenizer: the BM25 tokens of news text (case, numbers, hyphenated names, stop words)."""

from __future__ import annotations

import pytest

from index.tokenize import STOP_WORDS, NewsTokenizer


@pytest.fixture(scope="module")
def tok() -> NewsTokenizer:
    return NewsTokenizer()


def test_case_folding_gives_the_same_tokens(tok):
    assert tok.tokens("NORTH KOREA Missiles") == tok.tokens("north korea missiles")
    assert tok.tokens("Japan") == ["japan"]


def test_stemming_joins_inflections_and_can_be_switched_off(tok):
    assert tok.tokens("missile missiles") == ["missil", "missil"]
    assert tok.tokens("meeting meetings") == ["meet", "meet"]
    assert NewsTokenizer(stem=False).tokens("Missiles Meetings") == ["missiles", "meetings"]


def test_years_and_numbers_are_kept(tok):
    assert tok.tokens("in November 2019") == ["novemb", "2019"]
    assert "2023" in tok.tokens("In 2023, the talks resumed.")
    assert tok.tokens("3.5 percent") == ["3.5", "percent"]


def test_thousands_separator_and_currency_sign_do_not_change_a_number(tok):
    assert tok.tokens("$1,000") == ["1000"]
    assert tok.tokens("$1,000") == tok.tokens("1000")
    assert tok.tokens("1,200,000 people") == ["1200000", "peopl"]
    # A sentence-final period is punctuation, not part of the number.
    assert tok.tokens("It cost 2,000.") == ["cost", "2000"]


def test_hyphenated_names_stay_whole_and_also_yield_their_parts(tok):
    assert tok.tokens("F-35") == ["f-35", "35"]
    shangri = tok.tokens("the IISS Shangri-La Dialogue")
    assert shangri[:4] == ["iiss", "shangri-la", "shangri", "la"]
    # The whole name is not stemmed; its parts are.
    assert tok.tokens("Suk-yeol") == ["suk-yeol", "suk", "yeol"]
    assert "co-operation" in tok.tokens("co-operation")
    # Written without the hyphen, the name still shares tokens with the hyphenated form.
    assert set(tok.tokens("Shangri La")) <= set(tok.tokens("Shangri-La"))


def test_stop_words_are_dropped(tok):
    assert tok.tokens("the and of to in was were what when who") == []
    assert tok.tokens("What is the price of bitcoin?") == ["price", "bitcoin"]
    assert {"the", "when", "said"} <= STOP_WORDS
    # "said"/"according" are everywhere in news and carry nothing.
    assert tok.tokens("he said, according to officials") == ["offici"]


def test_possessives_and_acronyms(tok):
    assert tok.tokens("Japan's minister") == tok.tokens("Japan minister")
    assert tok.tokens("Japan’s minister") == tok.tokens("Japan minister")
    # An acronym with periods is one token and never a stop word ("U.S." is not "us").
    assert tok.tokens("U.S. officials") == ["us", "offici"]
    assert tok.tokens("U.K.") == ["uk"]


def test_unicode_is_nfkc_normalized(tok):
    assert tok.tokens("Ｆ－３５") == tok.tokens("F-35")
    assert tok.tokens("ﬁnal") == tok.tokens("final")


def test_empty_and_punctuation_only_text(tok):
    assert tok.tokens("") == []
    assert tok.tokens(" -- ... !!! ") == []
