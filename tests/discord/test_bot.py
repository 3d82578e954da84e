"""The Discord bot end to end: the real NewsBot and Engine against the loopback fake Discord.

Every test runs under ErrorLogGuard (an ERROR from discord.* or newsbot.* fails it, except in
the test that raises on purpose) and ends with the audit that no message could ping anyone.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time

import discord
import pytest
import pytest_asyncio

from bot.discord.client import IO_WORKERS
from bot.discord.render import NOT_ANSWERED
from tests.discord.harness import (
    ANSWER_TIMEOUT,
    SHANGRI_LA,
    ask,
    assert_no_pings,
    bot_settings,
    button,
    callback_of,
    custom_ids,
    embed_text,
    mention,
    running_bot,
    tiny_articles,
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
        "and where is it held?",
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
    _, elsewhere = await mention(fake, "and where is it held?")
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


async def test_default_intents_are_not_privileged(fake, bot) -> None:
    intents = fake.identifies[0]["intents"]
    assert intents == discord.Intents.default().value
    assert not intents & (1 << 15) and not intents & (1 << 1) and not intents & (1 << 8)


# --------------------------------------------------------------------------- browsing


@pytest_asyncio.fixture
async def tiny_bot(fake, engine_factory, tmp_path):
    engine = engine_factory(tmp_path / "tiny")
    engine.ingest(tiny_articles(25) + tiny_articles(3, source="Harbour Herald", prefix="Herald"))
    with ErrorLogGuard(("discord", "newsbot")):
        async with running_bot(fake, engine, bot_settings(tmp_path / "tiny")) as bot:
            yield bot


async def headlines(fake: FakeDiscord, **options):
    payload = fake.slash_command_payload("headlines", options)
    await fake.dispatch("INTERACTION_CREATE", payload)
    followup = await fake.wait_for_request(
        "POST", f"/webhooks/{fake.application_id}/{payload['token']}", timeout=ANSWER_TIMEOUT
    )
    return payload, followup


async def click(fake: FakeDiscord, custom_id: str, message: dict, **kwargs):
    payload = fake.component_payload(custom_id, message=message, **kwargs)
    await fake.dispatch("INTERACTION_CREATE", payload)
    return payload, await fake.wait_for_request(
        "POST", f"/interactions/{payload['id']}/{payload['token']}/callback", timeout=10
    )


async def test_headlines_are_paged_with_buttons(fake, tiny_bot) -> None:
    _, followup = await headlines(fake, count=25, source="Tiny Times")
    page1 = followup.json["embeds"][0]
    lines = page1["description"].splitlines()
    assert len(lines) == 10
    assert lines[0] == (
        "**1.** [Story 24 about the harbour](https://news.example/story/24)"
        " — Tiny Times, 25 January 2024"
    )
    assert page1["footer"]["text"] == "Page 1/3 · 25 headlines"
    prev_button, next_button = button(followup.json, "Previous"), button(followup.json, "Next")
    assert prev_button["disabled"] and not next_button.get("disabled")

    message = followup.response
    _, turned = await click(fake, next_button["custom_id"], message)
    assert turned.json["type"] == 7  # the message is edited in place
    page2 = turned.json["data"]["embeds"][0]
    assert page2["description"].splitlines()[0].startswith("**11.** [Story 14 about")
    message = fake.messages[int(message["id"])]
    _, turned = await click(fake, next_button["custom_id"], message)
    page3 = turned.json["data"]["embeds"][0]["description"].splitlines()
    assert len(page3) == 5 and page3[-1].startswith("**25.** [Story 00 about")
    assert button(turned.json["data"], "Next")["disabled"]

    # Someone else cannot turn the asker's pages.
    stranger = fake.make_user(username="bob")
    _, refused = await click(fake, next_button["custom_id"], message, user=stranger)
    assert refused.json["type"] == 4 and refused.json["data"]["flags"] == 64
    assert "Only the member who asked" in refused.json["data"]["content"]


async def test_clicks_while_shutting_down_get_the_restarting_notice(fake, tiny_bot) -> None:
    """Commands were refused with a notice during shutdown, but clicks were not checked at
    all (the command tree never sees them): they started new work or went unanswered."""
    _, followup = await headlines(fake, count=25)
    message = followup.response
    article_id = tiny_bot.engine.headlines(limit=1)[0].article_id
    # An answer's and an article's buttons, as they would sit on their messages.
    buttons = [f"newsbot:full:{article_id}", f"newsbot:page:{article_id}:1"]
    row = [{"type": 2, "style": 1, "label": "b", "custom_id": c} for c in buttons]
    elsewhere = {**message, "components": [{"type": 1, "components": row}]}
    # A real shutdown, held open by work still running in the question pool: clicks arrive
    # while it waits for that work, the gateway still connected.
    release = threading.Event()
    held = asyncio.create_task(tiny_bot.pool.run(release.wait, ANSWER_TIMEOUT))
    await fake.wait_until(lambda: tiny_bot.pool.running == 1, what="a running job")
    stopping = asyncio.create_task(tiny_bot.shutdown(grace=ANSWER_TIMEOUT))
    try:
        await fake.wait_until(lambda: not tiny_bot.accepting, what="shutdown under way")
        for custom_id, on in [
            (button(followup.json, "Next")["custom_id"], message),  # the /headlines pager
            *((c, elsewhere) for c in buttons),
        ]:
            _, refused = await click(fake, custom_id, on)
            assert refused.json["type"] == 4 and refused.json["data"]["flags"] == 64, custom_id
            assert "restarting" in refused.json["data"]["content"], custom_id
        assert not stopping.done()  # all of it while the shutdown waited
    finally:
        release.set()
    assert await held is True
    await asyncio.wait_for(stopping, ANSWER_TIMEOUT)


async def test_headlines_source_autocompletes_and_filters(fake, tiny_bot) -> None:
    payload = fake.autocomplete_payload("headlines", {"source": "harb"})
    await fake.dispatch("INTERACTION_CREATE", payload)
    req = await fake.wait_for_request("POST", f"/interactions/{payload['id']}/*/callback")
    assert req.json == {
        "type": 8,
        "data": {"choices": [{"name": "Harbour Herald (3)", "value": "Harbour Herald"}]},
    }
    _, followup = await headlines(fake, source="Harbour Herald")
    embed = followup.json["embeds"][0]
    assert embed["title"] == "Headlines from Harbour Herald"
    assert len(embed["description"].splitlines()) == 3 and "Herald 02" in embed["description"]
    assert "Story" not in embed["description"] and not followup.json.get("components")


async def test_blank_outlet_names_are_not_offered_as_choices(
    fake, engine_factory, tmp_path
) -> None:
    """The store keeps outlet names as ingested: an empty one became a choice with an empty
    value (the option takes 1-100 characters), a blank one a choice of nothing, and a
    multi-line one a multi-line choice name."""
    from index.model import Article

    engine = engine_factory(tmp_path / "odd")
    engine.ingest(
        [
            Article(f"Ferry {n}", f"The ferry ran {n}.", f"odd:{n}", source=source)
            for n, source in enumerate(["", "   ", "Harbour\nHerald"])
        ]
    )
    with ErrorLogGuard(("discord", "newsbot")):
        async with running_bot(fake, engine, bot_settings(tmp_path / "odd")):
            payload = fake.autocomplete_payload("headlines", {"source": ""})
            await fake.dispatch("INTERACTION_CREATE", payload)
            req = await fake.wait_for_request("POST", f"/interactions/{payload['id']}/*/callback")
    assert req.json["data"]["choices"] == [
        {"name": "Harbour Herald (1)", "value": "Harbour\nHerald"}
    ]


async def test_full_article_button_shows_the_article(fake, bot, engine) -> None:
    _, answer = await ask(fake, SHANGRI_LA)
    full = button(answer.json, "Full article")
    _, ack = await click(fake, full["custom_id"], answer.response)
    assert ack.json == {"type": 5, "data": {"flags": 64}}  # private "thinking..."
    shown = await fake.wait_for_request(
        "POST", f"/webhooks/{fake.application_id}/*", since=fake.requests.index(ack)
    )
    embed = shown.json["embeds"][0]
    article_id = full["custom_id"].removeprefix("newsbot:full:")
    article = engine.article(article_id)
    assert embed["title"] == article.title
    assert "Defense ministers from Japan, South Korea and the US plan" in embed["description"]
    assert shown.response["flags"] & 64


LONG_REPORT = [
    f"Sentence {i} of the long report says the tide was {i} cm high." for i in range(160)
]


def long_report_engine(engine_factory, data_dir):
    """An engine holding one article long enough for several pages; (engine, its id)."""
    from index.model import Article

    paragraphs = [" ".join(LONG_REPORT[i : i + 20]) for i in range(0, 160, 20)]
    engine = engine_factory(data_dir)
    engine.ingest([Article("A very long report", "\n\n".join(paragraphs), "long", source="Tides")])
    return engine, engine.headlines(limit=1)[0].article_id


async def show_article(fake: FakeDiscord, article_id: str) -> RecordedRequest:
    payload = fake.slash_command_payload("article", {"article": article_id})
    await fake.dispatch("INTERACTION_CREATE", payload)
    shown = await fake.wait_for_request(
        "POST", f"/webhooks/{fake.application_id}/{payload['token']}"
    )
    assert callback_of(fake, payload).json == {"type": 5, "data": {"flags": 64}}
    return shown


async def turn_page(fake: FakeDiscord, message: dict, label: str) -> dict:
    """Click a page button; it acknowledges (type 6), then edits the message: the new embed."""
    payload, ack = await click(fake, button(message, label)["custom_id"], message)
    assert ack.json["type"] == 6
    edit = await fake.wait_for_request(
        "PATCH",
        f"/webhooks/{fake.application_id}/{payload['token']}/messages/@original",
        timeout=ANSWER_TIMEOUT,
    )
    return edit.json["embeds"][0]


async def test_long_article_is_paged(fake, engine_factory, tmp_path) -> None:
    sentences = LONG_REPORT
    engine, article_id = long_report_engine(engine_factory, tmp_path / "long")
    with ErrorLogGuard(("discord", "newsbot")):
        async with running_bot(fake, engine, bot_settings(tmp_path / "long")):
            first = await show_article(fake, article_id)
            texts = [first.json["embeds"][0]["description"]]
            pages = int(first.json["embeds"][0]["footer"]["text"].rsplit("/", 1)[1])
            assert pages >= 3
            message = first.response
            for n in range(2, pages + 1):
                embed = await turn_page(fake, message, "Next")
                assert embed["footer"]["text"].endswith(f"page {n}/{pages}")
                texts.append(embed["description"])
                message = fake.messages[int(message["id"])]
            assert button(message, "Next")["disabled"] and not button(message, "Previous").get(
                "disabled"
            )
    assert all(len(t) <= 4096 for t in texts)
    joined = " ".join(texts)
    assert [s for s in sentences if s not in joined] == []  # every sentence, none cut
    assert sum(t.count("Sentence 100 of") for t in texts) == 1


async def test_a_page_click_is_acknowledged_before_the_article_is_read(
    fake, engine_factory, tmp_path
) -> None:
    """The pages are read on the small I/O pool shared by every browsing command; a click
    that waited for it before answering failed once Discord's 3 seconds were up."""
    engine, article_id = long_report_engine(engine_factory, tmp_path / "long")
    settings = bot_settings(tmp_path / "long")
    with ErrorLogGuard(("discord", "newsbot")):
        async with running_bot(fake, engine, settings):
            message = (await show_article(fake, article_id)).response
        # After a restart the buttons still work, and the article must be read again.
        async with running_bot(fake, engine, settings) as bot:
            pool_free = threading.Event()
            busy = [
                asyncio.create_task(bot.io.run(pool_free.wait, ANSWER_TIMEOUT))
                for _ in range(IO_WORKERS)
            ]
            try:
                payload, ack = await click(fake, button(message, "Next")["custom_id"], message)
                assert ack.json["type"] == 6  # acknowledged while the pool is still busy
                edit_path = f"/webhooks/{fake.application_id}/{payload['token']}/messages/@original"
                assert fake.requests_to("PATCH", edit_path) == []
            finally:
                pool_free.set()
            await asyncio.gather(*busy)
            edit = await fake.wait_for_request("PATCH", edit_path, timeout=ANSWER_TIMEOUT)
    assert edit.status == 200
    assert re.search(r"page 2/\d+$", edit.json["embeds"][0]["footer"]["text"])


