"""Feed messages stay within Discord's limits and inert, whatever publishers and members put in
feed titles, names, URLs and error lines (the same hostile text as test_render)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from bot.discord.feed_render import (
    feeds_embed,
    headline_post,
    more_text,
    outlet_name,
    poll_report,
    subscribed_text,
)
from bot.discord.subscribers import channel_destination, guild_owner
from index.feeds.poller import NewArticle, PollResult
from index.feeds.registry import Feed, PendingPost, Subscription
from tests.discord.test_render import (
    FAST,
    assert_fits,
    assert_inert,
    hostile_text,
    long_hostile,
    published,
    urls,
)

NOW = datetime(2024, 6, 1, tzinfo=UTC)
OUR_MARKUP = re.compile(r"<#\d+>|<t:\d+:R>")  # channel links and times the bot itself writes


@st.composite
def feeds(draw: st.DrawFn, feed_id: int = 1) -> Feed:
    failures = draw(st.integers(0, 3))
    return Feed(
        id=feed_id,
        url=draw(st.one_of(st.just("https://news.example/feed.xml"), long_hostile)),
        name=draw(st.one_of(st.none(), long_hostile)),
        owner=draw(st.one_of(st.none(), st.just(guild_owner(7)))),
        interval=None,
        etag=None,
        last_modified=None,
        last_polled=NOW,
        last_ok=draw(st.one_of(st.none(), st.just(NOW))),
        last_error=draw(long_hostile) if failures else None,
        consecutive_failures=failures,
        next_poll_at=NOW,
        baselined=draw(st.booleans()),
        created_at=NOW,
    )


keywords = st.lists(hostile_text.filter(str.strip), max_size=10).map(tuple)


@st.composite
def subscriptions(draw: st.DrawFn, sub_id: int = 1) -> Subscription:
    return Subscription(
        id=sub_id,
        owner=guild_owner(7),
        destination=channel_destination(draw(st.integers(1, 2**63))),
        feed_id=draw(st.one_of(st.none(), st.integers(1, 40))),
        include=draw(keywords),
        exclude=draw(keywords),
        created_at=NOW,
    )


@FAST
@given(long_hostile, urls, published, hostile_text, feeds())
def test_headline_posts_fit_and_are_inert(title, url, when, source, feed) -> None:
    post = PendingPost("a-0123456789abcdef", 1, title, url, when, NOW)
    embed = headline_post(post, outlet=outlet_name(source, feed))
    assert_fits(None, [embed])
    assert_inert(embed.title or "")
    assert embed.timestamp == (when or NOW)
    assert embed.footer.text


@FAST
@given(st.integers(1, 10**6), feeds())
def test_the_more_line_fits_and_is_inert(count: int, feed: Feed) -> None:
    text = more_text(count, feed)
    assert len(text) <= 2000 and f"…and {count} more from " in text
    assert_inert(text)


@FAST
@given(feeds(), st.lists(long_hostile, max_size=5), st.booleans(), st.integers(0, 300))
def test_poll_reports_fit_and_are_inert(feed, errors, failed, found) -> None:
    articles = [NewArticle(1, f"a-{i:016x}", "t", None, None, "page", True) for i in range(found)]
    result = PollResult(feed, new_articles=articles, errors=errors, failed=failed)
    text = poll_report(feed, result)
    assert len(text) <= 2000
    assert_inert(text)
    assert ("first poll failed" in text) == failed
    if not failed:
        assert f"{found} article" in text


@FAST
@given(
    st.lists(st.integers(1, 40), max_size=30, unique=True).flatmap(
        lambda ids: st.tuples(*(feeds(i) for i in ids))
    ),
    st.lists(st.integers(1, 1000), max_size=50, unique=True).flatmap(
        lambda ids: st.tuples(*(subscriptions(i) for i in ids))
    ),
)
def test_feed_lists_fit_and_are_inert(found: tuple[Feed, ...], subs: tuple) -> None:
    embed = feeds_embed(list(found), list(subs), posts_per_cycle=5)
    assert_fits(None, [embed])
    description = embed.description or ""
    assert_inert(OUR_MARKUP.sub("", description))
    if not found:
        assert "No feeds yet" in description
        return
    by_id = {f.id: f for f in found}
    blocks = [b for b in description.split("\n\n") if b.startswith("**#")]
    assert blocks and blocks[0].startswith(f"**#{found[0].id}**")  # listed in order
    for block in blocks:
        feed = by_id[int(block[3 : block.index("**", 3)])]
        head = block.split("\n")[0]
        assert ("*global, added by the bot's operator*" in head) == (feed.owner is None)
        assert block.count("\n") == 2  # name line, URL, status: a hostile URL cannot add lines


@FAST
@given(st.one_of(st.none(), feeds()), subscriptions())
def test_subscribe_confirmations_fit_and_are_inert(feed, sub) -> None:
    text = subscribed_text("<#123>", feed, sub, 5)
    assert len(text) <= 2000
    assert_inert(OUR_MARKUP.sub("", text))
