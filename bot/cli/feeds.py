"""``newsbot feeds add|list|remove`` and ``newsbot watch``: feeds polled without Discord."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

import bot.cli.common as common
from bot.cli.common import err, fail, out, settings_of
from bot.discord.subscribers import owner_guild
from bot.feeds_setup import make_poller, open_registry

if TYPE_CHECKING:
    from bot.settings import Settings
    from index.engine import Engine
    from index.feeds.poller import PollResult
    from index.feeds.registry import Feed, Registry

# A week: an infinite (or astronomic) interval made every schedule computation overflow.
MAX_INTERVAL_SECONDS = 7 * 86400

feeds_app = typer.Typer(
    help="RSS/Atom feeds that `newsbot watch` (and the Discord bot) poll and index.",
    no_args_is_help=True,
)


# -- feeds add / list / remove ---------------------------------------------------------------


@feeds_app.command("add")
def add_command(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="The feed's http(s) URL")],
    name: Annotated[str | None, typer.Option(help="A short name shown with its headlines")] = None,
    interval: Annotated[
        float | None,
        typer.Option(
            min=30,
            max=MAX_INTERVAL_SECONDS,
            help="Seconds between polls, at most a week (default: NEWSBOT_FEEDS_POLL_INTERVAL_SECONDS)",
        ),
    ] = None,
) -> None:
    """Add a feed to poll. Its first poll indexes what is there without announcing it."""
    from index.feeds.errors import RegistryError
    from index.feeds.urls import is_http_url, url_problem

    url = url.strip()
    if not is_http_url(url):
        raise fail(f"{url}: not an http(s) URL")
    if problem := url_problem(url):  # no poll could fetch it
        raise fail(f"{url}: {problem}")
    with open_registry(settings_of(ctx)) as registry:
        try:
            feed = registry.add_feed(url, name=name, interval=interval)
        except RegistryError as exc:
            raise fail(str(exc)) from None
    out.print(f"added feed {feed.id}: {feed.label} (polled by `newsbot watch`)", markup=False)


@feeds_app.command("list")
def list_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per feed")] = False,
) -> None:
    """Every feed with its schedule, last success and last error (failing feeds back off)."""
    settings = settings_of(ctx)
    with open_registry(settings) as registry:
        feeds = registry.feeds()
        counts = {f.id: registry.item_count(f.id) for f in feeds}
    if as_json:
        for f in feeds:
            print(json.dumps(_feed_json(f, counts[f.id], settings), ensure_ascii=False))
        return
    if not feeds:
        out.print("No feeds yet: add one with `newsbot feeds add URL`.", markup=False)
        return
    now = datetime.now(UTC)
    for f in feeds:
        out.print(_feed_block(f, counts[f.id], settings, now), markup=True)


def _feed_block(feed: Feed, items: int, settings: Settings, now: datetime) -> str:
    """A few lines per feed rather than a table: URLs and errors stay whole at any width."""
    scope = "global" if feed.owner is None else f"guild {owner_guild(feed.owner)}"
    every = _duration(feed.interval or settings.feeds.poll_interval_seconds)
    head = f"[bold]#{feed.id}[/] {escape(feed.name or '')}".rstrip()
    lines = [f"{head}  ({scope}, every {every}, {items} items seen)", f"    {escape(feed.url)}"]
    last_ok = feed.last_ok.isoformat(timespec="seconds") if feed.last_ok else "never"
    if feed.consecutive_failures:
        lines.append(
            f"    [red]failing[/]: {feed.consecutive_failures} in a row, backing off "
            f"(retry {_when(feed.next_poll_at, now)}); last ok {last_ok}"
        )
        lines.append(f"    last error: {escape(feed.last_error or '-')}")
    elif not feed.baselined:
        lines.append(f"    not polled yet (due {_when(feed.next_poll_at, now)})")
    else:
        lines.append(f"    ok; last ok {last_ok}; next poll {_when(feed.next_poll_at, now)}")
    return "\n".join(lines)


def _feed_json(feed: Feed, items: int, settings: Settings) -> dict[str, object]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": feed.id,
        "url": feed.url,
        "name": feed.name,
        "guild_id": owner_guild(feed.owner),
        "interval_seconds": feed.interval or settings.feeds.poll_interval_seconds,
        "items": items,
        "last_polled": iso(feed.last_polled),
        "last_ok": iso(feed.last_ok),
        "next_poll_at": iso(feed.next_poll_at),
        "consecutive_failures": feed.consecutive_failures,
        "last_error": feed.last_error,
    }


def _duration(seconds: float) -> str:
    """Roughly, for people: 45s, 15m, 2h, 1h30m."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"


