"""``SafeFetcher``: the only code in newsbot that opens a network connection.

A feed URL comes from a Discord user, so the fetcher treats every URL as hostile (SSRF): only
http/https, and the host must resolve to public addresses only — loopback, private, link-local,
multicast, reserved and cloud-metadata addresses are refused unless the host is allow-listed.
The check runs before connecting and again on every redirect hop (redirects are followed
by hand), and the connection is then made to the very address that was checked (the URL is
pinned to the IP, with Host and TLS SNI kept), so a DNS answer that changes between the check
and the connect ("DNS rebinding") cannot slip a private address in. Proxies from the
environment are ignored for the same reason.

Bodies are capped while streaming (decoded bytes are counted, and gzip/deflate are undone here
with bounded output, so a gzip bomb, even a nested one, stops at the cap without inflating),
each hop has a deadline, at most ``per_host_requests`` requests run against one host at a time,
and conditional GET (ETag / Last-Modified -> 304) spares publishers and us a full download.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import re
import socket
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import httpx

from index.feeds.config import FeedConfig
from index.feeds.errors import FetchError, RefusedAddress
from index.feeds.urls import url_problem
from index.sources.common import bom_encoding

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Cloud metadata and platform endpoints; most are link-local or private anyway, but Azure's
# wireserver (168.63.129.16) is a public-range address, so the list is checked by name.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.253",  # AWS DNS
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure wireserver
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::253",
    )
)
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
# The content codings ``_Inflater`` undoes; sent as Accept-Encoding so that httpx never
# advertises one it would decode itself (brotli, zstd) once such a package is installed.
ACCEPT_ENCODING = "gzip, deflate"
_META_CHARSET = re.compile(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one fetch brought back. ``url`` is the final URL after redirects."""

    url: str
    status: int
    content_type: str  # media type only, lower case ("" when the server sent none)
    charset: str | None
    body: bytes
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    def text(self) -> str:
        """The body as text: a byte-order mark's encoding, else the header's charset, else a
        <meta charset>, else UTF-8 (browsers' order: a BOM outranks a server's default
        charset=iso-8859-1 that mangles every accent of a UTF-8 page)."""
        for charset in (bom_encoding(self.body), self.charset, _meta_charset(self.body), "utf-8"):
            if not charset:
                continue
            try:
                return self.body.decode(charset)
            except (LookupError, UnicodeDecodeError):
                continue
        return self.body.decode("utf-8", "replace")


