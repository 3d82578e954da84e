"""The questions feature end to end: /ask, mentions, DMs and threads, with the real NewsBot
and Engine against the loopback fake Discord (ErrorLogGuard and the no-ping audit apply)."""

from __future__ import annotations

import re

import pytest

from bot.discord.render import NOT_ANSWERED
from tests.discord.harness import (
    ANSWER_TIMEOUT,
    SHANGRI_LA,
    ask,
    assert_no_pings,
    bot_settings,
    button,
    callback_of,
    click,
    custom_ids,
    embed_text,
    mention,
    running_bot,
)
from tests.support.fake_discord import ErrorLogGuard, FakeDiscord, RecordedRequest, snowflake

# --------------------------------------------------------------------------- /ask


async def test_ask_defers_then_follows_up_with_the_quote(fake, bot) -> None:
    payload, followup = await ask(fake, SHANGRI_LA)
    callback = callback_of(fake, payload)
    assert callback.json == {"type": 5}  # deferred: acknowledged before any engine work
    assert callback.at <= followup.at

    embed = followup.json["embeds"][0]
    assert "**from June 2 to 4**" in embed["description"]
    assert embed["description"].startswith("> ")
    assert "Shangri-La Dialogue to be held in Singapore" in embed["description"]
    assert embed["title"].startswith("Japan, South Korea to Link Radar Systems")
    assert "10 May 2023" in embed["footer"]["text"]
    # The article is years old: the answer says when it was reported.
    assert "Reported on 10 May 2023" in embed["description"]
    ids = custom_ids(followup.json)
    assert len(ids) == 1 and re.fullmatch(r"newsbot:full:a-[0-9a-f]{16}", ids[0])
    # Public answer: the deferral was not ephemeral and the answer replaced "thinking...".
    assert followup.response["flags"] & 64 == 0
    assert followup.response["id"] == callback.response["interaction"]["response_message_id"]


async def test_private_ask_is_ephemeral(fake, bot) -> None:
    payload, followup = await ask(fake, SHANGRI_LA, options={"private": True})
    assert callback_of(fake, payload).json == {"type": 5, "data": {"flags": 64}}
    assert followup.response["flags"] & 64
    assert "**from June 2 to 4**" in embed_text(followup.json)


async def test_abstention_says_so_and_lists_closest_headlines(fake, bot) -> None:
    _, followup = await ask(fake, "who won the 1998 football world cup final?")
    text = embed_text(followup.json)
    assert NOT_ANSWERED in text
    assert "Closest headlines" in text and "Japan, South Korea" in text
    assert custom_ids(followup.json) == []  # nothing quoted, no Full article button


async def test_empty_index_says_what_to_do(fake, engine_factory, tmp_path) -> None:
    empty = engine_factory(tmp_path / "empty")
    with ErrorLogGuard(("discord", "newsbot")):
        async with running_bot(fake, empty, bot_settings(tmp_path / "empty")):
            _, followup = await ask(fake, SHANGRI_LA)
    assert "news index is empty" in embed_text(followup.json)
    assert "newsbot ingest" in embed_text(followup.json)


async def test_every_message_sent_disables_mentions(fake, bot) -> None:
    _, answer = await ask(fake, "@everyone " + SHANGRI_LA)
    await mention(fake, SHANGRI_LA)
    _, ack = await click(fake, button(answer.json, "Full article")["custom_id"], answer.response)
    await fake.wait_for_request("POST", "/webhooks/**", since=fake.requests.index(ack))
    # The fixture audits every test; here the audit must have had real messages to check.
    assert assert_no_pings(fake.requests) == 3
    forged = RecordedRequest("POST", "/channels/1/messages", {}, {"content": "hi"}, {}, True)
    with pytest.raises(AssertionError, match="without allowed_mentions"):
        assert_no_pings([forged])


async def test_ask_in_a_dm_works(fake, bot) -> None:
    _, followup = await ask(fake, SHANGRI_LA, dm=True)
    assert "**from June 2 to 4**" in embed_text(followup.json)
    assert "guild_id" not in followup.response


# --------------------------------------------------------------------------- chat


async def test_mention_is_answered_in_the_channel_as_a_reply(fake, bot) -> None:
    msg, reply = await mention(fake, SHANGRI_LA)
    assert int(reply.json["message_reference"]["message_id"]) == int(msg["id"])
    assert reply.response["referenced_message"]["id"] == msg["id"]
    assert "**from June 2 to 4**" in embed_text(reply.json)
    assert custom_ids(reply.json)[0].startswith("newsbot:full:")
    assert fake.requests_to("POST", f"/channels/{fake.channel_id}/typing")


async def test_a_question_deleted_while_answering_still_gets_its_answer(fake, bot) -> None:
    """A reply to a deleted message is refused by Discord unless ``fail_if_not_exists`` is
    off; the answer was lost with only a warning."""
    mark = len(fake.requests)
    msg = fake.message_payload(f"{fake.bot_mention} {SHANGRI_LA}", mentions=[fake.bot_user])
    await fake.dispatch("MESSAGE_CREATE", msg)
    await fake.wait_for_request("POST", f"/channels/{fake.channel_id}/typing", since=mark)
    del fake.messages[int(msg["id"])]  # deleted while the bot is typing
    answer = await fake.wait_for_request(
        "POST", f"/channels/{fake.channel_id}/messages", since=mark, timeout=ANSWER_TIMEOUT
    )
    assert answer.status == 200, answer.response
    assert "**from June 2 to 4**" in embed_text(answer.json)


