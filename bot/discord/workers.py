"""The bounded worker pool that keeps embedding and search off the Discord event loop.

The gateway heartbeat runs on the event loop; one question costs tens to hundreds of
milliseconds of CPU. Every engine call therefore runs in a ``ThreadPoolExecutor`` of
``settings.discord.workers`` threads. A semaphore in front of it makes a burst *queue as coroutines*
(cheap, cancellable, counted) rather than as executor work items, which lets the pool refuse
work beyond ``queue_limit`` (``Busy``) and refuse new work when shutting down
(``ShuttingDown``) while the questions already running finish.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from bot.discord.errors import Busy, ShuttingDown

P = ParamSpec("P")
T = TypeVar("T")


class WorkerPool:
    def __init__(self, workers: int, queue_limit: int = 100) -> None:
        self.workers = max(1, workers)
        self.queue_limit = max(self.workers, queue_limit)
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="newsbot-worker")
        self._slots = asyncio.Semaphore(self.workers)
        self._waiting = 0
        self._running = 0
        self._closed = False
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def waiting(self) -> int:
        return self._waiting

    @property
    def running(self) -> int:
        return self._running

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` on a worker thread, after waiting for a free worker."""
        if self._closed:
            raise ShuttingDown()
        if self._waiting + self._running >= self.queue_limit:
            raise Busy()
        self._waiting += 1
        self._idle.clear()
        try:
            await self._slots.acquire()
        except BaseException:
            self._waiting -= 1
            self._maybe_idle()
            raise
        self._waiting -= 1
        if self._closed:
            self._slots.release()
            self._maybe_idle()
            raise ShuttingDown()
        self._running += 1
        future = asyncio.get_running_loop().run_in_executor(
            self._executor, functools.partial(fn, *args, **kwargs)
        )
        # The slot is held until the *thread* is done, not until the caller stops waiting:
        # a cancelled caller must not let more work in, nor make close() think all is idle.
        future.add_done_callback(self._finished)
        return await asyncio.shield(future)

    def _finished(self, future: asyncio.Future[object]) -> None:
        if not future.cancelled():
            future.exception()  # retrieved here too, so an abandoned failure is not logged
        self._running -= 1
        self._slots.release()
        self._maybe_idle()

    def _maybe_idle(self) -> None:
        if self._waiting == 0 and self._running == 0:
            self._idle.set()

    async def close(self, timeout: float) -> bool:
        """Refuse new work, let queued callers fail fast and running work finish (up to
        ``timeout`` seconds). True when everything finished in time."""
        self._closed = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            finished = True
        except TimeoutError:
            finished = False
        self._executor.shutdown(wait=finished, cancel_futures=True)
        return finished

    def close_now(self) -> None:
        """Refuse new work and release the threads without waiting (nothing is running)."""
        self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
