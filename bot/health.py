"""Health and metrics endpoint for a running bot: ``/healthz`` and ``/metrics`` over HTTP.

Off by default (``NEWSBOT_HEALTH_PORT=0``) and bound to 127.0.0.1 unless
``NEWSBOT_HEALTH_HOST`` says otherwise (the Docker image sets 0.0.0.0:8080 so the container's
HEALTHCHECK and a Prometheus scraper can reach it).

API, for the front end that runs the bot (``newsbot serve``)::

    state = HealthState()                  # nothing is healthy yet: /healthz answers 503
    metrics = Metrics()                    # its own CollectorRegistry, never the global one
    runner = await maybe_start_health_server(settings, state, metrics)  # None when port is 0
    ...
    state.set_index(loaded=True, articles=n)   # after the engine opened; again after ingests
    state.set_connected(True)              # on_ready / on_resumed (also counts as a heartbeat)
    state.beat()                           # whenever the gateway shows life: a periodic task
                                           # that beats while client.is_ready() and
                                           # not client.is_closed() and latency is finite
    state.set_connected(False)             # on_disconnect
    metrics.observe_answer(abstained=a.abstained, seconds=dt)   # once per question replied to
    metrics.observe_feed_errors(len(result.errors))   # after each feed poll
    ...
    if runner is not None:
        await runner.cleanup()             # on shutdown

``/healthz`` answers 200 only while the gateway is connected, the last heartbeat is younger
than ``HealthState.max_heartbeat_age_s`` and the index is loaded; otherwise 503. Both carry the
same JSON: ``{"gateway_connected", "last_heartbeat_age_s", "index_loaded", "articles"}``.

``/metrics`` is the Prometheus text format of:

- ``newsbot_questions_answered_total``: questions the bot replied to (quotes or abstention)
- ``newsbot_abstentions_total``: of those, the ones it declined to answer
- ``newsbot_answer_latency_seconds``: histogram of the time from question to reply
- ``newsbot_articles_indexed``: articles in the served index (follows ``HealthState.articles``)
- ``newsbot_feed_errors_total``: failed feed fetches or parses, and feed items that could not
  be fetched or stored (each a WARNING line naming its URL)

``probe`` is the client side, used by ``newsbot healthcheck`` (the image's HEALTHCHECK): it
needs nothing but the standard library.

``HealthState`` is updated from the event loop and from ingest threads; each update is a plain
attribute assignment, and a reader sees each field either before or after an update.
"""

from __future__ import annotations

import http.client
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

if TYPE_CHECKING:
    from bot.settings import Settings

# Discord's gateway asks for a heartbeat about every 41 s; two missed ones mean trouble.
DEFAULT_MAX_HEARTBEAT_AGE_S = 120.0
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


@dataclass
class HealthState:
    gateway_connected: bool = False
    last_heartbeat_monotonic: float | None = None
    index_loaded: bool = False
    articles: int = 0
    max_heartbeat_age_s: float = DEFAULT_MAX_HEARTBEAT_AGE_S
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def beat(self) -> None:
        """The gateway showed life now."""
        self.last_heartbeat_monotonic = self.clock()

    def set_connected(self, connected: bool) -> None:
        self.gateway_connected = connected
        if connected:
            self.beat()

    def set_index(self, *, loaded: bool = True, articles: int | None = None) -> None:
        self.index_loaded = loaded
        if articles is not None:
            self.articles = articles

    def heartbeat_age(self) -> float | None:
        """Seconds since the last heartbeat; None before the first."""
        last = self.last_heartbeat_monotonic
        return None if last is None else max(0.0, self.clock() - last)

    def healthy(self) -> bool:
        age = self.heartbeat_age()
        return (
            self.gateway_connected
            and self.index_loaded
            and age is not None
            and age <= self.max_heartbeat_age_s
        )

    def to_json(self) -> dict[str, object]:
        age = self.heartbeat_age()
        return {
            "gateway_connected": self.gateway_connected,
            "last_heartbeat_age_s": None if age is None else round(age, 3),
            "index_loaded": self.index_loaded,
            "articles": self.articles,
        }


class Metrics:
    """The bot's Prometheus metrics, on a registry of their own (tests make as many as they
    like, and nothing of the process-wide default registry leaks into ``/metrics``)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.questions_answered = Counter(
            "newsbot_questions_answered",
            "Questions the bot replied to, with quotes or with an abstention",
            registry=self.registry,
        )
        self.abstentions = Counter(
            "newsbot_abstentions",
            "Questions the indexed news did not answer (the bot said so)",
            registry=self.registry,
        )
        self.answer_latency = Histogram(
            "newsbot_answer_latency_seconds",
            "Time from a question to its reply",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.articles_indexed = Gauge(
            "newsbot_articles_indexed", "Articles in the served index", registry=self.registry
        )
        self.feed_errors = Counter(
            "newsbot_feed_errors", "Failed feed fetches or parses", registry=self.registry
        )

    def observe_answer(self, *, abstained: bool, seconds: float) -> None:
        self.questions_answered.inc()
        if abstained:
            self.abstentions.inc()
        if math.isfinite(seconds) and seconds >= 0:
            self.answer_latency.observe(seconds)

    def observe_feed_errors(self, count: int) -> None:
        if count > 0:
            self.feed_errors.inc(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)


_STATE = web.AppKey("state", HealthState)
_METRICS = web.AppKey("metrics", Metrics)


async def _healthz(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    return web.json_response(state.to_json(), status=200 if state.healthy() else 503)


async def _metrics(request: web.Request) -> web.Response:
    metrics = request.app[_METRICS]
    metrics.articles_indexed.set(request.app[_STATE].articles)
    return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def make_app(state: HealthState, metrics: Metrics) -> web.Application:
    app = web.Application()
    app[_STATE] = state
    app[_METRICS] = metrics
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    return app


async def start_health_server(
    state: HealthState, metrics: Metrics, host: str = "127.0.0.1", port: int = 0
) -> web.AppRunner:
    """Serve ``/healthz`` and ``/metrics`` on host:port (0: any free port, see ``bound_port``)
    until ``await runner.cleanup()``."""
    runner = web.AppRunner(make_app(state, metrics), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


async def maybe_start_health_server(
    settings: Settings, state: HealthState, metrics: Metrics
) -> web.AppRunner | None:
    """The server as the settings ask for it; None when ``health_port`` is 0 (the default)."""
    if not settings.health.port:
        return None
    return await start_health_server(state, metrics, settings.health.host, settings.health.port)


def bound_port(runner: web.AppRunner) -> int:
    return int(runner.addresses[0][1])


def probe_host(bind_host: str) -> str:
    """Where to reach a server bound to ``bind_host`` from the same machine."""
    if bind_host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if bind_host == "::":
        return "::1"
    return bind_host


def probe(host: str, port: int, timeout: float = 5.0) -> tuple[int | None, str]:
    """GET /healthz: (HTTP status, body), or (None, why) when nothing answered."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/healthz", headers={"Accept": "application/json"})
        response = conn.getresponse()
        return response.status, response.read(65536).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()
