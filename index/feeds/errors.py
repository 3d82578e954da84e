"""Error types of live news (fetch, parse, the feed tables), under the engine's own
(``index/errors.py``) so a front end that shows a ``NewsbotError`` as one line shows these too.

A fetch or parse failure is a ``SourceError``: the input could not be read, as with a file.
"""

from __future__ import annotations

from index.errors import NewsbotError, SourceError


class FetchError(SourceError):
    """A URL that could not be fetched; ``str()`` is one line naming the URL and why.

    ``status`` is the HTTP status when the server answered with an error, else None;
    ``retry_after`` the seconds its Retry-After header asked us to wait (429, 503), else None.
    """

    def __init__(
        self, url: str, reason: str, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{_printable(url, 300)}: {_printable(reason, 700)}")
        self.url = url
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


class RefusedAddress(FetchError):
    """A URL that points where nothing is fetched from: a private, loopback, link-local or
    cloud-metadata address. Unlike a failed fetch, retrying cannot help."""


class FeedParseError(SourceError):
    """A fetched document that is not a readable feed; the message names its URL."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


class RegistryError(NewsbotError):
    """A feed or subscription request that cannot be done (duplicate, unknown id, bad URL)."""


class LimitReached(RegistryError):
    """An owner already has as many feeds, or subscriptions, as it may (``count`` of them)."""

    def __init__(self, message: str, count: int) -> None:
        super().__init__(message)
        self.count = count


def _printable(text: str, limit: int) -> str:
    """``text`` readable on one line: a feed's item link can hold control characters (a
    newline would split a log line) or run to 64 KB."""
    shown = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"
