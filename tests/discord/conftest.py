"""Fixtures for the Discord bot tests: the fake Discord (audited for pings on the way out), the
bundled sample ingested once per session and copied per test, and a running bot."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import pytest_asyncio

from index.config import EngineConfig
from index.engine import Engine
from tests.conftest import SAMPLE_DIR
from tests.discord.harness import assert_no_pings, bot_settings, running_bot, tiny_articles
from tests.support.fake_discord import ErrorLogGuard, FakeDiscord


@pytest_asyncio.fixture
async def fake():
    async with FakeDiscord() as fake:
        yield fake
        assert_no_pings(fake.requests)


@pytest.fixture(scope="session")
def sample_data(tmp_path_factory, encoder) -> Path:
    """The bundled sample ingested once; each test works on its own copy."""
    data = tmp_path_factory.mktemp("sample") / "data"
    with Engine(EngineConfig(data_dir=data), encoder) as engine:
        engine.ingest_paths([SAMPLE_DIR])
    return data


@pytest.fixture
def engine(sample_data, tmp_path, engine_factory) -> Engine:
    shutil.copytree(sample_data, tmp_path / "data")
    return engine_factory(tmp_path / "data")


@pytest.fixture
def settings(tmp_path):
    return bot_settings(tmp_path / "data")


@pytest_asyncio.fixture
async def bot(fake, engine, settings):
    """The bot on the sample; any ERROR from discord.* or newsbot.* fails the test."""
    with ErrorLogGuard(("discord", "newsbot")):
        async with running_bot(fake, engine, settings) as bot:
            yield bot


@pytest_asyncio.fixture
async def tiny_bot(fake, engine_factory, tmp_path):
    """The bot on 25 tiny dated articles of one outlet and 3 of another."""
    engine = engine_factory(tmp_path / "tiny")
    engine.ingest(tiny_articles(25) + tiny_articles(3, source="Harbour Herald", prefix="Herald"))
    with ErrorLogGuard(("discord", "newsbot")):
        async with running_bot(fake, engine, bot_settings(tmp_path / "tiny")) as bot:
            yield bot
