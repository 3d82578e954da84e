"""The feed side's knobs as one frozen value, built by the front end from ``Settings``.

Like ``EngineConfig``, this keeps ``index/`` free of the environment so tests pass values in.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FeedConfig:
    poll_interval_seconds: float = 900.0
    # Hosts (names or literal IPs) exempt from the private-address refusal; exact match only.
    allow_hosts: tuple[str, ...] = ()
    user_agent: str = "newsbot/0.1 (self-hosted news bot)"
    fetch_timeout_seconds: float = 15.0
    max_body_bytes: int = 5_000_000
    max_redirects: int = 5
    per_host_requests: int = 2
    # A feed's item pages fetched at once: a thousand items on a thousand hosts would
    # otherwise open a thousand connections (past httpx's pool of 100, the rest time out
    # waiting for one). Per feed, so one big feed does not hold up the others.
    item_fetches_per_feed: int = 8
    # A failing feed waits interval * 2**(failures-1), never longer than this.
    max_backoff_seconds: float = 6 * 3600.0
    # Feeds polled at the same time by ``FeedPoller.run``.
    concurrent_feeds: int = 4
    posts_per_cycle: int = 5
