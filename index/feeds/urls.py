"""URL normal form, so the same article reached through tracking links is recognised as one."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

# Query parameters that only say how a reader arrived, never which article it is.
_TRACKING = frozenset(
    {"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid", "yclid", "_ga", "ref"}
)


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, no default port, no fragment, no utm_*/click-id parameters.

    Path and the remaining query are kept exactly: on news sites they name the article.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    if parts.username or parts.password:
        host = parts.netloc.rsplit("@", 1)[0] + "@" + host
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [
        (k, v) for k, v in pairs if not k.lower().startswith("utm_") and k.lower() not in _TRACKING
    ]
    query = parts.query if len(kept) == len(pairs) else urlencode(kept)  # untouched when clean
    return urlunsplit((scheme, host, parts.path or "/", query, ""))


def is_http_url(text: str) -> bool:
    """Whether a command-line argument names a web address rather than a file. A malformed
    one (``http://[::1``: ``urlsplit`` raises) is not: callers refuse it as "not a URL"."""
    try:
        parts = urlsplit(text.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be fetched as written, in a few words; None when it can. One check
    for the fetcher (every hop) and for a feed being added, so a URL no poll could fetch is
    refused at once instead of failing every poll."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # "http://[oops/"
        return f"not a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return "only http and https URLs are fetched"
    if not parts.hostname:
        return "no host"
    try:
        parts.port  # noqa: B018 - the property raises on "http://x:99999/"
    except ValueError:
        return "bad port"
    try:
        httpx.URL(url)  # control characters and over-long URLs, which urlsplit lets by
    except httpx.InvalidURL as exc:
        return f"not a valid URL ({exc})"
    return None
