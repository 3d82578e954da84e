"""Quote: verbatim slices of the chosen sentences, with context, outlet, date and highlight.

Every quote is a slice of a retrieved passage: this module picks spans, it never writes text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from index.answer_types import find_answer_words
from index.fitted import logistic
from index.model import Quote, RetrievedPassage, Span
from index.question import QuestionKind
from index.sentences import Candidate, joined_sentences
from index.timeref import resolve_relative_dates


def select_quotes(
    ranked: Sequence[Candidate],
    focus_ranked: Sequence[Sequence[Candidate]],
    passages: Sequence[RetrievedPassage],
    *,
    kind: QuestionKind,
    question: str,
    max_quotes: int,
    relative_share: float,
    context: bool,
    one_per_article: bool,
    max_words: int = 100,
) -> list[Quote]:
    """The best sentence; then the best sentence for each outlet the question cites; then
    the next best whose chance is at least ``relative_share`` of the best's, skipping what
    a quote already shows. With ``one_per_article``, each article is quoted once: a question
    of many clauses gathers its facts from several reports, while a short one asks for one
    fact, and the runner-up sentence of the same report is its likeliest other answer."""
    if not ranked:
        return []
    best = logistic(ranked[0].score)
    picks = [ranked[0]]
    picks += [r[0] for r in focus_ranked if r]
    picks += [c for c in ranked[1:] if logistic(c.score) >= best * relative_share]
    quotes: list[Quote] = []
    for c in picks:
        rp = passages[c.unit.passage_index]
        if len(quotes) >= max_quotes:
            break
        if not any(_repeats(q, rp, c.unit.span, one_per_article) for q in quotes):
            quotes.append(_make_quote(c, rp, kind, question, max_words, context))
    return quotes


def _repeats(quote: Quote, rp: RetrievedPassage, sentence: Span, one_per_article: bool) -> bool:
    """Whether quoting ``sentence`` of ``rp`` would repeat ``quote``: the same article when
    each article is quoted once, else the same words."""
    if quote.article.id != rp.article.id:
        return False
    if one_per_article:
        return True
    same_passage = quote.passage == rp.passage.text
    return same_passage and sentence.start < quote.text_end and quote.text_start < sentence.end


def _with_context(text: str, sentences: Sequence[Span], core: Span, max_words: int) -> Span:
    """The answering sentence with the one after it and the one before it, each only while
    the quote stays within ``max_words``: the answer is often stated next to the sentence that
    best matches the question's words, and a reader gets the context a lone sentence lacks."""
    units = joined_sentences(text, sentences)
    i = next((k for k, u in enumerate(units) if u.start == core.start), None)
    if i is None:
        return core
    start, end = core.start, core.end

    def fits(a: int, b: int) -> bool:
        return len(text[a:b].split()) <= max_words

    if i + 1 < len(units) and fits(start, units[i + 1].end):
        end = units[i + 1].end
    if i > 0 and fits(units[i - 1].start, end):
        start = units[i - 1].start
    return Span(start, end)


def _make_quote(
    c: Candidate,
    rp: RetrievedPassage,
    kind: QuestionKind,
    question: str,
    max_words: int,
    context: bool = True,
) -> Quote:
    text = rp.passage.text
    core = c.unit.span
    span = _with_context(text, rp.passage.sentences, core, max_words) if context else core
    start, end = span.start, span.end
    words = list(re.finditer(r"\S+", text[start:end]))
    if len(words) > max_words:
        end = start + words[max_words - 1].end()
    quoted = text[start:end]
    sentence = Span(core.start - start, min(core.end, end) - start)
    # The answering words of the answering sentence; the context's only when it has none.
    answer = find_answer_words(quoted[sentence.start : sentence.end], kind, question)
    if answer is not None:
        answer = Span(answer.start + sentence.start, answer.end + sentence.start)
    else:
        answer = find_answer_words(quoted, kind, question)
    published = rp.article.published
    return Quote(
        text=quoted,
        passage=text,
        text_start=start,
        text_end=end,
        highlight=quoted[answer.start : answer.end] if answer else None,
        highlight_start=answer.start if answer else None,
        article=rp.article,
        score=c.score,
        resolved_dates=tuple(resolve_relative_dates(quoted, published.date())) if published else (),
        sentence_start=sentence.start,
        sentence_end=sentence.end,
    )
