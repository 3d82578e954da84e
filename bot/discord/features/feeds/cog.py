"""``/feeds add|remove|list``, ``/subscribe`` and ``/unsubscribe``: a server's live feeds.

Every one is for server managers (Manage Server, enforced by ``checks.server_manager``; the
default permissions only hide the commands from others) and answers privately: it is
configuration, not conversation. A server sees and changes only its own feeds, plus the global
ones its operator added with ``newsbot feeds add``, which apply to every server and are shown
as such but cannot be removed from Discord. The ``Feeds`` service does the reads and writes
off the event loop; a bot without an engine has no feeds and says so.
"""

from __future__ import annotations

import logging
import re

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.checks import can_manage, server_manager
from bot.discord.errors import FeedRefused
from bot.discord.features.feeds.protocols import Feeds, SubscribeRequest
from bot.discord.feed_render import feed_label, feeds_embed, poll_report, subscribed_text
from bot.discord.interactions import Gate, defer, follow_up
from bot.discord.subscribers import destination_channel
from bot.discord.text import (
    CHOICE_NAME,
    CHOICE_VALUE,
    CHOICES,
    MESSAGE_CONTENT,
    fit,
    fit_escaped,
    squash,
)
from index.feeds.errors import LimitReached, RegistryError
from index.feeds.registry import Feed, Subscription
from index.feeds.urls import is_http_url

log = logging.getLogger("newsbot.discord.feeds")

# Per server: enough for a newsroom's worth of outlets, few enough that one server cannot
# make the bot poll the web on its behalf without bound.
MAX_FEEDS_PER_GUILD = 25
MAX_SUBSCRIPTIONS_PER_GUILD = 50
MAX_KEYWORDS = 10
_CHANNEL_MENTION = re.compile(r"<#(\d+)>")
NO_SUCH_FEED = "This server has no such feed (see `/feeds list`)."


def find_feed(feeds: list[Feed], value: str) -> Feed | None:
    """A feed among ``feeds`` by id (``3`` or ``#3``, what autocomplete sends), URL or name."""
    value = value.strip()
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


def feed_choices(feeds: list[Feed], current: str) -> list[app_commands.Choice[str]]:
    """The feeds whose id or label contains what was typed; global ones marked."""
    needle = current.casefold().strip().lstrip("#")
    return [
        app_commands.Choice(
            name=fit(
                f"#{f.id} {squash(f.label)}" + (" (global)" if f.owner is None else ""),
                CHOICE_NAME,
            ),
            value=str(f.id),
        )
        for f in feeds
        if needle in f"{f.id} {f.label}".casefold()
    ][:CHOICES]


def subscription_name(sub: Subscription, feeds: dict[int, Feed], channel_name: str | None) -> str:
    """ "#channel ← #3 Feed" (or "every feed"); ``channel_name`` None: the channel is gone."""
    where = f"#{channel_name}" if channel_name is not None else "deleted channel"
    if sub.feed_id is None:
        what = "every feed"
    else:
        found = feeds.get(sub.feed_id)
        what = f"#{sub.feed_id} {squash(found.label)}" if found else f"feed #{sub.feed_id}"
    return fit(f"{where} ← {what}", CHOICE_NAME)


def chosen_subscriptions(
    subs: list[Subscription], value: str, channel_name: dict[int, str | None]
) -> list[Subscription]:
    """What /unsubscribe's value names: a subscription id (what autocomplete sends), a channel
    mention, or a channel name typed without picking (all of that channel's)."""
    value = value.strip()
    mention = _CHANNEL_MENTION.fullmatch(value)
    if value.isdigit():
        return [s for s in subs if s.id == int(value)]
    if mention:
        return [s for s in subs if destination_channel(s.destination) == int(mention.group(1))]
    name = value.lstrip("#").casefold()
    return [
        s
        for s in subs
        if (channel_name.get(destination_channel(s.destination)) or "").casefold() == name
    ]


