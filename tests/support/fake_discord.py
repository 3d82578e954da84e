"""A loopback fake of Discord's REST API and Gateway for testing the real discord.py client.

The fake is an aiohttp server on 127.0.0.1 (random free port) that:

* answers the REST calls discord.py makes (login, interaction callbacks, webhooks/followups,
  channel messages, command sync, DMs, threads) and records every call;
* plays the Gateway websocket (HELLO, IDENTIFY/RESUME, heartbeats, READY + GUILD_CREATE) with
  plain-text JSON frames, and lets a test inject dispatch events and connection trouble.

Typical use (see ``tests/support/test_fake_discord.py``)::

    async with FakeDiscord() as fake:                       # starts + patches discord.py
        client = discord.Client(intents=..., guild_ready_timeout=0)
        async with running_client(client, fake):           # start(), wait for READY + guilds
            await fake.dispatch("INTERACTION_CREATE", fake.slash_command_payload("ask"))
            req = await fake.wait_for_request("POST", "/interactions/*/*/callback")

Path patterns (``wait_for_request``, ``fail_next``, ``add_route``, ...) are matched against the
path *below* the API base (``/channels/1/messages``, no ``/api/v10``): a ``re.Pattern`` must
fullmatch; in a string, ``*`` and ``{name}`` match one path segment, ``**`` matches anything,
everything else is literal.

discord.py 2.7 behaviours the fake accounts for (and tests should know about):

* JSON is only parsed when ``Content-Type`` is exactly ``application/json`` (no charset);
  otherwise the body is a str and e.g. login fails.
* A 429 is retried only with a ``Via`` header and a JSON ``retry_after``; else it raises.
* Interaction callbacks are sent with ``?with_response=1`` and the body is parsed as an
  InteractionCallback (``{"interaction": ..., "resource": ...}``) -- a bare 204 breaks
  ``defer()``/``send_message()``. The fake answers 204 only without that query.
* Webhook/followup requests reuse ``discord.http.Route``, so one ``Route.BASE`` patch covers them.
* The gateway URL asks for ``compress=zlib-stream`` (or zstd); text frames are still accepted,
  so the fake never compresses. Resumes go to READY's ``resume_gateway_url`` (the fake's).
* Close code 4000, op 7 and a dropped socket make the client RESUME at once; a
  non-resumable op 9 makes it IDENTIFY again, but only after ``Client.before_identify_hook``
  sleeps 5 s -- override that hook on the client in such tests.
* Exceptions in event handlers, app commands and views are only logged: use ErrorLogGuard.

Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yarl
from aiohttp import WSMsgType, web

__all__ = [
    "DISCORD_EPOCH_MS",
    "ErrorLogGuard",
    "FakeDiscord",
    "GatewayFrame",
    "RecordedFile",
    "RecordedRequest",
    "compile_path_pattern",
    "patch_discord_endpoints",
    "running_client",
    "snowflake",
]

DISCORD_EPOCH_MS = 1420070400000
API_PREFIX_RE = re.compile(r"^/api/v\d+")

# Permission bits used for the default roles.
_BASE_PERMISSIONS = (
    (1 << 6)  # ADD_REACTIONS
    | (1 << 10)  # VIEW_CHANNEL
    | (1 << 11)  # SEND_MESSAGES
    | (1 << 14)  # EMBED_LINKS
    | (1 << 15)  # ATTACH_FILES
    | (1 << 16)  # READ_MESSAGE_HISTORY
    | (1 << 31)  # USE_APPLICATION_COMMANDS
    | (1 << 35)  # CREATE_PUBLIC_THREADS
    | (1 << 38)  # SEND_MESSAGES_IN_THREADS
)
_ADMINISTRATOR = 1 << 3

_snowflake_counter = itertools.count(1)


def snowflake() -> int:
    """A fresh, unique, time-ordered Discord-style snowflake."""
    now_ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
    return (now_ms << 22) | (next(_snowflake_counter) & 0x3FFFFF)


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


@dataclass
class RecordedFile:
    """One file part of a multipart request."""

    field_name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class RecordedRequest:
    """One REST call the fake received (and what it answered)."""

    method: str
    path: str  # below the API base, e.g. "/channels/1/messages"
    query: dict[str, str]
    json: Any  # parsed JSON body, or multipart "payload_json"; None when there was no body
    headers: dict[str, str]  # without Authorization
    authorized: bool  # an Authorization header was present
    files: list[RecordedFile] = field(default_factory=list)
    status: int = 0
    response: Any = None
    at: float = field(default_factory=time.monotonic)

    def __repr__(self) -> str:
        return f"<RecordedRequest {self.method} {self.path} -> {self.status}>"


@dataclass
class GatewayFrame:
    """One frame the client sent over the gateway."""

    op: int
    d: Any
    connection: int  # index into FakeDiscord.gateway_connections
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Failure:
    method: str
    pattern: re.Pattern[str]
    status: int
    retry_after: float
    is_global: bool
    code: int
    message: str | None
    remaining: int


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[..., Any]


class _GatewayConnection:
    def __init__(self, index: int, ws: web.WebSocketResponse, request: web.Request) -> None:
        self.index = index
        self.ws = ws
        self.request = request
        self.ready = False  # READY or RESUMED sent: dispatches may flow
        self.lock = asyncio.Lock()
        self.closed = asyncio.Event()


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def compile_path_pattern(pattern: str | re.Pattern[str]) -> re.Pattern[str]:
    """Turn a path pattern into a regex (see module docstring for the syntax)."""
    if isinstance(pattern, re.Pattern):
        return pattern
    out: list[str] = []
    for token in re.split(r"(\*\*|\*|\{[^}/]*\})", pattern):
        if token == "**":
            out.append(".*")
        elif token == "*" or (token.startswith("{") and token.endswith("}")):
            out.append("[^/]+")
        else:
            out.append(re.escape(token))
    return re.compile("".join(out))


def _matches(pattern: re.Pattern[str], path: str) -> re.Match[str] | None:
    return pattern.fullmatch(path)


def _json_response(
    status: int, body: Any, headers: Mapping[str, str] | None = None
) -> web.Response:
    hdrs = dict(headers or {})
    if status == 204 or body is None:
        return web.Response(status=status, headers=hdrs)
    # discord.py only parses JSON when Content-Type is *exactly* application/json (no charset).
    hdrs["Content-Type"] = "application/json"
    return web.Response(status=status, body=json.dumps(body).encode(), headers=hdrs)


_OPTION_TYPES: list[tuple[type, int]] = [(bool, 5), (int, 4), (float, 10), (str, 3)]


def _option_type(value: Any) -> int:
    for typ, code in _OPTION_TYPES:
        if isinstance(value, typ):
            return code
    raise TypeError(f"cannot infer an option type for {value!r}; pass raw option dicts")


def _build_options(
    options: Mapping[str, Any] | Iterable[Mapping[str, Any]] | None,
) -> list[dict[str, Any]]:
    if options is None:
        return []
    if isinstance(options, Mapping):
        return [{"name": k, "type": _option_type(v), "value": v} for k, v in options.items()]
    return [dict(o) for o in options]


# --------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------


class FakeDiscord:
    """Loopback Discord: REST + Gateway on 127.0.0.1.

    Use as ``async with FakeDiscord() as fake`` (starts the server and, unless
    ``patch_endpoints=False``, points discord.py at it for the duration).
    """

    def __init__(
        self,
        *,
        heartbeat_interval_ms: int = 41250,
        patch_endpoints: bool = True,
        bot_name: str = "newsbot",
    ) -> None:
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self._patch = patch_endpoints

        # --- identities -----------------------------------------------------------------
        self.bot_user: dict[str, Any] = self.make_user(username=bot_name, bot=True)
        self.application_id: int = int(self.bot_user["id"])
        self.user: dict[str, Any] = self.make_user(username="alice")  # default human
        self.guild_id: int = snowflake()
        self.channel_id: int = snowflake()
        self.bot_role_id: int = snowflake()

        # --- world state ----------------------------------------------------------------
        self.channels: dict[int, dict[str, Any]] = {}
        self.messages: dict[int, dict[str, Any]] = {}  # every message the fake created/edited
        self.interactions: dict[str, dict[str, Any]] = {}  # token -> INTERACTION_CREATE payload
        self.original_responses: dict[str, int] = {}  # token -> message id of @original
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self.guild: dict[str, Any] = self._default_guild()
        self.guilds: list[dict[str, Any]] = [self.guild]

        # --- records --------------------------------------------------------------------
        self.requests: list[RecordedRequest] = []
        self.gateway_frames: list[GatewayFrame] = []
        self.gateway_connections: list[dict[str, str]] = []  # query of each ws connection
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self.heartbeats: list[float] = []  # monotonic time of each client op 1
        self.heartbeat_acks_sent: int = 0
        self.dispatched: list[dict[str, Any]] = []  # every op 0 frame we sent

        # --- gateway behaviour ------------------------------------------------------------
        self.ack_heartbeats = True
        self.resumable = True  # False: answer RESUME with op 9 (d=false)
        self.session_id: str | None = None
        self.seq = 0

        self._failures: list[_Failure] = []
        self._routes: list[_Route] = []  # user routes, checked first (newest first)
        self._default_routes: list[_Route] = []
        self._conns: list[_GatewayConnection] = []
        self._current: _GatewayConnection | None = None
        self._changed: asyncio.Condition | None = None
        self._runner: web.AppRunner | None = None
        self._patcher: contextlib.ExitStack | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self.port: int = 0
        self._install_default_routes()

    # ------------------------------------------------------------------ lifecycle
    @property
    def api_base(self) -> str:
        """REST base URL to give discord.py (``http://127.0.0.1:PORT/api/v10``)."""
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        """Gateway URL to give discord.py (``ws://127.0.0.1:PORT/``)."""
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def bot_id(self) -> int:
        return int(self.bot_user["id"])

    @property
    def bot_mention(self) -> str:
        return f"<@{self.bot_id}>"

    async def start(self) -> None:
        self._changed = asyncio.Condition()
        app = web.Application()
        app.router.add_get("/", self._gateway_handler)
        app.router.add_route("*", "/{tail:.*}", self._rest_handler)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        if self._patch:
            self._patcher = contextlib.ExitStack()
            self._patcher.enter_context(patch_discord_endpoints(self.api_base, self.gateway_url))

    async def stop(self) -> None:
        if self._patcher is not None:
            self._patcher.close()
            self._patcher = None
        for conn in list(self._conns):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.ws.close(code=1001), 0.5)
        for task in list(self._background):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ waiting
    async def _notify(self) -> None:
        if self._changed is None:
            return
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(
        self, predicate: Callable[[], Any], *, timeout: float = 5.0, what: str = "condition"
    ) -> Any:
        """Wait until ``predicate()`` is truthy (re-checked whenever the fake records anything)."""
        assert self._changed is not None, "FakeDiscord not started"
        deadline = asyncio.get_running_loop().time() + timeout
        async with self._changed:
            while True:
                result = predicate()
                if result:
                    return result
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), min(remaining, 0.05))

    def requests_to(
        self,
        method: str | None,
        path: str | re.Pattern[str],
        *,
        since: int = 0,
        where: Callable[[RecordedRequest], bool] | None = None,
    ) -> list[RecordedRequest]:
        """Recorded requests matching method (None = any) and path pattern, from index ``since``."""
        pat = compile_path_pattern(path)
        return [
            r
            for r in self.requests[since:]
            if (method is None or r.method == method.upper())
            and _matches(pat, r.path)
            and (where is None or where(r))
        ]

    async def wait_for_request(
        self,
        method: str | None,
        path: str | re.Pattern[str],
        *,
        timeout: float = 5.0,
        since: int = 0,
        where: Callable[[RecordedRequest], bool] | None = None,
        count: int = 1,
    ) -> RecordedRequest:
        """Wait until ``count`` matching requests were recorded; return the ``count``-th one.

        ``since`` is an index into ``self.requests`` (take ``len(fake.requests)`` before acting
        to only see new requests).
        """

        def found() -> RecordedRequest | None:
            hits = self.requests_to(method, path, since=since, where=where)
            return hits[count - 1] if len(hits) >= count else None

        try:
            return await self.wait_until(found, timeout=timeout, what=f"{method} {path}")
        except TimeoutError:
            seen = "\n  ".join(f"{r.method} {r.path} -> {r.status}" for r in self.requests)
            raise TimeoutError(
                f"no {method} {path} (x{count}) within {timeout}s; recorded:\n  {seen}"
            ) from None

    async def wait_for_gateway_op(
        self, op: int, *, timeout: float = 5.0, since: int = 0, count: int = 1
    ) -> GatewayFrame:
        """Wait for the ``count``-th client frame with opcode ``op`` (from ``gateway_frames[since:]``)."""

        def found() -> GatewayFrame | None:
            hits = [f for f in self.gateway_frames[since:] if f.op == op]
            return hits[count - 1] if len(hits) >= count else None

        return await self.wait_until(found, timeout=timeout, what=f"gateway op {op} x{count}")

    async def wait_for_heartbeats(self, n: int, *, timeout: float = 5.0) -> None:
        await self.wait_until(lambda: len(self.heartbeats) >= n, timeout=timeout, what="heartbeats")

    async def wait_for_resume(self, count: int = 1, *, timeout: float = 5.0) -> None:
        """Wait until ``count`` RESUMEs were answered with RESUMED and dispatches can flow."""
        await self.wait_until(
            lambda: (
                len(self.resumes) >= count and self._current is not None and self._current.ready
            ),
            timeout=timeout,
            what=f"{count} resume(s)",
        )

    async def wait_for_identify(self, count: int = 1, *, timeout: float = 5.0) -> None:
        """Wait until ``count`` IDENTIFYs were answered with READY."""
        await self.wait_until(
            lambda: (
                len(self.identifies) >= count and self._current is not None and self._current.ready
            ),
            timeout=timeout,
            what=f"{count} identify(s)",
        )

    @property
    def identify_count(self) -> int:
        return len(self.identifies)

    @property
    def resume_count(self) -> int:
        return len(self.resumes)

    # ------------------------------------------------------------------ REST controls
    def fail_next(
        self,
        method: str,
        path_pattern: str | re.Pattern[str],
        status: int = 429,
        retry_after: float = 0.05,
        *,
        times: int = 1,
        is_global: bool = False,
        code: int = 0,
        message: str | None = None,
    ) -> None:
        """Make the next ``times`` matching requests fail with ``status``.

        429 answers carry what discord.py needs to retry (a ``Via`` header and a JSON body with
        ``retry_after`` and ``global``); other statuses get ``{"message", "code"}``. Note that
        discord.py sleeps 1 s+ before retrying 5xx answers.
        """
        self._failures.append(
            _Failure(
                method=method.upper(),
                pattern=compile_path_pattern(path_pattern),
                status=status,
                retry_after=retry_after,
                is_global=is_global,
                code=code,
                message=message,
                remaining=times,
            )
        )

    def add_route(
        self,
        method: str,
        path_pattern: str | re.Pattern[str],
        handler: Callable[[RecordedRequest, re.Match[str]], Any],
    ) -> None:
        """Override/extend REST handling; newest routes win over older ones and the defaults.

        ``handler(request, match)`` (sync or async) returns ``(status, body)``, a JSON body
        (-> 200) or None (-> 204).
        """
        self._routes.insert(0, _Route(method.upper(), compile_path_pattern(path_pattern), handler))

    def _take_failure(self, method: str, path: str) -> _Failure | None:
        for failure in self._failures:
            if failure.method in (method, "*") and _matches(failure.pattern, path):
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
                return failure
        return None

    # ------------------------------------------------------------------ gateway controls
    @property
    def connected(self) -> bool:
        return self._current is not None and self._current.ready

    async def _live_connection(self, timeout: float) -> _GatewayConnection:
        await self.wait_until(lambda: self.connected, timeout=timeout, what="a ready gateway")
        assert self._current is not None
        return self._current

    async def _send(self, conn: _GatewayConnection, payload: dict[str, Any]) -> None:
        async with conn.lock:
            if not conn.ws.closed:
                await conn.ws.send_str(json.dumps(payload))

    async def _send_dispatch(self, conn: _GatewayConnection, event: str, data: Any) -> int:
        self.seq += 1
        frame = {"op": 0, "t": event, "s": self.seq, "d": data}
        self.dispatched.append(frame)
        await self._send(conn, frame)
        return self.seq

    async def dispatch(self, event: str, data: dict[str, Any], *, timeout: float = 5.0) -> int:
        """Send a gateway dispatch (op 0) to the client; returns its sequence number.

        Waits (up to ``timeout``) for a READY/RESUMED connection first, so it is safe to call
        right after a reconnect was provoked.
        """
        if event == "INTERACTION_CREATE" and "token" in data:
            self.interactions[data["token"]] = data
        if event == "MESSAGE_CREATE":
            self.messages[int(data["id"])] = data
        conn = await self._live_connection(timeout)
        return await self._send_dispatch(conn, event, data)

    async def send_op(self, op: int, d: Any = None, *, timeout: float = 5.0) -> None:
        """Send a raw non-dispatch frame to the current connection."""
        conn = self._current
        if conn is None:
            conn = await self._live_connection(timeout)
        await self._send(conn, {"op": op, "d": d, "s": None, "t": None})

    async def send_reconnect(self) -> None:
        """Op 7 RECONNECT: the client closes the socket and RESUMEs on a new one."""
        await self.send_op(7)

    async def invalidate_session(self, resumable: bool = False) -> None:
        """Op 9 INVALID SESSION (``resumable=False`` makes the client IDENTIFY again)."""
        await self.send_op(9, resumable)

    async def request_heartbeat(self) -> None:
        """Op 1 from the server: the client must heartbeat immediately."""
        await self.send_op(1, self.seq)

    async def close_gateway(self, code: int = 4000, message: str = "") -> None:
        """Close the current gateway socket with ``code`` (4000 -> client RESUMEs)."""
        conn = self._current
        if conn is None:
            raise RuntimeError("no gateway connection to close")
        conn.ready = False
        self._current = None
        # The client never answers our close frame (it uses autoclose=False), so closing is
        # bounded by the response's close timeout: run it in the background.
        self._spawn(conn.ws.close(code=code, message=message.encode()))
        await self._notify()

    async def drop_gateway(self) -> None:
        """Kill the current gateway TCP connection without a close frame."""
        conn = self._current
        if conn is None:
            raise RuntimeError("no gateway connection to drop")
        conn.ready = False
        self._current = None
        transport = conn.request.transport
        if transport is not None:
            transport.abort()
        await self._notify()

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------------ gateway server
    async def _gateway_handler(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return _json_response(400, {"message": "gateway needs a websocket upgrade", "code": 0})
        ws = web.WebSocketResponse(compress=False, max_msg_size=0, timeout=0.5)
        await ws.prepare(request)
        conn = _GatewayConnection(len(self.gateway_connections), ws, request)
        self.gateway_connections.append(dict(request.query))
        self._conns.append(conn)
        self._current = conn
        try:
            await self._send(
                conn, {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}}
            )
            await self._notify()
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_frame(conn, json.loads(msg.data))
                elif msg.type is WSMsgType.BINARY:  # discord.py only sends text
                    await ws.close(code=4002, message=b"binary frames not supported by the fake")
        finally:
            conn.ready = False
            conn.closed.set()
            self._conns.remove(conn)
            if self._current is conn:
                self._current = None
            await self._notify()
        return ws

    async def _on_frame(self, conn: _GatewayConnection, frame: dict[str, Any]) -> None:
        op, d = frame.get("op"), frame.get("d")
        self.gateway_frames.append(GatewayFrame(op=op, d=d, connection=conn.index))  # type: ignore[arg-type]
        if op == 1:
            self.heartbeats.append(time.monotonic())
            if self.ack_heartbeats:
                await self._send(conn, {"op": 11, "d": None})
                self.heartbeat_acks_sent += 1
        elif op == 2:
            await self._on_identify(conn, d)
        elif op == 6:
            await self._on_resume(conn, d)
        elif op == 8:
            members = list(self.guild.get("members", []))
            await self._send_dispatch(
                conn,
                "GUILD_MEMBERS_CHUNK",
                {
                    "guild_id": str(d.get("guild_id")),
                    "members": members,
                    "chunk_index": 0,
                    "chunk_count": 1,
                    "not_found": [],
                    "nonce": d.get("nonce"),
                },
            )
        await self._notify()

    async def _on_identify(self, conn: _GatewayConnection, d: dict[str, Any]) -> None:
        self.identifies.append(d)
        self.session_id = f"fake-session-{snowflake()}"
        self.seq = 0
        ready = {
            "v": 10,
            "user": self.bot_user,
            "guilds": [{"id": g["id"], "unavailable": True} for g in self.guilds],
            "session_id": self.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["fake"],
            "user_settings": {},
            "application": {"id": str(self.application_id), "flags": 0},
            "_trace": ["fake-discord"],
        }
        shard = d.get("shard")
        if shard is not None:
            ready["shard"] = shard
        await self._send_dispatch(conn, "READY", ready)
        for guild in self.guilds:
            await self._send_dispatch(conn, "GUILD_CREATE", guild)
        conn.ready = True

    async def _on_resume(self, conn: _GatewayConnection, d: dict[str, Any]) -> None:
        self.resumes.append(d)
        if not self.resumable or d.get("session_id") != self.session_id:
            await self._send(conn, {"op": 9, "d": False, "s": None, "t": None})
            return
        await self._send_dispatch(conn, "RESUMED", {"_trace": ["fake-discord"]})
        conn.ready = True

    # ------------------------------------------------------------------ REST server
    async def _rest_handler(self, request: web.Request) -> web.StreamResponse:
        path = API_PREFIX_RE.sub("", request.path, count=1)
        method = request.method.upper()
        body: Any = None
        files: list[RecordedFile] = []
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                if part.name == "payload_json":
                    body = json.loads(await part.text())  # type: ignore[union-attr]
                else:
                    files.append(
                        RecordedFile(
                            field_name=part.name or "",
                            filename=part.filename,  # type: ignore[union-attr]
                            content_type=part.headers.get("Content-Type"),
                            data=await part.read(),  # type: ignore[union-attr]
                        )
                    )
        elif request.can_read_body:
            raw = await request.text()
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw
        rec = RecordedRequest(
            method=method,
            path=path,
            query=dict(request.query),
            json=body,
            headers={k: v for k, v in request.headers.items() if k.lower() != "authorization"},
            authorized="Authorization" in request.headers,
            files=files,
        )

        headers: dict[str, str] = {}
        failure = self._take_failure(method, path)
        if failure is not None:
            status, payload = failure.status, self._failure_body(failure)
            if failure.status == 429:
                headers = {
                    "Via": "1.1 google",
                    "Retry-After": str(max(1, int(failure.retry_after + 0.999))),
                    "X-RateLimit-Scope": "global" if failure.is_global else "user",
                }
                if failure.is_global:
                    headers["X-RateLimit-Global"] = "true"
        else:
            status, payload = await self._route(rec)

        rec.status, rec.response = status, payload
        self.requests.append(rec)
        await self._notify()
        return _json_response(status, payload, headers)

    @staticmethod
    def _failure_body(failure: _Failure) -> dict[str, Any]:
        if failure.status == 429:
            return {
                "message": failure.message or "You are being rate limited.",
                "retry_after": failure.retry_after,
                "global": failure.is_global,
                "code": failure.code,
            }
        return {"message": failure.message or f"{failure.status}: injected", "code": failure.code}

    async def _route(self, rec: RecordedRequest) -> tuple[int, Any]:
        for route in itertools.chain(self._routes, self._default_routes):
            if route.method not in (rec.method, "*"):
                continue
            match = _matches(route.pattern, rec.path)
            if match is None:
                continue
            result = route.handler(rec, match)
            if asyncio.iscoroutine(result):
                result = await result
            if result is None:
                return 204, None
            if isinstance(result, tuple):
                return result[0], result[1]
            return 200, result
        return 404, {
            "message": f"404: Not Found (fake discord has no route for {rec.method} {rec.path})",
            "code": 0,
        }

    def _install_default_routes(self) -> None:
        add = self._default_routes.append
        r = compile_path_pattern
        add(_Route("GET", r("/users/@me"), lambda rec, m: self.bot_user))
        add(_Route("GET", r("/oauth2/applications/@me"), lambda rec, m: self.application()))
        add(_Route("GET", r("/applications/@me"), lambda rec, m: self.application()))
        add(_Route("GET", r("/gateway"), lambda rec, m: {"url": self.gateway_url}))
        add(_Route("GET", r("/gateway/bot"), lambda rec, m: self._gateway_bot()))
        add(_Route("POST", r("/interactions/{id}/{token}/callback"), self._h_callback))
        add(_Route("POST", r("/webhooks/{app}/{token}"), self._h_followup))
        add(_Route("GET", r("/webhooks/{app}/{token}/messages/{mid}"), self._h_webhook_get))
        add(_Route("PATCH", r("/webhooks/{app}/{token}/messages/{mid}"), self._h_webhook_edit))
        add(_Route("DELETE", r("/webhooks/{app}/{token}/messages/{mid}"), self._h_webhook_delete))
        add(_Route("POST", r("/channels/{cid}/messages"), self._h_channel_send))
        add(_Route("GET", r("/channels/{cid}/messages/{mid}"), self._h_message_get))
        add(_Route("PATCH", r("/channels/{cid}/messages/{mid}"), self._h_message_edit))
        add(_Route("DELETE", r("/channels/{cid}/messages/{mid}"), lambda rec, m: None))
        add(_Route("POST", r("/channels/{cid}/messages/{mid}/threads"), self._h_thread))
        add(_Route("POST", r("/channels/{cid}/threads"), self._h_thread))
        add(_Route("PUT", r("/channels/{cid}/messages/{mid}/reactions/{e}/@me"), lambda *_: None))
        add(_Route("POST", r("/channels/{cid}/typing"), lambda rec, m: None))
        add(_Route("GET", r("/channels/{cid}"), self._h_channel_get))
        add(_Route("POST", r("/users/@me/channels"), self._h_open_dm))
        add(_Route("GET", r("/users/{uid}"), self._h_user_get))
        add(_Route("PUT", r("/applications/{app}/commands"), self._h_sync_global))
        add(_Route("GET", r("/applications/{app}/commands"), lambda rec, m: self.global_commands))
        add(_Route("PUT", r("/applications/{app}/guilds/{gid}/commands"), self._h_sync_guild))
        add(_Route("GET", r("/applications/{app}/guilds/{gid}/commands"), self._h_get_guild_cmds))

    # ------------------------------------------------------------------ default handlers
    @staticmethod
    def _segments(rec: RecordedRequest) -> list[str]:
        return rec.path.strip("/").split("/")

    def _gateway_bot(self) -> dict[str, Any]:
        return {
            "url": self.gateway_url,
            "shards": 1,
            "session_start_limit": {
                "total": 1000,
                "remaining": 999,
                "reset_after": 14_400_000,
                "max_concurrency": 1,
            },
        }

    def _h_callback(self, rec: RecordedRequest, m: re.Match[str]) -> Any:
        _, interaction_id, token, _ = self._segments(rec)
        body = rec.json or {}
        cb_type = int(body.get("type", 0))
        data = dict(body.get("data") or {})
        interaction = self.interactions.get(token, {})
        message: dict[str, Any] | None = None
        if cb_type in (4, 5):  # (deferred) channel message with source
            flags = int(data.get("flags", 0) or 0)
            if cb_type == 5:
                data = {"content": "", "flags": flags | 128}  # LOADING: "bot is thinking..."
            message = self._make_message(
                self._interaction_channel_id(interaction),
                data,
                rec.files,
                webhook_id=self.application_id,
                interaction=interaction,
            )
            self.original_responses[token] = int(message["id"])
        elif cb_type in (6, 7):  # (deferred) update of the component's message
            target = interaction.get("message")
            if target is not None:
                # Like Discord: "@original" of a component interaction is that message.
                self.original_responses[token] = int(target["id"])
                if cb_type == 7:
                    message = self._update_message(int(target["id"]), data, rec.files, base=target)
        if rec.query.get("with_response") not in ("1", "true", "True"):
            return None
        result: dict[str, Any] = {
            "interaction": {
                "id": interaction_id,
                "type": interaction.get("type", 2),
                "activity_instance_id": None,
                "response_message_id": message["id"] if message else None,
                "response_message_loading": cb_type == 5,
                "response_message_ephemeral": bool(message and int(message["flags"]) & 64),
            },
            "resource": {"type": cb_type},
        }
        if message is not None and cb_type in (4, 7):
            result["resource"]["message"] = message
        return result

    def _interaction_channel_id(self, interaction: Mapping[str, Any]) -> int:
        return int(interaction.get("channel_id") or self.channel_id)

    def _h_followup(self, rec: RecordedRequest, m: re.Match[str]) -> Any:
        _, _, token = self._segments(rec)
        interaction = self.interactions.get(token, {})
        body = rec.json or {}
        original_id = self.original_responses.get(token)
        original = self.messages.get(original_id) if original_id else None
        if original is not None and int(original.get("flags", 0)) & 128:
            # Like Discord: the first followup after a deferral replaces the "thinking" message.
            flags = (int(original["flags"]) & 64) | int(body.get("flags", 0) or 0)
            message = self._update_message(original_id, {**body, "flags": flags}, rec.files)  # type: ignore[arg-type]
        else:
            channel_id = int(
                rec.query.get("thread_id") or self._interaction_channel_id(interaction)
            )
            message = self._make_message(
                channel_id, body, rec.files, webhook_id=self.application_id, interaction=interaction
            )
        if rec.query.get("wait") in ("0", "false", "False"):
            return None
        return message

    def _webhook_message_id(self, rec: RecordedRequest) -> int | None:
        _, _, token, _, mid = self._segments(rec)
        if mid == "@original":
            return self.original_responses.get(token)
        return int(mid)

    def _h_webhook_get(self, rec: RecordedRequest, m: re.Match[str]) -> Any:
        mid = self._webhook_message_id(rec)
        if mid is None or mid not in self.messages:
            return 404, {"message": "Unknown Message", "code": 10008}
        return self.messages[mid]

    def _h_webhook_edit(self, rec: RecordedRequest, m: re.Match[str]) -> Any:
        mid = self._webhook_message_id(rec)
        if mid is None or mid not in self.messages:
            return 404, {"message": "Unknown Message", "code": 10008}
        body = dict(rec.json or {})
        old_flags = int(self.messages[mid].get("flags", 0))
        body.setdefault("flags", old_flags & ~128)
        return self._update_message(mid, body, rec.files)

    def _h_webhook_delete(self, rec: RecordedRequest, m: re.Match[str]) -> Any:
        mid = self._webhook_message_id(rec)
        if mid is None or self.messages.pop(mid, None) is None:
            return 404, {"message": "Unknown Message", "code": 10008}
        return None

    def _h_channel_send(self, rec: RecordedRequest, m: re.Match[str]) -> Any:
        channel_id = int(self._segments(rec)[1])
        body = rec.json or {}
        reference = body.get("message_reference") or {}
        ref_id = reference.get("message_id")
        if (
            ref_id
            and int(ref_id) not in self.messages
            and reference.get("fail_if_not_exists", True)
        ):
            # Like Discord: a reply to a deleted message fails unless told not to.
            return 400, {
                "message": "Invalid Form Body",
                "code": 50035,
                "errors": {
                    "message_reference": {
                        "_errors": [
                            {"code": "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "message": "Unknown"}
                        ]
                    }
                },
            }
        return self._make_message(channel_id, body, rec.files)

    def _h_message_get(self, rec: RecordedRequest, m: re.Match[str]) -> Any:
        mid = int(self._segments(rec)[3])
        if mid not in self.messages:
            return 404, {"message": "Unknown Message", "code": 10008}
        return self.messages[mid]

    def _h_message_edit(self, rec: RecordedRequest, m: re.Match[str]) -> Any:
        mid = int(self._segments(rec)[3])
        if mid not in self.messages:
            return 404, {"message": "Unknown Message", "code": 10008}
        return self._update_message(mid, rec.json or {}, rec.files)

    def _h_channel_get(self, rec: RecordedRequest, m: re.Match[str]) -> Any:
        cid = int(self._segments(rec)[1])
        if cid not in self.channels:
            return 404, {"message": "Unknown Channel", "code": 10003}
        return self.channels[cid]

    def _h_thread(self, rec: RecordedRequest, m: re.Match[str]) -> Any:
        segs = self._segments(rec)
        parent_id = int(segs[1])
        body = rec.json or {}
        parent = self.channels.get(parent_id, {})
        # A thread started from a message shares the message's id.
        thread_id = int(segs[3]) if len(segs) == 5 else snowflake()
        thread = {
            "id": str(thread_id),
            "guild_id": parent.get("guild_id", str(self.guild_id)),
            "parent_id": str(parent_id),
            "owner_id": str(self.bot_id),
            "name": body.get("name", "thread"),
            "type": int(body.get("type", 11)),
            "last_message_id": None,
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "rate_limit_per_user": int(body.get("rate_limit_per_user", 0) or 0),
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": int(body.get("auto_archive_duration", 1440) or 1440),
                "archive_timestamp": _now_iso(),
                "locked": False,
                "create_timestamp": _now_iso(),
            },
            "member": {
                "id": str(thread_id),
                "user_id": str(self.bot_id),
                "join_timestamp": _now_iso(),
                "flags": 0,
            },
        }
        self.channels[thread_id] = thread
        return 201, thread

    def _h_open_dm(self, rec: RecordedRequest, m: re.Match[str]) -> Any:
        recipient_id = int((rec.json or {}).get("recipient_id", self.user["id"]))
        return self.dm_channel(recipient_id)

    def _h_user_get(self, rec: RecordedRequest, m: re.Match[str]) -> Any:
        uid = int(self._segments(rec)[1])
        for u in (self.bot_user, self.user):
            if int(u["id"]) == uid:
                return u
        return self.make_user(id=uid, username=f"user{uid % 10000}")

    def _command_echo(self, commands: list[dict[str, Any]], guild_id: int | None) -> list[Any]:
        out = []
        for cmd in commands:
            echoed = {
                "type": 1,
                "description": "",
                "options": [],
                "default_member_permissions": None,
                "dm_permission": True,
                "nsfw": False,
                **cmd,
                "id": str(snowflake()),
                "application_id": str(self.application_id),
                "version": str(snowflake()),
            }
            if guild_id is not None:
                echoed["guild_id"] = str(guild_id)
            out.append(echoed)
        return out

    def _h_sync_global(self, rec: RecordedRequest, m: re.Match[str]) -> Any:
        self.global_commands = self._command_echo(list(rec.json or []), None)
        return self.global_commands

    def _h_sync_guild(self, rec: RecordedRequest, m: re.Match[str]) -> Any:
        gid = int(self._segments(rec)[3])
        self.guild_commands[gid] = self._command_echo(list(rec.json or []), gid)
        return self.guild_commands[gid]

    def _h_get_guild_cmds(self, rec: RecordedRequest, m: re.Match[str]) -> Any:
        return self.guild_commands.get(int(self._segments(rec)[3]), [])

    # ------------------------------------------------------------------ message objects
    def _make_message(
        self,
        channel_id: int,
        body: Mapping[str, Any],
        files: list[RecordedFile] | None = None,
        *,
        author: dict[str, Any] | None = None,
        webhook_id: int | None = None,
        interaction: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A message object as Discord returns it for a send, echoing what was sent."""
        channel = self.channels.get(channel_id, {})
        reference = body.get("message_reference")
        message: dict[str, Any] = {
            "id": str(snowflake()),
            "channel_id": str(channel_id),
            "author": author or self.bot_user,
            "content": body.get("content") or "",
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts", False)),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": self._attachments(body, files or []),
            "embeds": list(body.get("embeds") or []),
            "reactions": [],
            "pinned": False,
            "type": 19 if reference else 0,
            "flags": int(body.get("flags", 0) or 0),
            "components": list(body.get("components") or []),
            "sticker_items": [],
        }
        if "guild_id" in channel:
            message["guild_id"] = channel["guild_id"]
        if "nonce" in body:
            message["nonce"] = body["nonce"]
        if body.get("allowed_mentions") is not None:
            message["allowed_mentions"] = body["allowed_mentions"]  # echoed for inspection
        if reference:
            ref = {"type": 0, "channel_id": str(channel_id), **reference}
            message["message_reference"] = ref
            ref_id = ref.get("message_id")
            message["referenced_message"] = self.messages.get(int(ref_id)) if ref_id else None
        if webhook_id is not None:
            message["webhook_id"] = str(webhook_id)
            message["application_id"] = str(self.application_id)
        if interaction:
            user = interaction.get("member", {}).get("user") or interaction.get("user") or {}
            message["interaction_metadata"] = {
                "id": str(interaction.get("id")),
                "type": interaction.get("type", 2),
                "user": user,
                "authorizing_integration_owners": interaction.get(
                    "authorizing_integration_owners", {}
                ),
            }
        self.messages[int(message["id"])] = message
        return message

    def _update_message(
        self,
        message_id: int,
        body: Mapping[str, Any],
        files: list[RecordedFile] | None = None,
        *,
        base: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        message = dict(self.messages.get(message_id) or base or {})
        if not message:
            message = self._make_message(self.channel_id, {})
            message["id"] = str(message_id)
        for key in ("content", "embeds", "components", "flags", "allowed_mentions"):
            if key in body and body[key] is not None:
                message[key] = body[key]
        if "attachments" in body or files:
            message["attachments"] = self._attachments(body, files or [])
        message["edited_timestamp"] = _now_iso()
        self.messages[message_id] = message
        return message

    @staticmethod
    def _attachments(body: Mapping[str, Any], files: list[RecordedFile]) -> list[dict[str, Any]]:
        out = []
        for i, f in enumerate(files):
            aid = snowflake()
            name = f.filename or f"file{i}"
            out.append(
                {
                    "id": str(aid),
                    "filename": name,
                    "size": len(f.data),
                    "url": f"https://cdn.invalid/attachments/{aid}/{name}",
                    "proxy_url": f"https://media.invalid/attachments/{aid}/{name}",
                    "content_type": f.content_type,
                }
            )
        return out

    # ------------------------------------------------------------------ payload builders
    @staticmethod
    def make_user(
        *, id: int | None = None, username: str = "user", bot: bool = False
    ) -> dict[str, Any]:
        """A user object."""
        user = {
            "id": str(id or snowflake()),
            "username": username,
            "discriminator": "0",
            "global_name": username.title(),
            "avatar": None,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
        }
        if bot:
            user["bot"] = True
        return user

    def application(self) -> dict[str, Any]:
        """The ``/oauth2/applications/@me`` object."""
        return {
            "id": str(self.application_id),
            "name": self.bot_user["username"],
            "icon": None,
            "description": "fake application",
            "rpc_origins": [],
            "bot_public": True,
            "bot_require_code_grant": False,
            "bot": self.bot_user,
            "owner": self.user,
            "team": None,
            "verify_key": "0" * 64,
            "flags": 0,
            "interactions_endpoint_url": None,
            "tags": [],
            "approximate_guild_count": len(self.guilds),
        }

    def member(self, user: Mapping[str, Any], roles: Iterable[int] = ()) -> dict[str, Any]:
        """A guild member object (with ``user``)."""
        return {
            "user": dict(user),
            "nick": None,
            "avatar": None,
            "roles": [str(r) for r in roles],
            "joined_at": _now_iso(),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }

    def _text_channel(self, cid: int, name: str, position: int = 0) -> dict[str, Any]:
        return {
            "id": str(cid),
            "type": 0,
            "guild_id": str(self.guild_id),
            "name": name,
            "position": position,
            "permission_overwrites": [],
            "parent_id": None,
            "topic": None,
            "nsfw": False,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }

    def add_text_channel(self, name: str) -> int:
        """Add a text channel to the guild (do it before the client connects)."""
        cid = snowflake()
        channel = self._text_channel(cid, name, position=len(self.guild["channels"]))
        self.guild["channels"].append(channel)
        self.channels[cid] = channel
        return cid

    def _default_guild(self) -> dict[str, Any]:
        gid = str(self.guild_id)
        role = {
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "mentionable": False,
            "flags": 0,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        }
        roles = [
            {
                **role,
                "id": gid,
                "name": "@everyone",
                "permissions": str(_BASE_PERMISSIONS),
                "position": 0,
                "managed": False,
            },
            {
                **role,
                "id": str(self.bot_role_id),
                "name": self.bot_user["username"],
                "permissions": str(_BASE_PERMISSIONS),
                "position": 1,
                "managed": True,
                "tags": {"bot_id": self.bot_user["id"]},
            },
        ]
        channel = self._text_channel(self.channel_id, "news")
        self.channels[self.channel_id] = channel
        members = [self.member(self.bot_user, [self.bot_role_id]), self.member(self.user)]
        return {
            "id": gid,
            "name": "Fake Guild",
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": self.user["id"],
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "features": [],
            "application_id": None,
            "system_channel_id": str(self.channel_id),
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "max_members": 500000,
            "max_presences": None,
            "roles": roles,
            "emojis": [],
            "stickers": [],
            "joined_at": _now_iso(),
            "large": False,
            "unavailable": False,
            "lazy": True,
            "member_count": len(members),
            "members": members,
            "channels": [channel],
            "threads": [],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def dm_channel(self, recipient_id: int | None = None) -> dict[str, Any]:
        """The (stable) DM channel between the bot and ``recipient_id`` (default: ``self.user``)."""
        recipient_id = int(recipient_id or self.user["id"])
        for channel in self.channels.values():
            if channel.get("type") == 1 and int(channel["recipients"][0]["id"]) == recipient_id:
                return channel
        if recipient_id == int(self.user["id"]):
            recipient = self.user
        else:
            recipient = self.make_user(id=recipient_id, username=f"user{recipient_id % 10000}")
        cid = snowflake()
        channel = {
            "id": str(cid),
            "type": 1,
            "last_message_id": None,
            "flags": 0,
            "recipients": [recipient],
        }
        self.channels[cid] = channel
        return channel

    def _context(
        self,
        guild_id: int | None,
        channel_id: int | None,
        user: Mapping[str, Any] | None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Common interaction fields: where and who."""
        user = dict(user or self.user)
        fields: dict[str, Any] = {
            "application_id": str(self.application_id),
            "version": 1,
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
            "app_permissions": str(_BASE_PERMISSIONS),
        }
        if guild_id is not None:
            cid = int(channel_id or self.channel_id)
            channel = self.channels.get(cid) or self._text_channel(cid, "channel")
            member = self.member(user)
            perms = _ADMINISTRATOR if user["id"] == self.guild["owner_id"] else _BASE_PERMISSIONS
            member["permissions"] = str(perms | _BASE_PERMISSIONS)
            fields.update(
                guild_id=str(guild_id),
                guild_locale="en-US",
                guild={"id": str(guild_id), "locale": "en-US", "features": []},
                channel_id=str(cid),
                channel={**channel, "permissions": member["permissions"]},
                member=member,
                context=0,
                authorizing_integration_owners={"0": str(guild_id)},
            )
        else:
            channel = self.channels.get(int(channel_id)) if channel_id else None
            channel = channel or self.dm_channel(int(user["id"]))
            fields.update(
                channel_id=channel["id"],
                channel=channel,
                user=user,
                context=1,
                authorizing_integration_owners={"0": str(user["id"])},
            )
        return fields, user

    _GUILD = object()  # sentinel: "the fake's guild"

    def _resolve_guild(self, guild_id: Any, dm: bool) -> int | None:
        if dm:
            return None
        if guild_id is FakeDiscord._GUILD:
            return self.guild_id
        return int(guild_id) if guild_id is not None else None

    def slash_command_payload(
        self,
        name: str,
        options: Mapping[str, Any] | Iterable[Mapping[str, Any]] | None = None,
        *,
        guild_id: Any = _GUILD,
        channel_id: int | None = None,
        user: Mapping[str, Any] | None = None,
        dm: bool = False,
        command_id: int | None = None,
        command_guild_id: int | None = None,
        resolved: Mapping[str, Any] | None = None,
        interaction_type: int = 2,
    ) -> dict[str, Any]:
        """INTERACTION_CREATE data for a chat-input command.

        ``options``: a ``{name: value}`` mapping (types inferred: str/int/bool/float) or a list
        of raw option dicts (for subcommands, users, channels, ...). ``guild_id=None`` or
        ``dm=True`` makes a DM interaction. ``command_guild_id`` is only for guild-registered
        commands (discord.py looks such commands up in that guild's tree only).
        """
        gid = self._resolve_guild(guild_id, dm)
        fields, _ = self._context(gid, channel_id, user)
        data: dict[str, Any] = {
            "id": str(command_id or snowflake()),
            "name": name,
            "type": 1,
            "options": _build_options(options),
        }
        if command_guild_id is not None:
            data["guild_id"] = str(command_guild_id)
        if resolved is not None:
            data["resolved"] = dict(resolved)
        return {
            "id": str(snowflake()),
            "type": interaction_type,
            "token": f"fake-token-{snowflake()}",
            "data": data,
            **fields,
        }

    def autocomplete_payload(
        self,
        name: str,
        options: Mapping[str, Any] | Iterable[Mapping[str, Any]] | None = None,
        *,
        focused: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """INTERACTION_CREATE data for autocomplete (type 4); ``focused`` names the option being
        typed (default: the last one). Takes the same keyword arguments as
        :meth:`slash_command_payload`."""
        payload = self.slash_command_payload(name, options, interaction_type=4, **kwargs)
        opts = payload["data"]["options"]
        if opts:
            target = focused or opts[-1]["name"]
            for opt in opts:
                if opt["name"] == target:
                    opt["focused"] = True
                    if not isinstance(opt.get("value"), str):
                        opt["value"] = str(opt.get("value", ""))
        return payload

    def component_payload(
        self,
        custom_id: str,
        *,
        message: Mapping[str, Any] | None = None,
        component_type: int = 2,
        values: list[str] | None = None,
        guild_id: Any = _GUILD,
        channel_id: int | None = None,
        user: Mapping[str, Any] | None = None,
        dm: bool = False,
    ) -> dict[str, Any]:
        """INTERACTION_CREATE data for a message component (button: type 2; selects: 3, 5-8).

        ``message`` is the message carrying the component, e.g. the response body of the bot's
        send (``req.response``); by default a bare bot message in the channel.
        """
        gid = self._resolve_guild(guild_id, dm)
        fields, _ = self._context(gid, channel_id, user)
        if message is None:
            message = self._make_message(int(fields["channel_id"]), {"content": ""})
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            data["values"] = list(values)
        return {
            "id": str(snowflake()),
            "type": 3,
            "token": f"fake-token-{snowflake()}",
            "data": data,
            "message": dict(message),
            **fields,
        }

    def modal_submit_payload(
        self,
        custom_id: str,
        values: Mapping[str, str],
        *,
        guild_id: Any = _GUILD,
        channel_id: int | None = None,
        user: Mapping[str, Any] | None = None,
        dm: bool = False,
    ) -> dict[str, Any]:
        """INTERACTION_CREATE data for a modal submit with text inputs ``{custom_id: value}``."""
        gid = self._resolve_guild(guild_id, dm)
        fields, _ = self._context(gid, channel_id, user)
        rows = [
            {"type": 1, "components": [{"type": 4, "custom_id": k, "value": v}]}
            for k, v in values.items()
        ]
        return {
            "id": str(snowflake()),
            "type": 5,
            "token": f"fake-token-{snowflake()}",
            "data": {"custom_id": custom_id, "components": rows},
            **fields,
        }

    def message_payload(
        self,
        content: str,
        *,
        mentions: Iterable[Mapping[str, Any]] = (),
        author: Mapping[str, Any] | None = None,
        guild_id: Any = _GUILD,
        channel_id: int | None = None,
        dm: bool = False,
        message_id: int | None = None,
        message_reference: Mapping[str, Any] | None = None,
        embeds: list[dict[str, Any]] | None = None,
        attachments: list[dict[str, Any]] | None = None,
        mention_roles: Iterable[int] = (),
        mention_everyone: bool = False,
    ) -> dict[str, Any]:
        """MESSAGE_CREATE data. ``mentions=[fake.bot_user]`` pings the bot (put
        ``fake.bot_mention`` in ``content`` too, as Discord would). ``dm=True`` (or
        ``guild_id=None``) sends it in the author's DM channel."""
        author = dict(author or self.user)
        gid = self._resolve_guild(guild_id, dm)
        if gid is None:
            cid = int(channel_id or self.dm_channel(int(author["id"]))["id"])
        else:
            cid = int(channel_id or self.channel_id)
        payload: dict[str, Any] = {
            "id": str(message_id or snowflake()),
            "channel_id": str(cid),
            "author": author,
            "content": content,
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": mention_everyone,
            "mentions": [dict(u) for u in mentions],
            "mention_roles": [str(r) for r in mention_roles],
            "attachments": list(attachments or []),
            "embeds": list(embeds or []),
            "pinned": False,
            "type": 19 if message_reference else 0,
            "flags": 0,
            "components": [],
            "nonce": str(snowflake()),
        }
        if gid is not None:
            member = self.member(author)
            del member["user"]
            payload["guild_id"] = str(gid)
            payload["member"] = member
        if message_reference is not None:
            ref = {"type": 0, "channel_id": str(cid), **message_reference}
            payload["message_reference"] = ref
            ref_id = ref.get("message_id")
            payload["referenced_message"] = self.messages.get(int(ref_id)) if ref_id else None
        return payload


# --------------------------------------------------------------------------------------------
# discord.py wiring
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def patch_discord_endpoints(api_base: str, gateway_url: str) -> Iterator[None]:
    """Point discord.py's REST base and default gateway at the given URLs; restore on exit.

    In discord.py 2.7 webhooks/interaction responses reuse ``discord.http.Route``, so one
    ``Route.BASE`` covers them. The gateway URL is used for the first connect and after a
    non-resumable INVALID SESSION; resumes go to READY's ``resume_gateway_url``.
    """
    import discord.gateway
    import discord.http

    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = api_base.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


@contextlib.asynccontextmanager
async def running_client(
    client: Any,
    fake: FakeDiscord | None = None,
    *,
    token: str = "fake-token",
    timeout: float = 5.0,
) -> AsyncIterator[Any]:
    """Run ``client.start(token)`` in a task until READY (and, given ``fake``, until all of the
    fake's guilds are cached); close the client and reap the task on exit.

    Construct the client with ``guild_ready_timeout=0`` or READY waits 2 s for guilds.
    """
    task = asyncio.create_task(client.start(token), name="discord-client")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while True:
            if task.done():
                task.result()  # raises the startup error, if any
                raise RuntimeError("client.start() returned before the client became ready")
            ready = client.is_ready()
            if ready and fake is not None:
                for guild in fake.guilds:
                    cached = client.get_guild(int(guild["id"]))
                    if cached is None or cached.unavailable:
                        ready = False
            if ready:
                break
            if loop.time() > deadline:
                raise TimeoutError(f"discord client not ready within {timeout}s")
            await asyncio.sleep(0.002)
        yield client
    finally:
        await client.close()
        try:
            await asyncio.wait_for(task, timeout)
        except asyncio.CancelledError:
            if not task.cancelled():
                raise


# --------------------------------------------------------------------------------------------
# Logging guard
# --------------------------------------------------------------------------------------------


class ErrorLogGuard(logging.Handler):
    """Fail when discord.py (or other named loggers) logs at ERROR or above.

    discord.py only *logs* exceptions raised in event handlers, app command callbacks and
    views, so a test would otherwise pass with a crashed handler. Use as a (sync) context
    manager; on a clean exit it raises AssertionError listing the offending records. Pass
    ``ignore`` regexes (matched against the message) for expected errors, or call
    :meth:`check` / inspect :attr:`records` mid-test.
    """

    def __init__(
        self,
        loggers: Iterable[str] = ("discord",),
        *,
        level: int = logging.ERROR,
        ignore: Iterable[str | re.Pattern[str]] = (),
    ) -> None:
        super().__init__(level=level)
        self.logger_names = tuple(loggers)
        self.ignore = [re.compile(p) if isinstance(p, str) else p for p in ignore]
        self.records: list[logging.LogRecord] = []
        self._saved_levels: list[tuple[logging.Logger, int]] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if any(p.search(message) for p in self.ignore):
            return
        self.records.append(record)

    def __enter__(self) -> ErrorLogGuard:
        for name in self.logger_names:
            logger = logging.getLogger(name)
            self._saved_levels.append((logger, logger.level))
            if logger.getEffectiveLevel() > self.level:
                logger.setLevel(self.level)
            logger.addHandler(self)
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        for logger, level in self._saved_levels:
            logger.removeHandler(self)
            logger.setLevel(level)
        self._saved_levels.clear()
        if exc_type is None:
            self.check()

    def format_records(self) -> str:
        fmt = logging.Formatter("%(name)s %(levelname)s: %(message)s")
        return "\n".join(fmt.format(r) for r in self.records)

    def check(self) -> None:
        if self.records:
            raise AssertionError(
                f"{len(self.records)} error log record(s) from {self.logger_names}:\n"
                + self.format_records()
            )
