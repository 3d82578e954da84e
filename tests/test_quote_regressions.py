"""Regressions found by review: each case failed on the code before its fix."""

import pytest

from index.quote import classify_question, find_answer_words


@pytest.mark.parametrize(
    "sentence, kind, question, expected",
    [
        # quote.py _PLACE / _NAME: a sentence-final period is part of the highlight.
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


def test_how_many_followed_by_punctuation():
    # quote.py classify_question: "many" in q.split()[1:3] misses "many?" / "many,".
    assert classify_question("How many?") == "how_many"
    assert classify_question("How many, roughly, were hurt?") == "how_many"
