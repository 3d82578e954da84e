"""Chat questions end to end on a hand-made corpus: the sentence that answers comes first,
the newest report of a recurring event leads, off-topic questions are declined, and
outlet-like words, non-outlet sources and "may" keep their everyday meaning."""

from __future__ import annotations

import json
from datetime import date

import pytest

from index.engine import Engine


def _article(n: int, title: str, source: str, published: str, *sentences: str) -> dict:
    return {
        "id": f"doc-{n}",
        "title": title,
        "source": source,
        "published": published,
        "url": f"https://news.example/{n}",
        "text": " ".join(sentences),
    }


ARTICLES = [
    _article(
        1,
        "Shangri-La Dialogue to open in Singapore",
        "Asia Wire",
        "2023-05-10T08:00:00+00:00",
        "Defence chiefs from across the region are heading to Singapore for talks.",
        "The IISS Shangri-La Dialogue will be held in Singapore from June 2 to 4, organisers said.",
        "Ministers from Japan and South Korea are expected to meet on the sidelines.",
    ),
    _article(
        2,
        "Shangri-La Dialogue returns with record attendance",
        "Asia Wire",
        "2024-05-20T08:00:00+00:00",
        "Officials expect a record number of delegations this year.",
        "The IISS Shangri-La Dialogue will be held in Singapore from May 31 to June 2, organisers said.",
        "China's defence minister is due to speak on the second day.",
    ),
    _article(
        3,
        "Harbour ferry to restart after repairs",
        "Coast News",
        "2023-02-20T08:00:00+00:00",
        "The harbour ferry service and its future were discussed at length by the council.",
        "The operator said the boats will resume sailing on March 3 after hull repairs.",
        "Commuters have relied on buses during the closure.",
    ),
    _article(
        4,
        "Flood forces river town to evacuate",
        "Coast News",
        "2023-03-14T08:00:00+00:00",
        "The flood evacuation in the river town was the largest it has ever seen.",
        "Officials said 1,200 residents were moved to shelters overnight.",
        "Water levels are expected to fall by the weekend.",
    ),
    _article(
        5,
        "New national space agency launched",
        "Science Daily Wire",
        "2023-04-02T08:00:00+00:00",
        "The new national space agency was launched with great fanfare in the capital.",
        "It will be led by the former astronaut Maria Lopez, the government announced.",
        "Its first mission is planned for 2026.",
    ),
    _article(
        6,
        "School fees climb again, study finds",
        "The Guardian",
        "2023-06-01T08:00:00+00:00",
        "The independent schools report found that average fees rose by 8 percent this year.",
        "Parents' groups called the rise unsustainable.",
    ),
    _article(
        7,
        "Tennis star reaches final in straight sets",
        "The Independent",
        "2023-06-02T08:00:00+00:00",
        "The second seed reached the final after winning in straight sets on Friday.",
        "She will face the defending champion on Sunday.",
    ),
    _article(
        8,
        "Prisoners freed under amnesty deal",
        "World Desk",
        "2023-07-09T08:00:00+00:00",
        "According to Amnesty International, at least 300 political prisoners were released.",
        "The government has not confirmed the number.",
    ),
    _article(
        9,
        "Harbour festival line-up announced",
        "Coast News",
        "2023-01-15T08:00:00+00:00",
        "The harbour music festival returns in May with forty bands on three stages.",
        "Tickets go on sale next week.",
    ),
    _article(
        10,
        "Autumn food fair confirmed",
        "Coast News",
        "2023-01-16T08:00:00+00:00",
        "The harbour food festival returns in September with sixty stalls along the quay.",
        "Organisers hope for fine weather.",
    ),
]


@pytest.fixture(scope="module")
def chat_engine(tmp_path_factory, encoder) -> Engine:
    from index.config import EngineConfig

    root = tmp_path_factory.mktemp("chat")
    corpus = root / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(a) + "\n" for a in ARTICLES), encoding="utf-8")
    engine = Engine(EngineConfig(data_dir=root / "data"), encoder)
    engine.ingest_paths([corpus])
    yield engine
    engine.close()


def _first(engine: Engine, question: str, **kwargs) -> tuple[str, str | None, str]:
    answer = engine.quote_answer(question, **kwargs)
    assert not answer.abstained, f"{question!r} abstained ({answer.confidence})"
    q = answer.quotes[0]
    return q.sentence, q.highlight, q.article.url or ""


def test_a_recurring_event_quotes_the_newest_report(chat_engine):
    sentence, highlight, url = _first(chat_engine, "when is the shangri-la dialogue?")
    assert url.endswith("/2") and "May 31 to June 2" in sentence
    assert highlight == "from May 31 to June 2"


def test_a_recurring_event_quotes_the_year_the_question_names(chat_engine):
    sentence, _, url = _first(
        chat_engine, "when was the shangri-la dialogue in 2023", today=date(2024, 6, 1)
    )
    assert url.endswith("/1") and "June 2 to 4" in sentence


@pytest.mark.parametrize(
    "question, highlight",
    [
        ("when will the harbour ferry resume", "March 3"),
        ("how many people were evacuated in the river town flood", "1,200 residents"),
        ("who will lead the new space agency", "Maria Lopez"),
    ],
)
def test_the_sentence_holding_the_answer_beats_one_repeating_the_question(
    chat_engine, question, highlight
):
    sentence, found, _ = _first(chat_engine, question)
    assert highlight in sentence and found is not None and highlight in found


def test_outlet_like_words_do_not_narrow_to_an_outlet(chat_engine):
    sentence, _, url = _first(chat_engine, "what did the independent schools report find")
    assert url.endswith("/6") and "8 percent" in sentence


def test_according_to_a_non_outlet_is_searched_not_declined(chat_engine):
    sentence, highlight, _ = _first(
        chat_engine, "according to amnesty international how many prisoners were freed"
    )
    assert "300 political prisoners" in sentence and highlight is not None and "300" in highlight


def test_what_a_source_no_article_names_said_is_not_answered(chat_engine):
    quoted = chat_engine.quote_answer("what did amnesty international say about the prisoners")
    assert not quoted.abstained
    declined = chat_engine.quote_answer("what did moody's say about the prisoners")
    assert declined.abstained and declined.reason == "low_confidence"


def test_may_the_month_is_searched(chat_engine):
    sentence, _, url = _first(chat_engine, "which harbour festival is on in may")
    assert url.endswith("/9") and "in May" in sentence


def test_an_off_topic_question_abstains_while_a_close_answerable_one_quotes(chat_engine):
    assert not chat_engine.quote_answer("who will lead the new space agency").abstained
    declined = chat_engine.quote_answer("who will lead the new football team next season")
    assert declined.abstained and declined.reason == "low_confidence"