async def test_article_command_by_headline_words(fake, bot) -> None:
    payload = fake.slash_command_payload("article", {"article": "Radar Systems"})
    await fake.dispatch("INTERACTION_CREATE", payload)
    shown = await fake.wait_for_request(
        "POST", f"/webhooks/{fake.application_id}/{payload['token']}"
    )
    assert shown.json["embeds"][0]["title"].startswith("Japan, South Korea to Link Radar")

    payload = fake.autocomplete_payload("article", {"article": "radar"})
    await fake.dispatch("INTERACTION_CREATE", payload)
    req = await fake.wait_for_request("POST", f"/interactions/{payload['id']}/*/callback")
    [choice] = req.json["data"]["choices"]
    assert choice["name"].startswith("Japan, South Korea") and choice["value"].startswith("a-")


async def test_search_sources_and_about(fake, tiny_bot) -> None:
    payload = fake.slash_command_payload("search", {"query": "**harbour** ferry passengers"})
    await fake.dispatch("INTERACTION_CREATE", payload)
    found = await fake.wait_for_request(
        "POST", f"/webhooks/{fake.application_id}/{payload['token']}", timeout=ANSWER_TIMEOUT
    )
    embed = found.json["embeds"][0]
    assert embed["title"] == "Search: \\*\\*harbour\\*\\* ferry passengers"  # markdown inert
    assert 1 <= len(embed["fields"]) <= 5
    for field in embed["fields"]:
        assert "about the harbour" in field["name"]
        assert re.match(
            r"\[(Tiny Times|Harbour Herald) · \d+ \w+ 2024\]\(https://news\.example/",
            field["value"],
        )
        assert "passengers across the bay" in field["value"] or "ran on time" in field["value"]

    payload = fake.slash_command_payload("sources")
    await fake.dispatch("INTERACTION_CREATE", payload)
    sources = await fake.wait_for_request("POST", f"/webhooks/*/{payload['token']}")
    assert sources.json["embeds"][0]["description"].splitlines() == [
        "• Tiny Times — 25 articles",
        "• Harbour Herald — 3 articles",
    ]

    payload = fake.slash_command_payload("about")
    await fake.dispatch("INTERACTION_CREATE", payload)
    about = await fake.wait_for_request("POST", f"/webhooks/*/{payload['token']}")
    fields = {f["name"]: f["value"] for f in about.json["embeds"][0]["fields"]}
    assert fields["Articles"] == "28" and fields["Outlets"] == "2"
    assert "Story 24 about the harbour" in fields["Newest article"]
    assert fields["Last ingest"].startswith("<t:")
    assert fields["Version"].startswith("0.")