def blocked_reason(ip: IPAddress) -> str | None:
    """Why connecting to ``ip`` is refused, or None for an ordinary public address."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    for test, label in (
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
    ):
        if test:
            return label
    if not ip.is_global:  # shared address space (100.64/10), benchmarking ranges and the like
        return "a non-public address"
    return None


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host`` (what a connect could reach)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def _checked_addresses(
    url: str,
    current: str,
    host: str,
    port: int,
    allow: frozenset[str],
    resolve: Resolver = system_resolver,
) -> list[IPAddress] | None:
    """Every address ``host`` has, all of them public; None when the host is allow-listed.
    Raises ``RefusedAddress`` for a blocked one, ``FetchError`` when the host does not
    resolve."""
    if host in allow:
        return None
    try:
        addresses: list[IPAddress] = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            found = await resolve(host, port)
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in found]
        except (OSError, ValueError) as exc:
            raise FetchError(url, f"cannot resolve host {host!r} ({exc})") from None
    if not addresses:
        raise FetchError(url, f"cannot resolve host {host!r}")
    for ip in addresses:  # every address: a connect may pick any of them
        reason = blocked_reason(ip)
        if reason:
            via = f" ({host} resolves to {ip})" if str(ip) != host else ""
            raise RefusedAddress(url, f"{_refused(url, current)}: {ip} is {reason}{via}")
    return addresses


async def refused_feed_url(
    url: str,
    allow_hosts: Sequence[str],
    timeout: float,
    resolve: Resolver = system_resolver,
) -> str | None:
    """Why a feed URL a member gives is refused for where it points (one line naming it), or
    None. Checked when the feed is added, so such a URL is not kept and retried forever; a
    host that does not resolve now (or not within ``timeout``) is not refused: the polls
    will say so, with backoff."""
    problem = url_problem(url)  # "http://x:99999/": every poll would fail on it
    if problem:
        return f"{url}: {problem}"
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        async with asyncio.timeout(timeout):
            await _checked_addresses(url, url, host, port, _allow_set(allow_hosts), resolve)
    except RefusedAddress as exc:
        return str(exc)
    except (FetchError, ValueError, TimeoutError):
        pass  # not refused for where it points: the polls report and retry the rest
    return None


def _allow_set(hosts: Sequence[str]) -> frozenset[str]:
    return frozenset(h.strip().lower().strip("[]") for h in hosts)


class SafeFetcher:
    """Async HTTP GET with the SSRF guard, caps and politeness above; use ``async with``.

    ``resolver`` and ``transport`` exist for tests and embedders: the resolver answers
    "which addresses does this host have" and the transport carries requests (both default to
    the real thing).
    """

    def __init__(
        self,
        config: FeedConfig,
        *,
        resolver: Resolver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self._allow = _allow_set(config.allow_hosts)
        self._resolve = resolver or system_resolver
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,  # a proxy would connect on our behalf, past the address check
            timeout=httpx.Timeout(config.fetch_timeout_seconds),
            headers={"User-Agent": config.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
            transport=transport,
        )
        self._host_slots: dict[str, asyncio.Semaphore] = {}

    async def __aenter__(self) -> SafeFetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str = PAGE_ACCEPT,
    ) -> FetchResult:
        """GET ``url``, following up to ``max_redirects`` redirects, each one re-checked.

        With ``etag``/``last_modified`` the request is conditional and a 304 comes back as a
        result whose ``not_modified`` is true (and whose body is empty). Any failure raises
        ``FetchError`` naming ``url``.
        """
        current = url
        for _hop in range(self.config.max_redirects + 1):
            headers = {"Accept": accept}
            if etag:
                headers["If-None-Match"] = etag
            if last_modified:
                headers["If-Modified-Since"] = last_modified
            result, location = await self._hop(url, current, headers)
            if location is None:
                assert result is not None
                return result
            current = location
        raise FetchError(url, f"more than {self.config.max_redirects} redirects")

    async def _hop(
        self, url: str, current: str, headers: dict[str, str]
    ) -> tuple[FetchResult | None, str | None]:
        """One request: (result, None), or (None, next URL) for a redirect."""
        problem = url_problem(current)  # a feed's item link can be anything
        if problem:
            raise FetchError(url, f"{_refused(url, current)}: {problem}")
        parts = urlsplit(current)
        host = (parts.hostname or "").lower()
        port = parts.port or (443 if parts.scheme == "https" else 80)
        async with self._slot(host):
            timeout = self.config.fetch_timeout_seconds
            try:
                async with asyncio.timeout(timeout):
                    target = await self._checked_target(url, current, host, port)
                    return await self._request(url, current, target, host, headers)
            except (TimeoutError, httpx.TimeoutException):
                raise FetchError(url, f"timed out after {timeout:g}s") from None
            except httpx.HTTPError as exc:
                raise FetchError(url, _describe(exc)) from None

    def _slot(self, host: str) -> asyncio.Semaphore:
        slot = self._host_slots.get(host)
        if slot is None:
            slot = self._host_slots[host] = asyncio.Semaphore(self.config.per_host_requests)
        return slot

    async def _checked_target(self, url: str, current: str, host: str, port: int) -> httpx.URL:
        """The URL to connect to: pinned to a checked public IP, or as is when allow-listed."""
        target = httpx.URL(current)
        addresses = await _checked_addresses(url, current, host, port, self._allow, self._resolve)
        return target if addresses is None else target.copy_with(host=str(addresses[0]))

    async def _request(
        self, url: str, current: str, target: httpx.URL, host: str, headers: dict[str, str]
    ) -> tuple[FetchResult | None, str | None]:
        logical = httpx.URL(current)
        extensions = {}
        if target.host != logical.host:  # pinned: keep the name for Host and TLS
            headers = {**headers, "Host": logical.netloc.decode("ascii")}
            if logical.scheme == "https":
                extensions["sni_hostname"] = host
        request = self._client.build_request("GET", target, headers=headers, extensions=extensions)
        response = await self._client.send(request, stream=True)
        try:
            if response.status_code in _REDIRECTS and "location" in response.headers:
                return None, urljoin(current, response.headers["location"].strip())
            if response.status_code == 304:
                if "If-None-Match" not in headers and "If-Modified-Since" not in headers:
                    # Nothing to compare with: taken as "unchanged", a feed's first poll would
                    # record nothing yet count as its baseline, and its next poll would flood.
                    raise FetchError(
                        url, "HTTP 304 Not Modified to a request that was not conditional"
                    )
                return _result(current, response, b""), None
            if response.status_code >= 400:
                reason = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
                wait = _retry_after(response.headers.get("retry-after", ""))
                raise FetchError(url, reason, response.status_code, wait)
            body = await self._read_capped(url, response)
            return _result(current, response, body), None
        finally:
            await response.aclose()

    async def _read_capped(self, url: str, response: httpx.Response) -> bytes:
        cap = self.config.max_body_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise FetchError(url, f"body too large ({declared} bytes, limit {cap})")
        if response.is_stream_consumed:  # built in memory by a transport (tests): decoded
            if len(response.content) > cap:
                raise FetchError(url, f"body too large (over {cap} bytes)")
            return response.content
        encoding = response.headers.get("content-encoding", "")
        # The last coding applied is the first one undone; codings this module does not know
        # pass through as httpx would pass them.
        layers = [_Inflater(c) for c in reversed(_codings(encoding)) if c in _Inflater.CODINGS]
        chunks, size = [], 0
        async for chunk in response.aiter_raw():
            try:
                for layer in layers:
                    chunk = layer.inflate(chunk, cap - size)
                    if len(chunk) > cap - size:
                        raise FetchError(url, f"body too large (over {cap} bytes)")
            except zlib.error as exc:
                raise FetchError(
                    url, f"cannot decode the body (Content-Encoding {encoding}: {exc})"
                ) from None
            size += len(chunk)
            if size > cap:
                raise FetchError(url, f"body too large (over {cap} bytes)")
            chunks.append(chunk)
        return b"".join(chunks)


class _Inflater:
    """One gzip or deflate coding undone, never inflating more than asked for.

    httpx inflates each received chunk whole, and every stacked coding in turn: a 64 KiB chunk
    of a gzip bomb is 64 MiB, and under "Content-Encoding: gzip, gzip" a 2 KB response is
    gigabytes before the cap is ever checked.
    """

    CODINGS = frozenset({"gzip", "x-gzip", "deflate"})

    def __init__(self, coding: str) -> None:
        self._raw_fallback = coding == "deflate"
        self._inflate = zlib.decompressobj(zlib.MAX_WBITS | (16 if coding != "deflate" else 0))

    def inflate(self, data: bytes, limit: int) -> bytes:
        """Up to ``limit + 1`` bytes: one byte over the limit shows the limit is passed (and
        input may be left over, so the caller must stop)."""
        try:
            out = self._inflate.decompress(data, limit + 1)
        except zlib.error:
            if not self._raw_fallback:
                raise
            # Some servers send "deflate" as a bare deflate stream, without the zlib header.
            self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self._inflate.decompress(data, limit + 1)
        self._raw_fallback = False
        return out


def _retry_after(value: str) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date; None when absent or bad."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": UTC
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _codings(header: str) -> list[str]:
    """Content codings in the order they were applied, ``identity`` left out."""
    found = (c.strip().lower() for c in header.split(","))
    return [c for c in found if c and c != "identity"]


def _result(url: str, response: httpx.Response, body: bytes) -> FetchResult:
    media, _, params = response.headers.get("content-type", "").partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip("\"'")
    return FetchResult(
        url=url,
        status=response.status_code,
        content_type=media.strip().lower(),
        charset=charset,
        body=body,
        etag=response.headers.get("etag"),
        last_modified=response.headers.get("last-modified"),
    )


def _refused(url: str, current: str) -> str:
    """The message names the URL already; a redirect target is named as well."""
    return "refused" if current == url else f"refused redirect to {current}"


def _describe(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({exc or type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _meta_charset(body: bytes) -> str | None:
    found = _META_CHARSET.search(body[:4096])
    if not found:
        return None
    charset = found.group(1).decode("ascii")
    # A <meta> readable as ASCII cannot be UTF-16 or UTF-32, whatever it says (the HTML
    # standard reads such pages as UTF-8); decoded as UTF-16, every letter pair became a CJK
    # character and the page lost all its text.
    return "utf-8" if charset.lower().replace("-", "").startswith(("utf16", "utf32")) else charset
