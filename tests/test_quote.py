"""Quote selection: which chosen sentences become quotes, and what a quote repeats."""

from __future__ import annotations

from datetime import UTC, datetime

from index.model import Passage, RetrievedPassage, Span, StoredArticle
from index.quote import select_quotes
from index.sentences import Candidate, SentenceUnit

DAY = datetime(2024, 5, 1, tzinfo=UTC)
SENTENCES = (
    "The council met on Monday to discuss the harbour.",
    "Members argued for an hour about parking and the budget.",
    "Later the mayor spoke to reporters about many other matters.",
    "The ferry will resume sailing on March 3 after hull repairs, the operator said.",
    "Commuters have relied on buses during the closure of the harbour.",
)


def _passage(article_id: str, n: int) -> RetrievedPassage:
    text, spans, at = "", [], 0
    for s in SENTENCES:
        spans.append(Span(at, at + len(s)))
        text += s + " "
        at += len(s) + 1
    article = StoredArticle(article_id, f"Report {n}", text, DAY, "Wire", None, "t", DAY)
    return RetrievedPassage(
        Passage(n, article_id, 0, 0, len(text), text, tuple(spans)), article, 1.0
    )


def _candidates(passages: list[RetrievedPassage], picks: list[tuple[int, int]]) -> list[Candidate]:
    """(passage, sentence) pairs, best first, each nearly as likely as the one before."""
    out = []
    for rank, (p, s) in enumerate(picks):
        span = passages[p].passage.sentences[s]
        out.append(Candidate(SentenceUnit(p, span, frozenset(), None), 2.0 - 0.1 * rank, 0.5))
    return out


def _quote(passages, picks, *, one_per_article):
    return select_quotes(
        _candidates(passages, picks),
        [],
        passages,
        kind="when",
        question="when does the ferry sail again",
        max_quotes=3,
        relative_share=0.1,
        context=True,
        one_per_article=one_per_article,
    )


def test_a_short_question_quotes_the_runner_up_sentence_of_the_same_report():
    passages = [_passage("a1", 1), _passage("a2", 2)]
    quotes = _quote(passages, [(0, 0), (0, 3), (1, 3)], one_per_article=False)
    assert [q.article.id for q in quotes] == ["a1", "a1", "a2"]
    assert "March 3" in quotes[1].text and "March 3" not in quotes[0].text


def test_a_sentence_a_quote_already_shows_is_not_quoted_again():
    passages = [_passage("a1", 1)]
    # The second sentence is the first quote's context: quoting it would repeat it.
    quotes = _quote(passages, [(0, 0), (0, 1), (0, 3)], one_per_article=False)
    assert len(quotes) == 2 and SENTENCES[1] in quotes[0].text
    assert quotes[1].text.count(SENTENCES[3]) == 1 and SENTENCES[3] not in quotes[0].text


def test_one_quote_per_article_gathers_other_reports():
    passages = [_passage("a1", 1), _passage("a2", 2)]
    quotes = _quote(passages, [(0, 0), (0, 3), (1, 3)], one_per_article=True)
    assert [q.article.id for q in quotes] == ["a1", "a2"]
