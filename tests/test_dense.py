"""Dense search: exact, and the reduced first pass large corpora use, re-scored exactly."""

from __future__ import annotations

import numpy as np
import pytest

from index.dense import (
    DenseIndex,
    PassageWindows,
    ReducedVectors,
    SentenceVectors,
    SentenceVectorsWriter,
    SpanVectors,
    half_to_single,
)
from index.snapshot import load_snapshot
from tests.conftest import SAMPLE_DIR


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def corpus() -> tuple[np.ndarray, np.ndarray]:
    """Vectors with structure like sentence embeddings: most of their spread in a few dozen
    directions, the rest noise; questions near some rows."""
    rng = np.random.default_rng(7)
    basis = rng.normal(size=(24, 384))
    vectors = _unit(rng.normal(size=(6000, 24)) @ basis + 0.3 * rng.normal(size=(6000, 384)))
    questions = _unit(vectors[rng.choice(6000, 30)] + 0.05 * rng.normal(size=(30, 384)))
    return vectors, questions


def test_the_reduced_first_pass_finds_the_exact_neighbours(corpus):
    vectors, questions = corpus
    exact = DenseIndex(vectors)
    reduced = DenseIndex(vectors, ReducedVectors.fit(vectors, 32))
    mask = np.arange(len(vectors)) % 3 == 0
    for q in questions:
        for m in (None, mask):
            rows, cosines = exact.search(q, 50, m)
            got_rows, got_cosines = reduced.search(q, 50, m)
            np.testing.assert_array_equal(got_rows, rows)
            # Exact cosines from the full vectors, not the first pass's ranking scores.
            np.testing.assert_allclose(got_cosines, cosines, atol=1e-6)
            np.testing.assert_allclose(got_cosines, vectors[got_rows] @ q, atol=1e-6)


def test_the_first_pass_reads_a_fraction_of_the_vectors(corpus):
    vectors, _ = corpus
    reduced = ReducedVectors.fit(vectors, 32)
    assert reduced.rows.shape == (len(vectors), 32)
    assert reduced.rows.nbytes * 12 == vectors.nbytes


def test_large_snapshots_get_the_first_pass_and_answer_alike(engine_factory, tmp_path):
    question = "When is the Shangri-La Dialogue?"
    exact = engine_factory(tmp_path / "exact")
    exact.ingest_paths([SAMPLE_DIR])
    snap = load_snapshot(exact.config.index_dir)
    assert snap is not None and snap.dense.reduced is None

    # A threshold the sample passes: the snapshot is built with the first pass.
    firstpass = engine_factory(tmp_path / "firstpass", dense_first_pass_from=1)
    firstpass.ingest_paths([SAMPLE_DIR])
    snap = load_snapshot(firstpass.config.index_dir)
    assert snap is not None and snap.dense.reduced is not None
    a, b = exact.quote_answer(question), firstpass.quote_answer(question)
    assert [p.passage.id for p in b.passages] == [p.passage.id for p in a.passages]
    assert [q.text for q in b.quotes] == [q.text for q in a.quotes]
    assert b.signals.max_cosine == pytest.approx(a.signals.max_cosine, abs=1e-6)


def test_a_snapshot_published_without_the_first_pass_gains_it_in_place(engine_factory, tmp_path):
    data = tmp_path / "data"
    engine = engine_factory(data)
    engine.ingest_paths([SAMPLE_DIR])
    before = load_snapshot(engine.config.index_dir)
    engine.close()

    upgraded = engine_factory(data, dense_first_pass_from=1)
    assert upgraded.quote_answer("When is the Shangri-La Dialogue?").quotes
    after = load_snapshot(upgraded.config.index_dir)
    assert before is not None and after is not None
    assert after.name == before.name  # no rebuild: the same snapshot, one file more
    assert after.dense.reduced is not None
    assert not [
        p for p in (upgraded.config.index_dir / after.name).iterdir() if p.name.startswith(".")
    ]


# -- passages ranked by their best window ------------------------------------------------------


def _windowed(rng: np.random.Generator, passages: int) -> PassageWindows:
    """Random unit windows, 1 to 4 a passage."""
    counts = rng.integers(1, 5, size=passages)
    return PassageWindows.of(_unit(rng.normal(size=(int(counts.sum()), 16))), counts)


def test_window_means_are_the_passage_vectors_and_lone_windows_are_not_kept_twice():
    windows = PassageWindows.of(np.eye(3, dtype=np.float32), [2, 1])
    np.testing.assert_allclose(windows.means(), [[0.5**0.5, 0.5**0.5, 0], [0, 0, 1]], atol=1e-6)
    np.testing.assert_array_equal(windows.of_passage(0), np.eye(3)[:2])
    assert windows.of_passage(1) is None


def test_best_window_outranks_a_passage_whose_mean_is_closer():
    # Passage 0 states the answer in one window and something else in the other; passage 1
    # is vaguely about the question throughout. Their vectors are the windows' means.
    q = np.array([1, 0, 0, 0], dtype=np.float32)
    windows = PassageWindows.of(_unit(np.array([[1, 0, 0, 0], [0, 1, 0, 0], [4, 0, 3, 0]])), [2, 1])
    index = DenseIndex(windows.means(), windows=windows)
    rows, cosines = index.search(q, 2)
    assert rows.tolist() == [1, 0]  # by the passage vectors: 0.8 against 0.71
    rows, cosines = index.top(index.first_pass(q), q, 2, best_window=True)
    assert rows.tolist() == [0, 1]  # by the best window: 1.0 against 0.8
    # The cosines stay the passage vectors': answer confidence is calibrated on them.
    np.testing.assert_allclose(cosines, [0.5**0.5, 0.8], atol=1e-6)


