"""Live feeds through Discord: from a new feed item to a headline in a channel.

A real local HTTP server (tests/support/http_server.py) serves an RSS feed and its article
pages; the real NewsBot (real discord.py, real Engine, real poller thread) runs against the
loopback fake Discord. Commands arrive as INTERACTION_CREATE slash payloads whose member
permissions are set explicitly, so the Manage Server check is exercised as Discord sends it.
Every test runs under ErrorLogGuard and ends with the no-ping audit (the ``fake`` fixture).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

import pytest

from bot.discord.client import NewsBot
from bot.discord.feeds import PAUSE_AFTER_FAILURES
from bot.discord.serve import serve
from bot.discord.subscribers import channel_destination, guild_owner, owner_guild
from bot.feeds_setup import make_poller
from bot.health import Metrics
from bot.settings import Settings
from index.engine import Engine
from index.feeds.registry import Feed, Registry
from tests.discord.harness import ANSWER_TIMEOUT, ask, bot_settings, embed_text, running_bot
from tests.support.fake_discord import ErrorLogGuard, FakeDiscord, RecordedRequest
from tests.support.http_server import LocalServer, Route, Seen

MANAGE_GUILD = 1 << 5
# What the fake gives every member (view, send, embed, use commands, ...): no Manage Server.
MEMBER = (1 << 6) | (1 << 10) | (1 << 11) | (1 << 14) | (1 << 15) | (1 << 16) | (1 << 31)
MANAGER = MEMBER | MANAGE_GUILD
PER_CYCLE = 2
GUARDED = ("discord", "newsbot", "index")

TOWNS = ["Northport", "Eastfield", "Larkmoor", "Fenwick", "Oxbridge Vale", "Marrow Bay"]
THINGS = ["tram depot", "swimming pool", "seed library", "footbridge", "bakery school", "bell"]
LIGHTHOUSE = (
    "Cape Varn lighthouse keeper retires after forty years",
    [
        "Marguerite Olsson, the keeper of the Cape Varn lighthouse, retired on Friday after "
        "forty years of service.",
        "She said the hardest winter was 1987, when ice closed the harbour for six weeks.",
        "The lighthouse has been automated and will be run from the mainland.",
    ],
)


def story(n: int) -> tuple[str, list[str]]:
    """Story 1 is the lighthouse; the others are distinct small-town stories."""
    if n == 1:
        return LIGHTHOUSE
    town, thing = TOWNS[n % len(TOWNS)], THINGS[n % len(THINGS)]
    return (
        f"{town} opens its new {thing} (story {n})",
        [
            f"The town of {town} opened its new {thing} on a rainy Saturday, story {n} "
            f"reports, after {n + 2} years of planning.",
            f"Mayor Ilse Kovar{n} said the {thing} cost {n * 3} hundred thousand euros.",
            f"About {n * 40} residents came to the opening of the {thing} in {town}.",
        ],
    )


class Site:
    """A news site on the local server: article pages and an RSS feed listing them."""

    def __init__(self, server: LocalServer) -> None:
        self.server = server
        self.items: list[dict[str, Any]] = []  # oldest first
        self.now = datetime.now(UTC).replace(microsecond=0)

    @property
    def feed_url(self) -> str:
        return self.server.url("/feed.xml")

    def page_url(self, n: int) -> str:
        return self.server.url(f"/story/{n}.html")

    def publish(self, *numbers: int, gate: threading.Event | None = None) -> None:
        """Put stories on the site and the feed; with ``gate``, their pages are only served
        once it is set."""
        for n in numbers:
            title, paragraphs = story(n)
            body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
            html = (
                f"<!DOCTYPE html><html><head><title>{escape(title)}</title>"
                f'<link rel="canonical" href="{self.page_url(n)}">'
                '<meta property="og:site_name" content="Harbour Gazette">'
                f"</head><body><article><h1>{escape(title)}</h1>{body}</article></body></html>"
            )
            self.server.route(f"/story/{n}.html", _gated(Route(html), gate))
            when = self.now - timedelta(hours=24 - n)
            self.items.append({"n": n, "guid": f"story-{n}", "link": self.page_url(n), "at": when})
        self._serve()

    def rewrite(self, n: int) -> None:
        """The publisher re-issues story ``n`` under a new GUID, with tracking on its link."""
        for item in self.items:
            if item["n"] == n:
                item["guid"] = f"urn:uuid:rewritten-{n}"
                item["link"] = self.page_url(n) + "?utm_source=rss&utm_medium=feed"
        self._serve()

    def _serve(self) -> None:
        entries = "".join(
            f"<item><title>{escape(story(i['n'])[0])}</title><link>{escape(i['link'])}</link>"
            f'<guid isPermaLink="false">{escape(i["guid"])}</guid>'
            f"<pubDate>{i['at'].strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>"
            f"<description>{escape(story(i['n'])[1][0])}</description></item>"
            for i in reversed(self.items)
        )
        rss = (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>Harbour Gazette</title><link>{self.server.url('/')}</link>{entries}"
            "</channel></rss>"
        )
        self.server.route("/feed.xml", Route(rss, content_type="application/rss+xml"))


def _gated(route: Route, gate: threading.Event | None) -> Route | Callable[[Seen], Route]:
    if gate is None:
        return route

    def wait_then(seen: Seen) -> Route:
        gate.wait(ANSWER_TIMEOUT)
        return route

    return wait_then


@pytest.fixture
def site() -> Iterator[Site]:
    with LocalServer() as server:
        yield Site(server)


@pytest.fixture
def feed_settings(tmp_path) -> Settings:
    """The fixture's data dir; the background loop only polls when a test makes a feed due."""
    return bot_settings(
        tmp_path / "data",
        allow_hosts=["127.0.0.1"],
        fetch_timeout_seconds=5.0,
        poll_interval_seconds=3600.0,
        posts_per_cycle=PER_CYCLE,
        shutdown_grace_seconds=1.0,
    )


