"""Choose: the signals each candidate sentence gets."""

from __future__ import annotations

import numpy as np

from index.model import Article
from index.sentences import SENTENCE_FEATURES

SENTENCES = (
    "The city council met on Tuesday evening to discuss the budget.",
    "Councillors argued for hours over parking fees and bus lanes.",
    "The mayor will step down at the end of the year to care for her family.",
    "A new library is planned for the north of the city.",
)


def test_a_sentence_that_answers_in_other_words_is_the_most_similar(engine_factory, tmp_path):
    """No word of the question is in the answering sentence ("quit" / "step down"): only the
    stored sentence vectors tell it from the others."""
    engine = engine_factory()
    engine.ingest(
        [Article(title="Council meeting", body=" ".join(SENTENCES), origin="test", source="Wire")]
    )
    d = engine.deliberate("why is she quitting her job as the town's leader")
    column = d.features[:, SENTENCE_FEATURES.index("similarity")]
    texts = [d.passages[u.passage_index].passage.text[u.span.start : u.span.end] for u in d.units]
    assert texts[int(np.argmax(column))] == SENTENCES[2]
    assert all(-1.0 <= v <= 1.0 for v in column) and len(set(np.round(column, 6))) == len(column)
