"""The ``milvus`` backend: passages, their text, BM25 and dense vectors in a Milvus collection.

Articles stay in the SQLite store (the truth, and what answers are quoted from); Milvus holds
what search needs and answers with passage ids, like the local backend. A question searches
a BM25 list (Milvus's own, over the store's tokens) and a dense list for the whole question
and for each outlet or day it names, concurrently, and fuses them here with the local
backend's weighted RRF, so both backends rank alike.

Not one ``hybrid_search``: Milvus's RRFRanker has no per-list weights, and emulating them by
repeating requests (the default 1 : 0.25 : focus 0.5 needs 8 + 2 + 4 + 1 searches) made
Milvus run each BM25 search up to twelve times: 2.5-6 s a question at 100k passages on
Milvus Lite, against ~0.2 s for the lists searched once each (bench/milvus_compare.py).

Every failure to reach the server is a ``BackendUnavailable`` naming the URI: the CLI prints
it as one line, the Discord bot answers with an apology and keeps running.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np

from index.backends.base import SearchHits
from index.backends.milvus_client import WRITE_ATTEMPTS, MilvusConnection
from index.backends.milvus_query import (
    NOTHING,
    and_,
    base_expr,
    focus_expr,
)
from index.backends.milvus_schema import (
    UNKNOWN_PUBLISHED,
    CollectionSpec,
    check_collection,
    create_collection,
    query_string,
)
from index.backends.milvus_sync import (
    PassageSync,
    ProgressCallback,
    SyncProgress,
    SyncState,
    new_nonce,
)
from index.backends.store_idf import StoreIdf
from index.config import EngineConfig
from index.dense import SentenceVectors
from index.errors import NewsbotError
from index.retrieve import (
    Filters,
    ParsedQuery,
    RetrieverKind,
    prefer_recent,
    reciprocal_rank_fusion,
)
from index.store import Store

DEFAULT_DIMENSION = 384
# A sampled idf table (stores above store_idf.SAMPLE passages) moves slowly: recount hourly.
SAMPLED_IDF_SECONDS = 3600.0
# A question's lists (2, plus 2 per outlet or day it names) go to the server at once.
SEARCH_THREADS = 4


class ListRequest(NamedTuple):
    """One ranked list to fetch: a BM25 (``sparse``) or ``dense`` search and its weight."""

    field: str
    data: Any  # the query text for BM25, the question vector for dense
    params: dict[str, Any]
    expr: str | None
    limit: int
    weight: float
    outputs: tuple[str, ...]


def _hnsw_ef(candidates: int) -> int:
    """HNSW search breadth: well above the list length so the approximate dense lists are
    (nearly always) the exact ones the local backend computes."""
    return max(2 * candidates, 64)


class MilvusBackend:
    name = "milvus"

    def __init__(self, config: EngineConfig, *, batch_size: int = 500) -> None:
        if not config.milvus_uri:
            raise NewsbotError(
                "NEWSBOT_BACKEND=milvus needs NEWSBOT_MILVUS_URI (for example "
                "http://127.0.0.1:19530)"
            )
        self.config = config
        self.collection = config.milvus_collection
        self.conn = MilvusConnection(
            config.milvus_uri, token=config.milvus_token, database=config.milvus_database
        )
        state_key = f"milvus:{config.milvus_database or 'default'}/{self.collection}"
        self.passages = PassageSync(
            self.conn, self.collection, state_key, batch=batch_size, reload=self._load
        )
        self._store: Store | None = None
        self._ready = False  # the collection exists (it is made with the first passages)
        self._seen_epoch: int | None = None
        self._count = 0
        self._sources: tuple[str, ...] = ()
        self._idf: StoreIdf | None = None
        self._idf_epoch: int | None = None
        self._idf_at = 0.0
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    # -- the collection ----------------------------------------------------------------

    def _spec(self, dimension: int) -> CollectionSpec:
        return CollectionSpec(self.collection, dimension, self.config.bm25_k1, self.config.bm25_b)

    @staticmethod
    def _store_id(store: Store) -> str:
        """This data directory's identity, written into the collection it fills."""
        found = store.get_meta("store_id")
        if found is None:
            found = new_nonce()
            store.set_meta({"store_id": found})
        return found

    def _ensure_collection(self, store: Store) -> str | None:
        """The collection's sync nonce, creating it once the store knows its vector size;
        None while there is nothing to index."""
        name = self.collection
        exists = self.conn.call("look up the collection", lambda c: c.has_collection(name))
        dimension = store.get_meta("dimension")
        store_id = self._store_id(store)
        if not exists:
            if dimension is None:
                return None
            nonce = new_nonce()
            self.passages.save(store, SyncState(nonce, 0, -1))
            spec = self._spec(int(dimension))
            self.conn.call(
                "create the collection",
                lambda c: create_collection(c, spec, store_id, nonce),
                attempts=WRITE_ATTEMPTS,
            )
            return nonce
        description = self.conn.call(
            "describe the collection", lambda c: c.describe_collection(name)
        )
        spec = self._spec(int(dimension) if dimension else _dimension_of(description))
        nonce = check_collection(description, spec, store_id)
        state = self.conn.call("check the collection is loaded", lambda c: c.get_load_state(name))
        if "NotLoad" in str(state.get("state")):
            self.conn.call(
                "load the collection", lambda c: c.load_collection(name), attempts=WRITE_ATTEMPTS
            )
        return nonce

    def _load(self, client: Any) -> None:
        client.load_collection(self.collection)

    def recreate(self, store: Store) -> None:
        """Drop the collection (``newsbot migrate --recreate``); the next sync rebuilds it."""
        with self._sync_lock:
            self.conn.call(
                "drop the collection",
                lambda c: c.drop_collection(self.collection),
                attempts=WRITE_ATTEMPTS,
            )
            store.set_meta({self.passages.state_key: ""})
            self._ready = False
            self._seen_epoch = None

    # -- Backend -----------------------------------------------------------------------

    def sync(self, store: Store, progress: ProgressCallback | None = None) -> SyncProgress:
        """Copy what the store gained since the last sync (resumable, see milvus_sync)."""
        with self._sync_lock:
            self._store = store
            nonce = self._ensure_collection(store)
            result = SyncProgress()
            if nonce is not None:
                self._ready = True
                result = self.passages.run(store, nonce, progress)
            self._refresh(force=True)
            return result

    def _refresh(self, force: bool = False) -> None:
        """Pick up another process's sync (the CLI ingesting while the bot serves): cheap
        unless the store's epoch moved."""
        store = self._store
        if store is None:
            return
        epoch = store.epoch()
        if not force and epoch == self._seen_epoch:
            return
        ready = self._ready or self.conn.call(
            "look up the collection", lambda c: c.has_collection(self.collection)
        )
        count = 0
        if ready:
            rows = self.conn.call(
                "count passages",
                lambda c: c.query(self.collection, filter="", output_fields=["count(*)"]),
                reload=self._load,
            )
            count = int(rows[0]["count(*)"]) if rows else 0
        sources = tuple(s for s, _ in store.sources())
        with self._lock:
            self._ready, self._count, self._sources = ready, count, sources
            self._seen_epoch = epoch

    def search(
        self,
        query: ParsedQuery,
        vector: np.ndarray,
        *,
        k: int,
        filters: Filters | None = None,
        kind: RetrieverKind = "hybrid",
    ) -> SearchHits:
        self._refresh()
        timings: dict[str, float] = {}
        base = base_expr(filters, self._sources)
        if not self._ready or self._count == 0 or base == NOTHING:
            return SearchHits([], [], timings_ms=timings)
        cfg = self.config
        lexical_w, dense_w = (
            (cfg.lexical_weight, cfg.dense_weight)
            if kind == "hybrid"
            else (float(kind == "bm25"), float(kind == "dense"))
        )
        dense = None if vector is None else np.asarray(vector, dtype=np.float32)
        recency = cfg.recency_half_life_days > 0
        requests = self._requests(query, dense, base, lexical_w, dense_w, recency)
        if not requests:
            return SearchHits([], [], timings_ms=timings)

        t0 = time.perf_counter()
        found = list(self._pool().map(self._run, requests))
        timings["milvus_search"] = (time.perf_counter() - t0) * 1000
        lists: list[tuple[Sequence[int], float]] = []
        dense_scores: dict[int, float] = {}
        published: dict[int, int | None] = {}
        for request, hits in zip(requests, found, strict=True):
            lists.append(([int(h["id"]) for h in hits], request.weight))
            for h in hits:
                if request.field == "dense":  # Milvus's COSINE distance is the cosine
                    dense_scores[int(h["id"])] = float(h["distance"])
                if recency:
                    ts = h["entity"]["published"]
                    published[int(h["id"])] = None if ts == UNKNOWN_PUBLISHED else ts
        fused = reciprocal_rank_fusion(lists, cfg.rrf_k)
        if recency:
            fused = prefer_recent(fused, published.get, cfg.recency_half_life_days)
        top = fused[:k]
        if dense is not None:  # bm25-only hits: their cosine, as the local backend reports
            missing = [pid for pid, _ in top if pid not in dense_scores]
            dense_scores.update(self._cosines(missing, dense))
        return SearchHits([pid for pid, _ in top], [s for _, s in top], dense_scores, timings)

    def _requests(
        self,
        query: ParsedQuery,
        dense: np.ndarray | None,
        base: str | None,
        lexical_weight: float,
        dense_weight: float,
        recency: bool,
    ) -> list[ListRequest]:
        """A BM25 and a dense list for the question, and again for each outlet or day it
        names, restricted to it and weighted ``focus_weight`` times, as the local fusion."""
        n = self.config.candidates
        dense_param = {"metric_type": "COSINE", "params": {"ef": _hnsw_ef(n)}}
        outputs = ("published",) if recency else ()
        requests: list[ListRequest] = []

        def add(tokens: Sequence[str], expr: str | None, scale: float) -> None:
            text = query_string(list(tokens))
            if text and lexical_weight > 0:
                requests.append(
                    ListRequest(
                        "sparse",
                        text,
                        {"metric_type": "BM25"},
                        expr,
                        n,
                        scale * lexical_weight,
                        outputs,
                    )
                )
            if dense is not None and dense_weight > 0:
                requests.append(
                    ListRequest(
                        "dense", dense.tolist(), dense_param, expr, n, scale * dense_weight, outputs
                    )
                )

        add(query.tokens, base, 1.0)
        for focus in query.focuses:
            expr = and_(focus_expr(focus, self._sources), base)
            if expr != NOTHING:
                add(focus.tokens, expr, self.config.focus_weight)
        return requests

    def _run(self, request: ListRequest) -> list[dict[str, Any]]:
        found = self.conn.call(
            "search",
            reload=self._load,
            op=lambda c: c.search(
                self.collection,
                data=[request.data],
                anns_field=request.field,
                filter=request.expr or "",
                limit=request.limit,
                search_params=request.params,
                output_fields=list(request.outputs),
            ),
        )
        return list(found[0]) if found else []

    def _pool(self) -> ThreadPoolExecutor:
        """Threads for one question's searches: each waits on the server, not on Python."""
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(SEARCH_THREADS, "milvus-search")
            return self._executor

    def _cosines(self, ids: Sequence[int], dense: np.ndarray) -> dict[int, float]:
        if not ids:
            return {}
        rows = self.conn.call(
            "read vectors",
            reload=self._load,
            op=lambda c: c.get(self.collection, ids=list(ids), output_fields=["dense"]),
        )
        return {int(r["id"]): float(np.asarray(r["dense"], dtype=np.float32) @ dense) for r in rows}

    def idf(self, tokens: Sequence[str]) -> dict[str, float]:
        store = self._store
        if store is None:
            return dict.fromkeys(tokens, 1.0)
        epoch = store.epoch()
        with self._lock:
            table = self._idf
            stale = table is None or (
                self._idf_epoch != epoch
                and (table.exact or time.monotonic() - self._idf_at > SAMPLED_IDF_SECONDS)
            )
            if stale:
                table = self._idf = StoreIdf.from_store(store)
                self._idf_epoch, self._idf_at = epoch, time.monotonic()
        assert table is not None
        return table.idf(tokens)

    def sentence_vectors(self, passage_ids: Sequence[int]) -> list[np.ndarray | None]:
        """From the store: the collection holds one vector a passage, and the answer path
        must choose sentences as it does over the local index."""
        store = self._store
        if store is None or not len(passage_ids):
            return [None] * len(passage_ids)
        stored = store.sentence_vectors(passage_ids)
        dimension = int(store.get_meta("dimension") or DEFAULT_DIMENSION)
        found = SentenceVectors.of_stored([stored.get(i) for i in passage_ids], dimension)
        return found.of_passages(np.arange(len(passage_ids)))

    def indexed_count(self) -> int:
        self._refresh()
        return self._count

    def known_sources(self) -> Sequence[str]:
        self._refresh()
        return self._sources

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        self.conn.close()


def _dimension_of(description: dict[str, Any]) -> int:
    for f in description.get("fields", []):
        if f.get("name") == "dense":
            return int(f.get("params", {}).get("dim", DEFAULT_DIMENSION))
    return DEFAULT_DIMENSION
