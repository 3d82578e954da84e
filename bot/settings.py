"""The one configuration source: every setting an operator may turn, with its default and its
description, once.

Settings are read once at start by the front end and handed down: the engine gets an
``EngineConfig`` and the feed side a ``FeedConfig``, built from the groups below by
construction (a group's field names are the config's own), so neither ever reads the
environment. ``.env.example``, ``docs/configuration.md`` and ``newsbot config`` are rendered
from these models (``bot.settings_files``), and a test fails when the files drift.

Variables are ``NEWSBOT_<GROUP>_<FIELD>`` (``NEWSBOT_DISCORD_WORKERS``,
``NEWSBOT_HEALTH_PORT``), and ``NEWSBOT_<FIELD>`` for the few that belong to no one front
end (``NEWSBOT_DATA_DIR``). Constants fitted on the benchmark (fusion weights, depths,
thresholds) are deliberately not settings: they stay ``EngineConfig`` defaults, measured
rather than turned.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from index.config import EngineConfig
from index.errors import NewsbotError
from index.feeds.config import FeedConfig

PREFIX = "NEWSBOT_"
# Today's documented names of the token, read besides NEWSBOT_DISCORD_TOKEN(_FILE): they are
# what .env.example, docker-compose.yml and the Discord docs tell an operator to set.
BARE_NAMES = {
    ("discord", "token"): "DISCORD_TOKEN",
    ("discord", "token_file"): "DISCORD_TOKEN_FILE",
}

_ENGINE = EngineConfig()
_FEEDS = FeedConfig()


class _Group(BaseModel):
    model_config = ConfigDict(extra="ignore")


class EngineSettings(_Group):
    """What an operator turns on the engine; the rest of ``EngineConfig`` is measured."""

    model: str | None = Field(
        _ENGINE.model,
        description=(
            "Sentence-transformers model directory or name; unset: the bundled all-MiniLM-L6-v2."
        ),
    )
    backend: str = Field(
        "local", description="Search index: local (files beside the database) or milvus."
    )
    max_quotes: int = Field(
        _ENGINE.max_quotes, description="At most this many quotes in one answer."
    )
    quote_context: bool = Field(
        _ENGINE.quote_context,
        description=(
            "Quote the answering sentence with one sentence either side (within 100 words); "
            "false quotes the sentence alone."
        ),
    )
    recency_half_life_days: float = Field(
        _ENGINE.recency_half_life_days,
        description="Prefer newer articles with this half-life in days; 0 disables.",
    )
    max_file_bytes: int = Field(
        _ENGINE.max_file_bytes, description="Files larger than this are skipped at ingest."
    )


class MilvusSettings(_Group):
    """The Milvus server of ``NEWSBOT_ENGINE_BACKEND=milvus`` (``EngineConfig.milvus_*``)."""

    uri: str | None = Field(
        _ENGINE.milvus_uri,
        description="Milvus server for NEWSBOT_ENGINE_BACKEND=milvus, e.g. http://milvus:19530.",
    )
    token: SecretStr | None = Field(
        None, description="Milvus credentials (user:password or an API key); unset: none."
    )
    database: str | None = Field(
        _ENGINE.milvus_database,
        description="Milvus database; unset: the server's default database.",
    )
    collection: str = Field(
        _ENGINE.milvus_collection,
        description="Milvus collection holding this data directory's passages.",
    )


class FeedSettings(_Group):
    """Feed polling and fetching; field names are ``FeedConfig``'s."""

    poll_interval_seconds: float = Field(
        _FEEDS.poll_interval_seconds, description="Feeds are polled this often."
    )
    # NoDecode: "127.0.0.1,localhost" is split by the validator below, not parsed as JSON.
    allow_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        _FEEDS.allow_hosts,
        description="Comma-separated hosts exempt from the private-address refusal of feeds.",
    )
    # Names the project, unlike FeedConfig's bare default, so a publisher can find who fetches.
    user_agent: str = Field(
        "newsbot/0.1 (+https://github.com/newsbot; self-hosted news bot)",
        description="User-Agent of feed and page fetches.",
    )
    fetch_timeout_seconds: float = Field(
        _FEEDS.fetch_timeout_seconds, description="Timeout of one feed or page fetch."
    )
    max_body_bytes: int = Field(
        _FEEDS.max_body_bytes, description="Feed or page bodies larger than this are refused."
    )
    posts_per_cycle: int = Field(
        _FEEDS.posts_per_cycle,
        description="At most this many new articles posted per feed and poll.",
    )

    @field_validator("allow_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            return [h.strip() for h in value.split(",") if h.strip()]
        return value


class DiscordSettings(_Group):
    """The Discord bot: token, where to sync commands, and how it shares its workers."""

    token: SecretStr | None = Field(
        None, description="The bot token from the Discord developer portal (Bot > Reset Token)."
    )
    token_file: Path | None = Field(
        None, description="Or read the token from this file (a Docker/compose secret)."
    )
    dev_guild: int | None = Field(
        None, description="Server (guild) id to sync slash commands to at once while developing."
    )
    api_base: str | None = Field(
        None, description="Discord REST base URL override (tests); unset: discord.com."
    )
    gateway_url: str | None = Field(
        None, description="Discord Gateway URL override (tests); unset: Discord's."
    )
    workers: int = Field(2, description="Threads answering questions at the same time.")
    cooldown_seconds: float = Field(5.0, description="Per-user pause between questions.")
    memory_turns: int = Field(
        6, description="Earlier questions of a conversation used to understand a follow-up."
    )
    memory_ttl_seconds: float = Field(
        1800.0, description="A conversation is forgotten after this much silence."
    )
    recent_days: int = Field(
        30, description="Quotes from articles older than this many days carry their report date."
    )
    queue_limit: int = Field(
        100, description="Questions queued or running at once before the bot answers 'busy'."
    )
    message_content_intent: bool = Field(
        False,
        description=(
            "Read plain messages in the bot's threads (privileged intent: enable it in the "
            "developer portal too); off: mentions, replies, DMs and slash commands only."
        ),
    )
    shutdown_grace_seconds: float = Field(
        5.0, description="On SIGTERM, running answers get this long to finish."
    )


class HealthSettings(_Group):
    port: int = Field(0, description="Port of /healthz and /metrics; 0 turns them off.")
    host: str = Field("127.0.0.1", description="Address /healthz and /metrics listen on.")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        env_nested_delimiter="_",
        env_nested_max_split=1,  # NEWSBOT_DISCORD_TOKEN_FILE is discord.token_file
        env_file=None,
        extra="ignore",
    )

    data_dir: Path = Field(
        _ENGINE.data_dir,
        description="Directory of the database, the index and the feed state.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", description="DEBUG, INFO, WARNING or ERROR."
    )
    engine: EngineSettings = EngineSettings()
    milvus: MilvusSettings = MilvusSettings()
    feeds: FeedSettings = FeedSettings()
    discord: DiscordSettings = DiscordSettings()
    health: HealthSettings = HealthSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        bare = _BareNamesSource(settings_cls)
        return init_settings, env_settings, bare, dotenv_settings, file_secret_settings

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def engine_config(self) -> EngineConfig:
        milvus = {f"milvus_{name}": value for name, value in self.milvus}
        milvus["milvus_token"] = _secret(self.milvus.token)
        return EngineConfig(data_dir=self.data_dir, **dict(self.engine), **milvus)

    def feed_config(self) -> FeedConfig:
        return FeedConfig(**dict(self.feeds))

    def token(self) -> str:
        """The bot token from DISCORD_TOKEN, or the file DISCORD_TOKEN_FILE names."""
        if token := (_secret(self.discord.token) or "").strip():
            return token
        path = self.discord.token_file
        if path is not None:
            try:
                token = path.read_text().strip()
            except OSError as exc:
                raise NewsbotError(
                    f"DISCORD_TOKEN_FILE {path}: cannot read ({exc.strerror})"
                ) from exc
            if token:
                return token
            raise NewsbotError(f"DISCORD_TOKEN_FILE {path}: the file is empty")
        raise NewsbotError("no bot token: set DISCORD_TOKEN or DISCORD_TOKEN_FILE")


