"""Backends behind the engine's storage/retrieval seam; ``NEWSBOT_ENGINE_BACKEND`` picks one."""

from __future__ import annotations

from index.backends.base import Backend, SearchHits
from index.backends.local import LocalBackend
from index.config import EngineConfig
from index.errors import NewsbotError


def open_backend(config: EngineConfig) -> Backend:
    if config.backend == "local":
        return LocalBackend(config)
    if config.backend == "milvus":
        # Imported here: the milvus modules load pymilvus lazily, but need not load at all.
        from index.backends.milvus import MilvusBackend

        return MilvusBackend(config)
    raise NewsbotError(
        f"unknown backend {config.backend!r} (NEWSBOT_ENGINE_BACKEND): use 'local' or 'milvus'"
    )


__all__ = ["Backend", "LocalBackend", "SearchHits", "open_backend"]
