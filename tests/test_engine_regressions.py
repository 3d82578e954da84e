"""Regressions found by review: each test failed on the code before its fix."""

import pytest

from index.engine import Engine
from index.model import Article
from index.quote import find_answer_words


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
    # quote.py find_answer_words("who"): a name with one asked word ("Kishida") is returned.
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
