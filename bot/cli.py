"""The ``newsbot`` command: the engine from a terminal, and the entry point of every front end."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from bot.discord.cli import register as register_discord_commands
from bot.eval_cli import eval_command
from bot.feeds_cli import ingest_items
from bot.feeds_cli import register as register_feed_commands
from bot.migrate_cli import register as register_migrate_command
from bot.ops_cli import register as register_ops_commands
from bot.settings import Settings, settings_problems
from bot.terminal import answer_markup, format_date, headline_markup
from index.engine import Engine, IngestReport
from index.errors import NewsbotError
from index.model import SkippedItem
from index.retrieve import Filters
from index.sources.common import parse_published

SAMPLE_DIR = Path(__file__).parent / "samples"

app = typer.Typer(
    name="newsbot",
    help="Self-hosted news Q&A: ingest news, then ask questions answered by verbatim quotes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def settings_of(ctx: typer.Context) -> Settings:
    return ctx.obj


@contextmanager
def open_engine(settings: Settings, *, many_questions: bool = False) -> Iterator[Engine]:
    config = settings.engine_config()
    engine = Engine(config.for_many_questions() if many_questions else config)
    try:
        yield engine
    finally:
        engine.close()


def fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/] {escape(message)}", markup=True)
    return typer.Exit(1)


def _parse_date(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_published(value, option)
    except ValueError as exc:
        raise fail(str(exc)) from None


@app.callback()
def main_callback(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Data directory (default: NEWSBOT_DATA_DIR or ./newsbot-data)"),
    ] = None,
) -> None:
    overrides = {"data_dir": data_dir} if data_dir else {}
    try:
        ctx.obj = Settings(**overrides)
    except ValidationError as exc:
        raise fail(f"invalid settings: {settings_problems(exc)}") from None
    logging.basicConfig(
        level=ctx.obj.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[
        list[str] | None, typer.Argument(help="Files, folders, glob patterns or http(s) URLs")
    ] = None,
    sample: Annotated[
        bool, typer.Option("--sample", help="Ingest the bundled sample article")
    ] = False,
    source: Annotated[
        str | None, typer.Option(help="Outlet name for files that carry none")
    ] = None,
) -> None:
    """Read articles from files, web pages or feeds and index them (only new or changed
    articles are embedded)."""
    targets = list(paths or [])
    if sample:
        targets.append(str(SAMPLE_DIR))
    if not targets:
        raise fail("nothing to ingest: give PATH... or --sample")
    with open_engine(settings_of(ctx)) as engine, _progress() as progress:
        task = progress.add_task("ingesting", total=None)

        def tick(item: object) -> None:
            progress.advance(task)
            if isinstance(item, SkippedItem):
                progress.console.print(
                    f"[yellow]skipped[/] {escape(str(item))}", markup=True, highlight=False
                )

        items = ingest_items(settings_of(ctx), targets, source=source)  # http(s): page or feed
        report = engine.ingest(items, progress=tick)
    _print_report(report)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=True,
    )


def _print_report(report: IngestReport) -> None:
    out.print(
        f"added {report.added}, updated {report.updated}, unchanged {report.unchanged}, "
        f"skipped {len(report.skipped)} ({report.passages} passages indexed)"
    )


@app.command()
def ask(
    ctx: typer.Context,
    question: Annotated[str | None, typer.Argument(help="The question")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Answers as JSON")] = False,
    questions: Annotated[
        Path | None, typer.Option(help="JSONL file of {id, question}: one JSON answer per line")
    ] = None,
    source: Annotated[list[str] | None, typer.Option(help="Only these outlets")] = None,
    since: Annotated[str | None, typer.Option(help="Only articles published on/after")] = None,
    until: Annotated[str | None, typer.Option(help="Only articles published before")] = None,
) -> None:
    """Answer a question by quoting the indexed news, or say that it does not answer."""
    filters = Filters(
        tuple(source or ()), _parse_date(since, "--since"), _parse_date(until, "--until")
    )
    if questions is not None:
        _ask_many(settings_of(ctx), questions, filters)
        return
    if not question:
        raise fail("give a question, or --questions FILE.jsonl")
    with open_engine(settings_of(ctx)) as engine:
        answer = engine.quote_answer(question, filters=filters)
    if not as_json:
        out.print(answer_markup(answer), markup=True)
    elif out.is_terminal:
        out.print_json(data=answer.to_json())
    else:
        print(json.dumps(answer.to_json(), ensure_ascii=False))
    if answer.reason == "empty_index":  # a script must not take "ingest first" for an answer
        raise typer.Exit(1)


def _ask_many(settings: Settings, path: Path, filters: Filters) -> None:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"{path}: cannot read ({exc})") from None
    empty_index = False
    with open_engine(settings, many_questions=True) as engine:
        for lineno, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                text = item["question"]
                if not isinstance(text, str):
                    raise TypeError(text)
            except (ValueError, KeyError, TypeError):
                err.print(
                    f"{path}:{lineno}: not a JSON object with a question; skipped", markup=False
                )
                continue
            qid = item.get("id")  # a null id is no id: the line number stands in
            answer = engine.quote_answer(
                text, filters=filters, qid=str(lineno if qid is None else qid)
            )
            print(json.dumps(answer.to_json(), ensure_ascii=False), flush=True)
            empty_index = empty_index or answer.reason == "empty_index"
    if empty_index:
        raise typer.Exit(1)


@app.command()
def headlines(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 10,
    source: Annotated[str | None, typer.Option(help="Only this outlet")] = None,
    since: Annotated[str | None, typer.Option(help="Only articles published on/after")] = None,
) -> None:
    """Recent headlines, newest first."""
    with open_engine(settings_of(ctx)) as engine:
        found = engine.headlines(limit=limit, source=source, since=_parse_date(since, "--since"))
    if not found:
        out.print("No headlines yet: run `newsbot ingest --sample` or `newsbot ingest PATH...`.")
        return
    for h in found:
        out.print(headline_markup(h), markup=True)


@app.command()
def stats(ctx: typer.Context) -> None:
    """What the index holds."""
    with open_engine(settings_of(ctx)) as engine:
        s = engine.stats()
    # Table cells are rich markup: the headline (a publisher's text) is escaped.
    newest = f"{escape(s.newest.title)} ({format_date(s.newest.published)})" if s.newest else "-"
    table = Table(show_header=False)
    table.add_row("articles", str(s.articles))
    table.add_row("passages", f"{s.passages} ({s.indexed_passages} in the served index)")
    table.add_row("outlets", str(s.sources))
    table.add_row("newest", newest)
    table.add_row(
        "last ingest", s.last_ingest.isoformat(timespec="seconds") if s.last_ingest else "-"
    )
    table.add_row("model", escape(s.model))
    table.add_row("version", escape(s.version))
    out.print(table)


@app.command()
def config(ctx: typer.Context) -> None:
    """The effective settings (token masked)."""
    for key, value in settings_of(ctx).public_dict().items():
        out.print(f"{key} = {value!r}", markup=False)


app.command("eval")(eval_command)
register_discord_commands(app)  # serve, sync-commands
register_feed_commands(app)  # feeds add/list/remove, watch
register_ops_commands(app)  # healthcheck, backup, restore
register_migrate_command(app)  # migrate --to milvus


def main() -> None:
    try:
        app()
    except NewsbotError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", markup=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
