"""The loopback fake Discord works with the real discord.py client (no network but 127.0.0.1)."""

from __future__ import annotations

import asyncio
import logging
import math
import time

import discord
import pytest
import pytest_asyncio
from discord import app_commands

from tests.support.fake_discord import (
    ErrorLogGuard,
    FakeDiscord,
    compile_path_pattern,
    running_client,
)


# --------------------------------------------------------------------------- a tiny bot
class MoreView(discord.ui.View):
    @discord.ui.button(label="More", custom_id="news:more")
    async def more(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.edit_message(content="more news", view=None)


class FeedbackModal(discord.ui.Modal, title="Feedback"):
    text = discord.ui.TextInput(label="Text", custom_id="feedback:text")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"thanks: {self.text.value}", ephemeral=True)


def make_client() -> discord.Client:
    intents = discord.Intents.default()
    intents.message_content = True
    client = discord.Client(intents=intents, guild_ready_timeout=0)
    tree = app_commands.CommandTree(client)
    client.tree = tree  # type: ignore[attr-defined]

    @tree.command(name="ask", description="Ask the news bot")
    @app_commands.describe(question="What to ask")
    async def ask(interaction: discord.Interaction, question: str) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.followup.send(f"answer: {question}")

    @ask.autocomplete("question")
    async def ask_complete(interaction: discord.Interaction, current: str) -> list:
        return [app_commands.Choice(name=f"{current} today?", value=f"{current} today?")]

    @tree.command(name="feedback", description="Send feedback")
    async def feedback(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(FeedbackModal(custom_id="feedback"))

    @client.event
    async def on_message(message: discord.Message) -> None:
        if message.author.bot:
            return
        if message.content.endswith("menu"):
            await message.channel.send("pick one", view=MoreView())
        elif message.guild is None or client.user in message.mentions:
            await message.reply("pong", allowed_mentions=discord.AllowedMentions.none())

    return client


@pytest_asyncio.fixture
async def fake(request: pytest.FixtureRequest):
    # Parametrize indirectly with a dict of FakeDiscord(...) keyword arguments to tune it.
    async with FakeDiscord(**getattr(request, "param", {})) as fake:
        yield fake


@pytest_asyncio.fixture
async def client(fake: FakeDiscord):
    with ErrorLogGuard():  # any ERROR from discord.* (e.g. a crashed handler) fails the test
        async with running_client(make_client(), fake) as client:
            yield client


# --------------------------------------------------------------------------- tests
def test_path_patterns() -> None:
    pat = compile_path_pattern("/interactions/{id}/{token}/callback")
    assert pat.fullmatch("/interactions/1/abc/callback")
    assert not pat.fullmatch("/interactions/1/abc/def/callback")
    assert compile_path_pattern("/channels/*/messages").fullmatch("/channels/9/messages")
    assert compile_path_pattern("/webhooks/**").fullmatch("/webhooks/1/t/messages/@original")
    assert not compile_path_pattern("/users/@me").fullmatch("/users/@meX")


@pytest.mark.asyncio
async def test_login_ready_and_guild(fake: FakeDiscord, client: discord.Client) -> None:
    paths = [(r.method, r.path) for r in fake.requests]
    assert paths[:2] == [("GET", "/users/@me"), ("GET", "/oauth2/applications/@me")]
    assert all(r.authorized and "Authorization" not in r.headers for r in fake.requests)
    assert fake.identify_count == 1 and fake.resume_count == 0
    assert fake.identifies[0]["token"] == "fake-token"
    # discord.py asks for a compressed transport; the fake answers in plain-text frames anyway.
    query = fake.gateway_connections[0]
    assert query["v"] == "10" and query["encoding"] == "json"
    assert query["compress"] in ("zlib-stream", "zstd-stream")

    assert client.user is not None and client.user.id == fake.bot_id
    assert client.application_id == fake.application_id
    guild = client.get_guild(fake.guild_id)
    assert guild is not None and not guild.unavailable
    channel = guild.get_channel(fake.channel_id)
    assert isinstance(channel, discord.TextChannel) and channel.name == "news"
    assert guild.me is not None and fake.bot_role_id in [r.id for r in guild.me.roles]
    assert channel.permissions_for(guild.me).send_messages
    assert [f["t"] for f in fake.dispatched[:2]] == ["READY", "GUILD_CREATE"]
    assert [f["s"] for f in fake.dispatched] == list(range(1, len(fake.dispatched) + 1))


@pytest.mark.asyncio
async def test_slash_command_defer_then_followup(fake: FakeDiscord, client: discord.Client) -> None:
    payload = fake.slash_command_payload("ask", {"question": "what happened"})
    await fake.dispatch("INTERACTION_CREATE", payload)

    iid, token = payload["id"], payload["token"]
    callback = await fake.wait_for_request("POST", f"/interactions/{iid}/{token}/callback")
    assert callback.json == {"type": 5}  # DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
    assert callback.query.get("with_response") == "1"  # discord.py 2.7 wants a JSON answer
    assert not callback.authorized  # interaction endpoints are token-authenticated

    followup = await fake.wait_for_request("POST", f"/webhooks/{fake.application_id}/{token}")
    assert followup.json["content"] == "answer: what happened"
    assert followup.query.get("wait") == "1"
    # The first followup after a deferral becomes the original response, as on Discord.
    assert followup.response["id"] == callback.response["interaction"]["response_message_id"]
    assert followup.response["flags"] & 128 == 0


@pytest.mark.asyncio
async def test_dm_slash_command_modal_round_trip(fake: FakeDiscord, client: discord.Client) -> None:
    await fake.dispatch("INTERACTION_CREATE", fake.slash_command_payload("feedback", dm=True))
    modal = await fake.wait_for_request("POST", "/interactions/*/*/callback")
    assert modal.json["type"] == 9 and modal.json["data"]["custom_id"] == "feedback"

    mark = len(fake.requests)
    submit = fake.modal_submit_payload("feedback", {"feedback:text": "more sport"}, dm=True)
    await fake.dispatch("INTERACTION_CREATE", submit)
    reply = await fake.wait_for_request("POST", "/interactions/*/*/callback", since=mark)
    assert reply.json["type"] == 4
    assert reply.json["data"]["content"] == "thanks: more sport"
    assert reply.json["data"]["flags"] == 64  # ephemeral
    message = reply.response["resource"]["message"]
    assert message["channel_id"] == submit["channel_id"] and message["flags"] == 64


@pytest.mark.asyncio
async def test_autocomplete(fake: FakeDiscord, client: discord.Client) -> None:
    payload = fake.autocomplete_payload("ask", {"question": "elect"})
    await fake.dispatch("INTERACTION_CREATE", payload)
    req = await fake.wait_for_request("POST", "/interactions/*/*/callback")
    assert req.json == {
        "type": 8,
        "data": {"choices": [{"name": "elect today?", "value": "elect today?"}]},
    }


@pytest.mark.asyncio
async def test_on_message_mention_reply(fake: FakeDiscord, client: discord.Client) -> None:
    msg = fake.message_payload(f"{fake.bot_mention} ping", mentions=[fake.bot_user])
    await fake.dispatch("MESSAGE_CREATE", msg)
    req = await fake.wait_for_request("POST", f"/channels/{fake.channel_id}/messages")
    assert req.json["content"] == "pong"
    assert int(req.json["message_reference"]["message_id"]) == int(msg["id"])
    assert int(req.json["message_reference"]["channel_id"]) == fake.channel_id
    assert req.json["allowed_mentions"] == {"parse": []}
    assert req.response["type"] == 19 and req.response["referenced_message"]["id"] == msg["id"]


@pytest.mark.asyncio
async def test_dm_message_reply(fake: FakeDiscord, client: discord.Client) -> None:
    msg = fake.message_payload("hello", dm=True)
    await fake.dispatch("MESSAGE_CREATE", msg)
    req = await fake.wait_for_request("POST", f"/channels/{msg['channel_id']}/messages")
    assert req.json["content"] == "pong"
    assert "guild_id" not in msg and "guild_id" not in req.response


@pytest.mark.asyncio
async def test_button_view_edits_message(fake: FakeDiscord, client: discord.Client) -> None:
    await fake.dispatch("MESSAGE_CREATE", fake.message_payload("menu"))
    sent = await fake.wait_for_request("POST", "/channels/*/messages")
    button = sent.json["components"][0]["components"][0]
    assert button["custom_id"] == "news:more"

    await fake.dispatch(
        "INTERACTION_CREATE", fake.component_payload("news:more", message=sent.response)
    )
    req = await fake.wait_for_request("POST", "/interactions/*/*/callback")
    assert req.json["type"] == 7  # UPDATE_MESSAGE
    assert fake.messages[int(sent.response["id"])]["content"] == "more news"


@pytest.mark.asyncio
async def test_rate_limit_is_retried(fake: FakeDiscord, client: discord.Client) -> None:
    fake.fail_next("POST", "/channels/*/messages", status=429, retry_after=0.05)
    mark = len(fake.requests)
    started = time.monotonic()
    await fake.dispatch(
        "MESSAGE_CREATE", fake.message_payload(f"{fake.bot_mention} hi", mentions=[fake.bot_user])
    )
    second = await fake.wait_for_request("POST", "/channels/*/messages", since=mark, count=2)
    first = fake.requests_to("POST", "/channels/*/messages", since=mark)[0]
    assert (first.status, second.status) == (429, 200)
    assert first.response["retry_after"] == 0.05 and first.response["global"] is False
    assert second.at - first.at >= 0.04
    assert time.monotonic() - started < 1.5


@pytest.mark.asyncio
async def test_non_retryable_error_surfaces(fake: FakeDiscord, client: discord.Client) -> None:
    fake.fail_next("GET", "/channels/{id}", status=403, code=50001, message="Missing Access")
    with pytest.raises(discord.Forbidden) as excinfo:
        await client.fetch_channel(fake.channel_id)
    assert excinfo.value.code == 50001
    channel = await client.fetch_channel(fake.channel_id)  # only the next one failed
    assert channel.id == fake.channel_id


@pytest.mark.asyncio
async def test_unknown_route_is_404_and_recorded(fake: FakeDiscord, client: discord.Client) -> None:
    with pytest.raises(discord.NotFound):
        await client.http.request(discord.http.Route("GET", "/no/such/thing"))
    assert fake.requests[-1].path == "/no/such/thing" and fake.requests[-1].status == 404


@pytest.mark.asyncio
async def test_reconnect_op7_resumes(fake: FakeDiscord, client: discord.Client) -> None:
    seq_before = fake.seq
    session = fake.session_id
    await fake.send_reconnect()
    await fake.wait_for_resume()
    assert fake.identify_count == 1 and fake.resume_count == 1
    assert fake.resumes[0]["session_id"] == session and fake.resumes[0]["seq"] == seq_before
    assert len(fake.gateway_connections) == 2
    assert fake.dispatched[-1]["t"] == "RESUMED" and fake.dispatched[-1]["s"] == seq_before + 1

    # The resumed session still delivers events.
    await fake.dispatch(
        "MESSAGE_CREATE",
        fake.message_payload(f"{fake.bot_mention} again", mentions=[fake.bot_user]),
    )
    await fake.wait_for_request("POST", "/channels/*/messages")


@pytest.mark.asyncio
@pytest.mark.parametrize("how", ["close_4000", "drop"])
async def test_lost_connection_resumes(fake: FakeDiscord, client: discord.Client, how: str) -> None:
    if how == "close_4000":
        await fake.close_gateway(code=4000)
    else:
        await fake.drop_gateway()
    await fake.wait_for_resume()
    assert fake.identify_count == 1 and fake.resume_count == 1
    await fake.dispatch("MESSAGE_CREATE", fake.message_payload("hi", dm=True))
    await fake.wait_for_request("POST", "/channels/*/messages")


@pytest.mark.asyncio
async def test_invalid_session_reidentifies(fake: FakeDiscord, client: discord.Client) -> None:
    async def no_identify_delay(shard_id: int | None, *, initial: bool = False) -> None:
        pass

    # discord.py sleeps 5 s before every non-initial IDENTIFY (Client.before_identify_hook).
    client.before_identify_hook = no_identify_delay  # type: ignore[method-assign]
    await fake.invalidate_session(resumable=False)
    await fake.wait_for_identify(2)
    assert fake.resume_count == 0 and fake.identify_count == 2
    await fake.dispatch("MESSAGE_CREATE", fake.message_payload("hi", dm=True))
    await fake.wait_for_request("POST", "/channels/*/messages")


@pytest.mark.asyncio
@pytest.mark.parametrize("fake", [{"heartbeat_interval_ms": 20}], indirect=True)
async def test_heartbeat_acks_flow(fake: FakeDiscord, client: discord.Client) -> None:
    await fake.wait_for_heartbeats(4, timeout=2)
    # The client's latency comes from HEARTBEAT -> HEARTBEAT_ACK round trips.
    await fake.wait_until(lambda: math.isfinite(client.latency), timeout=1)
    assert 0 <= client.latency < 1
    assert fake.heartbeat_acks_sent >= 4
    beats = [f for f in fake.gateway_frames if f.op == 1]
    assert beats[-1].d == fake.seq  # heartbeats carry the last sequence number
    await fake.request_heartbeat()  # a server-requested op 1 is answered at once
    await fake.wait_for_heartbeats(len(fake.heartbeats) + 1, timeout=1)


@pytest.mark.asyncio
async def test_command_sync_echoes_ids(fake: FakeDiscord, client: discord.Client) -> None:
    tree: app_commands.CommandTree = client.tree  # type: ignore[attr-defined]
    synced = await tree.sync()
    req = await fake.wait_for_request("PUT", f"/applications/{fake.application_id}/commands")
    assert [c["name"] for c in req.json] == ["ask", "feedback"]
    assert [c.name for c in synced] == ["ask", "feedback"] and synced[0].id > 0
    assert synced[0].options[0].name == "question"

    guild = discord.Object(fake.guild_id)
    tree.copy_global_to(guild=guild)
    synced = await tree.sync(guild=guild)
    await fake.wait_for_request(
        "PUT", f"/applications/{fake.application_id}/guilds/{fake.guild_id}/commands"
    )
    assert synced[0].guild_id == fake.guild_id
    assert [c.name for c in await tree.fetch_commands()] == [
        "ask",
        "feedback",
    ]  # GET returns the synced set


@pytest.mark.asyncio
async def test_dm_open_and_thread(fake: FakeDiscord, client: discord.Client) -> None:
    user = await client.fetch_user(int(fake.user["id"]))
    await user.send("hi there")
    dm_req = await fake.wait_for_request("POST", "/users/@me/channels")
    assert int(dm_req.json["recipient_id"]) == user.id
    await fake.wait_for_request("POST", f"/channels/{dm_req.response['id']}/messages")

    channel = client.get_channel(fake.channel_id)
    assert isinstance(channel, discord.TextChannel)
    message = await channel.send("headline")
    thread = await message.create_thread(name="discussion")
    assert thread.id == message.id and thread.parent_id == fake.channel_id
    sent = await thread.send("in thread")
    assert sent.channel.id == thread.id
    assert fake.requests[-1].path == f"/channels/{thread.id}/messages"


@pytest.mark.asyncio
async def test_error_log_guard_catches_handler_crash(fake: FakeDiscord) -> None:
    crasher = discord.Client(intents=discord.Intents.default(), guild_ready_timeout=0)

    @crasher.event
    async def on_message(message: discord.Message) -> None:
        raise RuntimeError("handler blew up")

    guard = ErrorLogGuard()
    with pytest.raises(AssertionError, match="Ignoring exception in on_message"), guard:
        async with running_client(crasher, fake):
            await fake.dispatch("MESSAGE_CREATE", fake.message_payload("boom"))
            await fake.wait_until(lambda: guard.records, timeout=2, what="an error log")
    assert guard.records[0].name == "discord.client"
    assert logging.getLogger("discord").handlers.count(guard) == 0


@pytest.mark.asyncio
async def test_dispatch_waits_for_reconnect(fake: FakeDiscord, client: discord.Client) -> None:
    await fake.close_gateway(code=4000)
    # Dispatching while the client is reconnecting waits for the RESUMED connection.
    seq = await asyncio.wait_for(
        fake.dispatch("MESSAGE_CREATE", fake.message_payload("hi", dm=True)), timeout=3
    )
    assert fake.dispatched[-1]["s"] == seq and fake.resume_count == 1
    await fake.wait_for_request("POST", "/channels/*/messages")
