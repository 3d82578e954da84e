"""BM25 through bm25s: parity with rank-bm25 (the reference), search, masks, save/load."""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import pytest
from rank_bm25 import BM25Okapi, BM25Plus

from index.lexical import LexicalIndex
from index.tokenize import NewsTokenizer

TOK = NewsTokenizer()

# "korea", "japan" and "south" are in more than half of these documents; the rest are not.
DOCS = [
    "Japan and South Korea will link radar systems to track North Korea missiles.",
    "The Japanese government's top spokesman, Hirokazu Matsuno, said no decision had been made.",
    "Defense ministers from Japan and South Korea will meet at the Shangri-La Dialogue.",
    "North Korea launched ballistic missiles at an unprecedented pace last year.",
    "Japan's Prime Minister Fumio Kishida met South Korea's President Yoon in Seoul on Sunday.",
    "South Korea and Japan agreed to speed up information-sharing in November.",
    "Oil prices fell 3% as traders weighed demand in China and the United States.",
]
CORPUS = [TOK.tokens(d) for d in DOCS]
N = len(CORPUS)


def _df(term: str) -> int:
    return sum(term in doc for doc in CORPUS)


def test_the_corpus_has_common_and_rare_terms():
    assert _df("korea") > N / 2 and _df("japan") > N / 2 and _df("south") > N / 2
    for rare in ("missil", "radar", "matsuno", "shangri-la", "oil", "seoul", "minist"):
        assert 0 < _df(rare) <= N / 2, rare


QUERIES = [
    ["missil", "radar"],
    ["matsuno", "spokesman"],
    ["shangri-la", "dialogu", "minist"],
    ["oil", "price", "china"],
    ["korea", "missil"],  # a term in more than half of the documents
    ["japan", "south", "korea"],  # only common terms
    ["seoul", "seoul"],  # a repeated query term counts twice
]


@pytest.mark.parametrize("k1, b, delta", [(1.5, 0.75, 1.0), (1.2, 0.5, 0.5), (0.9, 0.4, 0.25)])
@pytest.mark.parametrize("query", QUERIES, ids=["-".join(q) for q in QUERIES])
def test_bm25plus_equals_rank_bm25(query, k1, b, delta):
    ours = LexicalIndex.build(CORPUS, method="bm25+", k1=k1, b=b, delta=delta).scores(query)
    reference = BM25Plus(CORPUS, k1=k1, b=b, delta=delta).get_scores(query)
    assert ours.shape == (N,)
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-5)


# bm25s "robertson" is Okapi BM25 with the (k1 + 1) factor of the term-frequency part left out,
# which scales every score of a query alike; so it equals rank_bm25.BM25Okapi / (k1 + 1) ...
@pytest.mark.parametrize("k1, b", [(1.5, 0.75), (1.2, 0.3)])
@pytest.mark.parametrize(
    "query", [q for q in QUERIES if all(_df(t) <= N / 2 for t in q)], ids=lambda q: "-".join(q)
)
def test_robertson_equals_okapi_over_k1_plus_1_for_rare_terms(query, k1, b):
    ours = LexicalIndex.build(CORPUS, method="robertson", k1=k1, b=b).scores(query)
    reference = BM25Okapi(CORPUS, k1=k1, b=b).get_scores(query) / (k1 + 1)
    assert np.any(reference > 0)
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-5)


# ... except for a term in more than half of the documents. Its Robertson idf
# log((N - df + 0.5) / (df + 0.5)) is negative: bm25s floors it at 0 (the term adds nothing),
# while rank-bm25's BM25Okapi replaces it with epsilon * (mean idf of the vocabulary), a small
# positive weight. The two then disagree exactly on the documents containing that term.
def test_robertson_and_okapi_diverge_on_terms_in_over_half_the_documents():
    k1, b = 1.5, 0.75
    okapi = BM25Okapi(CORPUS, k1=k1, b=b)
    ours = LexicalIndex.build(CORPUS, method="robertson", k1=k1, b=b)

    common = ["korea"]
    assert okapi.idf["korea"] == pytest.approx(okapi.epsilon * okapi.average_idf)
    assert okapi.idf["korea"] > 0
    np.testing.assert_allclose(ours.scores(common), 0.0, atol=1e-7)  # floored idf: no score
    reference = okapi.get_scores(common) / (k1 + 1)
    has_term = np.array(["korea" in doc for doc in CORPUS])
    assert np.all(reference[has_term] > 1e-3)
    assert np.all(reference[~has_term] == 0)

    mixed = ["korea", "missil"]
    diff = np.abs(ours.scores(mixed) - okapi.get_scores(mixed) / (k1 + 1))
    assert np.all(diff[has_term] > 1e-3)  # the divergence, on every document with "korea"
    assert np.all(diff[~has_term] < 1e-5)  # and agreement everywhere else


def test_lucene_scores_follow_the_formula():
    k1, b = 1.2, 0.75
    index = LexicalIndex.build(CORPUS, k1=k1, b=b)  # "lucene", the engine's method
    avgdl = sum(map(len, CORPUS)) / N
    query = ["korea", "missil"]
    expected = []
    for doc in CORPUS:
        score = 0.0
        for t in query:
            tf = doc.count(t)
            idf = math.log(1 + (N - _df(t) + 0.5) / (_df(t) + 0.5))
            score += idf * tf / (tf + k1 * (1 - b + b * len(doc) / avgdl))
        expected.append(score)
    np.testing.assert_allclose(index.scores(query), expected, rtol=1e-5, atol=1e-6)
    assert index.idf(["korea", "nope"]) == {
        "korea": pytest.approx(math.log(1 + (N - 5 + 0.5) / 5.5))
    }


