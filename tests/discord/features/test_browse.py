"""The browse feature end to end (and /about): /headlines, /search, /article, /sources, with
the real NewsBot and Engine against the loopback fake Discord."""

from __future__ import annotations

import asyncio
import re
import threading

from bot.discord.client import IO_WORKERS
from tests.discord.harness import (
    ANSWER_TIMEOUT,
    SHANGRI_LA,
    ask,
    bot_settings,
    button,
    callback_of,
    click,
    headlines,
    running_bot,
)
from tests.support.fake_discord import ErrorLogGuard, FakeDiscord, RecordedRequest

# --------------------------------------------------------------------------- browsing


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