# --------------------------------------------------------------------------- limits & failures


async def test_cooldown_is_per_user_and_friendly(fake, engine, tmp_path) -> None:
    settings = bot_settings(tmp_path / "data", cooldown_seconds=60)
    with ErrorLogGuard(("discord", "newsbot")):
        async with running_bot(fake, engine, settings):
            await ask(fake, SHANGRI_LA)
            payload = fake.slash_command_payload("ask", {"question": "and where is it held?"})
            await fake.dispatch("INTERACTION_CREATE", payload)
            refused = await fake.wait_for_request(
                "POST", f"/interactions/{payload['id']}/*/callback"
            )
            assert refused.json["type"] == 4 and refused.json["data"]["flags"] == 64
            assert re.search(r"ask again in (59|60) s", refused.json["data"]["content"])
            # The same member in chat shares the cooldown...
            _, reply = await mention(fake, "and where is it held?")
            assert "ask again in" in reply.json["content"] and not reply.json.get("embeds")
            # ...while another member is not held up.
            _, other = await ask(fake, SHANGRI_LA, user=fake.make_user(username="carol"))
            assert "**from June 2 to 4**" in embed_text(other.json)


async def test_rate_limited_follow_up_is_retried(fake, bot) -> None:
    fake.fail_next("POST", f"/webhooks/{fake.application_id}/*", status=429, retry_after=0.05)
    payload = fake.slash_command_payload("ask", {"question": SHANGRI_LA})
    await fake.dispatch("INTERACTION_CREATE", payload)
    second = await fake.wait_for_request(
        "POST", f"/webhooks/*/{payload['token']}", count=2, timeout=ANSWER_TIMEOUT
    )
    first = fake.requests_to("POST", f"/webhooks/*/{payload['token']}")[0]
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 0.04
    assert "**from June 2 to 4**" in embed_text(second.json)


