"""The FeedPoller on a thread of its own, with its own event loop.

Why not a task on the Discord event loop: a poll does work that would stall the gateway
heartbeat and every other command while it runs — parsing a feed of up to
``max_body_bytes`` is synchronous, and the poller's registry writes share one SQLite file
with the engine, so one can wait (``busy_timeout``) while an ingest commits. On a thread of
its own none of that can delay a question; the engine work itself already runs in worker
threads.

Everything that crosses over is thread-safe: ``wake``/``stop`` go through
``call_soon_threadsafe``, ``poll_once`` through ``run_coroutine_threadsafe``, and
``on_result`` is called *on the poller thread* (hand it on to your own loop from there).
The ``Registry`` is shared (it locks itself).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Callable

from bot.errors import PollerStopped
from bot.feeds_setup import make_poller
from bot.settings import Settings
from index.engine import Engine
from index.feeds.poller import FeedPoller, PollResult
from index.feeds.registry import Feed, Registry

log = logging.getLogger("newsbot.feeds")


class PollerThread:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        registry: Registry,
        *,
        on_result: Callable[[PollResult], None] | None = None,
        idle_seconds: float = 30.0,
        grace_seconds: float = 5.0,
    ) -> None:
        self._settings = settings
        self._engine = engine
        self._registry = registry
        self._on_result = on_result
        self._idle = idle_seconds
        self._grace = grace_seconds
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._poller: FeedPoller | None = None
        self._stopping = False
        # Daemon: a poll stuck past the shutdown grace must not keep the process alive.
        self._thread = threading.Thread(target=self._main, name="newsbot-feeds", daemon=True)

    async def start(self, timeout: float = 30.0) -> None:
        """Start the thread; returns once the poller is built and its loop runs."""
        self._thread.start()
        await asyncio.wait_for(asyncio.wrap_future(self._ready), timeout)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except Exception:
            log.exception("the feed poller thread failed; feeds are not polled any more")
        finally:
            if not self._ready.done():
                self._ready.set_exception(PollerStopped("the feed poller did not start"))

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._poller = make_poller(self._settings, self._engine, self._registry)
        try:
            self._ready.set_result(None)
            if not self._stopping:
                await self._poller.run(
                    self._stop,
                    on_result=self._on_result,
                    idle_seconds=self._idle,
                    grace_seconds=self._grace,
                )
        finally:
            await self._poller.fetcher.aclose()

    def _call(self, fn: Callable[[], None]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # closed between the check and the call
            loop.call_soon_threadsafe(fn)

    def wake(self) -> None:
        """Look for due feeds now (from any thread)."""
        poller = self._poller
        if poller is not None:
            self._call(poller.wake)

    async def poll_once(self, feed: Feed) -> PollResult:
        """Poll ``feed`` now on the poller's loop and wait for the result (from any loop)."""
        loop, poller = self._loop, self._poller
        if self._stopping or loop is None or poller is None or loop.is_closed():
            raise PollerStopped("feeds are not being polled right now (the bot is stopping)")
        coro = poller.poll_once(feed)
        try:
            future = asyncio.run_coroutine_threadsafe(coro, loop)
        except RuntimeError:
            coro.close()
            raise PollerStopped(
                "feeds are not being polled right now (the bot is stopping)"
            ) from None
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():  # we were cancelled: pass it on
                future.cancel()
                raise
            # The poller's loop cancelled the poll as it shut down.
            raise PollerStopped("the poll was cut short: the bot is stopping") from None

    def request_stop(self) -> None:
        """Ask the loop to finish (running polls get ``grace_seconds``); returns at once."""
        self._stopping = True
        stop = self._stop
        if stop is not None:
            self._call(stop.set)

    async def stop(self, timeout: float) -> bool:
        """Stop and wait up to ``timeout`` s for the thread; True when it has ended."""
        self.request_stop()
        if not self._thread.is_alive():
            return True
        await asyncio.to_thread(self._thread.join, timeout)
        return not self._thread.is_alive()
