"""Sentence splitting and sentence-aligned passages: exact offsets, abbreviations, word cap."""

from __future__ import annotations

import itertools
import re

import pytest

from index.segment import pack_passages, split_sentences

NEWS = (
    "Mr. Smith met U.S. officials on Nov. 18 in Washington. They talked for an hour.\n\n"
    '"Is it over?" he asked. Dr. J. Doe said no. The talks resume at 5 p.m. Friday, '
    "aides said.\nA new line starts a new sentence"
)


def _texts(body: str) -> list[str]:
    return [body[s.start : s.end] for s in split_sentences(body)]


def test_abbreviations_and_initials_do_not_end_a_sentence():
    assert _texts(NEWS) == [
        "Mr. Smith met U.S. officials on Nov. 18 in Washington.",
        "They talked for an hour.",
        '"Is it over?" he asked.',
        "Dr. J. Doe said no.",
        "The talks resume at 5 p.m. Friday, aides said.",
        "A new line starts a new sentence",
    ]


@pytest.mark.parametrize(
    "body, expected",
    [
        ("The U.S. Army agreed. The U.K. did not.", ["The U.S. Army agreed.", "The U.K. did not."]),
        ("Prices rose 3.5 percent. Then fell.", ["Prices rose 3.5 percent.", "Then fell."]),
        ("Gen. Kim spoke. Sen. Lee left.", ["Gen. Kim spoke.", "Sen. Lee left."]),
        ("Wow! Really? Yes.", ["Wow!", "Really?", "Yes."]),
        (
            "It ranked No. 5 in Asia. Nos. 3 and 4 fell.",
            ["It ranked No. 5 in Asia.", "Nos. 3 and 4 fell."],
        ),
        ("The answer was no. The minister left.", ["The answer was no.", "The minister left."]),
        ("He said (quietly). Then left.", ["He said (quietly).", "Then left."]),
        ("one line\nanother line", ["one line", "another line"]),
    ],
)
def test_split_sentences_cases(body, expected):
    assert _texts(body) == expected


def test_sentence_offsets_are_exact_and_trimmed():
    spans = split_sentences(NEWS)
    for span in spans:
        text = NEWS[span.start : span.end]
        assert text == text.strip() and text
    # Spans are in order, do not overlap, and only white space lies between them.
    for prev, nxt in itertools.pairwise(spans):
        assert prev.end <= nxt.start
        assert NEWS[prev.end : nxt.start].strip() == ""
    assert NEWS[: spans[0].start].strip() == "" and NEWS[spans[-1].end :].strip() == ""


def test_empty_and_blank_text_have_no_sentences():
    assert split_sentences("") == []
    assert split_sentences(" \n\n\t ") == []
    assert pack_passages("", 10) == []
    assert pack_passages("   \n", 10) == []


def _words(text: str) -> int:
    return len(re.findall(r"\S+", text))


@pytest.mark.parametrize("max_words", [5, 8, 12, 40])
def test_passages_are_whole_sentences_under_the_word_cap(max_words):
    passages = pack_passages(NEWS, max_words)
    assert passages
    sentences = split_sentences(NEWS)
    covered = []
    for p in passages:
        text = NEWS[p.start : p.end]
        assert _words(text) <= max_words
        assert p.start == p.sentences[0].start and p.end == p.sentences[-1].end
        for s in p.sentences:
            assert p.start <= s.start < s.end <= p.end
            covered.append(NEWS[s.start : s.end])
            whole = next(x for x in sentences if x.start <= s.start and s.end <= x.end)
            if _words(NEWS[whole.start : whole.end]) <= max_words:
                assert s == whole  # a sentence that fits is never cut
    # Every word of the body is in exactly one passage, in order.
    assert " ".join(covered).split() == NEWS.split()


def test_consecutive_sentences_are_packed_together():
    body = "One two three. Four five six. Seven eight nine. Ten eleven twelve."
    passages = pack_passages(body, 6)
    assert [body[p.start : p.end] for p in passages] == [
        "One two three. Four five six.",
        "Seven eight nine. Ten eleven twelve.",
    ]
    assert [len(p.sentences) for p in passages] == [2, 2]


def test_a_long_run_on_is_cut_at_word_boundaries():
    body = "Intro sentence here. " + " ".join(f"Item{i}" for i in range(50)) + ". Outro here."
    passages = pack_passages(body, 16)
    texts = [body[p.start : p.end] for p in passages]
    assert all(_words(t) <= 16 for t in texts)
    assert " ".join(texts).split() == body.split()
    # Cut pieces start and end on word boundaries.
    for p in passages:
        assert p.start == 0 or body[p.start - 1].isspace()
        assert p.end == len(body) or body[p.end].isspace()
    assert len(passages) == 5  # 3 + 50 + 2 words, at most 16 each, sentences kept whole


def test_seed_article_passages_slice_its_body():
    body = (
        "The Japanese government’s top spokesman, Hirokazu Matsuno, said no decision has been "
        "made yet on the planned agreement, without elaborating.\n\nDefense ministers from Japan "
        "and South Korea are separately arranging to meet on the sidelines of the IISS "
        "Shangri-La Dialogue to be held in Singapore from June 2 to 4, in what would be the "
        "first such meeting since November 2019."
    )
    passages = pack_passages(body, 45)
    assert len(passages) == 2
    assert body[passages[1].start : passages[1].end].startswith("Defense ministers")
    assert "from June 2 to 4" in body[passages[1].start : passages[1].end]
