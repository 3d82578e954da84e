"""``newsbot ingest``: files, folders, globs, article pages and feeds into the index."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from bot.cli.common import err, fail, open_engine, out, settings_of

if TYPE_CHECKING:
    from rich.progress import Progress

    from bot.settings import Settings
    from index.engine import IngestReport
    from index.model import Article, SkippedItem

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "samples"


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
    from index.model import SkippedItem

    targets = list(paths or [])
    if sample:
        targets.append(str(SAMPLE_DIR))
    if not targets:
        raise fail("nothing to ingest: give PATH... or --sample")
    started = time.perf_counter()
    with open_engine(settings_of(ctx)) as engine, _progress() as progress:
        task = progress.add_task("reading", total=None)

        def expect(count: int) -> None:
            progress.update(task, total=(progress.tasks[0].total or 0) + count)

        def tick(item: object) -> None:
            progress.advance(task)
            if progress.tasks[0].finished:  # the last batch's embedding and the index remain
                progress.update(task, description="indexing")
            if isinstance(item, SkippedItem):
                progress.console.print(
                    f"[yellow]skipped[/] {escape(str(item))}", markup=True, highlight=False
                )

        # http(s) URLs: an article page or a feed
        items = ingest_items(settings_of(ctx), targets, source=source, on_total=expect)
        report = engine.ingest(items, progress=tick)
    _print_report(report, time.perf_counter() - started)


def _progress() -> Progress:
    """Items read of the known total (files counted up front, feeds once fetched), their
    rate and the time left; without a total, the count and rate alone."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{speed:.1f} articles/s")

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )


def _print_report(report: IngestReport, seconds: float) -> None:
    articles = report.added + report.updated + report.unchanged
    seconds = max(seconds, 1e-6)
    out.print(
        f"added {report.added}, updated {report.updated}, unchanged {report.unchanged}, "
        f"skipped {len(report.skipped)} ({report.passages} passages indexed) in {seconds:.1f} s: "
        f"{articles / seconds:.1f} articles/s, {report.passages / seconds:.1f} passages/s"
    )


def ingest_items(
    settings: Settings,
    targets: Iterable[str],
    *,
    source: str | None = None,
    on_total: Callable[[int], None] | None = None,
) -> Iterator[Article | SkippedItem]:
    """What ``newsbot ingest`` reads: files, folders and globs as before, and each http(s)
    URL as one article page or as a feed (all of its items), fetched with the same safety
    limits as the poller. ``on_total`` hears how many items are coming as soon as that is
    known: the files' count before reading them, the URLs' once fetched."""
    from index.feeds.urls import is_http_url
    from index.sources import count_items, read_sources

    targets = list(targets)
    urls = [t for t in targets if is_http_url(t)]
    paths = [t for t in targets if not is_http_url(t)]
    limit = settings.engine.max_file_bytes
    if paths:
        if on_total:
            on_total(count_items(paths, max_file_bytes=limit))
        yield from read_sources(paths, source=source, max_file_bytes=limit)
    if urls:
        import asyncio

        fetched = asyncio.run(_fetch_urls(settings, urls, source))
        if on_total:
            on_total(len(fetched))
        yield from fetched


async def _fetch_urls(
    settings: Settings, urls: list[str], source: str | None
) -> list[Article | SkippedItem]:
    from index.feeds.articles import url_articles
    from index.feeds.fetch import SafeFetcher

    async with SafeFetcher(settings.feed_config()) as fetcher:
        return await url_articles(fetcher, urls, source=source)


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
