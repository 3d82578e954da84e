"""``/feeds add|remove|list``, ``/subscribe`` and ``/unsubscribe``: a server's live feeds.

Every one is for server managers (Manage Server, enforced by ``checks.server_manager``; the
default permissions only hide the commands from others) and answers privately: it is
configuration, not conversation. A server sees and changes only its own feeds, plus the global
ones its operator added with ``newsbot feeds add``, which apply to every server and are shown
as such but cannot be removed from Discord. Registry calls run in the bot's I/O pool.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.discord.checks import can_manage, server_manager
from bot.discord.commands import defer, follow_up
from bot.discord.errors import ShuttingDown, UserFacingError
from bot.discord.feed_render import feed_label, feeds_embed, poll_report, subscribed_text
from bot.discord.text import (
    CHOICE_NAME,
    CHOICE_VALUE,
    CHOICES,
    MESSAGE_CONTENT,
    fit,
    fit_escaped,
    squash,
)
from bot.feeds_thread import PollerStopped
from index.feeds.fetch import refused_feed_url
from index.feeds.registry import Feed, LimitReached, Registry, RegistryError, Subscription
from index.feeds.urls import is_http_url

if TYPE_CHECKING:
    from bot.discord.client import NewsBot
    from bot.discord.feeds import LiveFeeds

log = logging.getLogger("newsbot.discord.feeds")

# Per server: enough for a newsroom's worth of outlets, few enough that one server cannot
# make the bot poll the web on its behalf without bound.
MAX_FEEDS_PER_GUILD = 25
MAX_SUBSCRIPTIONS_PER_GUILD = 50
MAX_KEYWORDS = 10
_CHANNEL_MENTION = re.compile(r"<#(\d+)>")


class FeedRefused(UserFacingError):
    """A feed request that cannot be done as asked; the message says why."""


def live_feeds(bot: NewsBot) -> LiveFeeds:
    if bot.feeds is None:
        raise FeedRefused("Feeds are not available on this bot.")
    return bot.feeds


def guild_feeds(registry: Registry, guild_id: int) -> list[Feed]:
    """The server's own feeds and the global ones."""
    return registry.feeds(guild_id=guild_id, all_guilds=False)


def find_feed(registry: Registry, guild_id: int, value: str) -> Feed | None:
    """A feed this server sees, by id (``3`` or ``#3``, what autocomplete sends), URL or name."""
    value = value.strip()
    feeds = guild_feeds(registry, guild_id)
    if value.lstrip("#").isdigit():
        wanted = int(value.lstrip("#"))
        return next((f for f in feeds if f.id == wanted), None)
    folded = value.casefold()
    return next((f for f in feeds if f.url == value), None) or next(
        (f for f in feeds if f.name and f.name.casefold() == folded), None
    )


def parse_keywords(text: str | None) -> list[str]:
    """Comma-separated words or phrases."""
    words = [squash(w) for w in (text or "").split(",")]
    words = [w for w in words if w]
    if len(words) > MAX_KEYWORDS:
        raise FeedRefused(f"At most {MAX_KEYWORDS} keywords, separated by commas.")
    return words


def missing_post_permissions(channel: discord.TextChannel) -> list[str]:
    """What the bot lacks to post headlines in ``channel`` (empty when it is all there)."""
    me = channel.guild.me
    if me is None:  # not cached: Discord will say so on the first post
        return []
    perms = channel.permissions_for(me)
    needed = [
        ("View Channel", perms.view_channel),
        ("Send Messages", perms.send_messages),
        ("Embed Links", perms.embed_links),
    ]
    return [name for name, ok in needed if not ok]


def _guild_id(interaction: discord.Interaction) -> int:
    assert interaction.guild_id is not None  # server_manager ran first
    return interaction.guild_id


