"""Render ``.env.example`` and ``docs/configuration.md`` from the settings models.

    python -m bot.settings_files          # rewrite both files
    python -m bot.settings_files --check  # exit 1 when either differs

A test compares both files with this output, so a new setting reaches the operator's files
only through its ``Field(description=...)``, and a hand edit fails CI until regenerated.

Every setting in ``.env.example`` is written commented out, so copying it to ``.env`` changes
nothing but the token: the Docker image's own values (``IMAGE_ENV``, set by ``ENV`` in the
Dockerfile) stay in force unless a line is uncommented on purpose.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bot.settings import Setting, all_settings

REPO = Path(__file__).resolve().parent.parent
ENV_EXAMPLE = REPO / ".env.example"
CONFIGURATION_DOC = REPO / "docs" / "configuration.md"

# What the Dockerfile sets with ENV: shown instead of the code default in the example.
IMAGE_ENV = {
    "NEWSBOT_DATA_DIR": "/data",
    "NEWSBOT_HEALTH_HOST": "0.0.0.0",
    "NEWSBOT_HEALTH_PORT": "8080",
}
# The one line .env.example leaves active: the operator pastes the token there.
ACTIVE = "DISCORD_TOKEN"
GROUP_TITLES = {
    (): "General",
    ("engine",): "Engine",
    ("milvus",): "Milvus (NEWSBOT_ENGINE_BACKEND=milvus)",
    ("feeds",): "Feeds",
    ("discord",): "Discord",
    ("health",): "Health and metrics",
}

ENV_HEADER = """\
# newsbot settings for `docker compose` (env_file: .env).
#   cp .env.example .env   then paste the bot token below; nothing else is required.
# Every other line is a setting at its default, commented out: uncomment to change it.
# Generated from bot/settings.py by `python -m bot.settings_files`; do not edit by hand.
"""

DOC_HEADER = """\
# Configuration

<!-- Generated from bot/settings.py by `python -m bot.settings_files`; do not edit by hand. -->

newsbot reads its settings from environment variables once at start (in Docker: from the
`.env` file next to `docker-compose.yml`; copy `.env.example`, which lists the same settings).
`newsbot config` prints the values in effect, with the token masked.

Variables are `NEWSBOT_<GROUP>_<NAME>`; the bot token is also read as `DISCORD_TOKEN` or, from
a file, `DISCORD_TOKEN_FILE`. The ranking constants fitted on the benchmark are not settings:
see [quality.md](quality.md).
"""


def text_of(value: object) -> str:
    """A value as it is written in an environment variable."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def example_default(setting: Setting) -> str:
    return IMAGE_ENV.get(setting.env, text_of(setting.default()))


def _env_block(setting: Setting) -> list[str]:
    text = setting.description
    default = example_default(setting)
    if setting.env in IMAGE_ENV:
        text += f" The image sets {default}; outside Docker the default is {text_of(setting.default())}."
    elif default == "" and "unset" not in text.lower():
        text += " Unset by default."
    line = f"{setting.env}=" if setting.env == ACTIVE else f"# {setting.env}={default}"
    return [f"# {text}", line]


def render_env_example() -> str:
    lines = [ENV_HEADER.rstrip("\n")]
    for setting in all_settings():
        lines.append("")
        lines.extend(_env_block(setting))
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_configuration_doc() -> str:
    out = [DOC_HEADER.rstrip("\n")]
    group: tuple[str, ...] | None = None
    for setting in all_settings():
        if setting.path[:-1] != group:
            group = setting.path[:-1]
            out += ["", f"## {GROUP_TITLES[group]}", ""]
            out += ["| Variable | Default | What it does |", "|---|---|---|"]
        default = text_of(setting.default())
        shown = f"`{_cell(default)}`" if default else "unset"
        if setting.env in IMAGE_ENV:
            shown += f" (image: `{IMAGE_ENV[setting.env]}`)"
        out.append(f"| `{setting.env}` | {shown} | {_cell(setting.description)} |")
    return "\n".join(out) + "\n"


def rendered(root: Path = REPO) -> dict[Path, str]:
    return {
        root / ENV_EXAMPLE.relative_to(REPO): render_env_example(),
        root / CONFIGURATION_DOC.relative_to(REPO): render_configuration_doc(),
    }


def stale(root: Path = REPO) -> list[Path]:
    """The rendered files under ``root`` that differ from what the models render."""
    return [
        path
        for path, text in rendered(root).items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]


def main(argv: list[str] | None = None) -> int:
    check = "--check" in (sys.argv[1:] if argv is None else argv)
    outdated = stale()
    for path in outdated:
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(rendered()[path], encoding="utf-8")
        print(f"{path.relative_to(REPO)}: {'out of date' if check else 'written'}")
    return 1 if check and outdated else 0


if __name__ == "__main__":
    sys.exit(main())
