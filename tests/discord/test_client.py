"""The client as a whole, end to end: intents, cooldown, failures, command sync and token
hygiene, with the real NewsBot and Engine against the loopback fake Discord."""

from __future__ import annotations

import logging
import re
import time

import discord

from tests.discord.harness import (
    ANSWER_TIMEOUT,
    SHANGRI_LA,
    ask,
    bot_settings,
    embed_text,
    mention,
    running_bot,
)
from tests.support.fake_discord import ErrorLogGuard, snowflake


async def test_default_intents_are_not_privileged(fake, bot) -> None:
    intents = fake.identifies[0]["intents"]
    assert intents == discord.Intents.default().value
    assert not intents & (1 << 15) and not intents & (1 << 1) and not intents & (1 << 8)


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
