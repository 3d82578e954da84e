"""``newsbot ask``, ``headlines``, ``stats`` and ``config``: reading the index and the
settings from a terminal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from bot.cli.common import err, fail, open_engine, out, parse_date, settings_of

if TYPE_CHECKING:
    from bot.settings import Settings
    from index.retrieve import Filters


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
    from bot.terminal import answer_markup
    from index.retrieve import Filters

    filters = Filters(
        tuple(source or ()), parse_date(since, "--since"), parse_date(until, "--until")
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


def headlines(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 10,
    source: Annotated[str | None, typer.Option(help="Only this outlet")] = None,
    since: Annotated[str | None, typer.Option(help="Only articles published on/after")] = None,
) -> None:
    """Recent headlines, newest first."""
    from bot.terminal import headline_markup

    with open_engine(settings_of(ctx)) as engine:
        found = engine.headlines(limit=limit, source=source, since=parse_date(since, "--since"))
    if not found:
        out.print("No headlines yet: run `newsbot ingest --sample` or `newsbot ingest PATH...`.")
        return
    for h in found:
        out.print(headline_markup(h), markup=True)


def stats(ctx: typer.Context) -> None:
    """What the index holds."""
    from rich.table import Table

    from bot.terminal import format_date

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


def config(ctx: typer.Context) -> None:
    """Every setting in effect, with what it does (the token masked); see
    docs/configuration.md."""
    from bot.settings import all_settings
    from bot.settings_files import text_of

    settings = settings_of(ctx)
    for setting in all_settings():
        value = setting.value_in(settings)
        shown = ("****" if value is not None else "") if setting.secret else text_of(value)
        out.print(f"# {setting.description}", markup=False)
        out.print(f"{setting.env}={shown}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("ask")(ask)
    app.command("headlines")(headlines)
    app.command("stats")(stats)
    app.command("config")(config)
