"""A real HTTP server on 127.0.0.1 for feed and page tests, serving what each test sets.

Tests talk to it over real sockets (the fetcher under test is the real one); the server
records every request so a test can count hits and conditional requests. ``Route`` covers the
cases the feed tests need: status and headers, ETag / Last-Modified with 304 answers,
redirects, gzip, a body sent without Content-Length, slow trickles and a server that never
answers.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


@dataclass
class Route:
    body: bytes | str = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None  # answer 304 when If-None-Match matches
    last_modified: str | None = None  # answer 304 when If-Modified-Since matches exactly
    hang: bool = False  # accept the request and never answer (until the server stops)
    delay: float = 0.0  # seconds to wait before answering
    gzip: bool = False
    chunked: bool = False  # no Content-Length; body streamed in chunks

    def data(self) -> bytes:
        return self.body.encode("utf-8") if isinstance(self.body, str) else self.body


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]

    @property
    def conditional(self) -> bool:
        return "if-none-match" in self.headers or "if-modified-since" in self.headers


class LocalServer:
    """``with LocalServer() as server: server.route("/feed.xml", Route(...)); server.url(...)``"""

    def __init__(self) -> None:
        self.routes: dict[str, Route | Callable[[Seen], Route]] = {}
        self.requests: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path: str, route: Route | Callable[[Seen], Route]) -> str:
        """Serve ``route`` at ``path`` (a callable decides per request); returns its URL."""
        self.routes[path] = route
        return self.url(path)

    def hits(self, path: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.path == path)

    def conditional_hits(self, path: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.path == path and r.conditional)

    def last(self, path: str) -> Seen:
        with self._lock:
            return [r for r in self.requests if r.path == path][-1]

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _track(self, delta: int) -> None:
        with self._lock:
            self.in_flight += delta
            self.max_in_flight = max(self.max_in_flight, self.in_flight)


def _handler_for(server: LocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet test output
            pass

        def do_GET(self) -> None:
            seen = Seen(self.path, {k.lower(): v for k, v in self.headers.items()})
            with server._lock:
                server.requests.append(seen)
            server._track(+1)
            try:
                self._answer(seen)
            finally:
                server._track(-1)

        def _answer(self, seen: Seen) -> None:
            route = server.routes.get(seen.path.split("?", 1)[0]) or server.routes.get(seen.path)
            if callable(route):
                route = route(seen)
            if route is None:
                route = Route(b"not found", status=404, content_type="text/plain")
            if route.hang:
                server._stopping.wait(30)
                return
            if route.delay:
                time.sleep(route.delay)
            if (route.etag and seen.headers.get("if-none-match") == route.etag) or (
                route.last_modified and seen.headers.get("if-modified-since") == route.last_modified
            ):
                self.send_response(304)
                self._validators(route)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = route.data()
            if route.gzip:
                data = gzip.compress(data)
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            self._validators(route)
            if route.gzip:
                self.send_header("Content-Encoding", "gzip")
            for key, value in route.headers.items():
                self.send_header(key, value)
            if route.chunked:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self._send_chunked(data)
                return
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _validators(self, route: Route) -> None:
            if route.etag:
                self.send_header("ETag", route.etag)
            if route.last_modified:
                self.send_header("Last-Modified", route.last_modified)

        def _send_chunked(self, data: bytes, size: int = 16_384) -> None:
            try:
                for i in range(0, len(data), size):
                    piece = data[i : i + size]
                    self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (say, at its size cap): that is the point

    return Handler