async def test_unknown_and_malformed_interactions_do_not_kill_the_bot(fake, bot, caplog) -> None:
    # A command this bot does not have (stale registration): a polite ephemeral answer.
    payload = fake.slash_command_payload("nope")
    await fake.dispatch("INTERACTION_CREATE", payload)
    req = await fake.wait_for_request("POST", f"/interactions/{payload['id']}/*/callback")
    assert (
        req.json["data"]["flags"] == 64 and "don't know that command" in req.json["data"]["content"]
    )
    # A Full-article button for an article that is gone since: said so, privately.
    payload = fake.component_payload(
        "newsbot:full:a-0000000000000000",
        message=fake.messages[int((await ask(fake, SHANGRI_LA))[1].response["id"])]
        | {
            "components": [
                {
                    "type": 1,
                    "components": [
                        {
                            "type": 2,
                            "style": 2,
                            "label": "Full article",
                            "custom_id": "newsbot:full:a-0000000000000000",
                        }
                    ],
                }
            ]
        },
    )
    await fake.dispatch("INTERACTION_CREATE", payload)
    gone = await fake.wait_for_request("POST", f"/webhooks/*/{payload['token']}")
    assert gone.json["flags"] == 64 and "no longer in the index" in gone.json["content"]
    # A button nobody knows, and payloads missing their required fields: dropped.
    await fake.dispatch("INTERACTION_CREATE", fake.component_payload("someone:else"))
    with caplog.at_level(logging.WARNING, logger="newsbot"):
        await fake.dispatch("INTERACTION_CREATE", {"id": str(snowflake()), "type": 3})
        await fake.dispatch("INTERACTION_CREATE", {"type": 2, "data": None})
        await fake.dispatch("MESSAGE_CREATE", {"id": "1"})
        # Still alive and answering, on the same gateway session.
        _, followup = await ask(fake, SHANGRI_LA)
    assert "**from June 2 to 4**" in embed_text(followup.json)
    assert fake.identify_count == 1 and len(fake.gateway_connections) == 1
    dropped = [r for r in caplog.records if "dropped a malformed" in r.getMessage()]
    assert len(dropped) == 3


