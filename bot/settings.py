"""The one configuration object: every ``NEWSBOT_*`` variable (and the Discord token) lives here.

Read once at start by the front end and handed down; nothing else reads the environment.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from index.config import EngineConfig
from index.errors import NewsbotError

_ENGINE = EngineConfig()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEWSBOT_", env_file=None, extra="ignore")

    # Engine
    data_dir: Path = Path("newsbot-data")
    model: str | None = Field(None, description="sentence-transformers model path or name")
    # Defaults come from EngineConfig so the engine and its settings never disagree.
    passage_words: int = _ENGINE.passage_words
    bm25_k1: float = _ENGINE.bm25_k1
    bm25_b: float = _ENGINE.bm25_b
    lexical_weight: float = _ENGINE.lexical_weight
    dense_weight: float = _ENGINE.dense_weight
    focus_weight: float = _ENGINE.focus_weight
    sentence_weight: float = _ENGINE.sentence_weight
    rerank_depth: int = _ENGINE.rerank_depth
    part_slots: int = _ENGINE.part_slots
    part_slot_share: float = _ENGINE.part_slot_share
    article_temperature: float = _ENGINE.article_temperature
    article_depth: int = _ENGINE.article_depth
    clause_weight: float = _ENGINE.clause_weight
    phrase_search: bool = _ENGINE.phrase_search
    window_search: bool = _ENGINE.window_search
    rrf_k: int = _ENGINE.rrf_k
    dense_first_pass_from: int = _ENGINE.dense_first_pass_from
    dense_first_pass_dims: int = _ENGINE.dense_first_pass_dims
    top_k: int = _ENGINE.top_k
    max_quotes: int = _ENGINE.max_quotes
    quote_share: float = _ENGINE.quote_share
    quote_context: bool = _ENGINE.quote_context
    abstain_threshold: float = _ENGINE.abstain_threshold
    recency_half_life_days: float = _ENGINE.recency_half_life_days
    max_file_bytes: int = _ENGINE.max_file_bytes
    # Where the search index lives (see README, "Scaling out with Milvus").
    backend: str = Field(
        "local", description="Search index: local (files beside the database) or milvus."
    )
    milvus_uri: str | None = Field(
        None, description="Milvus server for NEWSBOT_BACKEND=milvus, e.g. http://milvus:19530."
    )
    milvus_token: SecretStr | None = Field(
        None, description="Milvus credentials (user:password or an API key); unset: none."
    )
    milvus_database: str | None = Field(
        None, description="Milvus database; unset: the server's default database."
    )
    milvus_collection: str = Field(
        "newsbot_passages", description="Milvus collection holding this data directory's passages."
    )

    # Discord
    discord_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("DISCORD_TOKEN", "NEWSBOT_DISCORD_TOKEN")
    )
    discord_token_file: Path | None = Field(
        None, validation_alias=AliasChoices("DISCORD_TOKEN_FILE", "NEWSBOT_DISCORD_TOKEN_FILE")
    )
    dev_guild: int | None = None
    discord_api_base: str | None = None
    discord_gateway_url: str | None = None
    workers: int = 2
    cooldown_seconds: float = 5.0
    memory_turns: int = 6
    memory_ttl_seconds: float = 1800.0
    recent_days: int = 30
    # Questions waiting or running at once before the bot answers "busy, ask again shortly".
    queue_limit: int = 100
    # Privileged intent (enable it in the developer portal too): read plain messages in
    # threads the bot talks in. Off: mentions, replies that ping, DMs and slash commands only.
    message_content_intent: bool = False
    # SIGTERM/Ctrl-C: how long running answers may take to finish before they are cancelled.
    shutdown_grace_seconds: float = 5.0

    # Operations
    health_port: int = 0  # 0: no health endpoint
    health_host: str = "127.0.0.1"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    # Feeds
    poll_interval_seconds: float = 900.0
    # NoDecode: "127.0.0.1,localhost" is split by the validator below, not parsed as JSON.
    allow_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    user_agent: str = "newsbot/0.1 (+https://github.com/newsbot; self-hosted news bot)"
    fetch_timeout_seconds: float = 15.0
    max_body_bytes: int = 5_000_000
    posts_per_cycle: int = 5
    fetch_per_host: int = 2  # concurrent requests to one host
    feed_max_backoff_seconds: float = 6 * 3600.0  # a failing feed is retried at least this often
    feed_concurrency: int = 4  # feeds polled at the same time

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("allow_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            return [h.strip() for h in value.split(",") if h.strip()]
        return value

    def engine_config(self) -> EngineConfig:
        return EngineConfig(
            data_dir=self.data_dir,
            model=self.model,
            passage_words=self.passage_words,
            bm25_k1=self.bm25_k1,
            bm25_b=self.bm25_b,
            lexical_weight=self.lexical_weight,
            dense_weight=self.dense_weight,
            focus_weight=self.focus_weight,
            sentence_weight=self.sentence_weight,
            rerank_depth=self.rerank_depth,
            part_slots=self.part_slots,
            part_slot_share=self.part_slot_share,
            article_temperature=self.article_temperature,
            article_depth=self.article_depth,
            clause_weight=self.clause_weight,
            phrase_search=self.phrase_search,
            window_search=self.window_search,
            rrf_k=self.rrf_k,
            dense_first_pass_from=self.dense_first_pass_from,
            dense_first_pass_dims=self.dense_first_pass_dims,
            top_k=self.top_k,
            max_quotes=self.max_quotes,
            quote_share=self.quote_share,
            quote_context=self.quote_context,
            abstain_threshold=self.abstain_threshold,
            recency_half_life_days=self.recency_half_life_days,
            max_file_bytes=self.max_file_bytes,
            backend=self.backend,
            milvus_uri=self.milvus_uri,
            milvus_token=self.milvus_token.get_secret_value() if self.milvus_token else None,
            milvus_database=self.milvus_database,
            milvus_collection=self.milvus_collection,
        )

    def token(self) -> str:
        """The bot token from DISCORD_TOKEN, or the file DISCORD_TOKEN_FILE names."""
        if self.discord_token is not None and self.discord_token.get_secret_value().strip():
            return self.discord_token.get_secret_value().strip()
        if self.discord_token_file is not None:
            try:
                token = self.discord_token_file.read_text().strip()
            except OSError as exc:
                raise NewsbotError(
                    f"DISCORD_TOKEN_FILE {self.discord_token_file}: cannot read ({exc.strerror})"
                ) from exc
            if token:
                return token
            raise NewsbotError(f"DISCORD_TOKEN_FILE {self.discord_token_file}: the file is empty")
        raise NewsbotError("no bot token: set DISCORD_TOKEN or DISCORD_TOKEN_FILE")

    def public_dict(self) -> dict[str, object]:
        """Effective settings for display, with the token masked."""
        out: dict[str, object] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name in ("discord_token", "milvus_token"):
                value = "****" if value is not None else None
            elif isinstance(value, Path):
                value = str(value)
            out[name] = value
        return out


def settings_problems(exc: ValidationError) -> str:
    """One line naming each bad variable and what is wrong, never its value: the value
    could be a token."""
    return "; ".join(
        f"NEWSBOT_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
    )