def limit_refusal(exc: LimitReached, what: str, remedy: str) -> FeedRefused:
    return FeedRefused(
        f"This server has {exc.count} {what}, the most it can have; remove one with "
        f"`{remedy}` first."
    )


def _guild_id(interaction: discord.Interaction) -> int:
    assert interaction.guild_id is not None  # server_manager ran first
    return interaction.guild_id


def channel_name(interaction: discord.Interaction, channel_id: int) -> str | None:
    channel = interaction.client.get_channel(channel_id)
    return getattr(channel, "name", None) if channel is not None else None


class FeedsCog(commands.Cog):
    feeds_group = app_commands.Group(
        name="feeds",
        description="This server's news feeds (Manage Server)",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(self, feeds: Feeds | None, *, gate: Gate) -> None:
        self._feeds = feeds
        self.gate = gate

    def service(self) -> Feeds:
        if self._feeds is None:
            raise FeedRefused("Feeds are not available on this bot.")
        return self._feeds

    async def _feed_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if self._feeds is None or not can_manage(interaction):
            return []
        try:
            feeds = await self._feeds.guild_feeds(_guild_id(interaction))
        except Exception as exc:  # busy, closing, the database: no suggestions this keystroke
            log.warning("feed autocomplete failed: %s", exc)
            return []
        return feed_choices(feeds, current)

    @feeds_group.command(
        name="add", description="Add an RSS/Atom feed: indexed now, new items posted"
    )
    @app_commands.describe(url="The feed's http(s) URL", name="A short name for its headlines")
    @app_commands.check(server_manager)
    async def add(
        self,
        interaction: discord.Interaction,
        url: app_commands.Range[str, 1, 1000],
        name: app_commands.Range[str, 1, 100] | None = None,
    ) -> None:
        feeds = self.service()
        url = url.strip()
        if not is_http_url(url):
            raise FeedRefused("That is not an http(s) URL.")
        guild_id = _guild_id(interaction)
        await defer(interaction, ephemeral=True)
        with self.gate.in_flight():
            own = [f for f in await feeds.guild_feeds(guild_id) if f.owner is not None]
            if any(f.url == url for f in own):
                raise FeedRefused("This server already has that feed (see `/feeds list`).")
            refusal = await feeds.refused_url(url)
            if refusal:
                raise FeedRefused(f"That feed was not added: {fit_escaped(refusal, 1500)}.")
            try:
                feed, result = await feeds.add_feed(
                    url,
                    guild_id=guild_id,
                    name=squash(name) if name else None,
                    guild_limit=MAX_FEEDS_PER_GUILD,
                )
            except LimitReached as exc:
                raise limit_refusal(exc, "feeds", "/feeds remove") from None
            except RegistryError as exc:
                raise FeedRefused(f"Could not add that feed: {exc}") from None
            await follow_up(interaction, content=poll_report(feed, result), ephemeral=True)

    @feeds_group.command(name="remove", description="Stop polling one of this server's feeds")
    @app_commands.describe(feed="The feed (start typing its name)")
    @app_commands.check(server_manager)
    async def remove(
        self, interaction: discord.Interaction, feed: app_commands.Range[str, 1, 1000]
    ) -> None:
        feeds = self.service()
        guild_id = _guild_id(interaction)
        await defer(interaction, ephemeral=True)
        target = find_feed(await feeds.guild_feeds(guild_id), feed)
        if target is None:
            raise FeedRefused(NO_SUCH_FEED)
        if target.owner is None:
            raise FeedRefused(
                "That feed was added for every server by whoever runs this bot; only they can "
                "remove it (`newsbot feeds remove`)."
            )
        await feeds.remove_feed(target.id)
        await follow_up(
            interaction,
            content=f"Removed feed #{target.id}: {feed_label(target)}. Its articles stay "
            "indexed; its headlines are no longer posted.",
            ephemeral=True,
        )

    @remove.autocomplete("feed")
    async def remove_feed_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._feed_choices(interaction, current)

    @feeds_group.command(
        name="list", description="This server's feeds and where their headlines go"
    )
    @app_commands.check(server_manager)
    async def list_feeds(self, interaction: discord.Interaction) -> None:
        feeds = self.service()
        guild_id = _guild_id(interaction)
        await defer(interaction, ephemeral=True)
        found = await feeds.guild_feeds(guild_id)
        subs = await feeds.subscriptions(guild_id)
        embed = feeds_embed(found, subs, posts_per_cycle=feeds.posts_per_cycle)
        await follow_up(interaction, embed=embed, ephemeral=True)

    @app_commands.command(name="subscribe", description="Post new headlines in a channel")
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
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel,
        feed: app_commands.Range[str, 1, 1000] | None = None,
        include: app_commands.Range[str, 1, 300] | None = None,
        exclude: app_commands.Range[str, 1, 300] | None = None,
    ) -> None:
        feeds = self.service()
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
            target = find_feed(await feeds.guild_feeds(guild_id), feed)
            if target is None:
                raise FeedRefused(NO_SUCH_FEED)
        request = SubscribeRequest(
            guild_id, channel.id, target.id if target else None, included, excluded
        )
        try:
            sub = await feeds.subscribe(request, guild_limit=MAX_SUBSCRIPTIONS_PER_GUILD)
        except LimitReached as exc:
            raise limit_refusal(exc, "subscriptions", "/unsubscribe") from None
        text = subscribed_text(channel.mention, target, sub, feeds.posts_per_cycle)
        await follow_up(interaction, content=text, ephemeral=True)

    @subscribe.autocomplete("feed")
    async def subscribe_feed_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._feed_choices(interaction, current)

    async def _subscriptions_and_feeds(
        self, feeds: Feeds, guild_id: int
    ) -> tuple[list[Subscription], dict[int, Feed]]:
        subs = await feeds.subscriptions(guild_id)
        return subs, {f.id: f for f in await feeds.guild_feeds(guild_id)}

    @app_commands.command(name="unsubscribe", description="Stop posting headlines in a channel")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.describe(subscription="Which one (start typing the channel's name)")
    @app_commands.check(server_manager)
    async def unsubscribe(
        self, interaction: discord.Interaction, subscription: app_commands.Range[str, 1, 200]
    ) -> None:
        feeds = self.service()
        guild_id = _guild_id(interaction)
        await defer(interaction, ephemeral=True)
        subs, by_id = await self._subscriptions_and_feeds(feeds, guild_id)
        channels = {s.id: destination_channel(s.destination) for s in subs}
        names = {c: channel_name(interaction, c) for c in channels.values()}
        chosen = chosen_subscriptions(subs, subscription, names)
        if not chosen:
            raise FeedRefused("No such subscription in this server (see `/feeds list`).")
        for sub in chosen:
            await feeds.unsubscribe(sub.id)
        lines = [
            f"Stopped: {fit_escaped(subscription_name(s, by_id, names[channels[s.id]]), 200)}"
            for s in chosen
        ]
        await follow_up(interaction, content=fit("\n".join(lines), MESSAGE_CONTENT), ephemeral=True)

    @unsubscribe.autocomplete("subscription")
    async def subscription_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if self._feeds is None or not can_manage(interaction):
            return []
        try:
            subs, by_id = await self._subscriptions_and_feeds(self._feeds, _guild_id(interaction))
        except Exception as exc:  # busy, closing, the database: no suggestions this keystroke
            log.warning("subscription autocomplete failed: %s", exc)
            return []
        needle = current.casefold().strip().lstrip("#")
        choices = [
            app_commands.Choice(
                name=subscription_name(
                    s, by_id, channel_name(interaction, destination_channel(s.destination))
                ),
                value=str(s.id),
            )
            for s in subs
        ]
        return [c for c in choices if needle in c.name.casefold() and len(c.value) <= CHOICE_VALUE][
            :CHOICES
        ]