def register_feed_commands(bot: NewsBot) -> None:
    group = app_commands.Group(
        name="feeds",
        description="This server's news feeds (Manage Server)",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    async def feed_choices(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if bot.feeds is None or not can_manage(interaction):
            return []
        try:
            feeds = await bot.io.run(guild_feeds, bot.feeds.registry, _guild_id(interaction))
        except Exception as exc:  # busy, closing, the database: no suggestions this keystroke
            log.warning("feed autocomplete failed: %s", exc)
            return []
        needle = current.casefold().strip().lstrip("#")
        return [
            app_commands.Choice(
                name=fit(
                    f"#{f.id} {squash(f.label)}" + (" (global)" if f.guild_id is None else ""),
                    CHOICE_NAME,
                ),
                value=str(f.id),
            )
            for f in feeds
            if needle in f"{f.id} {f.label}".casefold()
        ][:CHOICES]

    @group.command(name="add", description="Add an RSS/Atom feed: indexed now, new items posted")
    @app_commands.describe(url="The feed's http(s) URL", name="A short name for its headlines")
    @app_commands.check(server_manager)
    async def add(
        interaction: discord.Interaction,
        url: app_commands.Range[str, 1, 1000],
        name: app_commands.Range[str, 1, 100] | None = None,
    ) -> None:
        live = live_feeds(bot)
        url = url.strip()
        if not is_http_url(url):
            raise FeedRefused("That is not an http(s) URL.")
        guild_id = _guild_id(interaction)
        await defer(interaction, ephemeral=True)
        with bot.in_flight():
            own = [
                f
                for f in await bot.io.run(guild_feeds, live.registry, guild_id)
                if f.guild_id is not None
            ]
            if any(f.url == url for f in own):
                raise FeedRefused("This server already has that feed (see `/feeds list`).")
            settings = bot.settings
            refusal = await refused_feed_url(
                url, settings.allow_hosts, settings.fetch_timeout_seconds
            )
            if refusal:
                raise FeedRefused(f"That feed was not added: {fit_escaped(refusal, 1500)}.")
            try:
                feed, result = await live.add_feed(
                    url,
                    guild_id=guild_id,
                    name=squash(name) if name else None,
                    guild_limit=MAX_FEEDS_PER_GUILD,
                )
            except LimitReached as exc:
                raise FeedRefused(
                    f"This server has {exc.count} feeds, the most it can have; "
                    "remove one with `/feeds remove` first."
                ) from None
            except RegistryError as exc:
                raise FeedRefused(f"Could not add that feed: {exc}") from None
            except PollerStopped:
                raise ShuttingDown() from None
            await follow_up(interaction, content=poll_report(feed, result), ephemeral=True)

    @group.command(name="remove", description="Stop polling one of this server's feeds")
    @app_commands.describe(feed="The feed (start typing its name)")
    @app_commands.check(server_manager)
    async def remove(
        interaction: discord.Interaction, feed: app_commands.Range[str, 1, 1000]
    ) -> None:
        live = live_feeds(bot)
        guild_id = _guild_id(interaction)
        await defer(interaction, ephemeral=True)
        target = await bot.io.run(find_feed, live.registry, guild_id, feed)
        if target is None:
            raise FeedRefused("This server has no such feed (see `/feeds list`).")
        if target.guild_id is None:
            raise FeedRefused(
                "That feed was added for every server by whoever runs this bot; only they can "
                "remove it (`newsbot feeds remove`)."
            )
        await bot.io.run(live.registry.remove_feed, target.id)
        await follow_up(
            interaction,
            content=f"Removed feed #{target.id}: {feed_label(target)}. Its articles stay "
            "indexed; its headlines are no longer posted.",
            ephemeral=True,
        )

    @group.command(name="list", description="This server's feeds and where their headlines go")
    @app_commands.check(server_manager)
    async def list_feeds(interaction: discord.Interaction) -> None:
        live = live_feeds(bot)
        guild_id = _guild_id(interaction)
        await defer(interaction, ephemeral=True)
        feeds = await bot.io.run(guild_feeds, live.registry, guild_id)
        subs = await bot.io.run(live.registry.subscriptions, guild_id=guild_id)
        embed = feeds_embed(feeds, subs, posts_per_cycle=bot.settings.posts_per_cycle)
        await follow_up(interaction, embed=embed, ephemeral=True)

    remove.autocomplete("feed")(feed_choices)
    bot.tree.add_command(group)

    @bot.tree.command(name="subscribe", description="Post new headlines in a channel")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.describe(
        channel="Where to post them",
        feed="Only this feed (default: every feed of this server)",
        include="Only headlines mentioning one of these (comma-separated)",
        exclude="Never headlines mentioning one of these (comma-separated)",
    )
    @app_commands.check(server_manager)
    async def subscribe(
        interaction: discord.Interaction,
        channel: discord.TextChannel,
        feed: app_commands.Range[str, 1, 1000] | None = None,
        include: app_commands.Range[str, 1, 300] | None = None,
        exclude: app_commands.Range[str, 1, 300] | None = None,
    ) -> None:
        live = live_feeds(bot)
        guild_id = _guild_id(interaction)
        included, excluded = parse_keywords(include), parse_keywords(exclude)
        missing = missing_post_permissions(channel)
        if missing:
            raise FeedRefused(
                f"I can't post in {channel.mention}: I need {', '.join(missing)} there."
            )
        await defer(interaction, ephemeral=True)
        target = None
        if feed is not None:
            target = await bot.io.run(find_feed, live.registry, guild_id, feed)
            if target is None:
                raise FeedRefused("This server has no such feed (see `/feeds list`).")
        try:
            sub = await bot.io.run(
                live.registry.subscribe,
                guild_id,
                channel.id,
                feed_id=target.id if target else None,
                include=included,
                exclude=excluded,
                guild_limit=MAX_SUBSCRIPTIONS_PER_GUILD,
            )
        except LimitReached as exc:
            raise FeedRefused(
                f"This server has {exc.count} subscriptions, the most it can have; "
                "remove one with `/unsubscribe` first."
            ) from None
        live.resume(sub.id)
        text = subscribed_text(channel.mention, target, sub, bot.settings.posts_per_cycle)
        await follow_up(interaction, content=text, ephemeral=True)

    subscribe.autocomplete("feed")(feed_choices)

    def subscription_name(sub: Subscription, feeds: dict[int, Feed]) -> str:
        channel = bot.get_channel(sub.channel_id)
        where = f"#{channel.name}" if channel and hasattr(channel, "name") else "deleted channel"
        if sub.feed_id is None:
            what = "every feed"
        else:
            found = feeds.get(sub.feed_id)
            what = f"#{sub.feed_id} {squash(found.label)}" if found else f"feed #{sub.feed_id}"
        return fit(f"{where} ← {what}", CHOICE_NAME)

    async def subscriptions_and_feeds(
        live: LiveFeeds, guild_id: int
    ) -> tuple[list[Subscription], dict[int, Feed]]:
        subs = await bot.io.run(live.registry.subscriptions, guild_id=guild_id)
        feeds = await bot.io.run(guild_feeds, live.registry, guild_id)
        return subs, {f.id: f for f in feeds}

    @bot.tree.command(name="unsubscribe", description="Stop posting headlines in a channel")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.describe(subscription="Which one (start typing the channel's name)")
    @app_commands.check(server_manager)
    async def unsubscribe(
        interaction: discord.Interaction, subscription: app_commands.Range[str, 1, 200]
    ) -> None:
        live = live_feeds(bot)
        guild_id = _guild_id(interaction)
        await defer(interaction, ephemeral=True)
        subs, feeds = await subscriptions_and_feeds(live, guild_id)
        value = subscription.strip()
        mention = _CHANNEL_MENTION.fullmatch(value)
        if value.isdigit():  # what autocomplete sends
            chosen = [s for s in subs if s.id == int(value)]
        elif mention:
            chosen = [s for s in subs if s.channel_id == int(mention.group(1))]
        else:  # a channel name typed without picking: all of that channel's subscriptions
            name = value.lstrip("#").casefold()
            chosen = [
                s
                for s in subs
                if getattr(bot.get_channel(s.channel_id), "name", "").casefold() == name
            ]
        if not chosen:
            raise FeedRefused("No such subscription in this server (see `/feeds list`).")
        for sub in chosen:
            await bot.io.run(live.registry.unsubscribe, sub.id)
            live.resume(sub.id)
        lines = [f"Stopped: {fit_escaped(subscription_name(s, feeds), 200)}" for s in chosen]
        await follow_up(interaction, content=fit("\n".join(lines), MESSAGE_CONTENT), ephemeral=True)

    @unsubscribe.autocomplete("subscription")
    async def subscription_choices(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if bot.feeds is None or not can_manage(interaction):
            return []
        try:
            subs, feeds = await subscriptions_and_feeds(bot.feeds, _guild_id(interaction))
        except Exception as exc:  # busy, closing, the database: no suggestions this keystroke
            log.warning("subscription autocomplete failed: %s", exc)
            return []
        needle = current.casefold().strip().lstrip("#")
        choices = [
            app_commands.Choice(name=subscription_name(s, feeds), value=str(s.id)) for s in subs
        ]
        return [c for c in choices if needle in c.name.casefold() and len(c.value) <= CHOICE_VALUE][
            :CHOICES
        ]