async def test_a_failing_command_is_a_short_private_error_and_a_logged_traceback(
    fake, engine, tmp_path, caplog
) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("the index caught fire")

    real = engine.quote_answer
    engine.quote_answer = broken  # type: ignore[method-assign]
    # This test raises on purpose: only discord.py's own loggers must stay clean.
    with ErrorLogGuard(("discord",)), caplog.at_level(logging.ERROR, logger="newsbot"):
        async with running_bot(fake, engine, bot_settings(tmp_path / "data")):
            payload = fake.slash_command_payload("ask", {"question": SHANGRI_LA})
            await fake.dispatch("INTERACTION_CREATE", payload)
            error = await fake.wait_for_request(
                "POST", f"/webhooks/*/{payload['token']}", timeout=ANSWER_TIMEOUT
            )
            # The public "thinking..." was removed and the error sent privately.
            assert fake.requests_to("DELETE", f"/webhooks/*/{payload['token']}/messages/@original")
            assert error.json["flags"] == 64 and error.response["flags"] & 64
            assert error.json["content"].startswith("Sorry, something went wrong")
            assert "fire" not in error.json["content"]  # no internals for the member

            _, reply = await mention(fake, SHANGRI_LA)  # chat fails the same way
            assert reply.json["content"].startswith("Sorry, something went wrong")

            engine.quote_answer = real  # type: ignore[method-assign]
            _, followup = await ask(fake, SHANGRI_LA)  # and the bot kept running
            assert "**from June 2 to 4**" in embed_text(followup.json)
    failures = [r for r in caplog.records if r.name == "newsbot.discord" and r.exc_info]
    assert len(failures) == 2
    assert all(r.exc_info[0] is RuntimeError for r in failures)
    assert "/ask failed" in failures[0].getMessage()


