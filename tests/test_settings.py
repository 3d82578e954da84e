"""bot.settings is the one source of settings: the files an operator reads are rendered from
it, `newsbot config` lists it, and the engine and feed configs are built from it."""

from __future__ import annotations

import dataclasses
import os
import re

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.settings import BARE_NAMES, Settings, all_settings
from bot.settings_files import (
    CONFIGURATION_DOC,
    ENV_EXAMPLE,
    IMAGE_ENV,
    render_configuration_doc,
    render_env_example,
    text_of,
)
from index.config import EngineConfig
from index.feeds.config import FeedConfig

REGENERATE = "regenerate: python -m bot.settings_files"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for key in list(os.environ):
        if key.startswith("NEWSBOT_") or key in BARE_NAMES.values():
            monkeypatch.delenv(key)


# -- the files rendered from the models --------------------------------------------------------


def test_env_example_is_generated_from_settings():
    assert ENV_EXAMPLE.read_text() == render_env_example(), REGENERATE


def test_configuration_doc_is_generated_from_settings():
    assert CONFIGURATION_DOC.read_text() == render_configuration_doc(), REGENERATE


def test_a_hand_edit_of_either_file_is_caught(tmp_path):
    """The checks above can fail: any edit of a rendered file makes it stale."""
    import bot.settings_files as files

    for path, text in files.rendered(tmp_path).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert files.stale(tmp_path) == []
    edited = tmp_path / "docs" / "configuration.md"
    edited.write_text(edited.read_text().replace("| `3` |", "| `4` |"))
    assert files.stale(tmp_path) == [edited]
    (tmp_path / ".env.example").write_text(render_env_example() + "# NEWSBOT_EXTRA=1\n")
    assert len(files.stale(tmp_path)) == 2


def test_env_example_names_every_setting_and_sets_only_the_token():
    text = ENV_EXAMPLE.read_text()
    for setting in all_settings():
        assert re.search(rf"^(# )?{setting.env}=", text, re.M), setting.env
        assert f"# {setting.description}" in text, setting.env
    active = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert active == ["DISCORD_TOKEN="]


def test_env_example_defaults_are_the_settings_defaults(monkeypatch):
    """Uncommenting every line of .env.example (but the image's own values) changes nothing."""
    shown = dict(re.findall(r"^# (NEWSBOT_\w+|DISCORD_\w+)=(.*)$", ENV_EXAMPLE.read_text(), re.M))
    for key, value in shown.items():
        if value and key not in IMAGE_ENV and key not in BARE_NAMES.values():
            monkeypatch.setenv(key, value)
    assert len([k for k in os.environ if k.startswith("NEWSBOT_")]) >= 20
    assert Settings() == Settings.model_construct()
    for setting in all_settings():
        assert setting.value_in(Settings()) == setting.default(), setting.env


def test_configuration_doc_lists_every_setting_with_its_default_and_description():
    doc = CONFIGURATION_DOC.read_text()
    for setting in all_settings():
        default = text_of(setting.default())
        row = f"| `{setting.env}` | {f'`{default}`' if default else 'unset'}"
        assert row in doc, setting.env
        assert setting.description.replace("|", "\\|") in doc, setting.env


def test_every_setting_is_described_once_and_named_once():
    settings = list(all_settings())
    assert all(s.description.strip() for s in settings), [s.env for s in settings]
    names = [s.env for s in settings]
    assert len(names) == len(set(names))
    assert all(n.startswith("NEWSBOT_") or n in BARE_NAMES.values() for n in names)


# -- newsbot config ---------------------------------------------------------------------------