def _when(moment: datetime, now: datetime) -> str:
    delta = (moment - now).total_seconds()
    return "now" if delta <= 0 else f"in {_duration(round(delta))}"


@feeds_app.command("remove")
def remove_command(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="The feed's id or URL (URL: global feeds only)")],
) -> None:
    """Stop polling a feed (its articles stay indexed)."""
    with open_registry(settings_of(ctx)) as registry:
        feed = _find(registry, target.strip())
        if feed is None:
            raise fail(f"no feed {target!r} (see `newsbot feeds list`)")
        registry.remove_feed(feed.id)
    out.print(f"removed feed {feed.id}: {feed.label}", markup=False)


def _find(registry: Registry, target: str) -> Feed | None:
    if target.isascii() and target.isdigit():  # not "²", which isdigit() takes
        return registry.feed(int(target)) if len(target) <= 18 else None  # SQLite's int64
    return registry.find_feed(target, owner=None)


# -- watch -----------------------------------------------------------------------------------


def watch_command(
    ctx: typer.Context,
    once: Annotated[
        bool, typer.Option("--once", help="Poll every feed once now, then exit")
    ] = False,
) -> None:
    """Poll the feeds on their schedules and index new articles, without Discord.

    Ctrl-C or SIGTERM stops it cleanly (polls under way get a moment to finish).
    """
    settings = settings_of(ctx)
    with common.new_engine(settings.engine_config()) as engine, open_registry(settings) as registry:
        if not registry.feeds():
            raise fail("no feeds to watch: add one with `newsbot feeds add URL`")
        import asyncio

        failed = asyncio.run(_watch(settings, engine, registry, once))
    if once and failed:
        raise typer.Exit(1)


async def _watch(settings: Settings, engine: Engine, registry: Registry, once: bool) -> bool:
    """Run the poller; True when ``once`` and every feed failed."""
    import asyncio
    import signal

    poller = make_poller(settings, engine, registry)
    try:
        if once:
            results = await poller.poll_many(registry.feeds())
            for result in results:
                _show(result)
            failing = sum(r.failed for r in results)
            new = sum(len(r.postable) for r in results)
            out.print(
                f"polled {len(results)} feed(s): {len(results) - failing} ok, {failing} failing "
                f"(see `newsbot feeds list`); {new} new article(s)",
                markup=False,
            )
            return failing == len(results)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        for sig in signals:
            loop.add_signal_handler(sig, stop.set)
        try:
            err.print(f"watching {len(registry.feeds())} feed(s); Ctrl-C stops", markup=False)
            await poller.run(stop, on_result=_show)
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
        err.print("stopped", markup=False)
        return False
    finally:
        await poller.fetcher.aclose()


def _show(result: PollResult) -> None:
    """New headlines on stdout; failures and skipped items are logged by the poller."""
    label = result.feed.label
    if result.baseline and result.new_articles:
        out.print(
            f"{label}: indexed {len(result.new_articles)} existing article(s) (first poll)",
            markup=False,
        )
        return
    for article in result.postable:
        where = f"  {article.url}" if article.url else ""
        out.print(f"new  {label}: {article.title}{where}", markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(feeds_app, name="feeds")
    app.command("watch")(watch_command)
