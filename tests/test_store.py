"""The SQLite store: atomic batches and epochs, lookups for dedupe, passages as body slices."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from index.errors import NewsbotError
from index.model import Article, Span
from index.segment import pack_passages
from index.store import ArticleWrite, NewPassage, Store

DIM = 4


def _article(title: str, body: str, *, url=None, source="Wire", day=None, **kw) -> Article:
    published = datetime(2023, 5, day, 8, tzinfo=UTC) if day else None
    return Article(title, body, origin="test", url=url, source=source, published=published, **kw)


def _write(article: Article, *, article_id=None, is_update=False, words=8) -> ArticleWrite:
    passages = [
        NewPassage(
            ordinal=i,
            start=p.start,
            end=p.end,
            sentences=p.sentences,
            tokens=article.body[p.start : p.end].lower().split(),
            vector=np.full(DIM, i + 1, dtype=np.float32),
        )
        for i, p in enumerate(pack_passages(article.body, words))
    ]
    return ArticleWrite(article_id or article.natural_id, article, passages, is_update)


BODY = (
    "Defense ministers from Japan and South Korea plan to meet. "
    "The Japanese government’s top spokesman, Hirokazu Matsuno, said no decision was made. "
    "The meeting would be the first since November 2019."
)
BODY_PASSAGES = len(pack_passages(BODY, 8))


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "db" / "newsbot.sqlite3")
    yield s
    s.close()


def test_a_new_store_is_empty_at_epoch_zero(store):
    assert store.epoch() == 0
    assert store.counts() == (0, 0)
    assert store.headlines() == [] and store.newest() is None and store.sources() == []
    assert store.get_meta("schema_version") == "1"
    assert list(store.iter_passage_rows()) == []


def test_each_batch_is_one_new_epoch(store):
    a = _article("A", BODY, url="https://x/a")
    b = _article("B", "Oil prices fell. Traders weighed demand in China.", url="https://x/b")
    assert store.write_batch([_write(a), _write(b)]) == 1
    assert store.epoch() == 1
    assert store.counts() == (2, BODY_PASSAGES + len(pack_passages(b.body, 8)))
    assert store.write_batch([]) == 1  # nothing written: the epoch stays
    assert store.get_meta("last_ingest") is not None


def test_passages_are_exact_slices_of_the_stored_body(store):
    a = _article("A", BODY, url="https://x/a")
    store.write_batch([_write(a)])
    rows = list(store.iter_passage_rows())
    assert [r.id for r in rows] == sorted(r.id for r in rows)
    passages = store.passages([r.id for r in rows])
    stored = store.article(a.natural_id)
    assert stored is not None and stored.body == BODY
    for p in passages.values():
        assert p.text == stored.body[p.start : p.end]
        for s in p.sentences:  # relative to the passage text
            assert 0 <= s.start < s.end <= len(p.text)
            assert p.text[s.start : s.end] == stored.body[p.start + s.start : p.start + s.end]
    assert np.frombuffer(rows[0].vector, dtype=np.float32).tolist() == [1.0] * DIM
    assert rows[0].source == "Wire"
    # Unknown ids are simply absent.
    assert store.passages([10_000]) == {}


def test_find_existing_by_url_then_by_normalized_body(store):
    a = _article("A", BODY, url="https://x/a")
    store.write_batch([_write(a)])
    found = store.find_existing(_article("A", "changed body.", url="https://x/a"))
    assert found is not None and found[0] == a.natural_id
    # Same body, other spacing and case, no URL: the same article.
    respaced = _article("A", "  " + BODY.upper().replace(" ", "\n  "))
    found = store.find_existing(respaced)
    assert found is not None and found[0] == a.natural_id
    assert found[1] == Store.fingerprint(respaced)  # unchanged content
    assert store.find_existing(_article("C", "Something else entirely.")) is None


def test_fingerprint_changes_with_title_source_date_or_body(store):
    a = _article("A", BODY, url="https://x/a", day=10)
    store.write_batch([_write(a)])
    _, stored = store.find_existing(a)
    assert stored == Store.fingerprint(a)
    for changed in (
        _article("A2", BODY, url="https://x/a", day=10),
        _article("A", BODY, url="https://x/a", day=11),
        _article("A", BODY, url="https://x/a", day=10, source="Other"),
        _article("A", BODY + " More.", url="https://x/a", day=10),
    ):
        assert Store.fingerprint(changed) != stored


def test_update_replaces_passages_with_never_reused_ids(store):
    a = _article("A", BODY, url="https://x/a")
    store.write_batch([_write(a)])
    old_ids = {r.id for r in store.iter_passage_rows()}
    new = _article("A (updated)", "A short new body. It has two sentences.", url="https://x/a")
    assert store.write_batch([_write(new, article_id=a.natural_id, is_update=True)]) == 2
    rows = list(store.iter_passage_rows())
    assert store.counts() == (1, len(rows))
    assert min(r.id for r in rows) > max(old_ids)
    assert store.passages(sorted(old_ids)) == {}
    stored = store.article(a.natural_id)
    assert stored.title == "A (updated)" and stored.body == new.body
    assert stored.url == "https://x/a"


def test_a_failed_batch_leaves_nothing_behind(store):
    a = _article("A", BODY, url="https://x/a")
    store.write_batch([_write(a)])
    b = _article("B", "Oil prices fell. Traders weighed demand.", url="https://x/b")
    clash = _article("C", "Another body here.", url="https://x/c")
    # The second insert reuses b's id: the whole batch must roll back.
    with pytest.raises(sqlite3.IntegrityError):
        store.write_batch([_write(b), _write(clash, article_id=b.natural_id)])
    assert store.epoch() == 1
    assert store.counts() == (1, BODY_PASSAGES)
    assert store.article(b.natural_id) is None
    # And the store still takes writes afterwards.
    assert store.write_batch([_write(b)]) == 2


def test_headlines_newest_first_unknown_dates_last_and_filters(store):
    writes = [
        _write(_article("Old", "Old news here.", url="u1", day=1, source="Reuters")),
        _write(_article("New", "New news here.", url="u2", day=9, source="BBC")),
        _write(_article("Mid", "Mid news here.", url="u3", day=5, source="Reuters")),
        _write(_article("Undated", "No date here.", url="u4", source=None)),
    ]
    store.write_batch(writes)
    assert [h.title for h in store.headlines()] == ["New", "Mid", "Old", "Undated"]
    assert [h.title for h in store.headlines(limit=2)] == ["New", "Mid"]
    assert [h.title for h in store.headlines(limit=2, offset=2)] == ["Old", "Undated"]
    assert [h.title for h in store.headlines(source="reuters")] == ["Mid", "Old"]
    since = datetime(2023, 5, 5, tzinfo=UTC)
    assert [h.title for h in store.headlines(since=since)] == ["New", "Mid"]
    assert [h.title for h in store.headlines(until=since)] == ["Old"]
    assert [h.title for h in store.headlines(topic="mid")] == ["Mid"]
    for wildcard in ("%", "_", "\\"):  # the words as typed: "%" matched every headline
        assert store.headlines(topic=wildcard) == []
    assert store.newest().title == "New"
    assert store.sources() == [("Reuters", 2), ("BBC", 1)]
    # A blank outlet stored before ingest made it None is no outlet.
    store._db.execute("UPDATE articles SET source = ' \n' WHERE title = 'New'")
    assert store.sources() == [("Reuters", 2)]
    h = store.headlines(limit=1)[0]
    assert h.published == datetime(2023, 5, 9, 8, tzinfo=UTC) and h.url == "u2"


def test_headline_queries_walk_the_recent_index_not_the_article_rows(store):
    """Each listing, filtered or not, reads ``articles_recent`` in order and stops at the
    limit: no scan of the article rows (bodies and all) and no sort of every article."""
    store.write_batch([_write(_article("Old", "Old news here.", url="u1", day=1))])
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    try:
        since = datetime(2023, 5, 1, tzinfo=UTC)
        store.headlines(limit=25)
        store.headlines(limit=25, source="reuters", since=since, until=since, topic="mid")
    finally:
        store._db.set_trace_callback(None)
    listings = [sql for sql in statements if sql.lstrip().startswith("SELECT")]
    assert len(listings) == 2
    for sql in listings:
        plan = " | ".join(row[-1] for row in store._db.execute("EXPLAIN QUERY PLAN " + sql))
        assert "INDEX articles_recent" in plan and "TEMP B-TREE" not in plan, plan


def test_reopening_keeps_everything(tmp_path):
    path = tmp_path / "newsbot.sqlite3"
    s = Store(path)
    a = _article("A", BODY, url="https://x/a", day=10, metadata={"category": "world"})
    s.write_batch([_write(a)])
    s.set_meta({"dimension": str(DIM)})
    s.close()
    s = Store(path)
    try:
        assert s.epoch() == 1 and s.counts() == (1, BODY_PASSAGES)
        assert s.get_meta("dimension") == str(DIM)
        assert s.article(a.natural_id).published == a.published
        assert [h.title for h in s.headlines(topic="world")] == ["A"]
    finally:
        s.close()


def test_backup_is_a_consistent_copy(store, tmp_path):
    store.write_batch([_write(_article("A", BODY, url="https://x/a"))])
    target = tmp_path / "backup" / "copy.sqlite3"
    store.backup(target)
    copy = Store(target)
    try:
        assert copy.counts() == store.counts() and copy.epoch() == store.epoch()
    finally:
        copy.close()


def test_spans_round_trip_through_json(store):
    body = "One two three. Four five six."
    a = _article("A", body)
    write = ArticleWrite(
        a.natural_id,
        a,
        [NewPassage(0, 0, len(body), (Span(0, 14), Span(15, 29)), ["x"], np.ones(DIM))],
        False,
    )
    store.write_batch([write])
    (p,) = store.passages([r.id for r in store.iter_passage_rows()]).values()
    assert p.sentences == (Span(0, 14), Span(15, 29))
    assert [p.text[s.start : s.end] for s in p.sentences] == ["One two three.", "Four five six."]


def test_a_store_that_cannot_be_opened_is_one_clear_error(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(NewsbotError, match="cannot open the store"):
        Store(not_a_dir / "newsbot.sqlite3")
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"this is not a database, just some text " * 50)
    with pytest.raises(NewsbotError, match="not a database"):
        Store(garbage)


def test_offsets_count_code_points_beyond_ascii(store):
    # SQLite's substr and Python's slicing must agree on emoji, flags, accents and CJK.
    body = (
        "🚀 Rocket 🇯🇵 launch in Tōkyō. Café prices rose 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 today. "
        "東京で会議が開かれた。 The ministers met on Friday."
    )
    a = _article("Unicode", body)
    store.write_batch([_write(a, words=5)])
    passages = store.passages([r.id for r in store.iter_passage_rows()])
    assert len(passages) >= 3
    for p in passages.values():
        assert p.text == body[p.start : p.end]
    assert "".join(p.text for p in passages.values()).replace(" ", "") == body.replace(" ", "")


def test_a_nul_in_the_body_does_not_cut_the_passage_text(store):
    # store.py: passage text came from SQL substr, which stops at a NUL, so a passage was
    # cut short at it while its offsets still claimed the whole span.
    body = (
        "The Harbour Bridge reopened on \x00Monday after repairs costing $40 million. "
        "Engineers replaced the cables over six months. The mayor attended the ceremony."
    )
    a = _article("Bridge", body, url="https://x/nul")
    store.write_batch([_write(a, words=12)])
    ids = [r.id for r in store.iter_passage_rows()]
    passages = store.passages(ids)
    assert len(passages) >= 2
    for p in passages.values():
        assert p.text == body[p.start : p.end]
    # The records an external index copies are sliced alike.
    records = store.passage_records(0, 100)
    assert [r.text for r in records] == [passages[i].text for i in ids]
    assert [r.text for r in store.passage_records_by_id(ids)] == [r.text for r in records]


def test_sentence_vectors_are_stored_at_half_precision_and_none_stays_none(store):
    body = "One two three. Four five six."
    a, b = (
        _article("A", body, url="https://x/a"),
        _article("B", body + " Seven.", url="https://x/b"),
    )
    rows = np.array([[0.6, 0.8, 0, 0], [0, 0, 0, 0]], dtype=np.float32)  # a zero row: truncated
    sentences = (Span(0, 14), Span(15, 29))
    with_rows = NewPassage(0, 0, len(body), sentences, ["x"], np.ones(DIM), sentence_vectors=rows)
    without = NewPassage(0, 0, len(body), sentences, ["x"], np.ones(DIM))
    store.write_batch([ArticleWrite(a.natural_id, a, [with_rows], False)])
    store.write_batch([ArticleWrite(b.natural_id, b, [without], False)])
    first, second = store.iter_passage_rows()
    assert len(first.sentence_vectors) == rows.size * 2  # two bytes a number
    stored = np.frombuffer(first.sentence_vectors, "<f2").reshape(2, 4)
    np.testing.assert_array_equal(stored, rows.astype(np.float16))
    assert second.sentence_vectors is None


def test_an_older_store_gains_the_sentence_vectors_column_empty(tmp_path):
    path = tmp_path / "newsbot.sqlite3"
    s = Store(path)
    s.write_batch([_write(_article("A", BODY, url="https://x/a"))])
    s.close()
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE passages DROP COLUMN sentence_vectors")
    db.commit()
    db.close()
    s = Store(path)
    try:
        rows = list(s.iter_passage_rows())
        assert len(rows) == BODY_PASSAGES and all(r.sentence_vectors is None for r in rows)
        columns = {r[1] for r in s._db.execute("PRAGMA table_info(passages)")}
        assert "sentence_vectors" in columns
    finally:
        s.close()


def test_sentence_vectors_by_id_are_those_stored(store):
    body = "One two three. Four five six."
    a, b = (
        _article("A", body, url="https://x/a"),
        _article("B", body + " Seven.", url="https://x/b"),
    )
    sentences = (Span(0, 14), Span(15, 29))
    rows = np.eye(2, DIM, dtype=np.float32)
    kept = NewPassage(0, 0, len(body), sentences, ["x"], np.ones(DIM), sentence_vectors=rows)
    store.write_batch([ArticleWrite(a.natural_id, a, [kept], False)])
    store.write_batch(
        [ArticleWrite(b.natural_id, b, [replace(kept, sentence_vectors=None)], False)]
    )
    with_rows, without = (r.id for r in store.iter_passage_rows())
    found = store.sentence_vectors([without, with_rows, 999])
    assert list(found) == [with_rows]  # none stored, or no such passage: absent
    assert found[with_rows] == rows.astype("<f2").tobytes()