class _BareNamesSource(PydanticBaseSettingsSource):
    """DISCORD_TOKEN and DISCORD_TOKEN_FILE, below the NEWSBOT_ names in priority."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ builds the whole dict

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for (group, name), env in BARE_NAMES.items():
            if value := os.environ.get(env):
                found.setdefault(group, {})[name] = value
        return found


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting as an operator sees it: its variable, default and description."""

    path: tuple[str, ...]  # ("discord", "workers")
    env: str  # NEWSBOT_DISCORD_WORKERS
    field: FieldInfo

    @property
    def description(self) -> str:
        return self.field.description or ""

    @property
    def secret(self) -> bool:
        return "SecretStr" in repr(self.field.annotation)

    def default(self) -> object:
        return self.field.get_default(call_default_factory=True)

    def value_in(self, settings: Settings) -> object:
        value: Any = settings
        for part in self.path:
            value = getattr(value, part)
        return value


def env_name(path: tuple[str, ...]) -> str:
    return BARE_NAMES.get(path) or PREFIX + "_".join(path).upper()  # type: ignore[arg-type]


def all_settings() -> Iterator[Setting]:
    """Every setting in declaration order, groups flattened."""
    for name, field in Settings.model_fields.items():
        group = field.annotation
        if isinstance(group, type) and issubclass(group, _Group):
            for sub, subfield in group.model_fields.items():
                yield Setting((name, sub), env_name((name, sub)), subfield)
        else:
            yield Setting((name,), env_name((name,)), field)


def settings_problems(exc: ValidationError) -> str:
    """One line naming each bad variable and what is wrong, never its value: the value
    could be a token."""
    known = {s.path: s.env for s in all_settings()}
    problems = []
    for error in exc.errors():
        loc = tuple(str(p) for p in error["loc"])
        name = known.get(loc[:2]) or known.get(loc[:1]) or PREFIX + "_".join(loc).upper()
        problems.append(f"{name}: {error['msg']}")
    return "; ".join(problems)
