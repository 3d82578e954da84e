"""One Milvus connection with retries: transient failures (server restarting, connection
refused, rate limits, deadlines) are retried with backoff; what is still failing after that
becomes one ``BackendUnavailable`` line naming the server, never a gRPC traceback.

Writes retry longer than reads: an ingest can wait out a restarting server, a member waiting
for an answer should get an apology within a second or two.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from index.errors import BackendUnavailable, NewsbotError

T = TypeVar("T")
log = logging.getLogger("newsbot.milvus")

# pymilvus logs every failed RPC with a traceback at ERROR before raising; the raised
# exception is handled (retried, or turned into one line) here.
logging.getLogger("pymilvus").setLevel(logging.CRITICAL)

READ_ATTEMPTS = 2
WRITE_ATTEMPTS = 7  # backoff 0.25 s doubling to 4 s: about 12 s of a server being away
BACKOFF_SECONDS = 0.25
MAX_BACKOFF_SECONDS = 4.0

_TRANSIENT_WORDS = (
    "fail connecting",
    "unavailable",
    "deadline",
    "connection refused",
    "retry timeout",
    "rate limit",
    "socket closed",
    "not ready",
)


def display_uri(uri: str) -> str:
    """The URI without any user:password part, for messages and logs."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def is_transient(exc: BaseException) -> bool:
    """Whether trying the same call again later can succeed."""
    try:
        import grpc
        from pymilvus.exceptions import MilvusException, MilvusUnavailableException
    except ImportError:  # pragma: no cover - pymilvus brings grpc
        return False
    if isinstance(exc, grpc.RpcError):
        return exc.code() in (  # type: ignore[attr-defined]
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.DEADLINE_EXCEEDED,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        )
    if isinstance(exc, MilvusUnavailableException):
        return True
    if isinstance(exc, MilvusException):
        if exc.code in (2, 8) or getattr(exc, "retriable", False):  # connect failed, rate limit
            return True
        return any(word in str(exc.message).lower() for word in _TRANSIENT_WORDS)
    return isinstance(exc, ConnectionError | TimeoutError)


def _not_loaded(exc: BaseException) -> bool:
    text = str(getattr(exc, "message", None) or exc).lower()
    return "not loaded" in text or "released" in text or "load()" in text


def _reason(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(message).split())[:300]


class MilvusConnection:
    """A lazily opened ``MilvusClient``; ``call`` runs one operation with retries."""

    def __init__(
        self,
        uri: str,
        *,
        token: str | None = None,
        database: str | None = None,
        timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.uri = uri
        self.where = display_uri(uri)
        self._token = token or ""
        self._database = database or ""
        self.timeout = timeout
        self._sleep = sleep
        self._client: Any = None
        self._lock = threading.Lock()

    def _open(self) -> Any:
        with self._lock:
            if self._client is None:
                try:
                    from pymilvus import MilvusClient
                except ImportError as exc:
                    raise NewsbotError(
                        "the milvus backend needs pymilvus: pip install 'newsbot[milvus]'"
                    ) from exc
                self._client = MilvusClient(
                    uri=self.uri,
                    token=self._token,
                    db_name=self._database,
                    timeout=self.timeout,
                )
            return self._client

    def _drop(self, client: Any) -> None:
        """Forget a client whose connection failed; the next attempt opens a fresh one."""
        with self._lock:
            if self._client is client:
                self._client = None
        with contextlib.suppress(Exception):  # closing a broken channel may fail too
            client.close()

    def call(
        self,
        what: str,
        op: Callable[[Any], T],
        *,
        attempts: int = READ_ATTEMPTS,
        reload: Callable[[Any], object] | None = None,
    ) -> T:
        """``op(client)``, retried on transient failures; ``what`` names it in errors.

        ``reload`` loads the collection again when the server says it is not loaded (a
        restarted server may come back with its collections released), then retries."""
        delay = BACKOFF_SECONDS
        for attempt in range(1, attempts + 1):
            client = None
            try:
                client = self._open()
                return op(client)
            except NewsbotError:
                raise
            except Exception as exc:
                if reload is not None and client is not None and _not_loaded(exc):
                    log.warning("Milvus at %s: the collection was released; loading it", self.where)
                    reload(client)
                    reload = None  # once: a load that does not help is a real error
                    return self.call(what, op, attempts=attempts)
                if not is_transient(exc):
                    try:
                        from pymilvus.exceptions import MilvusException
                    except ImportError:  # pragma: no cover
                        raise
                    if isinstance(exc, MilvusException):
                        raise NewsbotError(
                            f"Milvus at {self.where} refused to {what}: {_reason(exc)}"
                        ) from exc
                    raise
                if client is not None:
                    self._drop(client)
                if attempt == attempts:
                    raise BackendUnavailable(
                        f"cannot reach Milvus at {self.where} (to {what}): {_reason(exc)}"
                    ) from exc
                # A write waiting out a restart says so; a read's single quick retry does not.
                log.log(
                    logging.WARNING if attempts > READ_ATTEMPTS else logging.DEBUG,
                    "Milvus at %s: %s failed (%s); retrying in %.2f s",
                    self.where,
                    what,
                    _reason(exc),
                    delay,
                )
                self._sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
