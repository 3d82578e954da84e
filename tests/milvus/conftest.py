"""Fixtures of the Milvus backend tests: one Milvus Lite server for the session, a private
one for tests that crash or stop it, and engines on either backend over the same data."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.milvus_server import MilvusLiteServer

_names = itertools.count()


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory) -> Iterator[MilvusLiteServer]:
    """Started once (a cold start takes seconds), awaited until it answers, stopped after."""
    server = MilvusLiteServer(tmp_path_factory.mktemp("milvus") / "data").start()
    yield server
    server.stop()


@pytest.fixture
def private_milvus(tmp_path) -> Iterator[MilvusLiteServer]:
    """A server of this test's own, to kill or stop without disturbing the others."""
    server = MilvusLiteServer(tmp_path / "milvus-data").start()
    yield server
    server.stop()


@pytest.fixture
def collection() -> str:
    """A fresh collection name per test: tests share the session server."""
    return f"t{next(_names)}_{id(object()):x}"


def milvus_config(server: MilvusLiteServer, collection: str) -> dict[str, object]:
    return {"backend": "milvus", "milvus_uri": server.uri, "milvus_collection": collection}


@pytest.fixture
def milvus_engine_factory(engine_factory, milvus_server, collection):
    """``engine_factory`` with the Milvus backend on the session server."""

    def make(data_dir: Path | None = None, **config: object):
        return engine_factory(data_dir, **{**milvus_config(milvus_server, collection), **config})

    return make