# -- driving the bot ---------------------------------------------------------------------------


def subcommand(name: str, /, **options: Any) -> list[dict[str, Any]]:
    return [{"name": name, "type": 1, "options": _options(options)}]


def _options(options: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for key, value in options.items():
        if value is None:
            continue
        if key == "channel":
            out.append({"name": "channel", "type": 7, "value": str(value)})
        else:
            out.append({"name": key, "type": 3, "value": value})
    return out


async def command(
    fake: FakeDiscord,
    name: str,
    options: list[dict[str, Any]] | dict[str, Any] | None = None,
    *,
    permissions: int = MANAGER,
    user: dict[str, Any] | None = None,
    **kwargs: Any,
) -> tuple[dict[str, Any], RecordedRequest]:
    """Dispatch a slash command as a (non-owner) member with ``permissions``; return the
    payload and the bot's reply: an immediate message (a refusal) or the deferred follow-up."""
    if isinstance(options, dict):
        options = _options(options)
    resolved = None
    for opt in options or []:
        if opt.get("type") == 7:
            channel = fake.channels[int(opt["value"])]
            resolved = {"channels": {opt["value"]: {**channel, "permissions": str(permissions)}}}
    user = user or fake.make_user(username="moderator")
    payload = fake.slash_command_payload(name, options, user=user, resolved=resolved, **kwargs)
    if "member" in payload:
        payload["member"]["permissions"] = str(permissions)
        payload["channel"]["permissions"] = str(permissions)
    await fake.dispatch("INTERACTION_CREATE", payload)
    token = payload["token"]

    def replied() -> RecordedRequest | None:
        for req in fake.requests_to("POST", f"/interactions/{payload['id']}/{token}/callback"):
            if req.json.get("type") == 4:
                return req
        followups = fake.requests_to("POST", f"/webhooks/{fake.application_id}/{token}")
        return followups[0] if followups else None

    reply = await fake.wait_until(replied, timeout=ANSWER_TIMEOUT, what=f"a reply to /{name}")
    return payload, reply


def reply_text(reply: RecordedRequest) -> str:
    body = reply.json.get("data", reply.json) if reply.path.endswith("/callback") else reply.json
    return embed_text(body)


def is_private(reply: RecordedRequest) -> bool:
    body = reply.json.get("data", reply.json) if reply.path.endswith("/callback") else reply.json
    return bool(int(body.get("flags", 0)) & 64)


def posts(fake: FakeDiscord, channel_id: int, since: int = 0) -> list[RecordedRequest]:
    return fake.requests_to("POST", f"/channels/{channel_id}/messages", since=since)


def only_feed(bot: NewsBot, guild_id: int | None = None) -> Feed:
    assert bot.feeds is not None
    feeds = [f for f in bot.feeds.registry.feeds() if owner_guild(f.owner) == guild_id]
    assert len(feeds) == 1, feeds
    return feeds[0]


async def poll(bot: NewsBot, feed: Feed):
    """One poll of ``feed`` with its posts, as the background loop does it."""
    assert bot.feeds is not None
    fresh = bot.feeds.registry.feed(feed.id)
    assert fresh is not None
    return await bot.feeds.poll_now(fresh)


async def add_and_subscribe(bot: NewsBot, fake: FakeDiscord, site: Site, channel_id: int) -> Feed:
    """The site's feed added and every feed subscribed in ``channel_id``, through the slash
    commands; the new feed."""
    _, added = await command(fake, "feeds", subcommand("add", url=site.feed_url))
    assert "Added feed" in reply_text(added), reply_text(added)
    _, subscribed = await command(fake, "subscribe", {"channel": channel_id})
    assert "will be posted in" in reply_text(subscribed), reply_text(subscribed)
    return only_feed(bot, fake.guild_id)


def not_due(registry: Registry, feed: Feed) -> Feed:
    """``feed``, left alone by the background loop for an hour (its URL serves nothing)."""
    registry.set_next_poll(feed.id, time.time() + 3600)
    return feed


def engine_ids(engine: Engine, url: str) -> list[str]:
    found = [h.article_id for h in engine.headlines(limit=500) if h.url == url]
    assert found, f"{url} is not indexed"
    return found


def wait_for_hit(server: LocalServer, path: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while server.hits(path) == 0:
        assert time.monotonic() < deadline, f"{path} was never fetched"
        time.sleep(0.01)


# -- the whole path ----------------------------------------------------------------------------


async def test_new_item_becomes_one_headline_post_never_repeated(
    fake: FakeDiscord, engine: Engine, feed_settings: Settings, site: Site
) -> None:
    site.publish(2)  # already on the feed when it is added
    channel = fake.channel_id
    with ErrorLogGuard(GUARDED):
        async with running_bot(fake, engine, feed_settings) as bot:
            payload, added = await command(fake, "feeds", subcommand("add", url=site.feed_url))
            callback = fake.requests_to("POST", f"/interactions/{payload['id']}/*/callback")
            assert callback[0].json == {"type": 5, "data": {"flags": 64}}  # deferred, private
            assert is_private(added)
            text = reply_text(added)
            assert "Added feed" in text and "First poll: 1 article indexed" in text
            assert "not posted" in text
            assert site.server.hits("/story/2.html") == 1  # polled at once
            assert posts(fake, channel) == []  # the baseline posts nothing

            _, subscribed = await command(fake, "subscribe", {"channel": channel})
            assert f"<#{channel}>" in reply_text(subscribed) and is_private(subscribed)

            # A new item; the background loop polls the feed as soon as it is due.
            site.publish(1)
            feed = only_feed(bot, fake.guild_id)
            assert bot.feeds is not None
            bot.feeds.registry.set_next_poll(feed.id, 0)
            mark = len(fake.requests)
            bot.feeds.wake()
            post = await fake.wait_for_request(
                "POST", f"/channels/{channel}/messages", since=mark, timeout=ANSWER_TIMEOUT
            )
            [sub] = bot.feeds.registry.subscriptions(owner=guild_owner(fake.guild_id))
            [article_id] = engine_ids(engine, site.page_url(1))
            await fake.wait_until(
                lambda: bot.feeds.registry.was_posted(sub.id, article_id), what="the mark"
            )
            assert len(posts(fake, channel, mark)) == 1
            [embed] = post.json["embeds"]
            assert embed["title"] == LIGHTHOUSE[0]
            assert embed["url"] == site.page_url(1)
            assert embed["footer"]["text"] == "Harbour Gazette"
            assert datetime.fromisoformat(embed["timestamp"]) == site.now - timedelta(hours=23)
            assert post.json["allowed_mentions"]["parse"] == []

            # Fresh: the new article answers /ask without a restart.
            _, answer = await ask(fake, "Who was the keeper of the Cape Varn lighthouse?")
            assert "Marguerite Olsson" in embed_text(answer.json)

        # A restart over the same data directory: nothing is posted again.
        mark = len(fake.requests)
        async with running_bot(fake, engine, feed_settings) as bot:
            feed = only_feed(bot, fake.guild_id)
            result = await poll(bot, feed)
            assert not result.failed and result.postable == []
            site.rewrite(1)  # the same story under a new GUID and a tracking link
            result = await poll(bot, feed)
            assert not result.failed and result.postable == []
            assert bot.feeds is not None
            await bot.feeds.post_pending()  # and a full sweep finds nothing either
            assert posts(fake, channel, mark) == []

            # More new items than the per-cycle limit: the newest N, then one summary line.
            site.publish(3, 4, 5, 6, 7)
            mark = len(fake.requests)
            result = await poll(bot, feed)
            assert len(result.postable) == 5
            sent = posts(fake, channel, mark)
            assert len(sent) == PER_CYCLE + 1
            titles = [r.json["embeds"][0]["title"] for r in sent[:PER_CYCLE]]
            assert titles == [story(6)[0], story(7)[0]]  # newest N, oldest first
            summary = sent[-1].json
            assert summary["content"] == "…and 3 more from " + site.feed_url + " (see /headlines)"
            assert not summary.get("embeds") and summary["flags"] & 4  # links not unfurled
            assert all(r.json["allowed_mentions"]["parse"] == [] for r in sent)

            mark = len(fake.requests)
            await poll(bot, feed)
            assert posts(fake, channel, mark) == []


async def test_polling_never_holds_up_a_question(
    fake: FakeDiscord, engine: Engine, feed_settings: Settings, site: Site
) -> None:
    site.publish(2)
    page_served = threading.Event()
    with ErrorLogGuard(GUARDED):
        async with running_bot(fake, engine, feed_settings) as bot:
            feed = await add_and_subscribe(bot, fake, site, fake.channel_id)
            site.publish(1, gate=page_served)  # the new article's page waits for the test
            assert bot.feeds is not None
            bot.feeds.registry.set_next_poll(feed.id, 0)
            bot.feeds.wake()
            await asyncio.to_thread(wait_for_hit, site.server, "/story/1.html")  # mid-poll
            _, answer = await ask(fake, "when is the Shangri-La Dialogue?")
            assert posts(fake, fake.channel_id) == []  # the poll is still under way
            page_served.set()
            post = await fake.wait_for_request(
                "POST", f"/channels/{fake.channel_id}/messages", timeout=ANSWER_TIMEOUT
            )
    assert answer.json["embeds"] and "went wrong" not in embed_text(answer.json)
    assert answer.at < post.at and post.json["embeds"][0]["title"] == LIGHTHOUSE[0]


# -- who may, and which server sees what -------------------------------------------------------


async def test_feed_commands_need_manage_server(
    fake: FakeDiscord, engine: Engine, feed_settings: Settings, site: Site
) -> None:
    site.publish(2)
    with ErrorLogGuard(GUARDED):
        async with running_bot(fake, engine, feed_settings) as bot:
            refusals = [
                await command(
                    fake, "feeds", subcommand("add", url=site.feed_url), permissions=MEMBER
                ),
                await command(fake, "feeds", subcommand("list"), permissions=MEMBER),
                await command(fake, "subscribe", {"channel": fake.channel_id}, permissions=MEMBER),
            ]
            for _, refused in refusals:
                assert refused.path.endswith("/callback")  # refused at once, not deferred
                assert is_private(refused)
                assert "Manage Server" in reply_text(refused)
            assert bot.feeds is not None
            assert bot.feeds.registry.feeds() == [] and bot.feeds.registry.subscriptions() == []
            assert site.server.hits("/feed.xml") == 0  # nothing was fetched for them

            # In a DM there is no server whose feeds these would be.
            _, dm = await command(fake, "feeds", subcommand("list"), dm=True)
            assert "use this command in one" in reply_text(dm) and is_private(dm)

            # Administrator implies Manage Server (the guild owner is one in the fake).
            _, listed = await command(
                fake, "feeds", subcommand("list"), permissions=MEMBER | (1 << 3)
            )
            assert "No feeds yet" in reply_text(listed)
            # Autocomplete tells a non-manager nothing either.
            bot.feeds.registry.add_feed(
                site.feed_url, owner=guild_owner(fake.guild_id), name="Gazette"
            )
            for perms, expected in ((MEMBER, []), (MANAGER, ["Gazette"])):
                payload = fake.autocomplete_payload(
                    "feeds", subcommand("remove", feed="gaz"), focused="feed"
                )
                payload["member"]["permissions"] = str(perms)
                payload["data"]["options"][0]["options"][0]["focused"] = True
                await fake.dispatch("INTERACTION_CREATE", payload)
                req = await fake.wait_for_request(
                    "POST", f"/interactions/{payload['id']}/*/callback"
                )
                names = [c["name"] for c in req.json["data"]["choices"]]
                assert [n.split(" ", 1)[1] for n in names] == expected


async def test_each_server_sees_its_own_feeds_and_the_global_ones(
    fake: FakeDiscord, engine: Engine, feed_settings: Settings, site: Site
) -> None:
    site.publish(2)
    other_guild = 4242424242
    with ErrorLogGuard(GUARDED):
        async with running_bot(fake, engine, feed_settings) as bot:
            assert bot.feeds is not None
            registry = bot.feeds.registry
            own_elsewhere = registry.add_feed(
                site.server.url("/elsewhere.xml"), owner=guild_owner(other_guild)
            )
            global_feed = registry.add_feed(site.server.url("/global.xml"), name="Wire")  # CLI
            await command(fake, "feeds", subcommand("add", url=site.feed_url, name="Gazette"))
            ours = only_feed(bot, fake.guild_id)

            _, listed = await command(fake, "feeds", subcommand("list"))
            text = reply_text(listed)
            assert f"#{ours.id}** Gazette" in text and f"#{global_feed.id}** Wire" in text
            assert "global, added by the bot's operator" in text
            assert "elsewhere" not in text and f"#{own_elsewhere.id}**" not in text

            _, listed = await command(fake, "feeds", subcommand("list"), guild_id=other_guild)
            text = reply_text(listed)
            assert "elsewhere" in text and "Wire" in text and "Gazette" not in text

            # Another server's feed can be neither removed nor subscribed to from here...
            _, refused = await command(
                fake, "feeds", subcommand("remove", feed=str(own_elsewhere.id))
            )
            assert "no such feed" in reply_text(refused)
            _, refused = await command(
                fake, "subscribe", {"channel": fake.channel_id, "feed": str(own_elsewhere.id)}
            )
            assert "no such feed" in reply_text(refused)
            # ...and a global one not removed from Discord.
            _, refused = await command(
                fake, "feeds", subcommand("remove", feed=str(global_feed.id))
            )
            assert "newsbot feeds remove" in reply_text(refused)
            assert {f.id for f in registry.feeds()} == {ours.id, own_elsewhere.id, global_feed.id}

            _, removed = await command(fake, "feeds", subcommand("remove", feed=f"#{ours.id}"))
            assert "Removed feed" in reply_text(removed)
            assert {f.id for f in registry.feeds()} == {own_elsewhere.id, global_feed.id}


async def test_a_server_has_at_most_25_feeds_and_50_subscriptions(
    fake: FakeDiscord, engine: Engine, feed_settings: Settings, site: Site
) -> None:
    """The README's per-server limits, at the boundary: the 25th feed and the 50th
    subscription are taken, the next ones refused and nothing stored. Only the server's own
    count, not the global feeds nor another server's; subscribing again to a channel and feed
    it already has only replaces the keywords, so that is still allowed at the limit."""
    site.publish(2)
    guild, other_guild = fake.guild_id, 4242424242
    second = fake.add_text_channel("more-news")  # before the bot connects, so it is cached
    with Registry(feed_settings.engine_config().db_path) as registry:
        own = [
            not_due(
                registry, registry.add_feed(site.server.url(f"/{i}.xml"), owner=guild_owner(guild))
            )
            for i in range(24)
        ]
        global_feed = not_due(registry, registry.add_feed(site.server.url("/global.xml")))
        elsewhere = not_due(
            registry,
            registry.add_feed(site.server.url("/elsewhere.xml"), owner=guild_owner(other_guild)),
        )
        for feed in own:
            for where in (fake.channel_id, second):
                registry.subscribe(guild_owner(guild), channel_destination(where), feed_id=feed.id)
        registry.subscribe(  # the 49th
            guild_owner(guild), channel_destination(fake.channel_id), feed_id=global_feed.id
        )
        registry.subscribe(guild_owner(other_guild), "5151", feed_id=elsewhere.id)
    with ErrorLogGuard(GUARDED):
        async with running_bot(fake, engine, feed_settings) as bot:
            assert bot.feeds is not None
            registry = bot.feeds.registry
            _, added = await command(fake, "feeds", subcommand("add", url=site.feed_url))
            assert "Added feed" in reply_text(added), reply_text(added)
            feeds = registry.feeds()
            assert len([f for f in feeds if owner_guild(f.owner) == guild]) == 25

            _, refused = await command(fake, "feeds", subcommand("add", url=site.server.url("/26")))
            assert reply_text(refused) == (
                "This server has 25 feeds, the most it can have; "
                "remove one with `/feeds remove` first."
            )
            assert is_private(refused)
            assert registry.feeds() == feeds
            assert site.server.hits("/26") == 0  # refused before anything was fetched

            _, subscribed = await command(fake, "subscribe", {"channel": fake.channel_id})
            assert "will be posted in" in reply_text(subscribed), reply_text(subscribed)
            subs = registry.subscriptions(owner=guild_owner(guild))
            assert len(subs) == 50

            gazette = registry.find_feed(site.feed_url, owner=guild_owner(guild))
            assert gazette is not None
            options = {"channel": fake.channel_id, "feed": str(gazette.id)}
            _, refused = await command(fake, "subscribe", options)
            assert reply_text(refused) == (
                "This server has 50 subscriptions, the most it can have; "
                "remove one with `/unsubscribe` first."
            )
            assert is_private(refused)
            assert registry.subscriptions(owner=guild_owner(guild)) == subs

            options = {"channel": second, "feed": str(own[0].id), "include": "harbour"}
            _, replaced = await command(fake, "subscribe", options)
            assert "will be posted in" in reply_text(replaced), reply_text(replaced)
            after = registry.subscriptions(owner=guild_owner(guild))
            assert [s.id for s in after] == [s.id for s in subs]
            assert [s.include for s in after if s.include] == [("harbour",)]


# -- when Discord refuses a post ---------------------------------------------------------------


async def test_refused_post_keeps_the_subscription_and_pauses_after_repeated_failures(
    fake: FakeDiscord, engine: Engine, feed_settings: Settings, site: Site, caplog
) -> None:
    site.publish(2)
    gone = fake.add_text_channel("headlines")  # before the bot connects, so it is cached
    with ErrorLogGuard(GUARDED):
        async with running_bot(fake, engine, feed_settings) as bot:
            assert bot.feeds is not None
            feed = await add_and_subscribe(bot, fake, site, gone)
            [sub] = bot.feeds.registry.subscriptions()
            site.publish(1)
            fake.fail_next("POST", f"/channels/{gone}/messages", 404, code=10003)
            fake.fail_next(
                "POST",
                f"/channels/{gone}/messages",
                403,
                code=50013,
                times=PAUSE_AFTER_FAILURES - 1,
            )
            with caplog.at_level(logging.WARNING, logger="newsbot.discord.feeds"):
                result = await poll(bot, feed)
            assert len(result.postable) == 1 and len(posts(fake, gone)) == 1
            warned = [r.getMessage() for r in caplog.records if r.name == "newsbot.discord.feeds"]
            assert len(warned) == 1 and "404" in warned[0] and "10003" in warned[0]
            assert bot.feeds.registry.subscriptions() == [sub]  # kept
            assert not bot.feeds.registry.was_posted(sub.id, result.postable[0].article_id)

            for _ in range(PAUSE_AFTER_FAILURES - 1):  # retried after each poll
                await poll(bot, feed)
            assert len(posts(fake, gone)) == PAUSE_AFTER_FAILURES
            assert bot.feeds.is_paused(sub.id)
            await poll(bot, feed)  # paused: not even tried
            assert len(posts(fake, gone)) == PAUSE_AFTER_FAILURES

            # Subscribing again resumes it, and the headline that waited is posted.
            await command(fake, "subscribe", {"channel": gone})
            await poll(bot, feed)
            delivered = [r for r in posts(fake, gone) if r.status == 200]
            assert [r.json["embeds"][0]["title"] for r in delivered] == [LIGHTHOUSE[0]]
            assert bot.feeds.registry.was_posted(sub.id, result.postable[0].article_id)


async def test_a_headline_discord_refuses_is_skipped_not_retried_forever(
    fake: FakeDiscord, engine: Engine, feed_settings: Settings, site: Site, caplog
) -> None:
    """A 400 Invalid Form Body is about that one message: retrying it after every poll
    only held up the headlines behind it and paused the subscription."""
    site.publish(2)
    channel = fake.channel_id
    with ErrorLogGuard(GUARDED):
        async with running_bot(fake, engine, feed_settings) as bot:
            assert bot.feeds is not None
            feed = await add_and_subscribe(bot, fake, site, channel)
            [sub] = bot.feeds.registry.subscriptions()
            site.publish(1, 3)
            fake.fail_next(
                "POST",
                f"/channels/{channel}/messages",
                400,
                code=50035,
                message="Invalid Form Body",
            )
            mark = len(fake.requests)
            with caplog.at_level(logging.WARNING, logger="newsbot.discord.feeds"):
                result = await poll(bot, feed)
            sent = posts(fake, channel, mark)
            assert [r.status for r in sent] == [400, 200]
            assert sent[1].json["embeds"][0]["title"] == story(3)[0]
            warned = [r.getMessage() for r in caplog.records if r.name == "newsbot.discord.feeds"]
            assert len(warned) == 1 and "50035" in warned[0] and "skipped" in warned[0]
            assert len(result.postable) == 2
            assert all(bot.feeds.registry.was_posted(sub.id, p.article_id) for p in result.postable)
            assert not bot.feeds.is_paused(sub.id)

            mark = len(fake.requests)
            for _ in range(PAUSE_AFTER_FAILURES):
                await poll(bot, feed)
            assert posts(fake, channel, mark) == []  # not tried again


async def test_overlapping_subscriptions_post_each_headline_once_per_channel(
    fake: FakeDiscord, engine: Engine, feed_settings: Settings, site: Site
) -> None:
    """An every-feed and a one-feed subscription in the same channel both select a new
    headline; it was posted twice."""
    site.publish(2)
    channel = fake.channel_id
    other = fake.add_text_channel("lighthouses")  # before the bot connects, so it is cached
    with ErrorLogGuard(GUARDED):
        async with running_bot(fake, engine, feed_settings) as bot:
            assert bot.feeds is not None
            registry = bot.feeds.registry
            feed = await add_and_subscribe(bot, fake, site, channel)  # every feed
            for where, include in ((channel, "lighthouse"), (other, None)):
                options = {"channel": where, "feed": str(feed.id), "include": include}
                _, subscribed = await command(fake, "subscribe", options)
                assert "will be posted in" in reply_text(subscribed), reply_text(subscribed)
            subs = registry.subscriptions()
            assert len(subs) == 3
            site.publish(1, 3)  # the lighthouse story matches all three
            mark = len(fake.requests)
            await poll(bot, feed)
            here = [r.json["embeds"][0]["title"] for r in posts(fake, channel, mark)]
            there = [r.json["embeds"][0]["title"] for r in posts(fake, other, mark)]
            assert sorted(here) == sorted(there) == sorted([LIGHTHOUSE[0], story(3)[0]])
            [lighthouse] = engine_ids(engine, site.page_url(1))
            assert all(registry.was_posted(s.id, lighthouse) for s in subs)

            mark = len(fake.requests)
            await poll(bot, feed)
            await bot.feeds.post_pending()
            assert posts(fake, channel, mark) == posts(fake, other, mark) == []


async def test_unsubscribe_stops_the_posts(
    fake: FakeDiscord, engine: Engine, feed_settings: Settings, site: Site
) -> None:
    site.publish(2)
    with ErrorLogGuard(GUARDED):
        async with running_bot(fake, engine, feed_settings) as bot:
            feed = await add_and_subscribe(bot, fake, site, fake.channel_id)
            assert bot.feeds is not None
            [sub] = bot.feeds.registry.subscriptions()
            payload = fake.autocomplete_payload("unsubscribe", {"subscription": "ne"})
            payload["member"]["permissions"] = str(MANAGER)
            await fake.dispatch("INTERACTION_CREATE", payload)
            req = await fake.wait_for_request("POST", f"/interactions/{payload['id']}/*/callback")
            assert req.json["data"]["choices"] == [
                {"name": "#news ← every feed", "value": str(sub.id)}
            ]
            _, stopped = await command(fake, "unsubscribe", {"subscription": str(sub.id)})
            assert reply_text(stopped) == "Stopped: \\#news ← every feed"
            assert bot.feeds.registry.subscriptions() == []
            site.publish(1)
            mark = len(fake.requests)
            result = await poll(bot, feed)
            assert len(result.postable) == 1 and posts(fake, fake.channel_id, mark) == []


# -- while the bot was down --------------------------------------------------------------------


async def test_headlines_seen_while_the_bot_was_down_are_posted_at_start_up_to_7_days_old(
    fake: FakeDiscord, engine: Engine, feed_settings: Settings, site: Site
) -> None:
    """``newsbot watch`` polled while the bot was down; when the bot starts it posts what came
    in during the last 7 days (the README), and the older headlines neither then nor later.

    ``record_items`` and ``subscribe`` stamp ``first_seen`` and ``created_at`` with the wall
    clock and take no time (the poller's ``clock`` does not reach them), so, as a last resort,
    the days gone by are written into those two columns through the registry's own connection.
    """
    site.publish(2)
    channel = fake.channel_id
    day = 86400.0
    with Registry(feed_settings.engine_config().db_path) as registry:
        registry.add_feed(site.feed_url, owner=guild_owner(fake.guild_id))
        sub = registry.subscribe(  # every feed of the server
            guild_owner(fake.guild_id), channel_destination(channel)
        )
        poller = make_poller(feed_settings, engine, registry)  # what `newsbot watch` polls with
        try:
            [baseline] = await poller.poll_many(registry.feeds())
            site.publish(4, 5)
            [old] = await poller.poll_many(registry.feeds())
            site.publish(1, 3)
            [recent] = await poller.poll_many(registry.feeds())
        finally:
            await poller.fetcher.aclose()
        assert baseline.baseline and len(old.postable) == len(recent.postable) == 2
        now = time.time()
        db = registry._db
        db.execute(
            "UPDATE feed_subscriptions SET created_at=? WHERE id=?", (now - 10 * day, sub.id)
        )
        for result, days in ((old, 8), (recent, 2)):
            for article in result.postable:
                db.execute(
                    "UPDATE feed_items SET first_seen=? WHERE article_id=?",
                    (now - days * day, article.article_id),
                )

    with ErrorLogGuard(GUARDED):
        async with running_bot(fake, engine, feed_settings) as bot:
            assert bot.feeds is not None
            registry = bot.feeds.registry
            await fake.wait_until(
                lambda: all(registry.was_posted(sub.id, a.article_id) for a in recent.postable),
                timeout=ANSWER_TIMEOUT,
                what="the headlines of the last 7 days",
            )
            assert await bot.feeds.post_pending() == 0  # after the start's sweep: nothing left
            result = await poll(bot, only_feed(bot, fake.guild_id))
            assert not result.failed and result.postable == []

            sent = posts(fake, channel)
            assert len(sent) == 2, [embed_text(r.json) for r in sent]
            assert [r.json["embeds"][0]["title"] for r in sent] == [LIGHTHOUSE[0], story(3)[0]]
            assert not any(registry.was_posted(sub.id, a.article_id) for a in old.postable)


# -- shutdown ----------------------------------------------------------------------------------


async def test_sigterm_stops_polling_cleanly_even_mid_poll(
    fake: FakeDiscord, engine: Engine, feed_settings: Settings, site: Site
) -> None:
    """``newsbot serve``'s own shutdown path: a poll stuck on a page that never answers is
    given the grace period, then cancelled; the bot exits 0 and the poller thread is gone."""
    site.publish(2)
    site.server.route("/story/2.html", Route(hang=True))
    with Registry(feed_settings.engine_config().db_path) as registry:
        registry.add_feed(site.feed_url, owner=guild_owner(fake.guild_id))  # due at once
    with ErrorLogGuard(GUARDED):
        server = asyncio.create_task(serve(feed_settings, "fake-token", engine=engine))
        await asyncio.to_thread(wait_for_hit, site.server, "/story/2.html")  # mid-poll
        os.kill(os.getpid(), signal.SIGTERM)  # handled by serve's loop signal handler
        stopping_at = time.monotonic()
        code = await asyncio.wait_for(server, 15)
    assert code == 0
    assert time.monotonic() - stopping_at < feed_settings.discord.shutdown_grace_seconds + 4
    assert not [t for t in threading.enumerate() if t.name == "newsbot-feeds"]
    assert not fake.connected


async def test_feed_errors_are_counted_in_the_metrics(
    fake: FakeDiscord, engine: Engine, feed_settings: Settings, site: Site
) -> None:
    """``newsbot_feed_errors_total`` counts the error lines the poller logs, from the
    background loop and from ``/feeds add`` alike (it was documented but never counted)."""
    metrics = Metrics()
    site.publish(2)
    with ErrorLogGuard(GUARDED):
        async with running_bot(fake, engine, feed_settings, metrics=metrics) as bot:
            assert bot.feeds is not None
            feed = await add_and_subscribe(bot, fake, site, fake.channel_id)
            assert metrics.feed_errors._value.get() == 0

            site.server.route("/feed.xml", Route("down for maintenance", status=503))
            bot.feeds.registry.set_next_poll(feed.id, 0)
            bot.feeds.wake()
            await fake.wait_until(
                lambda: metrics.feed_errors._value.get() == 1, what="the failed background poll"
            )

            missing = site.server.url("/no-such-feed.xml")
            _, added = await command(fake, "feeds", subcommand("add", url=missing))
            assert "Its first poll failed:" in reply_text(added)
            assert metrics.feed_errors._value.get() == 2
    assert "newsbot_feed_errors_total 2.0" in metrics.render().decode()


async def test_feeds_add_refuses_a_private_address_and_keeps_nothing(
    fake: FakeDiscord, engine: Engine, feed_settings: Settings
) -> None:
    """A member's URL that points inside the host's network is refused when it is added, not
    kept and refused again at every poll (allow-listed hosts, like the tests' 127.0.0.1, pass)."""
    with ErrorLogGuard(GUARDED):
        async with running_bot(fake, engine, feed_settings) as bot:
            assert bot.feeds is not None
            for url, why in (
                ("http://169.254.169.254/latest/meta-data/", "a cloud metadata address"),
                ("http://10.1.2.3/feed.xml", "a private address"),
                ("http://[::1]:8080/rss", "a loopback address"),
            ):
                _, reply = await command(fake, "feeds", subcommand("add", url=url))
                text = reply_text(reply)
                assert text.startswith("That feed was not added:") and why in text, text
                assert is_private(reply)
            assert bot.feeds.registry.feeds() == []


async def test_feeds_add_reports_a_failing_feed_in_one_line(
    fake: FakeDiscord, engine: Engine, feed_settings: Settings, site: Site
) -> None:
    missing = site.server.url("/no-such-feed.xml")
    with ErrorLogGuard(GUARDED):
        async with running_bot(fake, engine, feed_settings) as bot:
            _, added = await command(fake, "feeds", subcommand("add", url=missing))
            text = reply_text(added)
            assert "Its first poll failed:" in text and "404" in text and missing in text
            assert "retried with backoff" in text
            feed = only_feed(bot, fake.guild_id)  # kept: the site may only be down
            assert feed.consecutive_failures == 1

            _, again = await command(fake, "feeds", subcommand("add", url=missing))
            assert "already has that feed" in reply_text(again)
            _, bad = await command(fake, "feeds", subcommand("add", url="file:///etc/passwd"))
            assert "not an http(s) URL" in reply_text(bad)
            assert [f.id for f in bot.feeds.registry.feeds()] == [feed.id]  # type: ignore[union-attr]


async def test_feeds_add_refuses_a_malformed_url_instead_of_failing(
    fake: FakeDiscord, engine: Engine, feed_settings: Settings
) -> None:
    """``urlsplit`` raises on a broken IPv6 host: the member got "something went wrong" and
    the log an error traceback (ErrorLogGuard fails the test on it) for a typo."""
    with ErrorLogGuard(GUARDED):
        async with running_bot(fake, engine, feed_settings) as bot:
            for url in ("http://[::1", "https://[news.example]/rss"):
                _, bad = await command(fake, "feeds", subcommand("add", url=url))
                assert reply_text(bad) == "That is not an http(s) URL.", url
                assert is_private(bad)
            assert bot.feeds is not None and bot.feeds.registry.feeds() == []


async def test_a_channel_the_bot_cannot_resolve_is_refused_without_internals(
    fake: FakeDiscord, engine: Engine, feed_settings: Settings
) -> None:
    """discord.py refuses a channel option it has not cached with a TransformerError; the
    member was shown its value's ``repr`` ("<AppCommandChannel id=... type=<ChannelType...>>"),
    the channel's name unescaped inside it."""
    unknown = "123456789012345"
    channel = {**fake.channels[fake.channel_id], "id": unknown, "name": "`ops` **desk**"}
    options = [{"name": "channel", "type": 7, "value": unknown}]
    with ErrorLogGuard(GUARDED):
        async with running_bot(fake, engine, feed_settings) as bot:
            payload = fake.slash_command_payload(
                "subscribe",
                options,
                resolved={"channels": {unknown: {**channel, "permissions": str(MANAGER)}}},
            )
            payload["member"]["permissions"] = str(MANAGER)
            await fake.dispatch("INTERACTION_CREATE", payload)
            reply = await fake.wait_for_request("POST", f"/interactions/{payload['id']}/*/callback")
            assert reply.json["data"]["flags"] == 64
            assert reply.json["data"]["content"] == (
                "I couldn't read that value: \\`ops\\` \\*\\*desk\\*\\*"
            )
            assert bot.feeds is not None and bot.feeds.registry.subscriptions() == []
