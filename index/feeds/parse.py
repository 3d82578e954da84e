"""RSS 0.9x/1.0/2.0 and Atom -> ``FeedItem``s (via feedparser), and telling a feed from a page.

Feeds are sloppy: feedparser reads what it can and flags the rest ("bozo"). A feed with
entries is used even when bozo; one that yields nothing is an error naming its URL, so a
broken feed is reported rather than silently read as empty.
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import feedparser
import lxml.html
from lxml import etree

from index.feeds.errors import FeedParseError
from index.model import text_hash
from index.sources.common import bom_encoding, one_line, plausible_published

FEED_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/rdf+xml",
        "application/rss",
        "application/x-rss+xml",
        "application/x-atom+xml",
    }
)
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# The document's root element, after a BOM, an XML declaration, comments and a doctype.
_ROOT = re.compile(
    rb"^(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*\?>\s*)?(?:(?:<!--.*?-->|<!DOCTYPE[^>]*>|<\?[^>]*\?>)\s*)*"
    rb"<(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)",
    re.DOTALL,
)
_FEED_ROOTS = frozenset({b"rss", b"feed", b"rdf"})
_BLOCKS = (
    "p",
    "div",
    "li",
    "ul",
    "ol",
    "blockquote",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "tr",
    "section",
    "article",
    "figure",
    "pre",
)
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One entry of a feed. ``summary`` and ``content`` are plain text (paragraphs split by a
    blank line); ``published`` is timezone-aware or None."""

    guid: str
    url: str | None
    title: str
    published: datetime | None
    summary: str
    content: str

    @property
    def text(self) -> str:
        """The feed's own article text: the full content when given, else the summary."""
        return self.content or self.summary

    @property
    def content_hash(self) -> str:
        """What stays the same when a publisher rewrites an item's GUID, link or date."""
        return text_hash(self.title + "\n" + (self.text or self.url or ""))


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    url: str
    title: str | None
    link: str | None
    items: tuple[FeedItem, ...]
    warning: str | None = None  # feedparser's complaint about a feed it could still read


def parse_feed(body: bytes, url: str, content_type: str = "") -> ParsedFeed:
    """Parse RSS or Atom; raise ``FeedParseError`` (naming ``url``) when nothing can be read."""
    headers = {"content-location": url}
    # A byte-order mark names the encoding; "text/xml" without a charset would have feedparser
    # read it as US-ASCII (RFC 3023), and a UTF-16 feed as malformed.
    if content_type and bom_encoding(body) is None:
        headers["content-type"] = content_type
    parsed = feedparser.parse(body, response_headers=headers, sanitize_html=False)
    entries = list(parsed.get("entries") or [])
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if not entries and problem is not None:
        raise FeedParseError(url, one_line(f"malformed feed: {problem}"))
    if not entries and not parsed.get("version"):
        raise FeedParseError(url, "not an RSS or Atom feed")
    feed = parsed.get("feed") or {}
    items = tuple(i for i in (_item(entry, url) for entry in entries) if i is not None)
    if not items and problem is not None:  # entries recovered from the wreck, all empty
        raise FeedParseError(url, one_line(f"malformed feed: {problem}"))
    return ParsedFeed(
        url=url,
        title=one_line(html_to_text(feed.get("title") or "")) or None,
        link=feed.get("link") or None,
        items=items,
        warning=one_line(str(problem)) if problem is not None else None,
    )


def _item(entry: dict, feed_url: str) -> FeedItem | None:
    link = (entry.get("link") or "").strip() or None
    title = one_line(html_to_text(entry.get("title") or ""), 1000)
    summary = html_to_text(entry.get("summary") or "")
    content = ""
    for part in entry.get("content") or []:
        value = html_to_text(part.get("value") or "")
        if len(value) > len(content):
            content = value
    if summary and content and _same_text(summary, content):
        summary = content
    if not title and not link and not (content or summary):
        return None
    guid = (entry.get("id") or "").strip() or link
    if not guid:
        guid = "hash:" + text_hash(title + "\n" + (content or summary))
    if not title:
        title = one_line(content or summary or link or feed_url, 120)
    return FeedItem(
        guid=guid,
        url=link,
        title=title,
        published=_published(entry),
        summary=summary,
        content=content,
    )


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def _published(entry: dict) -> datetime | None:
    """feedparser normalises every date format it knows to a UTC struct_time. A date in an
    implausible year (a "9999" placeholder) counts as none: the item is still news."""
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if isinstance(value, time.struct_time):
            try:
                when = datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
            except (OverflowError, OSError, ValueError):
                continue
            if plausible_published(when):
                return when
    return None


def html_to_text(fragment: str) -> str:
    """Text of an HTML fragment with paragraphs kept (blank line between blocks)."""
    if not fragment.strip():
        return ""
    if "<" not in fragment and "&" not in fragment:
        return _paragraphs(fragment)
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return _paragraphs(re.sub(r"<[^>]+>", " ", fragment))
    for bad in root.xpath("//script|//style|//noscript"):
        bad.drop_tree()
    for br in root.iter("br"):
        br.tail = "\n" + (br.tail or "")
    for block in root.iter(*_BLOCKS):
        block.text = "\n\n" + (block.text or "")
        block.tail = "\n\n" + (block.tail or "")
    return _paragraphs(root.text_content())


def _paragraphs(text: str) -> str:
    parts = (" ".join(p.split()) for p in _PARAGRAPH_BREAK.split(text.replace("\r", "")))
    return "\n\n".join(p for p in parts if p)


def is_feed(content_type: str, body: bytes) -> bool:
    """Whether a fetched document is a feed rather than a web page (or anything else).

    A feed media type is trusted; otherwise the root element decides (many servers send feeds
    as text/xml or even text/html, and pages never have an <rss>, <feed> or <rdf:RDF> root).
    """
    media = content_type.split(";", 1)[0].strip().lower()
    if media in FEED_TYPES:
        return True
    head = body[:4096]
    if (bom := bom_encoding(head)) in ("utf-16", "utf-32"):  # the root element, as bytes
        head = head.decode(bom, "ignore").encode("utf-8")
    found = _ROOT.match(head)
    return found is not None and found.group(1).lower() in _FEED_ROOTS


def is_html(content_type: str, body: bytes) -> bool:
    """Whether a fetched document is a web page worth handing to the article extractor."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media in HTML_TYPES:
        return True
    if media and media not in ("text/plain", "application/octet-stream"):
        return False
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))