async def test_without_read_message_history_the_answer_is_sent_plainly(fake, bot) -> None:
    """Replying needs Read Message History; a channel that denies it gets a plain message."""
    fake.fail_next(
        "POST", f"/channels/{fake.channel_id}/messages", 403, code=50013, message="Missing Access"
    )
    _, refused = await mention(fake, SHANGRI_LA)
    assert refused.status == 403 and refused.json["message_reference"]
    plain = await fake.wait_for_request(
        "POST",
        f"/channels/{fake.channel_id}/messages",
        since=fake.requests.index(refused) + 1,
        timeout=ANSWER_TIMEOUT,
    )
    assert plain.status == 200 and "message_reference" not in plain.json
    assert "**from June 2 to 4**" in embed_text(plain.json)
    assert plain.json["allowed_mentions"]["parse"] == []


async def test_only_addressed_messages_are_answered(fake, bot) -> None:
    mark = len(fake.requests)
    await fake.dispatch("MESSAGE_CREATE", fake.message_payload(SHANGRI_LA))  # not addressed
    bot_msg = fake.message_payload(SHANGRI_LA, author=fake.make_user(username="x", bot=True))
    await fake.dispatch("MESSAGE_CREATE", bot_msg)  # another bot, even if it asked nicely
    msg, reply = await mention(fake, "")  # a bare mention gets the help text
    assert "Ask me about the news" in reply.json["content"]
    sent = fake.requests_to("POST", "/channels/*/messages", since=mark)
    assert [int(r.json["message_reference"]["message_id"]) for r in sent] == [int(msg["id"])]


async def test_mentioning_the_bots_role_counts_as_a_mention(fake, bot) -> None:
    msg = fake.message_payload(
        f"<@&{fake.bot_role_id}> {SHANGRI_LA}", mention_roles=[fake.bot_role_id]
    )
    await fake.dispatch("MESSAGE_CREATE", msg)
    reply = await fake.wait_for_request("POST", "/channels/*/messages", timeout=ANSWER_TIMEOUT)
    assert int(reply.json["message_reference"]["message_id"]) == int(msg["id"])
    assert "**from June 2 to 4**" in embed_text(reply.json)


async def test_dm_message_is_answered(fake, bot) -> None:
    msg = fake.message_payload(SHANGRI_LA, dm=True)
    await fake.dispatch("MESSAGE_CREATE", msg)
    reply = await fake.wait_for_request(
        "POST", f"/channels/{msg['channel_id']}/messages", timeout=ANSWER_TIMEOUT
    )
    assert "**from June 2 to 4**" in embed_text(reply.json)
    assert int(reply.json["message_reference"]["message_id"]) == int(msg["id"])


def thread_payload(fake: FakeDiscord, owner_id: int) -> dict:
    tid = snowflake()
    return {
        "id": str(tid),
        "guild_id": str(fake.guild_id),
        "parent_id": str(fake.channel_id),
        "owner_id": str(owner_id),
        "name": "shangri-la",
        "type": 11,
        "last_message_id": None,
        "message_count": 0,
        "member_count": 2,
        "rate_limit_per_user": 0,
        "flags": 0,
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": 1440,
            "archive_timestamp": "2024-01-01T00:00:00+00:00",
            "locked": False,
        },
        "newly_created": True,
    }


async def open_thread(fake: FakeDiscord, bot, owner_id: int) -> int:
    thread = thread_payload(fake, owner_id)
    await fake.dispatch("THREAD_CREATE", thread)
    tid = int(thread["id"])
    await fake.wait_until(lambda: bot.get_guild(fake.guild_id).get_thread(tid), what="thread")
    return tid


async def test_thread_follow_up_uses_the_conversation(fake, bot) -> None:
    tid = await open_thread(fake, bot, int(fake.user["id"]))
    _, first = await mention(fake, SHANGRI_LA, channel_id=tid)
    assert "**from June 2 to 4**" in embed_text(first.json)

    # Without the Message Content intent a plain thread message arrives empty: ignored.
    mark = len(fake.requests)
    await fake.dispatch("MESSAGE_CREATE", fake.message_payload("", channel_id=tid))
    # A reply that pings the bot carries its text: the follow-up is about the same event.
    follow = fake.message_payload(
        "and where will it take place?",
        channel_id=tid,
        mentions=[fake.bot_user],
        message_reference={"message_id": first.response["id"]},
    )
    await fake.dispatch("MESSAGE_CREATE", follow)
    reply = await fake.wait_for_request(
        "POST", f"/channels/{tid}/messages", since=mark, timeout=ANSWER_TIMEOUT
    )
    assert int(reply.json["message_reference"]["message_id"]) == int(follow["id"])
    assert "**Singapore**" in embed_text(reply.json)
    assert len(fake.requests_to("POST", f"/channels/{tid}/messages", since=mark)) == 1

    # The thread's memory is the thread's: the same follow-up in the channel has no context.
    _, elsewhere = await mention(fake, "and where will it take place?")
    assert NOT_ANSWERED in embed_text(elsewhere.json)


async def test_message_content_intent_answers_plain_thread_messages(fake, engine, tmp_path) -> None:
    settings = bot_settings(tmp_path / "data", message_content_intent=True)
    with ErrorLogGuard(("discord", "newsbot")):
        async with running_bot(fake, engine, settings) as bot:
            assert fake.identifies[-1]["intents"] & (1 << 15)  # MESSAGE_CONTENT requested
            tid = await open_thread(fake, bot, int(fake.user["id"]))
            await mention(fake, SHANGRI_LA, channel_id=tid)
            mark = len(fake.requests)
            plain = fake.message_payload("and where is it held?", channel_id=tid)
            await fake.dispatch("MESSAGE_CREATE", plain)
            reply = await fake.wait_for_request(
                "POST", f"/channels/{tid}/messages", since=mark, timeout=ANSWER_TIMEOUT
            )
            assert "**Singapore**" in embed_text(reply.json)
