"""Live feeds inside the bot: the poller running beside it, and new headlines posted to the
channels that subscribed.

The poller runs on its own thread and event loop (``bot.feeds_thread``: nothing it does can
stall the gateway or a question); each poll result is handed back to the bot's loop, which
posts what ``registry.pending_posts`` says for the subscriptions that poll concerns. Posting
runs one sweep at a time (a lock), and every headline is marked posted right after Discord
accepted it, so nothing is posted twice: not by two overlapping sweeps, not after a restart
(the marks are in the database), not after a GUID rewrite (the registry dedupes), not by
two subscriptions of the same channel (what one posted, the other skips).

When a send fails — 403 (the bot lost access or permission to the channel), 404 (the channel is
gone) or any other HTTP error — one WARNING line says so and nothing is marked, so the
headlines are tried again after the next poll of that feed (the subscription stays; the server
decides with ``/unsubscribe``). The exception is a 400 "Invalid Form Body" (code 50035):
Discord refused that one message, not the channel, and would refuse it again on every retry, so
it is logged, marked as done (not shown) and the headlines behind it go on. After
``PAUSE_AFTER_FAILURES`` failed attempts in a row the subscription is paused for the rest of
this run, so a deleted channel does not cost a failing request (and a log line) every poll
forever: ``/subscribe`` to it again, or a restart, resumes it, and what accumulated meanwhile
(up to the registry's age limit) is posted then, capped per feed as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import sqlite3
import time
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any, Protocol

import aiohttp
import discord

from bot.discord.errors import NO_MENTIONS
from bot.discord.feed_render import headline_post, more_text, outlet_name
from bot.discord.subscribers import destination_channel, guild_owner, owner_guild
from bot.feeds_setup import open_registry
from bot.feeds_thread import PollerThread
from bot.settings import Settings
from index.engine import Engine
from index.errors import NewsbotError
from index.feeds.poller import PollResult
from index.feeds.registry import Feed, FeedBatch, PendingPost, Registry, Subscription

log = logging.getLogger("newsbot.discord.feeds")

PAUSE_AFTER_FAILURES = 5
# Discord's "Invalid Form Body": the message itself is refused (e.g. an embed it will not take).
INVALID_FORM_BODY = 50035
# How often the poller looks for due feeds when none is due sooner: feeds added with
# ``newsbot feeds add`` while the bot runs are picked up within this.
IDLE_SECONDS = 30.0
# After the poller stopped, how long headline posts under way may take to finish.
POSTS_GRACE_SECONDS = 2.0


class FeedMetrics(Protocol):
    """What the feeds report to ``bot.health.Metrics`` (optional, like the answer metrics)."""

    def observe_feed_errors(self, count: int) -> None: ...


class Sent(enum.Enum):
    """What became of one message to a subscription's channel."""

    OK = "ok"
    REFUSED = "refused"  # this message can never be sent: mark it done and go on
    FAILED = "failed"  # the channel (or Discord) failed: keep it, try again after a poll


def refuses_the_message(exc: discord.HTTPException) -> bool:
    """Whether Discord refused the message itself rather than the channel.

    Only 400 with code 50035 counts: other 400s can be about the channel (50008: not a text
    channel), and those must pause the subscription like a 403 or 404.
    """
    return exc.status == 400 and exc.code == INVALID_FORM_BODY


