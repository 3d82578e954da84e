"""SafeFetcher against a real server on 127.0.0.1: caps, timeouts, 304s, redirects, SSRF refusals.

Every fetcher here runs over ``LoopbackOnly``, a transport that fails the test rather than
let any request leave 127.0.0.1, so even a broken address check could never reach a private
or metadata address from a test run.
"""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import socket
import time
import tracemalloc
import zlib
from collections.abc import Iterator, Sequence

import httpx
import pytest

from index.feeds.articles import url_articles
from index.feeds.config import FeedConfig
from index.feeds.fetch import FetchError, SafeFetcher, blocked_reason, refused_feed_url
from tests.support.http_server import LocalServer, Route


class LoopbackOnly(httpx.AsyncBaseTransport):
    """The real HTTP transport, refusing (loudly) any host but 127.0.0.1."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.hosts: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.hosts.append(request.url.host)
        if request.url.host != "127.0.0.1":
            raise AssertionError(f"the fetcher tried to connect to {request.url.host}")
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def names(table: dict[str, list[str]]):
    """A resolver for made-up host names (the DNS edge); unknown names do not resolve."""

    async def resolve(host: str, port: int) -> Sequence[str]:
        if host not in table:
            raise socket.gaierror(f"unknown test host {host}")
        return table[host]

    return resolve


def config(**overrides: object) -> FeedConfig:
    base: dict[str, object] = {
        "allow_hosts": ("127.0.0.1",),
        "fetch_timeout_seconds": 1.0,
        "max_body_bytes": 50_000,
        "user_agent": "newsbot-test/1.0 (+local tests)",
    }
    base.update(overrides)
    return FeedConfig(**base)  # type: ignore[arg-type]


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as s:
        yield s


@pytest.fixture
def transport() -> LoopbackOnly:
    return LoopbackOnly()


def fetcher(transport: httpx.AsyncBaseTransport, **overrides: object) -> SafeFetcher:
    resolver = overrides.pop("resolver", None)
    return SafeFetcher(config(**overrides), resolver=resolver, transport=transport)  # type: ignore[arg-type]


async def test_fetch_sends_user_agent_and_decodes_gzip(server, transport):
    url = server.route("/page", Route("<html><body>hello</body></html>" * 50, gzip=True))
    async with fetcher(transport) as f:
        got = await f.fetch(url)
    assert got.status == 200
    assert got.content_type == "text/html" and got.charset == "utf-8"
    assert got.text().startswith("<html><body>hello")
    assert len(got.body) == len("<html><body>hello</body></html>") * 50
    assert server.last("/page").headers["user-agent"] == "newsbot-test/1.0 (+local tests)"


PAGE = "<html><head>{meta}<title>Caf\u00e9 r\u00e9sum\u00e9</title></head><body>na\u00efve</body></html>"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        # A server's default latin-1 under a UTF-8 page that starts with a BOM.
        ("text/html; charset=iso-8859-1", b"\xef\xbb\xbf" + PAGE.format(meta="").encode()),
        ("text/html", PAGE.format(meta="").encode("utf-16")),  # UTF-16 with its BOM
        ("text/html", PAGE.format(meta="").encode("utf-32")),  # its BOM starts as UTF-16's
        # A copied <meta charset="utf-16"> on a UTF-8 page of an even length: read as UTF-16,
        # every letter pair became a CJK character.
        ("text/html", PAGE.format(meta='<meta charset="UTF-16" >').encode()),
    ],
)
async def test_page_text_follows_the_bom_and_a_meta_utf16_means_utf8(
    server, transport, content_type, body
):
    url = server.route("/page", Route(body, content_type=content_type))
    async with fetcher(transport) as f:
        got = await f.fetch(url)
    assert "<title>Caf\u00e9 r\u00e9sum\u00e9</title>" in got.text()
    assert got.text().startswith("<html>")


async def test_conditional_get_gets_304_and_keeps_validators(server, transport):
    lm = "Wed, 01 May 2024 10:00:00 GMT"
    url = server.route("/feed.xml", Route("<rss/>", etag='"v1"', last_modified=lm))
    async with fetcher(transport) as f:
        first = await f.fetch(url)
        assert (first.status, first.etag, first.last_modified) == (200, '"v1"', lm)
        second = await f.fetch(url, etag=first.etag, last_modified=first.last_modified)
    assert second.not_modified and second.body == b""
    assert server.conditional_hits("/feed.xml") == 1
    sent = server.last("/feed.xml").headers
    assert sent["if-none-match"] == '"v1"' and sent["if-modified-since"] == lm


async def test_redirects_are_followed_and_final_url_reported(server, transport):
    server.route("/a", Route(status=301, headers={"Location": "/b"}))
    server.route("/b", Route(status=302, headers={"Location": server.url("/c")}))
    server.route("/c", Route("done"))
    async with fetcher(transport) as f:
        got = await f.fetch(server.url("/a"))
    assert got.url == server.url("/c") and got.body == b"done"


async def test_redirect_to_private_address_is_refused_before_connecting(server, transport):
    url = server.route("/go", Route(status=302, headers={"Location": "http://10.0.0.1/admin"}))
    async with fetcher(transport) as f:
        with pytest.raises(FetchError) as caught:
            await f.fetch(url)
    assert str(caught.value) == (
        f"{url}: refused redirect to http://10.0.0.1/admin: 10.0.0.1 is a private address"
    )
    assert transport.hosts == ["127.0.0.1"]  # only the first hop was ever sent


async def test_redirect_to_name_resolving_to_metadata_is_refused(server, transport):
    url = server.route(
        "/go", Route(status=307, headers={"Location": "http://metadata.test/latest/"})
    )
    resolver = names({"metadata.test": ["169.254.169.254"]})
    async with fetcher(transport, resolver=resolver) as f:
        with pytest.raises(FetchError) as caught:
            await f.fetch(url)
    message = str(caught.value)
    assert "cloud metadata address" in message and "metadata.test resolves to" in message
    assert transport.hosts == ["127.0.0.1"]


async def test_a_name_with_any_private_address_is_refused(transport):
    # DNS rebinding often answers with a public and a private address at once.
    resolver = names({"mixed.test": ["93.184.216.34", "192.168.1.10"]})
    async with fetcher(transport, resolver=resolver) as f:
        with pytest.raises(FetchError, match=r"192\.168\.1\.10 is a private address"):
            await f.fetch("http://mixed.test/")
    assert transport.hosts == []


async def test_redirect_to_loopback_name_is_refused_unless_allow_listed(server):
    # Only "127.0.0.1" is allow-listed: "localhost" is the same machine under another name,
    # and the server must never see the redirected request.
    server.route("/secret", Route("secret"))
    url = server.route(
        "/go", Route(status=302, headers={"Location": f"http://localhost:{server.port}/secret"})
    )
    async with SafeFetcher(config()) as f:
        with pytest.raises(FetchError, match="loopback address"):
            await f.fetch(url)
    assert server.hits("/secret") == 0


async def test_loopback_is_refused_without_an_allow_list(server, transport):
    url = server.route("/page", Route("hi"))
    async with fetcher(transport, allow_hosts=()) as f:
        with pytest.raises(FetchError) as caught:
            await f.fetch(url)
    assert str(caught.value) == f"{url}: refused: 127.0.0.1 is a loopback address"
    assert server.hits("/page") == 0


async def test_connection_is_pinned_to_the_checked_address():
    """A public name is fetched from the address that was checked, Host and SNI kept."""
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:  # no connection is made
        sent.append(request)
        return httpx.Response(200, text="ok", headers={"Content-Type": "text/plain"})

    resolver = names({"news.test": ["93.184.216.34"]})
    async with fetcher(httpx.MockTransport(answer), resolver=resolver, allow_hosts=()) as f:
        got = await f.fetch("https://news.test:8443/story?id=1")
    assert got.url == "https://news.test:8443/story?id=1" and got.body == b"ok"
    (request,) = sent
    assert request.url.host == "93.184.216.34" and request.url.port == 8443
    assert request.headers["host"] == "news.test:8443"
    assert request.extensions["sni_hostname"] == "news.test"


async def test_redirect_loop_stops_after_the_cap(server, transport):
    url = server.route("/loop", Route(status=302, headers={"Location": "/loop"}))
    async with fetcher(transport) as f:
        with pytest.raises(FetchError, match="more than 5 redirects"):
            await f.fetch(url)
    assert server.hits("/loop") == 6


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://a/"])
async def test_only_http_and_https(url, transport):
    async with fetcher(transport) as f:
        with pytest.raises(FetchError, match="only http and https"):
            await f.fetch(url)


async def test_redirect_to_file_scheme_is_refused(server, transport):
    url = server.route("/go", Route(status=302, headers={"Location": "file:///etc/passwd"}))
    async with fetcher(transport) as f:
        with pytest.raises(FetchError, match="only http and https"):
            await f.fetch(url)


async def test_server_that_never_answers_times_out(server, transport):
    url = server.route("/slow", Route(hang=True))
    started = time.monotonic()
    async with fetcher(transport, fetch_timeout_seconds=0.5) as f:
        with pytest.raises(FetchError) as caught:
            await f.fetch(url)
    assert time.monotonic() - started < 3
    assert str(caught.value) == f"{url}: timed out after 0.5s"


async def test_body_over_the_cap_is_refused(server, transport):
    url = server.route("/big", Route(b"x" * 60_000, content_type="text/plain"))
    async with fetcher(transport) as f:
        with pytest.raises(FetchError, match=r"body too large \(60000 bytes, limit 50000\)"):
            await f.fetch(url)


async def test_streamed_body_over_the_cap_is_cut_off(server, transport):
    # No Content-Length, and gzip: the cap counts the decoded bytes as they arrive.
    url = server.route("/bomb", Route(b"a" * 2_000_000, gzip=True, chunked=True))
    async with fetcher(transport) as f:
        with pytest.raises(FetchError, match=r"body too large \(over 50000 bytes\)"):
            await f.fetch(url)


def _gzip_of_zeros(size: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    return b"".join([*(packer.compress(block) for _ in range(size >> 20)), packer.flush()])


async def test_nested_gzip_bomb_is_cut_off_without_inflating_it(server, transport):
    # fetch.py: httpx inflated each received chunk whole, and each stacked coding in turn, so
    # this 1 KB response took 200 MB (and one of 2 KB took 2 GB) before the cap was checked.
    bomb = gzip.compress(_gzip_of_zeros(200 << 20), 9)
    assert len(bomb) < 2_000
    url = server.route("/bomb", Route(bomb, headers={"Content-Encoding": "gzip, gzip"}))
    async with fetcher(transport) as f:
        tracemalloc.start()
        try:
            with pytest.raises(FetchError, match=r"body too large \(over 50000 bytes\)"):
                await f.fetch(url)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 20 << 20


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # bare deflate, no zlib header
        ("gzip, gzip", lambda data: gzip.compress(gzip.compress(data))),
        ("identity", lambda data: data),
    ],
)
async def test_content_encodings_are_decoded(server, transport, encoding, encode):
    page = "<html><body>" + "<p>The ferry runs again.</p>" * 300 + "</body></html>"
    url = server.route(
        "/page", Route(encode(page.encode()), headers={"Content-Encoding": encoding})
    )
    async with fetcher(transport) as f:
        got = await f.fetch(url)
    assert got.text() == page
    assert server.last("/page").headers["accept-encoding"] == "gzip, deflate"


async def test_a_body_that_is_not_the_gzip_it_claims_is_a_one_line_error(server, transport):
    url = server.route("/page", Route("<html>plain</html>", headers={"Content-Encoding": "gzip"}))
    async with fetcher(transport) as f:
        with pytest.raises(FetchError) as caught:
            await f.fetch(url)
    assert str(caught.value).startswith(f"{url}: cannot decode the body (Content-Encoding gzip: ")


async def test_a_304_to_an_unconditional_request_is_an_error(server, transport):
    # fetch.py: it came back as "not modified", and a feed's first poll then recorded nothing
    # yet counted as the baseline, so the second poll posted every item.
    url = server.route("/feed.xml", Route(status=304))
    async with fetcher(transport) as f:
        with pytest.raises(FetchError) as caught:
            await f.fetch(url)
    assert (
        str(caught.value) == f"{url}: HTTP 304 Not Modified to a request that was not conditional"
    )


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://[::1/story", "Invalid IPv6 URL"),
        ("http://127.0.0.1/a\x01b", "non-printable ASCII character"),
        ("http://127.0.0.1/" + "a" * 70_000, "URL too long"),
    ],
)
async def test_an_invalid_url_is_a_fetch_error(transport, url, why):
    # fetch.py: ValueError / httpx.InvalidURL escaped, and one such item link in a feed failed
    # the whole poll, every poll.
    async with fetcher(transport) as f:
        with pytest.raises(FetchError, match="not a valid URL") as caught:
            await f.fetch(url)
    assert why in str(caught.value)
    assert str(caught.value).isprintable() and len(str(caught.value)) <= 1000  # one line
    assert transport.hosts == []


async def test_http_error_is_a_one_line_fetch_error(server, transport):
    url = server.route("/gone", Route("nope", status=404))
    async with fetcher(transport) as f:
        with pytest.raises(FetchError) as caught:
            await f.fetch(url)
    assert caught.value.status == 404
    assert str(caught.value) == f"{url}: HTTP 404 Not Found"


async def test_closed_port_is_a_fetch_error(transport):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with fetcher(transport) as f:
        with pytest.raises(FetchError, match="cannot connect"):
            await f.fetch(f"http://127.0.0.1:{port}/")


async def test_at_most_two_requests_per_host_at_once(server, transport):
    server.route("/slow", Route("ok", delay=0.15))
    async with fetcher(transport, per_host_requests=2) as f:
        got = await asyncio.gather(*(f.fetch(server.url("/slow")) for _ in range(6)))
    assert len(got) == 6
    assert server.max_in_flight == 2


async def test_a_feeds_item_pages_are_fetched_a_few_at_a_time(server, transport):
    # Every item page was fetched at once (only each host was limited): a feed of a thousand
    # items on a thousand hosts opened a thousand connections.
    server.route("/slow", Route("<html><body><p>ok</p></body></html>", delay=0.15))
    items = "".join(
        f"<item><title>Story {n}</title><link>{server.url('/slow')}?n={n}</link>"
        f"<guid>s-{n}</guid><description>Summary of story {n}.</description></item>"
        for n in range(7)
    )
    feed = f'<rss version="2.0"><channel><title>T</title>{items}</channel></rss>'
    feed_url = server.route("/feed.xml", Route(feed, content_type="application/rss+xml"))
    async with fetcher(transport, per_host_requests=10, item_fetches_per_feed=3) as f:
        got = await url_articles(f, [feed_url])
    assert len(got) == 7
    assert server.max_in_flight == 3


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "::1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.0.1",
        "169.254.169.254",
        "fd00:ec2::254",
        "168.63.129.16",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "ff02::1",
        "fe80::1",
        "240.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:127.0.0.1",
    ],
)
def test_blocked_addresses(address):
    assert blocked_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address):
    assert blocked_reason(ipaddress.ip_address(address)) is None


async def test_a_feed_url_is_refused_at_add_time_only_for_where_it_points():
    """``/feeds add`` refuses a URL whose host is private (not kept, not retried), but not
    one that merely fails to resolve now or resolves slowly: the polls report those."""
    resolver = names({"intranet.test": ["10.0.0.7"], "news.test": ["93.184.216.34"]})

    async def slow(host: str, port: int) -> list[str]:
        await asyncio.sleep(5)
        return ["10.0.0.7"]

    refused = await refused_feed_url("http://intranet.test/rss", (), 1.0, resolver)
    assert refused == (
        "http://intranet.test/rss: refused: 10.0.0.7 is a private address "
        "(intranet.test resolves to 10.0.0.7)"
    )
    assert "cloud metadata" in (await refused_feed_url("http://169.254.169.254/", (), 1.0) or "")
    assert await refused_feed_url("http://news.test/rss", (), 1.0, resolver) is None
    assert (
        await refused_feed_url("http://intranet.test/rss", ["intranet.test"], 1.0, resolver) is None
    )
    assert await refused_feed_url("http://gone.test/rss", (), 1.0, resolver) is None
    bad_port = "http://news.test:99999/rss"  # was kept, and failed every poll
    assert await refused_feed_url(bad_port, (), 1.0, resolver) == f"{bad_port}: bad port"
    assert await refused_feed_url("http://slow.test/rss", (), 0.05, slow) is None