# --------------------------------------------------------------------------- command sync


async def test_commands_sync_only_when_changed(fake, engine, tmp_path) -> None:
    settings = bot_settings(tmp_path / "data")
    path = f"/applications/{fake.application_id}/commands"
    with ErrorLogGuard(("discord", "newsbot")):
        async with running_bot(fake, engine, settings):
            pass
        [put] = fake.requests_to("PUT", path)
        assert [c["name"] for c in put.json] == [
            "ask",
            "headlines",
            "search",
            "article",
            "sources",
            "about",
            "feeds",
            "subscribe",
            "unsubscribe",
        ]
        async with running_bot(fake, engine, settings):  # a restart: nothing changed
            pass
        assert len(fake.requests_to("PUT", path)) == 1

        async with running_bot(fake, engine, settings, auto_sync=False) as bot:

            @bot.tree.command(name="extra", description="new")
            async def extra(interaction: discord.Interaction) -> None: ...

            assert await bot.sync_commands() is True  # changed: synced
            assert await bot.sync_commands() is False
            assert await bot.sync_commands(force=True) is True  # `newsbot sync-commands`
        assert len(fake.requests_to("PUT", path)) == 3


async def test_dev_guild_syncs_to_that_guild_only(fake, engine, tmp_path) -> None:
    settings = bot_settings(tmp_path / "data", dev_guild=fake.guild_id)
    with ErrorLogGuard(("discord", "newsbot")):
        async with running_bot(fake, engine, settings):
            await fake.dispatch(
                "INTERACTION_CREATE",
                fake.slash_command_payload(
                    "ask", {"question": SHANGRI_LA}, command_guild_id=fake.guild_id
                ),
            )
            await fake.wait_for_request("POST", "/webhooks/**", timeout=ANSWER_TIMEOUT)
    assert not fake.requests_to("PUT", f"/applications/{fake.application_id}/commands")
    [put] = fake.requests_to(
        "PUT", f"/applications/{fake.application_id}/guilds/{fake.guild_id}/commands"
    )
    assert "ask" in [c["name"] for c in put.json]


# --------------------------------------------------------------------------- token hygiene


async def test_the_token_never_reaches_a_log_line(fake, engine, tmp_path) -> None:
    token = "MTIzNDU2Nzg5MDEyMzQ1Njc4.SeCrEt.tOkEn-do-not-log-" + str(time.time_ns())
    records: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Capture(level=logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        settings = bot_settings(tmp_path / "data", discord_token=token)
        async with running_bot(fake, engine, settings) as bot:
            await ask(fake, SHANGRI_LA)
            await fake.send_reconnect()
            await fake.wait_for_resume()
            await mention(fake, SHANGRI_LA)
            assert bot.http.token == token
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    assert fake.identifies[0]["token"] == token  # it was used...
    formatter = logging.Formatter("%(name)s %(message)s")
    lines = [formatter.format(r) for r in records]
    # DEBUG from discord.py's HTTP and gateway layers was captured (requests, frames, resume).
    names = {r.name for r in records if r.levelno == logging.DEBUG}
    assert {"discord.http", "discord.gateway", "discord.client"} <= names
    assert not [line for line in lines if token in line]  # ...and never logged