def test_newsbot_config_lists_every_setting_with_its_description(monkeypatch, tmp_path):
    monkeypatch.setenv("DISCORD_TOKEN", "tok-do-not-print")
    monkeypatch.setenv("NEWSBOT_MILVUS_TOKEN", "user:pw-do-not-print")
    monkeypatch.setenv("NEWSBOT_DISCORD_WORKERS", "7")
    result = CliRunner().invoke(app, ["--data-dir", str(tmp_path), "config"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for setting in all_settings():
        (at,) = [i for i, ln in enumerate(lines) if ln.startswith(f"{setting.env}=")]
        assert lines[at - 1] == f"# {setting.description}", setting.env
    assert f"NEWSBOT_DATA_DIR={tmp_path}" in lines
    assert "NEWSBOT_DISCORD_WORKERS=7" in lines
    assert "DISCORD_TOKEN=****" in lines and "NEWSBOT_MILVUS_TOKEN=****" in lines
    assert "do-not-print" not in result.output


# -- reading the environment ------------------------------------------------------------------


def test_variables_are_read_by_group(monkeypatch, tmp_path):
    monkeypatch.setenv("NEWSBOT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("NEWSBOT_DISCORD_TOKEN_FILE", str(tmp_path / "secret"))
    monkeypatch.setenv("NEWSBOT_FEEDS_ALLOW_HOSTS", "127.0.0.1, localhost")
    monkeypatch.setenv("NEWSBOT_HEALTH_PORT", "8080")
    monkeypatch.setenv("NEWSBOT_ENGINE_MAX_QUOTES", "2")
    settings = Settings()
    assert settings.data_dir == tmp_path
    assert settings.discord.token_file == tmp_path / "secret"
    assert settings.feeds.allow_hosts == ("127.0.0.1", "localhost")
    assert settings.health.port == 8080
    assert settings.engine.max_quotes == 2


def test_the_token_is_read_under_either_name_and_newsbot_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("DISCORD_TOKEN", "bare")
    assert Settings().token() == "bare"
    monkeypatch.setenv("NEWSBOT_DISCORD_TOKEN", "prefixed")
    assert Settings().token() == "prefixed"
    monkeypatch.delenv("DISCORD_TOKEN")
    monkeypatch.delenv("NEWSBOT_DISCORD_TOKEN")
    secret = tmp_path / "token"
    secret.write_text("from-file\n")
    monkeypatch.setenv("DISCORD_TOKEN_FILE", str(secret))
    assert Settings().token() == "from-file"


def test_fitted_constants_are_not_settings(monkeypatch):
    """Ranking constants are measured, not turned: no variable reaches them."""
    fitted = ("bm25_k1", "bm25_b", "dense_weight", "rrf_k", "rerank_depth", "sentence_weight")
    for name in fitted:
        monkeypatch.setenv(f"NEWSBOT_{name.upper()}", "1")
        monkeypatch.setenv(f"NEWSBOT_ENGINE_{name.upper()}", "1")
    config = Settings().engine_config()
    for name in fitted:
        assert getattr(config, name) == getattr(EngineConfig(), name), name
    assert not [s for s in all_settings() if s.path[-1] in fitted]


# -- the configs built from them --------------------------------------------------------------


def _changed(value: object) -> object:
    """A valid value unlike ``value``."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, tuple):
        return ("example.org",)
    return "changed"


def test_every_engine_and_feed_setting_reaches_its_config(tmp_path):
    groups: dict[str, dict[str, object]] = {"engine": {}, "milvus": {}, "feeds": {}}
    for setting in all_settings():
        if setting.path[0] in groups:
            groups[setting.path[0]][setting.path[1]] = _changed(setting.default())
    settings = Settings(data_dir=tmp_path, **groups)
    engine = settings.engine_config()
    assert engine.data_dir == tmp_path
    for name, value in groups["engine"].items():
        assert getattr(engine, name) == value, name
    for name, value in groups["milvus"].items():
        assert getattr(engine, f"milvus_{name}") == value, name
    feeds = settings.feed_config()
    for name, value in groups["feeds"].items():
        assert getattr(feeds, name) == value, name


def test_unset_settings_keep_the_configs_own_defaults():
    engine, feeds = Settings().engine_config(), Settings().feed_config()
    assert dataclasses.replace(engine, data_dir=EngineConfig().data_dir) == EngineConfig()
    # The one feed default the settings own: a User-Agent that names the project.
    assert dataclasses.replace(feeds, user_agent=FeedConfig().user_agent) == FeedConfig()