def test_search_returns_positive_rows_best_first():
    index = LexicalIndex.build(CORPUS)
    rows, scores = index.search(["missil", "radar"], k=10)
    assert rows.tolist() == [0, 3]
    assert scores[0] > scores[1] > 0
    np.testing.assert_allclose(scores, index.scores(["missil", "radar"])[rows], rtol=1e-6)
    assert index.search(["unknownword"], k=5)[0].size == 0
    assert index.search([], k=5)[0].size == 0
    assert index.search(["missil"], k=0)[0].size == 0


def test_search_with_a_mask_only_returns_allowed_rows():
    index = LexicalIndex.build(CORPUS)
    mask = np.ones(N, dtype=np.float32)
    mask[0] = 0
    rows, _ = index.search(["missil", "radar"], k=10, weight_mask=mask)
    assert rows.tolist() == [3]


def test_save_and_memory_mapped_load_give_the_same_scores(tmp_path):
    index = LexicalIndex.build(CORPUS)
    index.save(tmp_path / "bm25")
    loaded = LexicalIndex.load(tmp_path / "bm25")
    assert loaded.num_docs == N
    for query in QUERIES:
        np.testing.assert_allclose(loaded.scores(query), index.scores(query), rtol=1e-6)
    assert loaded.token_ids(["korea", "nope"]) == index.token_ids(["korea"])


def test_numbas_kernels_search_exactly_like_numpys(tmp_path):
    """The bot and eval load every index with numba's kernels; one-shot commands below
    ``bm25_numba_from`` passages with numpy's. Same rows, same scores, masks included."""
    LexicalIndex.build(CORPUS).save(tmp_path / "bm25")
    plain = LexicalIndex.load(tmp_path / "bm25")
    jitted = LexicalIndex.load(tmp_path / "bm25", numba_from=0)
    assert (plain._bm25.backend, jitted._bm25.backend) == ("numpy", "numba")
    mask = np.ones(N, dtype=np.float32)
    mask[[0, 4]] = 0
    for query in QUERIES:
        for weights in (None, mask):
            a_rows, a_scores = plain.search(query, 5, weights)
            b_rows, b_scores = jitted.search(query, 5, weights)
            assert b_rows.tolist() == a_rows.tolist()
            np.testing.assert_allclose(b_scores, a_scores, rtol=1e-6)


# -- phrase columns --------------------------------------------------------------------------


@pytest.mark.parametrize("k1, b", [(0.9, 0.5), (1.2, 0.75)])
@pytest.mark.parametrize("query", QUERIES, ids=["-".join(q) for q in QUERIES])
def test_phrase_columns_add_lucene_pair_scores_and_leave_word_scores_alone(query, k1, b):
    """Words score exactly as in bm25s's own index (which matches rank-bm25 above); each
    neighbouring pair of the query that a passage holds adds the lucene formula's score, with
    the pair's document frequency and the passage's word count as its length."""
    plain = LexicalIndex.build(CORPUS, k1=k1, b=b)
    ours = LexicalIndex.build(CORPUS, k1=k1, b=b, phrases=True)
    np.testing.assert_allclose(ours.scores(query), plain.scores(query), atol=1e-6)

    avgdl = sum(map(len, CORPUS)) / N
    doc_pairs = [list(pairwise(doc)) for doc in CORPUS]
    expected = plain.scores(query).astype(np.float64)
    for pair in pairwise(query):
        df = sum(pair in pairs for pairs in doc_pairs)
        if not df:
            continue
        idf = math.log(1 + (N - df + 0.5) / (df + 0.5))
        for i, (doc, pairs) in enumerate(zip(CORPUS, doc_pairs, strict=True)):
            tf = pairs.count(pair)
            expected[i] += idf * tf / (tf + k1 * (1 - b + b * len(doc) / avgdl))
    np.testing.assert_allclose(ours.scores(query, phrases=True), expected, rtol=1e-5, atol=1e-6)


def test_a_phrase_ranks_the_passage_that_holds_it_first(tmp_path):
    docs = [
        ["welcom", "bonus", "new", "custom"],  # the phrase
        ["bonus", "round", "welcom", "news"],  # both words, apart
        ["bonus", "welcom", "extra", "word"],  # both words, the other order
    ]
    index = LexicalIndex.build(docs, phrases=True)
    words = index.scores(["welcom", "bonus"])
    np.testing.assert_allclose(words, words[0])  # same lengths, same words: a tie
    with_phrase = index.scores(["welcom", "bonus"], phrases=True)
    assert with_phrase[0] > with_phrase[1] == pytest.approx(with_phrase[2])
    assert index.search(["welcom", "bonus"], 3, phrases=True)[0].tolist()[0] == 0
    # A pair no passage holds, or with an unknown word, adds no column.
    assert index.token_ids(["bonus", "custom", "zzz", "welcom"], phrases=True) == [1, 3, 0]

    index.save(tmp_path / "bm25")
    for loaded in (
        LexicalIndex.load(tmp_path / "bm25"),
        LexicalIndex.load(tmp_path / "bm25", numba_from=0),
    ):
        assert loaded.has_phrases
        rows, scores = loaded.search(["welcom", "bonus"], 3, phrases=True)
        assert rows.tolist()[0] == 0
        np.testing.assert_allclose(scores, with_phrase[rows], rtol=1e-6)


def test_phrase_columns_need_the_lucene_variant():
    with pytest.raises(ValueError, match="lucene"):
        LexicalIndex.build(CORPUS, method="bm25+", phrases=True)
    plain = LexicalIndex.build(CORPUS)
    assert not plain.has_phrases
    assert plain.token_ids(["korea", "missil"], phrases=True) == plain.token_ids(
        ["korea", "missil"]
    )
