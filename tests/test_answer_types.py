"""Answer types: the words of a sentence that are the kind of thing a question asks for."""

from __future__ import annotations

import pytest

from index.answer_types import asks_for_name, find_answer_words

SHANGRI = (
    "Defense ministers from Japan and South Korea are separately arranging to meet on the "
    "sidelines of the IISS Shangri-La Dialogue to be held in Singapore from June 2 to 4, in "
    "what would be the first such meeting since November 2019."
)
MATSUNO = (
    "The Japanese government’s top spokesman, Hirokazu Matsuno, said no decision has been "
    "made yet on the planned agreement, without elaborating."
)


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
        (
            "The club sacked its coach because of a run of seven defeats.",
            "why",
            "why was the coach sacked",
            "because of a run of seven defeats",
        ),
        ("Shares fell sharply on Monday.", "why", "why did shares fall", None),
        (
            "The deal was won by Acme Corp last year.",
            "what",
            "Which company won the deal?",
            "Acme Corp",
        ),
        # "what did ..." asks for no name: nothing to highlight by pattern.
        ("The deal was won by Acme Corp last year.", "what", "what did the deal do", None),
    ],
)
def test_find_answer_words(sentence, kind, question, expected):
    assert _answer(sentence, kind, question) == expected


def test_which_and_what_noun_ask_for_a_name():
    assert asks_for_name("Which company bought the studio?")
    assert asks_for_name("what team won the cup")
    assert not asks_for_name("what did the minister say")
    assert not asks_for_name("what is the price of bitcoin")


@pytest.mark.parametrize(
    "sentence, kind, question, expected",
    [
        # _PLACE / _NAME: a sentence-final period is part of the highlight.
        ("The summit will be held in Singapore.", "where", "Where is the summit?", "Singapore"),
        (
            "The plan was announced by Hirokazu Matsuno.",
            "who",
            "Who announced it?",
            "Hirokazu Matsuno",
        ),
        # ... and so a place the question names is not recognised as already asked.
        ("They met in Seoul.", "where", "Where in Seoul did they meet?", None),
    ],
)
def test_answer_words_exclude_the_final_period(sentence, kind, question, expected):
    span = find_answer_words(sentence, kind, question)
    assert (None if span is None else sentence[span.start : span.end]) == expected


@pytest.mark.parametrize(
    ("sentence", "kind", "question", "expected"),
    [
        # a full name over a lone capitalised word before it
        (
            "Amazon general counsel David Zapolsky said sellers set prices.",
            "who",
            "who is the top lawyer at the company",
            "David Zapolsky",
        ),
        (
            "United goalkeeper Edwin van der Sar saved the penalty.",
            "who",
            "who saved the penalty",
            "Edwin van der Sar",
        ),
        # a shouted credit is not a name
        (
            "ASSOCIATED PRESS — reporters saw Maria Lopez arrive.",
            "who",
            "who arrived",
            "Maria Lopez",
        ),
        # a number inside a word, a year alone, a number word before "or": not amounts
        (
            "Users of a GLP-1 drug were 3.67 times more likely to fall ill.",
            "how_many",
            "how many times more likely",
            "3.67 times",
        ),
        (
            "Since 2017, the group has raised over $170,000 for research.",
            "how_much",
            "how much was raised",
            "$170,000",
        ),
        (
            "For two or more players the game has 12 worlds.",
            "how_many",
            "how many worlds",
            "12 worlds",
        ),
        ("The show opens in 2024 with new rides.", "how_much", "how much are tickets", None),
        # the number that counts what the question names; not the day of a date
        (
            "It has 1.1 million followers and 2½ million podcast downloads a month.",
            "how_many",
            "how many podcast downloads does it get",
            "2½ million",
        ),
        (
            "Released on September 23, the song has over 330 million plays.",
            "how_many",
            "how many plays does the song have",
            "330 million",
        ),
        ("We tested nine of the best VPN services.", "how_many", "how many were tested", "nine"),
        # a list of places, a place before "-based"
        (
            "Rides stopped in Austin, Houston and Phoenix.",
            "where",
            "where did rides stop",
            "Austin, Houston and Phoenix",
        ),
        (
            "Rainforest, an Atlanta-based startup, raised money.",
            "where",
            "where is rainforest based",
            "Atlanta",
        ),
        # "what did X say": the words quoted
        (
            "The bracelet read: “Vigilante S***” in beads.",
            "what",
            "what did the bracelet say",
            "Vigilante S***",
        ),
        (
            "The bracelet read: “Vigilante S***” in beads.",
            "what",
            "what is the bracelet made of",
            None,
        ),
    ],
)
def test_answer_words_are_the_likeliest_answer(sentence, kind, question, expected):
    span = find_answer_words(sentence, kind, question)
    assert (sentence[span.start : span.end] if span else None) == expected
