"""``newsbot ingest``: files, folders, globs, article pages and feeds into the index."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from bot.cli.common import err, fail, open_engine, out, settings_of
from bot.settings import Settings

if TYPE_CHECKING:
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


def ingest_items(
    settings: Settings, targets: Iterable[str], *, source: str | None = None
) -> Iterator[Article | SkippedItem]:
    """What ``newsbot ingest`` reads: files, folders and globs as before, and each http(s)
    URL as one article page or as a feed (all of its items), fetched with the same safety
    limits as the poller."""
    from index.feeds.urls import is_http_url
    from index.sources import read_sources

    targets = list(targets)
    urls = [t for t in targets if is_http_url(t)]
    paths = [t for t in targets if not is_http_url(t)]
    if paths:
        yield from read_sources(paths, source=source, max_file_bytes=settings.engine.max_file_bytes)
    if urls:
        yield from asyncio.run(_fetch_urls(settings, urls, source))


async def _fetch_urls(
    settings: Settings, urls: list[str], source: str | None
) -> list[Article | SkippedItem]:
    from index.feeds.articles import url_articles
    from index.feeds.fetch import SafeFetcher

    async with SafeFetcher(settings.feed_config()) as fetcher:
        return await url_articles(fetcher, urls, source=source)


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