class LiveFeeds:
    """The bot's feed poller and headline poster; ``start`` in ``setup_hook``, ``stop`` on
    close."""

    def __init__(
        self,
        client: discord.Client,
        settings: Settings,
        engine: Engine,
        metrics: FeedMetrics | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.engine = engine
        self.metrics = metrics
        self._registry: Registry | None = None
        self._thread: PollerThread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._posting = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._failures: dict[int, int] = {}  # subscription id -> failed sends in a row
        self._paused: set[int] = set()
        self._closing = False
        self._stopped = False

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            raise RuntimeError("LiveFeeds.start() has not run")
        return self._registry

    @property
    def grace_seconds(self) -> float:
        """How long polls under way may finish on shutdown (one fetch at most)."""
        return min(
            self.settings.discord.shutdown_grace_seconds, self.settings.feeds.fetch_timeout_seconds
        )

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the feed tables, start the poller thread, and post anything left pending
        (polled by ``newsbot watch`` or before a restart)."""
        self._loop = asyncio.get_running_loop()
        self._registry = await asyncio.to_thread(open_registry, self.settings)
        self._thread = PollerThread(
            self.settings,
            self.engine,
            self._registry,
            on_result=self._on_result,
            idle_seconds=IDLE_SECONDS,
            grace_seconds=self.grace_seconds,
        )
        await self._thread.start()
        self._spawn(self.post_pending())
        log.info(
            "polling feeds (every %.0f s by default)", self.settings.feeds.poll_interval_seconds
        )

    def request_stop(self) -> None:
        """Stop polling and posting (returns at once; ``stop`` waits)."""
        self._closing = True
        if self._thread is not None:
            self._thread.request_stop()

    async def stop(self, timeout: float | None = None) -> None:
        """Stop the poller (polls under way get ``grace_seconds``), let posts under way
        finish briefly, then close the feed tables. Safe to call more than once."""
        if self._stopped:
            return
        self._stopped = True
        self.request_stop()
        timeout = self.grace_seconds + 2.0 if timeout is None else timeout
        ended = True
        if self._thread is not None:
            ended = await self._thread.stop(timeout)
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=POSTS_GRACE_SECONDS)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if not ended:
            # Closing the tables under a running poll would only turn it into errors.
            log.warning("the feed poller did not stop within %.0f s; not waiting for it", timeout)
        elif self._registry is not None:
            await asyncio.to_thread(self._registry.close)

    def wake(self) -> None:
        """Poll due feeds now rather than at the next idle check."""
        if self._thread is not None:
            self._thread.wake()

    # -- polling -----------------------------------------------------------------------------

    async def add_feed(
        self, url: str, *, guild_id: int, name: str | None, guild_limit: int | None = None
    ) -> tuple[Feed, PollResult]:
        """Add a feed to a guild and poll it at once (the baseline: indexed, nothing posted).

        Raises ``RegistryError`` (duplicate, bad URL, ``LimitReached``) or ``PollerStopped``
        (shutting down).
        """
        feed = await asyncio.to_thread(self._add_claimed, url, guild_id, name, guild_limit)
        result = await self.poll_now(feed)
        fresh = await asyncio.to_thread(self.registry.feed, feed.id)
        return fresh or feed, result

    def _add_claimed(
        self, url: str, guild_id: int, name: str | None, guild_limit: int | None
    ) -> Feed:
        feed = self.registry.add_feed(
            url, name=name, owner=guild_owner(guild_id), owner_limit=guild_limit
        )
        # The first poll is ours (poll_now); the background loop must not start one too.
        # Both would only baseline, but the page fetches and the ingest would be done twice.
        interval = feed.interval or self.settings.feeds.poll_interval_seconds
        self.registry.set_next_poll(feed.id, time.time() + interval)
        return self.registry.feed(feed.id) or feed

    async def poll_now(self, feed: Feed) -> PollResult:
        """Poll one feed now and post what it brought, as the background loop would."""
        if self._thread is None:
            raise RuntimeError("LiveFeeds.start() has not run")
        result = await self._thread.poll_once(feed)
        self._count_errors(result)
        if not result.failed:
            await self.post_pending(result.feed)
        return result

    def _on_result(self, result: PollResult) -> None:
        """Called on the poller thread after each background poll: post on the bot's loop."""
        self._count_errors(result)
        loop = self._loop
        if result.failed or self._closing or loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the bot's loop closed meanwhile
            loop.call_soon_threadsafe(self._spawn_posts, result.feed)

    def _count_errors(self, result: PollResult) -> None:
        # A failed feed and each item that could not be fetched or stored: the error lines
        # the poller logged. (prometheus counters may be bumped from the poller's thread.)
        if self.metrics is not None:
            self.metrics.observe_feed_errors(len(result.errors))

    def _spawn_posts(self, feed: Feed) -> None:
        if not self._closing:
            self._spawn(self.post_pending(feed))

    def _spawn(self, coro: Coroutine[Any, Any, int]) -> None:
        task = asyncio.get_running_loop().create_task(coro, name="newsbot-feed-posts")
        self._tasks.add(task)
        task.add_done_callback(self._posted)

    def _posted(self, task: asyncio.Task[int]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("posting feed headlines failed", exc_info=exc)

    # -- posting -----------------------------------------------------------------------------

    def resume(self, subscription_id: int) -> None:
        """Forget a subscription's failures (``/subscribe`` again): it is tried again."""
        self._paused.discard(subscription_id)
        self._failures.pop(subscription_id, None)

    def is_paused(self, subscription_id: int) -> bool:
        return subscription_id in self._paused

    async def post_pending(self, feed: Feed | None = None) -> int:
        """Post what is pending for the subscriptions ``feed`` concerns (None: all of them);
        the number of messages sent."""
        async with self._posting:
            subs = await asyncio.to_thread(self._subscriptions_for, feed)
            sent = 0
            for sub in subs:
                if self._closing:
                    break
                if sub.id not in self._paused:
                    sent += await self._post_subscription(sub)
            return sent

    def _subscriptions_for(self, feed: Feed | None) -> list[Subscription]:
        if feed is None:
            return self.registry.subscriptions()
        subs = self.registry.subscriptions(owner=feed.owner)  # None (a global feed): every guild
        return [s for s in subs if s.feed_id in (None, feed.id)]

    async def _post_subscription(self, sub: Subscription) -> int:
        batches = await asyncio.to_thread(self._pending_for, sub)
        channel = self.client.get_partial_messageable(
            destination_channel(sub.destination), guild_id=owner_guild(sub.owner)
        )
        sent = 0
        for batch in batches:
            for post in batch.posts:
                if self._closing:
                    return sent
                outlet = await self._outlet(post, batch.feed)
                what = f"the headline {post.article_id}"
                embed = headline_post(post, outlet=outlet)
                result = await self._send(sub, channel, what, embed=embed)
                if result is Sent.FAILED:
                    return sent
                shown = result is Sent.OK
                await asyncio.to_thread(
                    self.registry.mark_posted, sub.id, [post.article_id], shown=shown
                )
                sent += shown
            listed = {p.article_id for p in batch.posts}
            rest = [a for a in batch.article_ids if a not in listed]
            if rest:
                text = more_text(len(rest), batch.feed)
                result = await self._send(
                    sub, channel, "the summary line", content=text, suppress_embeds=True
                )
                if result is Sent.FAILED:
                    return sent
                await asyncio.to_thread(self.registry.mark_posted, sub.id, rest, shown=False)
                sent += result is Sent.OK
        return sent

    def _pending_for(self, sub: Subscription) -> list[FeedBatch]:
        """What ``sub`` should post, less what another subscription already posted in the same
        channel (marked done, not shown, for ``sub``).

        A channel may hold an every-feed subscription and a one-feed one (say, with keywords):
        both select the same new headline, which must still appear there only once.
        """
        batches = self.registry.pending_posts(sub, per_feed=self.settings.feeds.posts_per_cycle)
        others = [
            s
            for s in self.registry.subscriptions(owner=sub.owner, destination=sub.destination)
            if s.id != sub.id
        ]
        posted = {
            a
            for batch in batches
            for a in batch.article_ids
            if any(self.registry.was_posted(other.id, a) for other in others)
        }
        if not posted:
            return batches
        self.registry.mark_posted(sub.id, sorted(posted), shown=False)
        kept = []
        for batch in batches:
            posts = tuple(p for p in batch.posts if p.article_id not in posted)
            ids = tuple(a for a in batch.article_ids if a not in posted)
            if ids:
                kept.append(replace(batch, posts=posts, article_ids=ids))
        return kept

    async def _outlet(self, post: PendingPost, feed: Feed) -> str:
        try:
            article = await asyncio.to_thread(self.engine.article, post.article_id)
        except (NewsbotError, sqlite3.Error, OSError) as exc:
            log.debug("no outlet for %s: %s", post.article_id, exc)
            article = None
        return outlet_name(article.source if article else None, feed)

    async def _send(
        self, sub: Subscription, channel: discord.PartialMessageable, what: str, **message: Any
    ) -> Sent:
        """One message to the subscription's channel; a refusal or failure is logged."""
        try:
            await channel.send(allowed_mentions=NO_MENTIONS, **message)
        except discord.HTTPException as exc:
            why = f"{exc.status} {exc.text or exc.response.reason} (code {exc.code})"
            if refuses_the_message(exc):
                log.warning(
                    "Discord refused %s for channel %s (subscription %s): %s; skipped",
                    what,
                    sub.destination,
                    sub.id,
                    why,
                )
                return Sent.REFUSED
            self._failed(sub, why)
            return Sent.FAILED
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._failed(sub, f"{type(exc).__name__}: {exc}")
            return Sent.FAILED
        self._failures.pop(sub.id, None)
        return Sent.OK

    def _failed(self, sub: Subscription, why: str) -> None:
        failures = self._failures.get(sub.id, 0) + 1
        self._failures[sub.id] = failures
        log.warning(
            "could not post headlines in channel %s (guild %s, subscription %s): %s; "
            "kept, tried again after the next poll (%d/%d)",
            sub.destination,
            sub.owner,
            sub.id,
            why,
            failures,
            PAUSE_AFTER_FAILURES,
        )
        if failures >= PAUSE_AFTER_FAILURES:
            self._paused.add(sub.id)
            log.warning(
                "paused subscription %s (channel %s, guild %s) after %d failed posts in a row; "
                "/subscribe to the channel again or restart the bot to resume",
                sub.id,
                sub.destination,
                sub.owner,
                failures,
            )
