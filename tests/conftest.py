"""Shared fixtures: one encoder for the whole run (loading the model costs seconds)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
# The encoder's ONNX copy (index/onnx_encoder.py), exported once and kept between runs (it is
# keyed by the model files), in a cache of the tests' own rather than the developer's; the
# command-line subprocesses the tests start inherit it.
os.environ["XDG_CACHE_HOME"] = os.path.join(tempfile.gettempdir(), f"newsbot-tests-{os.getuid()}")

# Property tests explore the same examples on every run, so CI fails exactly where a
# developer's run failed, and a slow shrink can't eat the suite's time budget.
settings.register_profile("newsbot", derandomize=True, deadline=None, max_examples=60)
settings.load_profile("newsbot")

from index.config import EngineConfig  # noqa: E402  (after the offline switches above)
from index.dense import Encoder  # noqa: E402
from index.engine import Engine  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DIR = REPO / "bot" / "samples"


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    return Encoder()


@pytest.fixture
def engine_factory(tmp_path: Path, encoder: Encoder) -> Iterator:
    """Engines over fresh data directories, sharing the session's encoder."""
    opened: list[Engine] = []

    def make(data_dir: Path | None = None, **config: object) -> Engine:
        engine = Engine(EngineConfig(data_dir=data_dir or tmp_path / "data", **config), encoder)
        opened.append(engine)
        return engine

    yield make
    for engine in opened:
        engine.close()


@pytest.fixture
def sample_engine(engine_factory) -> Engine:
    engine = engine_factory()
    engine.ingest_paths([SAMPLE_DIR])
    return engine
