"""The Milvus collection newsbot writes: its fields, its indexes, how a passage becomes a row,
and the properties that say which schema, store and vectors a collection holds.

A collection is checked before it is used: one written by an older schema, for vectors of
another size, or for another data directory is refused with a way forward, never mixed.
Nothing here imports pymilvus at module level, so ``index`` imports without the extra.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from index.errors import NewsbotError
from index.store import PassageRecord

# Bump when a field, an index or what a field holds changes: older collections are refused.
SCHEMA_VERSION = 1

MAX_VARCHAR_BYTES = 65_535
# Milvus int64 for "no publication date": far below any real timestamp, so a date range never
# includes it (ranges always carry a lower bound, see milvus_query.py).
UNKNOWN_PUBLISHED = -(2**62)

P_SCHEMA = "newsbot.schema_version"
P_SYNC = "newsbot.sync"  # nonce of the last completed sync, also kept in the store
P_STORE = "newsbot.store"
P_DIMENSION = "newsbot.dimension"
P_BM25 = "newsbot.bm25"

# BM25 sees the store's own tokens (the news tokenizer's: stemmed, stop words out, "f-35"
# whole), joined by spaces. Milvus's "standard" tokenizer splits on anything that is not a
# letter or digit, so the few such characters inside a token are spelled as letters first.
_NOT_ALNUM = re.compile(r"[^\w]|_")
_ESCAPE = "ǀ"  # U+01C0, a letter: keeps an escaped token one word for every tokenizer


def _escape(match: re.Match[str]) -> str:
    return f"{_ESCAPE}{ord(match.group()):x}{_ESCAPE}"


def lexical_string(tokens: str) -> str:
    """The space-separated store tokens as one analyzable string, each token one word."""
    return " ".join(_NOT_ALNUM.sub(_escape, token) for token in tokens.split())


def query_string(tokens: tuple[str, ...] | list[str]) -> str:
    """Question tokens spelled the way ``lexical_string`` spells document tokens."""
    return lexical_string(" ".join(tokens))


def fit_utf8(text: str, limit: int = MAX_VARCHAR_BYTES) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes on a character boundary (VARCHAR caps)."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", errors="ignore")


@dataclass(frozen=True, slots=True)
class CollectionSpec:
    name: str
    dimension: int
    bm25_k1: float
    bm25_b: float

    @property
    def bm25(self) -> str:
        return f"k1={self.bm25_k1:g},b={self.bm25_b:g}"


def published_fields(ts: float | None) -> tuple[int, int]:
    """(unix seconds, month*100 + day in UTC) of a publication time; unknown: (sentinel, 0).

    ``month_day`` lets a question's "November 18" without a year match that day in any
    year with one indexed comparison, as the local backend's day mask does."""
    if ts is None or not np.isfinite(ts):
        return UNKNOWN_PUBLISHED, 0
    when = datetime.fromtimestamp(ts, UTC)
    return int(np.floor(ts)), when.month * 100 + when.day


def passage_row(record: PassageRecord) -> dict[str, Any]:
    published, month_day = published_fields(record.published_ts)
    return {
        "id": record.id,
        "article_id": record.article_id,
        "title": fit_utf8(record.title, 2048),
        "source": fit_utf8(record.source or "", 512),
        "url": fit_utf8(record.url or "", 2048),
        "published": published,
        "month_day": month_day,
        "text": fit_utf8(record.text),
        "lexical": fit_utf8(lexical_string(record.tokens)),
        "dense": np.frombuffer(record.vector, dtype=np.float32).tolist(),
    }


def create_collection(client: Any, spec: CollectionSpec, store_id: str, nonce: str) -> None:
    """Create the collection with its indexes, marked with ``nonce`` as synced (empty)."""
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    schema = MilvusClient.create_schema(
        auto_id=False, enable_dynamic_field=False, description="newsbot passages"
    )
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("article_id", DataType.VARCHAR, max_length=256)
    schema.add_field("title", DataType.VARCHAR, max_length=2048)
    schema.add_field("source", DataType.VARCHAR, max_length=512)
    schema.add_field("url", DataType.VARCHAR, max_length=2048)
    schema.add_field("published", DataType.INT64)
    schema.add_field("month_day", DataType.INT32)
    schema.add_field("text", DataType.VARCHAR, max_length=MAX_VARCHAR_BYTES)
    schema.add_field(
        "lexical",
        DataType.VARCHAR,
        max_length=MAX_VARCHAR_BYTES,
        enable_analyzer=True,
        analyzer_params={"tokenizer": "standard"},
    )
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=spec.dimension)
    schema.add_function(
        Function(
            name="lexical_bm25",
            function_type=FunctionType.BM25,
            input_field_names=["lexical"],
            output_field_names=["sparse"],
        )
    )
    # Build parameters go nested under "params" (one JSON value), the request form every
    # Milvus release reads; pymilvus would otherwise send them as loose keys, which Milvus
    # Lite ignores (it silently built BM25 with k1=1.5).
    indexes = MilvusClient.prepare_index_params()
    indexes.add_index(
        "dense", index_type="HNSW", metric_type="COSINE", params={"params": HNSW_BUILD}
    )
    indexes.add_index(
        "sparse",
        index_type="SPARSE_INVERTED_INDEX",
        metric_type="BM25",
        params={"params": {"bm25_k1": spec.bm25_k1, "bm25_b": spec.bm25_b}},
    )
    for scalar in ("article_id", "source", "published", "month_day"):
        indexes.add_index(scalar, index_type="INVERTED")
    client.create_collection(
        spec.name,
        schema=schema,
        index_params=indexes,
        consistency_level="Session",
        properties={
            P_SCHEMA: str(SCHEMA_VERSION),
            P_SYNC: nonce,
            P_STORE: store_id,
            P_DIMENSION: str(spec.dimension),
            P_BM25: spec.bm25,
        },
    )


HNSW_BUILD = {"M": 16, "efConstruction": 200}


def check_collection(description: dict[str, Any], spec: CollectionSpec, store_id: str) -> str:
    """The sync nonce of an existing collection, after checking it is ours and current."""
    props = {str(k): str(v) for k, v in (description.get("properties") or {}).items()}
    name = spec.name
    recreate = "newsbot migrate --to milvus --recreate"
    if P_SCHEMA not in props or P_SYNC not in props:
        raise NewsbotError(
            f"the Milvus collection {name!r} was not created by newsbot: "
            "set NEWSBOT_MILVUS_COLLECTION to another name"
        )
    if props[P_SCHEMA] != str(SCHEMA_VERSION):
        raise NewsbotError(
            f"the Milvus collection {name!r} has newsbot schema v{props[P_SCHEMA]}, this "
            f"newsbot writes v{SCHEMA_VERSION}: rebuild it with `{recreate}`"
        )
    if props.get(P_STORE) != store_id:
        raise NewsbotError(
            f"the Milvus collection {name!r} indexes another newsbot data directory: "
            "set NEWSBOT_MILVUS_COLLECTION to another name"
        )
    if props.get(P_DIMENSION) != str(spec.dimension):
        raise NewsbotError(
            f"the Milvus collection {name!r} holds {props.get(P_DIMENSION)}-dimensional "
            f"vectors, the store {spec.dimension}-dimensional ones: rebuild it with `{recreate}`"
        )
    if props.get(P_BM25) != spec.bm25:
        raise NewsbotError(
            f"the Milvus collection {name!r} was indexed with BM25 {props.get(P_BM25)}, "
            f"the settings ask for {spec.bm25}: rebuild it with `{recreate}`"
        )
    return props[P_SYNC]