@pytest.mark.parametrize("first_pass", [False, True])
def test_best_window_search_equals_the_best_window_of_every_passage(tmp_path, first_pass):
    rng = np.random.default_rng(3)
    windows = _windowed(rng, 60)
    means = windows.means()
    # Passages with one window keep none in the index, as snapshots store them.
    kept = PassageWindows(
        windows.vectors, windows.starts, np.where(windows.counts > 1, windows.counts, 0)
    )
    DenseIndex(means, ReducedVectors.fit(means, 8) if first_pass else None, kept).save(tmp_path)
    index = DenseIndex.load(tmp_path)  # memory-mapped; with a first pass, read by pread
    assert (index._window_file is not None) == first_pass
    mask = np.arange(60) % 2 == 0
    # k = 8 re-scores 8 x 8 = 64 rows by their windows: here every passage.
    for q in _unit(rng.normal(size=(5, 16))):
        best = np.array(
            [
                (windows.vectors[s : s + c] @ q).max()
                for s, c in zip(windows.starts, windows.counts, strict=True)
            ]
        )
        for m in (None, mask):
            rows, cosines = index.top(index.first_pass(q), q, 8, m, best_window=True)
            allowed = np.flatnonzero(m) if m is not None else np.arange(60)
            expected = allowed[np.argsort(-best[allowed], kind="stable")[:8]]
            np.testing.assert_array_equal(rows, expected)
            np.testing.assert_allclose(cosines, means[rows] @ q, atol=1e-6)


# -- sentence vectors, one file for the whole index --------------------------------------------


def test_sentence_vectors_stream_to_a_memory_mapped_half_precision_file(tmp_path):
    rng = np.random.default_rng(5)
    per_passage = [_unit(rng.normal(size=(n, 8))) for n in (3, 1, 4)]
    stored = [rows.astype("<f2").tobytes() for rows in per_passage]
    with SentenceVectorsWriter(tmp_path, 8) as writer:
        # The second passage was stored before they were kept.
        for rows in (stored[0], None, stored[1], stored[2]):
            writer.add(rows)
    loaded = SentenceVectors.load(tmp_path)
    assert loaded is not None and isinstance(loaded.vectors, np.memmap)
    assert loaded.vectors.dtype == np.float16 and loaded.vectors.shape == (8, 8)
    assert loaded.counts.tolist() == [3, 0, 1, 4]
    assert loaded.of_passage(1) is None
    for row, rows in zip((0, 2, 3), per_passage, strict=True):
        got = loaded.of_passage(row)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, rows, atol=1e-3)
    # The same arrays as numpy writes them: either file loads alike.
    SentenceVectors(np.asarray(loaded.vectors), loaded.starts, loaded.counts).save(tmp_path)
    again = SentenceVectors.load(tmp_path)
    np.testing.assert_array_equal(again.vectors, loaded.vectors)


def test_an_empty_writer_still_writes_a_loadable_file(tmp_path):
    with SentenceVectorsWriter(tmp_path, 8) as writer:
        writer.add(None)
    loaded = SentenceVectors.load(tmp_path)
    assert loaded.vectors.shape == (0, 8) and loaded.of_passage(0) is None


def test_rows_that_are_not_whole_vectors_are_refused(tmp_path):
    with pytest.raises(ValueError, match="not whole rows"), SentenceVectorsWriter(tmp_path, 8) as w:
        w.add(b"\0" * 10)


def test_an_index_without_sentence_vectors_loads_them_as_none(tmp_path):
    vectors = _unit(np.eye(3, 8) + 0.1)
    DenseIndex(vectors, windows=PassageWindows.of(vectors, [1, 1, 1])).save(tmp_path)
    assert SentenceVectors.load(tmp_path) is None
    assert DenseIndex.load(tmp_path).sentences is None


def test_a_passages_span_vectors_are_its_windows_in_order():
    spans = SpanVectors.of([np.eye(4)[:2], np.eye(4)[2:3], np.eye(4)[3:]], 4)
    windows = PassageWindows.of(np.eye(3, 4, dtype=np.float32), [2, 1], spans)
    np.testing.assert_array_equal(windows.spans_of_passage(0), np.eye(4)[:3])
    np.testing.assert_array_equal(windows.spans_of_passage(1), np.eye(4)[3:])
    assert PassageWindows.of(np.eye(3, 4), [2, 1]).spans_of_passage(0) is None


def test_half_precision_widens_exactly_as_numpy_casts_it():
    every = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    finite = every[np.isfinite(every)].reshape(-1, 32)  # zeros and subnormals included
    widened = half_to_single(finite)
    assert widened.dtype == np.float32 and widened.shape == finite.shape
    np.testing.assert_array_equal(widened, finite.astype(np.float32))
    np.testing.assert_array_equal(np.signbit(widened), np.signbit(finite))


def test_stored_sentence_vectors_widen_in_memory_as_from_the_index(tmp_path):
    rng = np.random.default_rng(9)
    stored = [_unit(rng.normal(size=(n, 8))).astype("<f2").tobytes() for n in (2, 3)]
    rows = [stored[0], None, stored[1]]
    with SentenceVectorsWriter(tmp_path, 8) as writer:
        for r in rows:
            writer.add(r)
    mapped = SentenceVectors.load(tmp_path).of_passages(np.arange(3))
    in_memory = SentenceVectors.of_stored(rows, 8).of_passages(np.arange(3))
    assert in_memory[1] is None and [len(v) for v in (in_memory[0], in_memory[2])] == [2, 3]
    for got, want in zip(in_memory, mapped, strict=True):
        if want is not None:
            np.testing.assert_array_equal(got, want)
    assert SentenceVectors.of_stored([None], 8).of_passages(np.arange(1)) == [None]
