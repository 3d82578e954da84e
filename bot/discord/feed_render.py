"""Feed headlines, the "+N more" line, /feeds list and the /feeds add report, within limits.

Feed titles, names, URLs and error lines come from publishers and members, so they are
untrusted like article text: escaped and cut with the ``text`` helpers. Pure functions of
their inputs (``now`` is passed in), so they are property-tested without a client.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

import discord

from bot.discord.render import footer_text
from bot.discord.subscribers import destination_channel
from bot.discord.text import (
    EMBED_DESCRIPTION,
    EMBED_TITLE,
    MESSAGE_CONTENT,
    fit,
    fit_escaped,
    safe_url,
    squash,
)
from index.feeds.poller import PollResult
from index.feeds.registry import Feed, PendingPost, Subscription

FEED_COLOUR = discord.Colour(0xE8590C)
LABEL_CHARS = 120
ERROR_CHARS = 300


def feed_label(feed: Feed, limit: int = LABEL_CHARS) -> str:
    """The feed's name (else its URL), escaped, for markdown text."""
    return fit_escaped(squash(feed.label), limit) or f"feed {feed.id}"


def outlet_name(source: str | None, feed: Feed) -> str:
    """Who published a headline: the article's outlet, else the feed's name, else its host."""
    for candidate in (source, feed.name, urlsplit(feed.url).hostname):
        if candidate and squash(candidate):
            return squash(candidate)
    return "Unknown outlet"


def headline_post(post: PendingPost, *, outlet: str) -> discord.Embed:
    """One new headline: the title linking to the article, the outlet in the footer and the
    publication time (else when it was first seen) as the embed's timestamp."""
    embed = discord.Embed(
        title=fit_escaped(squash(post.title), EMBED_TITLE) or "Untitled",
        url=safe_url(post.url),
        colour=FEED_COLOUR,
        timestamp=post.published or post.first_seen,
    )
    embed.set_footer(text=footer_text(outlet))
    return embed


def more_text(count: int, feed: Feed) -> str:
    """The one line that stands for the headlines beyond the per-cycle limit."""
    return fit(f"…and {count} more from {feed_label(feed, 200)} (see /headlines)", MESSAGE_CONTENT)


def poll_report(feed: Feed, result: PollResult) -> str:
    """What /feeds add tells the member: what the first poll found, or its one-line error."""
    head = f"Added feed **#{feed.id}**: {feed_label(feed)}."
    if result.failed:
        error = fit_escaped(squash(result.errors[0] if result.errors else "unknown error"), 500)
        lines = [
            head,
            f"Its first poll failed: {error}",
            "It stays on the list and is retried with backoff; `/feeds remove` deletes it.",
        ]
        return fit("\n".join(lines), MESSAGE_CONTENT)
    found = len(result.new_articles)
    lines = [
        head,
        f"First poll: {found} article{'s' if found != 1 else ''} indexed, answerable with "
        "`/ask` now. They are not posted: only items that appear from now on are.",
    ]
    if result.errors:
        first = fit_escaped(squash(result.errors[0]), ERROR_CHARS)
        lines.append(f"{len(result.errors)} item(s) could not be read, e.g. {first}")
    lines.append("Post its new headlines in a channel with `/subscribe`.")
    return fit("\n".join(lines), MESSAGE_CONTENT)


def _status(feed: Feed) -> str:
    if feed.consecutive_failures:
        error = fit_escaped(squash(feed.last_error or "unknown error"), ERROR_CHARS)
        retry = discord.utils.format_dt(feed.next_poll_at, "R")
        return f"failing ({feed.consecutive_failures} in a row, next try {retry}): {error}"
    if not feed.baselined or feed.last_ok is None:
        return "not polled yet"
    return f"ok, last checked {discord.utils.format_dt(feed.last_ok, 'R')}"


def feed_line(feed: Feed) -> str:
    scope = " · *global, added by the bot's operator*" if feed.owner is None else ""
    url = fit_escaped(squash(feed.url), 300) or "(no URL)"
    name = f" {feed_label(feed)}" if feed.name else ""
    return f"**#{feed.id}**{name}{scope}\n{url}\n{_status(feed)}"


def _keywords(words: Sequence[str]) -> str:
    return fit_escaped(", ".join(words), 200)


def subscription_line(sub: Subscription, feeds: dict[int, Feed]) -> str:
    if sub.feed_id is None:
        target = "every feed above"
    else:
        feed = feeds.get(sub.feed_id)
        target = f"#{sub.feed_id} {feed_label(feed, 80)}" if feed else f"#{sub.feed_id}"
    line = f"<#{destination_channel(sub.destination)}> ← {target}"
    if sub.include:
        line += f" · only: {_keywords(sub.include)}"
    if sub.exclude:
        line += f" · not: {_keywords(sub.exclude)}"
    return line


def _join_within(items: Sequence[str], budget: int, sep: str, what: str) -> str:
    """``items`` joined by ``sep`` up to ``budget`` characters, the rest counted."""
    out: list[str] = []
    used = 0
    for i, item in enumerate(items):
        if used + len(item) + len(sep) > budget:
            out.append(f"…and {len(items) - i} more {what}")
            break
        out.append(item)
        used += len(item) + len(sep)
    return sep.join(out)


def feeds_embed(
    feeds: Sequence[Feed], subscriptions: Sequence[Subscription], *, posts_per_cycle: int
) -> discord.Embed:
    """A server's feeds (its own and the global ones) and where their headlines go."""
    embed = discord.Embed(title="Feeds for this server", colour=FEED_COLOUR)
    if not feeds:
        embed.description = "No feeds yet: add one with `/feeds add`."
        return embed
    text = _join_within([feed_line(f) for f in feeds], 2800, "\n\n", "feeds")
    by_id = {f.id: f for f in feeds}
    if subscriptions:
        room = EMBED_DESCRIPTION - len(text) - 100
        subs = _join_within(
            [subscription_line(s, by_id) for s in subscriptions], room, "\n", "subscriptions"
        )
        text += f"\n\n**Headlines are posted to**\n{subs}"
    else:
        text += "\n\nNo channel gets their headlines yet: use `/subscribe`."
    embed.description = text
    embed.set_footer(
        text=f"{len(feeds)} feed{'s' if len(feeds) != 1 else ''} · at most "
        f"{posts_per_cycle} headlines per feed per poll, the rest as one line"
    )
    return embed


def subscribed_text(
    channel_mention: str, feed: Feed | None, sub: Subscription, posts_per_cycle: int
) -> str:
    what = f"feed #{feed.id} ({feed_label(feed)})" if feed else "every feed of this server"
    parts = [f"New headlines from {what} will be posted in {channel_mention}."]
    if sub.include:
        parts.append(f"Only those mentioning: {_keywords(sub.include)}.")
    if sub.exclude:
        parts.append(f"Never those mentioning: {_keywords(sub.exclude)}.")
    parts.append(
        f"Only items that appear from now on; at most {posts_per_cycle} per feed per poll, "
        "the rest summed up in one line."
    )
    return fit(" ".join(parts), MESSAGE_CONTENT)
