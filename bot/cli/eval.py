"""``newsbot eval``: measure retrieval, quoting and abstention on a question set.

The harness itself is ``bot.eval.harness``; this module runs it over an engine and writes the
reports.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.console import Console
from rich.markup import escape

import bot.cli.common as common
from bot.cli.common import err, out, settings_of
from bot.cli.common import fail as _fail
from index.errors import NewsbotError

if TYPE_CHECKING:
    from rich.progress import Progress

    from bot.eval.harness import EvalQuestion, EvalReport, QuestionResult
    from bot.settings import Settings
    from index.config import EngineConfig
    from index.engine import Engine
    from index.model import Answer
    from index.retrieve import RetrieverKind


def _progress() -> Progress:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def parse_retrievers(value: str) -> list[RetrieverKind]:
    """``bm25,dense`` -> ["bm25", "dense"], in the given order, without repeats."""
    from bot.eval.harness import RETRIEVERS

    names = list(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))
    unknown = [n for n in names if n not in RETRIEVERS]
    if unknown or not names:
        raise _fail(
            f"--retrievers {value!r}: choose from {', '.join(RETRIEVERS)} (comma-separated)"
        )
    return cast("list[RetrieverKind]", names)


@contextmanager
def _eval_engine(settings: Settings, corpus: Path | None, meta: dict[str, Any]) -> Iterator[Engine]:
    """An engine over a fresh temporary index of ``corpus`` (deleted afterwards), or over
    the configured data directory when no corpus is given."""
    config: EngineConfig = settings.engine_config().for_many_questions()
    with ExitStack() as stack:
        if corpus is not None:
            if not corpus.exists():
                raise _fail(f"--corpus {corpus}: no such file")
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="newsbot-eval-"))
            config = dataclasses.replace(config, data_dir=Path(tmp))
        engine = stack.enter_context(common.new_engine(config))
        meta["data_dir"] = str(config.data_dir) + (" (temporary)" if corpus else "")
        if corpus is not None:
            _ingest(engine, corpus, meta)
        indexed = engine.stats().indexed_passages
        if indexed == 0:
            raise _fail(
                "the index is empty: give --corpus CORPUS.jsonl, or ingest into --data-dir first"
            )
        meta["indexed_passages"] = indexed
        yield engine


def _ingest(engine: Engine, corpus: Path, meta: dict[str, Any]) -> None:
    from index.model import SkippedItem

    started = time.perf_counter()
    with _progress() as progress:
        task = progress.add_task(f"ingesting {corpus.name}", total=None)

        def tick(item: object) -> None:
            progress.advance(task)
            _log_progress("read", int(progress.tasks[0].completed), None)
            if isinstance(item, SkippedItem):
                progress.console.print(f"[yellow]skipped[/] {escape(str(item))}", markup=True)

        report = engine.ingest_paths([corpus], progress=tick)
    meta["corpus"] = str(corpus)
    meta["ingest"] = {
        "articles": report.added + report.updated,
        "passages": report.passages,
        "skipped": len(report.skipped),
        "seconds": round(time.perf_counter() - started, 1),
    }
    err.print(
        f"ingested {report.added + report.updated} articles ({report.passages} passages, "
        f"{len(report.skipped)} skipped) in {meta['ingest']['seconds']} s"
    )


def _log_progress(verb: str, done: int, total: float | None) -> None:
    """A plain line now and then when stderr is a log file (a bar draws nothing there), so
    a long background run shows it is alive."""
    if err.is_terminal:
        return
    step = max(1, int(total) // 20) if total else 100
    if done % step == 0 or done == total:
        err.print(f"{verb} {done}" + (f"/{int(total)}" if total else ""))


def _answer(
    engine: Engine,
    questions: list[EvalQuestion],
    retrievers: list[RetrieverKind],
    dump: IO[str] | None,
) -> EvalReport:
    with _progress() as progress:
        task = progress.add_task("answering", total=len(questions) * len(retrievers))

        def on_answer(result: QuestionResult, answer: Answer) -> None:
            if dump is not None:
                line = {**answer.to_json(), "retriever": result.retriever}
                dump.write(json.dumps(line, ensure_ascii=False) + "\n")
            progress.update(task, advance=1, description=f"answering ({result.retriever})")
            _log_progress("answered", int(progress.tasks[0].completed), progress.tasks[0].total)

        from bot.eval.harness import run_eval

        return run_eval(engine, questions, retrievers, progress=on_answer)


def _print_summary(summary: dict[str, dict[str, Any]]) -> None:
    """One compact row per retriever; report.md has the long names and per-type rows."""
    from rich import box
    from rich.table import Table

    table = Table(title="newsbot eval", box=box.SIMPLE, pad_edge=False)
    columns = (
        ("H@4", "hits_at_4"),
        ("H@10", "hits_at_10"),
        ("MRR", "mrr_at_10"),
        ("EvRec", "evidence_recall_at_10"),
        ("QHit", "quote_hit_rate"),
        ("QPrec", "quote_precision"),
        ("AnsInQ", "answer_in_quote_rate"),
        ("1stQ", "answer_first_rate"),
        ("AnyQ", "answer_any_rate"),
        ("HiLi", "highlight_rate"),
        ("FAbst", "false_abstention_rate"),
        ("Abst", "abstention_rate"),
        ("p50ms", "latency_ms_p50"),
        ("p95ms", "latency_ms_p95"),
    )
    table.add_column("retriever")
    for name, _ in columns:
        table.add_column(name, justify="right")
    for retriever, groups in summary.items():
        m = groups["all"]
        cells = []
        for _, key in columns:
            v = m[key]
            cells.append("-" if v is None else f"{v:.0f}" if key.startswith("lat") else f"{v:.3f}")
        table.add_row(retriever, *cells)
    # Piped output defaults to 80 columns, too narrow for the row: widen rather than elide.
    console = out if out.width >= 130 else Console(width=130, highlight=False)
    console.print(table)
    for retriever, groups in summary.items():
        if kinds := groups["all"]["abstention_by_kind"]:
            cells = ", ".join(f"{k} {v:.3f}" for k, v in kinds.items())
            console.print(f"{retriever} abstention by kind: {cells}", markup=False)


def eval_command(
    ctx: typer.Context,
    questions_file: Annotated[
        Path, typer.Argument(metavar="QUESTIONS.jsonl", help="Questions with gold evidence")
    ],
    corpus: Annotated[
        Path | None,
        typer.Option(
            help="Ingest this corpus into a fresh temporary index (default: use --data-dir)"
        ),
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Where report.json, report.md and hits_at_k.png go")
    ] = Path("eval-report"),
    dump: Annotated[
        Path | None, typer.Option(help="Write every answer as JSON (one per line) to this file")
    ] = None,
    retrievers: Annotated[
        str | None,
        typer.Option(help="Comma-separated retrievers to compare (default: bm25,dense,hybrid)"),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N questions")] = None,
) -> None:
    """Score retrieval (Hits@k, MRR, evidence recall), quotes and abstention on a question set."""
    from bot.eval.harness import RETRIEVERS, load_questions
    from bot.eval.report import markdown_report, plot_hits_at_k  # matplotlib: only when used

    settings = settings_of(ctx)
    kinds = parse_retrievers(retrievers or ",".join(RETRIEVERS))
    try:
        questions, skipped = load_questions(questions_file)
    except NewsbotError as exc:
        raise _fail(str(exc)) from None
    for item in skipped:
        err.print(f"[yellow]skipped[/] {escape(str(item))}", markup=True)
    questions = questions[:limit] if limit else questions
    if not questions:
        raise _fail(f"{questions_file}: no usable questions")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _fail(f"--out {out_dir}: cannot create ({exc.strerror})") from None

    meta: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "questions_file": str(questions_file),
        "questions": len(questions),
        "skipped_lines": len(skipped),
        "retrievers": ", ".join(kinds),
    }
    if dump is not None:
        inputs = [questions_file, *([corpus] if corpus is not None else [])]
        if any(_same_file(dump, f) for f in inputs):
            raise _fail(f"--dump {dump}: that is an input file; it would be overwritten")
    with ExitStack() as stack:
        dump_file = None
        if dump is not None:
            try:
                dump_file = stack.enter_context(dump.open("w", encoding="utf-8"))
            except OSError as exc:
                raise _fail(f"--dump {dump}: cannot write ({exc.strerror})") from None
        try:
            engine = stack.enter_context(_eval_engine(settings, corpus, meta))
            report = _answer(engine, questions, kinds, dump_file)
            config = {
                k: str(v) if isinstance(v, Path) else v
                for k, v in dataclasses.asdict(engine.config).items()
            }
        except NewsbotError as exc:
            raise _fail(str(exc)) from None

    meta["answering_seconds"] = round(report.wall_seconds, 1)
    summary = report.summary()
    (out_dir / "report.json").write_text(
        json.dumps(
            {"meta": meta, "engine_config": config, **report.to_json()},
            indent=2,
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    with (out_dir / "per_question.jsonl").open("w", encoding="utf-8") as fh:
        for record in report.records_json():
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    (out_dir / "report.md").write_text(markdown_report(summary, meta), encoding="utf-8")
    plot_hits_at_k(summary, out_dir / "hits_at_k.png")
    _print_summary(summary)
    out.print(f"report: {out_dir / 'report.md'}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
