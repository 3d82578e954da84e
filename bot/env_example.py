"""Render ``.env.example`` from ``Settings``: every field, its default, one line about it.

    python -m bot.env_example > .env.example

A test compares the file with this output, so a new setting without a line here (or a
``Field(description=...)``) fails CI until it is described and the file regenerated.

Every setting is written commented out, so copying the file to ``.env`` changes nothing but
the token: the Docker image's own values (``IMAGE_ENV``, set by ``ENV`` in the Dockerfile)
stay in force unless a line is uncommented on purpose.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic.fields import FieldInfo

from bot.settings import Settings

# What the Dockerfile sets with ENV: shown instead of the code default in the example.
IMAGE_ENV = {
    "data_dir": "/data",
    "health_host": "0.0.0.0",
    "health_port": "8080",
}

# Fields read under their own names rather than NEWSBOT_<FIELD>.
TOKEN_FIELDS = {"discord_token": "DISCORD_TOKEN", "discord_token_file": "DISCORD_TOKEN_FILE"}

DESCRIPTIONS = {
    "data_dir": "Directory of the database and the index (the image's volume is /data).",
    "model": "Sentence-transformers model directory or name; unset: the bundled all-MiniLM-L6-v2.",
    "passage_words": "Articles are indexed as passages of whole sentences up to this many words.",
    "bm25_k1": "BM25 term-frequency saturation.",
    "bm25_b": "BM25 length normalisation.",
    "lexical_weight": "Weight of the BM25 ranking in the fusion.",
    "dense_weight": "Weight of the embedding ranking in the fusion.",
    "focus_weight": "Weight of the extra rankings narrowed to each outlet or day a question names.",
    "sentence_weight": (
        "How far a passage moves up when one of its sentences covers the question words "
        "its headline lacks."
    ),
    "rerank_depth": "How many fused passages that reordering looks at before keeping top_k.",
    "part_slots": (
        "For a question that asks several things, how many of its parts may bring in the "
        "passage that answers them best in place of an article's further passage; 0: none."
    ),
    "part_slot_share": (
        "How much of a part's words (those its headline lacks) a passage must cover to be "
        "brought in for it."
    ),
    "article_temperature": (
        "For a which/who question: how sharply each article's passages split its chance of "
        "holding a fact when choosing the kept passages; 0: rank by score alone."
    ),
    "article_depth": "How many fused passages a which/who question's kept passages come from.",
    "phrase_search": (
        "Which/who questions also match pairs of neighbouring words as phrases in BM25 "
        "(false: words only)."
    ),
    "window_search": (
        "Which/who questions rank a passage's meaning by its best-matching part rather than "
        "the whole passage (false: whole passages only)."
    ),
    "clause_weight": (
        "How far a kept passage moves up when a sentence covers one part of a question "
        "that asks several things."
    ),
    "rrf_k": "Reciprocal rank fusion constant: higher flattens the rankings.",
    "quote_context": (
        "Quote the answering sentence with one sentence either side (within 100 words); "
        "false quotes the sentence alone."
    ),
    "dense_first_pass_from": (
        "From this many passages on, dense search ranks by a reduced copy of the vectors "
        "first and re-scores the best candidates exactly (0: always exact)."
    ),
    "dense_first_pass_dims": "Directions the reduced copy keeps (of the model's 384).",
    "top_k": "Passages retrieved for each question.",
    "max_quotes": "At most this many quotes in one answer.",
    "quote_share": "A further quote (another article) must score this share of the best (0-1).",
    "abstain_threshold": "Say the news does not answer when the confidence is under this (0-1).",
    "recency_half_life_days": "Prefer newer articles with this half-life in days; 0 disables.",
    "max_file_bytes": "Files larger than this are skipped at ingest.",
    "discord_token": "The bot token from the Discord developer portal (Bot > Reset Token).",
    "discord_token_file": "Or read the token from this file (a Docker/compose secret).",
    "dev_guild": "Server (guild) id to sync slash commands to at once while developing.",
    "discord_api_base": "Discord REST base URL override (tests); unset: discord.com.",
    "discord_gateway_url": "Discord Gateway URL override (tests); unset: Discord's.",
    "workers": "Threads answering questions at the same time.",
    "cooldown_seconds": "Per-user pause between questions.",
    "memory_turns": "Earlier questions of a conversation used to understand a follow-up.",
    "memory_ttl_seconds": "A conversation is forgotten after this much silence.",
    "recent_days": "Quotes from articles older than this many days carry their report date.",
    "queue_limit": "Questions queued or running at once before the bot answers 'busy'.",
    "message_content_intent": "Read plain messages in the bot's threads (privileged intent).",
    "shutdown_grace_seconds": "On SIGTERM, running answers get this long to finish.",
    "health_port": "Port of /healthz and /metrics; 0 turns them off (the image uses 8080).",
    "health_host": "Address /healthz and /metrics listen on (the image uses 0.0.0.0).",
    "log_level": "DEBUG, INFO, WARNING or ERROR.",
    "poll_interval_seconds": "Feeds are polled this often.",
    "allow_hosts": "Comma-separated hosts exempt from the private-address refusal of feeds.",
    "user_agent": "User-Agent of feed and page fetches.",
    "fetch_timeout_seconds": "Timeout of one feed or page fetch.",
    "max_body_bytes": "Feed or page bodies larger than this are refused.",
    "posts_per_cycle": "At most this many new articles posted per feed and poll.",
    "fetch_per_host": "Concurrent requests to one host.",
    "feed_max_backoff_seconds": "A failing feed is retried at least this often.",
    "feed_concurrency": "Feeds polled at the same time.",
}

HEADER = """\
# newsbot settings for `docker compose` (env_file: .env).
#   cp .env.example .env   then paste the bot token below; nothing else is required.
# Every other line is a setting at its default, commented out: uncomment to change it.
# Generated from bot/settings.py by `python -m bot.env_example`; do not edit by hand.
"""


class UndescribedSetting(KeyError):
    pass


def env_name(name: str) -> str:
    return TOKEN_FIELDS.get(name, f"NEWSBOT_{name.upper()}")


def description(name: str, field: FieldInfo) -> str:
    text = DESCRIPTIONS.get(name) or field.description
    if not text:
        raise UndescribedSetting(
            f"Settings.{name} has no description: add it to DESCRIPTIONS in bot/env_example.py"
        )
    return text.splitlines()[0]


def default_text(name: str, field: FieldInfo) -> str:
    if name in IMAGE_ENV:
        return IMAGE_ENV[name]
    value = field.get_default(call_default_factory=True)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, Path):
        return str(value)
    return str(value)


def render() -> str:
    lines = [HEADER]
    lines.append(f"# {DESCRIPTIONS['discord_token']}")
    lines.append("DISCORD_TOKEN=")
    lines.append(f"# {DESCRIPTIONS['discord_token_file']}")
    lines.append("# DISCORD_TOKEN_FILE=/run/secrets/discord_token")
    for name, field in Settings.model_fields.items():
        if name in TOKEN_FIELDS:
            continue
        text = description(name, field)
        default = default_text(name, field)
        if name in IMAGE_ENV:
            code_default = Settings.model_fields[name].get_default(call_default_factory=True)
            text += f" Outside Docker the default is {code_default}."
        elif default == "" and "unset" not in text.lower():
            text += " Unset by default."
        lines.append("")
        lines.append(f"# {text}")
        lines.append(f"# {env_name(name)}={default}")
    return "\n".join(lines) + "\n"


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
