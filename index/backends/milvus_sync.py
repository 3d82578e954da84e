"""Bringing a Milvus collection to the store's state: incremental, resumable, idempotent.

Passage ids only grow and a passage never changes under its id (an updated article gets all
new passages), so the store's meta table keeps a watermark: the highest passage id Milvus
has acknowledged. A sync upserts the passages above it in batches, moving the watermark
after each acknowledged batch, and deletes the older copies of updated articles. A crash or
a server restart at any point leaves a watermark at or below what Milvus holds, and upserts
by primary key are idempotent, so the next sync simply carries on.

When the two sides may disagree otherwise (a store restored from a backup, an interrupted
cleanup, a count that does not match), ``reconcile`` compares them id range by id range.
Each completed sync writes a fresh nonce to both sides; differing nonces mean "compare".
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from index.backends.milvus_client import WRITE_ATTEMPTS, MilvusConnection
from index.backends.milvus_query import literal
from index.backends.milvus_schema import P_SYNC, passage_row
from index.store import PassageRecord, Store

RANGE = 10_000  # ids compared per query when reconciling (under Milvus's 16384 result cap)


@dataclass(frozen=True, slots=True)
class SyncState:
    nonce: str
    passage_id: int  # every passage up to this id is in Milvus
    epoch: int  # the store epoch the last completed sync reached

    def to_json(self) -> str:
        return json.dumps({"nonce": self.nonce, "passage_id": self.passage_id, "epoch": self.epoch})

    @classmethod
    def from_json(cls, text: str | None) -> SyncState | None:
        if not text:
            return None
        try:
            data = json.loads(text)
            return cls(str(data["nonce"]), int(data["passage_id"]), int(data["epoch"]))
        except (ValueError, KeyError, TypeError):
            return None


@dataclass
class SyncProgress:
    """What a sync has done so far (for ``newsbot migrate``'s progress line and tests)."""

    upserted: int = 0
    deleted: int = 0
    watermark: int = 0
    target: int = 0  # the highest passage id when the sync started
    reconciled: bool = False


ProgressCallback = Callable[[SyncProgress], None]


def new_nonce() -> str:
    return uuid.uuid4().hex


class PassageSync:
    """One collection's copy of the store's passages."""

    def __init__(
        self,
        conn: MilvusConnection,
        collection: str,
        state_key: str,
        batch: int = 500,
        reload: Callable[[Any], object] | None = None,
    ) -> None:
        self.conn = conn
        self.reload = reload  # loads the collection again after a server restart
        self.collection = collection
        self.state_key = state_key
        self.batch = batch
        self.write_attempts = WRITE_ATTEMPTS

    # -- state -------------------------------------------------------------------------

    def state(self, store: Store) -> SyncState | None:
        return SyncState.from_json(store.get_meta(self.state_key))

    def save(self, store: Store, state: SyncState) -> None:
        store.set_meta({self.state_key: state.to_json()})

    def _finish(self, store: Store, watermark: int, epoch: int) -> None:
        """Record a completed sync on both sides: the store first, then the collection, so
        a crash in between leaves them differing and the next sync compares."""
        nonce = new_nonce()
        self.save(store, SyncState(nonce, watermark, epoch))
        self.conn.call(
            "record the sync",
            lambda c: c.alter_collection_properties(self.collection, properties={P_SYNC: nonce}),
            attempts=self.write_attempts,
        )

    # -- writes ------------------------------------------------------------------------

    def _upsert(self, records: list[PassageRecord]) -> None:
        rows = [passage_row(r) for r in records]
        self.conn.call(
            f"upsert {len(rows)} passages",
            lambda c: c.upsert(self.collection, rows),
            attempts=self.write_attempts,
        )

    def _delete_ids(self, ids: list[int]) -> int:
        if not ids:
            return 0
        self.conn.call(
            f"delete {len(ids)} passages",
            lambda c: c.delete(self.collection, ids=ids),
            attempts=self.write_attempts,
        )
        return len(ids)

    def _delete_replaced(self, store: Store, records: list[PassageRecord]) -> int:
        """Remove older copies of the updated articles among ``records``: every indexed
        passage of such an article below its lowest current passage id."""
        articles = {r.article_id for r in records if r.replaced}
        if not articles:
            return 0
        first = store.first_passage_ids(articles)
        stale: list[int] = []
        article_ids = sorted(first)
        for start in range(0, len(article_ids), 200):
            chunk = article_ids[start : start + 200]
            expr = f"article_id in [{', '.join(literal(a) for a in chunk)}]"
            rows = self.conn.call(
                "find replaced passages",
                lambda c, expr=expr: c.query(
                    self.collection, filter=expr, output_fields=["id", "article_id"]
                ),
                attempts=self.write_attempts,
                reload=self.reload,
            )
            stale += [int(r["id"]) for r in rows if int(r["id"]) < first[r["article_id"]]]
        return self._delete_ids(stale)

    def _indexed_ids(self, low: int, high: int) -> set[int]:
        rows = self.conn.call(
            "list passage ids",
            lambda c: c.query(
                self.collection,
                filter=f"id >= {low} and id < {high}",
                output_fields=["id"],
                limit=high - low,
            ),
            attempts=self.write_attempts,
            reload=self.reload,
        )
        return {int(r["id"]) for r in rows}

    # -- the two ways of syncing -------------------------------------------------------

    def incremental(
        self,
        store: Store,
        state: SyncState,
        progress: SyncProgress,
        report: ProgressCallback | None,
    ) -> int:
        """Upsert everything above the watermark; returns the new watermark."""
        watermark = state.passage_id
        while True:
            records = store.passage_records(watermark, self.batch)
            if not records:
                return watermark
            self._upsert(records)
            progress.deleted += self._delete_replaced(store, records)
            watermark = records[-1].id
            # Acknowledged: a restart from here on never re-sends these.
            self.save(store, SyncState(state.nonce, watermark, state.epoch))
            progress.upserted += len(records)
            progress.watermark = watermark
            if report:
                report(progress)

    def reconcile(
        self,
        store: Store,
        state: SyncState | None,
        progress: SyncProgress,
        report: ProgressCallback | None,
    ) -> int:
        """Make Milvus hold exactly the store's passages, comparing id ranges; returns the
        highest passage id covered."""
        progress.reconciled = True
        top = max(store.max_passage_id(), state.passage_id if state else 0)
        for low in range(1, top + 1, RANGE):
            high = min(low + RANGE, top + 1)
            have = store.passage_ids_between(low, high)
            indexed = self._indexed_ids(low, high)
            missing = [i for i in have if i not in indexed]
            for start in range(0, len(missing), self.batch):
                records = store.passage_records_by_id(missing[start : start + self.batch])
                if records:
                    self._upsert(records)
                    progress.upserted += len(records)
            progress.deleted += self._delete_ids(sorted(indexed - set(have)))
            progress.watermark = high - 1
            if report:
                report(progress)
        # Anything above every id this store ever handed out (a store restored from an
        # older backup) is gone from the truth.
        while True:
            above = self.conn.call(
                "list passage ids",
                lambda c: c.query(
                    self.collection, filter=f"id > {top}", output_fields=["id"], limit=RANGE
                ),
                attempts=self.write_attempts,
                reload=self.reload,
            )
            if not above:
                break
            progress.deleted += self._delete_ids([int(r["id"]) for r in above])
        return top

    def indexed_count(self) -> int:
        rows = self.conn.call(
            "count passages",
            lambda c: c.query(
                self.collection,
                filter="",
                output_fields=["count(*)"],
                consistency_level="Strong",
            ),
            attempts=self.write_attempts,
            reload=self.reload,
        )
        return int(rows[0]["count(*)"]) if rows else 0

    def _counts_agree(self, store: Store) -> bool:
        _, passages = store.counts()
        return self.indexed_count() == passages

    def flush(self) -> None:
        """Seal what this sync wrote: durable segments with built indexes (Milvus would do
        it on its own within minutes; searches over growing segments are slower)."""
        self.conn.call("flush", lambda c: c.flush(self.collection), attempts=self.write_attempts)

    def run(
        self,
        store: Store,
        collection_nonce: str,
        report: ProgressCallback | None = None,
    ) -> SyncProgress:
        """Bring the collection to the store's current epoch."""
        epoch = store.epoch()
        state = self.state(store)
        progress = SyncProgress(target=store.max_passage_id())
        if state is not None:
            progress.watermark = state.passage_id
        agrees = (
            state is not None
            and state.nonce == collection_nonce
            and state.epoch <= epoch
            and state.passage_id <= progress.target
        )
        if agrees and state is not None and state.epoch == epoch:
            return progress
        if agrees and state is not None:
            watermark = self.incremental(store, state, progress, report)
            if not self._counts_agree(store):
                # Maybe only an ingest that committed meanwhile: copy that, then look again.
                state = SyncState(state.nonce, watermark, state.epoch)
                watermark = self.incremental(store, state, progress, report)
                if not self._counts_agree(store):
                    watermark = self.reconcile(store, state, progress, report)
        else:
            watermark = self.reconcile(store, state, progress, report)
        if progress.upserted or progress.deleted:
            self.flush()
        self._finish(store, watermark, epoch)
        return progress


def describe_progress(p: SyncProgress) -> str:
    verb = "compared" if p.reconciled else "copied"
    return (
        f"{verb} up to passage {p.watermark} of {p.target}: "
        f"{p.upserted} upserted, {p.deleted} deleted"
    )
