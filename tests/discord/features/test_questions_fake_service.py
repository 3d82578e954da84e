"""The questions feature alone: its cog on a bare discord.py bot against the loopback fake
Discord, answering from a fake ``Answers`` service (no engine, no NewsBot).

The hand-made answer has three sources, two of which state the lead's answering words: the
reply must lead with the answering sentence and bold the answer, list the other sources one
line each with the agreement marker, and show their quotes, privately, on a click.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import discord
from discord.ext import commands

from bot.discord.checks import UserCooldown
from bot.discord.errors import NO_MENTIONS
from bot.discord.features.questions import QuestionsCog
from bot.discord.interactions import Gate
from bot.discord.memory import ConversationKey
from bot.discord.render import AGREES, OTHER_SOURCES
from bot.discord.views import QUOTES_GONE, QuoteShelf, bound_buttons
from index.model import Answer, Quote, StoredArticle
from tests.discord.harness import ANSWER_TIMEOUT, ask, custom_ids
from tests.support.fake_discord import ErrorLogGuard, running_client

DAY = datetime(2024, 5, 1, tzinfo=UTC)
LEAD = (
    "Organisers met on Monday. The harbour festival opens on 14 July this year. "
    "Tickets go on sale soon."
)
SENTENCE = "The harbour festival opens on 14 July this year."


def article(n: int, source: str, title: str) -> StoredArticle:
    return StoredArticle(
        f"a-{n:016x}", title, "", DAY, source, f"https://news.example/{n}", "test", DAY
    )


def quote(text: str, words: str | None, art: StoredArticle, sentence: str | None = None) -> Quote:
    s = text.index(sentence) if sentence else None
    return Quote(
        text,
        text,
        0,
        len(text),
        words,
        text.index(words) if words else None,
        art,
        1.0,
        sentence_start=s,
        sentence_end=s + len(sentence) if sentence and s is not None else None,
    )


ANSWER = Answer(
    "when does the harbour festival open?",
    (
        quote(LEAD, "14 July", article(1, "Harbour Herald", "Festival dates set"), SENTENCE),
        quote(
            "The festival starts on 14 JULY, officials said.",
            "14 JULY",
            article(2, "Bay News", "Festival @everyone"),
        ),
        quote(
            "Crowds are expected at the festival in summer.",
            None,
            article(3, "Coast Times", "Summer crowds"),
        ),
        quote(
            "Another line from the lead's own article.",
            None,
            article(1, "Harbour Herald", "Festival dates set"),
        ),
    ),
    (),
    {},
)


class FakeAnswers:
    """The ``Answers`` protocol, answering every question with ``ANSWER``."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, ConversationKey]] = []

    async def ask(self, question: str, key: ConversationKey) -> Answer:
        self.asked.append((question, key))
        return ANSWER


class NoPages:
    async def article_pages(self, article_id: str) -> list[discord.Embed]:
        raise AssertionError("no article is opened in these tests")


async def test_the_cog_answers_from_a_fake_service_leading_with_the_answer(fake) -> None:
    answers, shelf = FakeAnswers(), QuoteShelf()
    client = commands.Bot(
        command_prefix=commands.when_mentioned,
        help_command=None,
        intents=discord.Intents.default(),
        allowed_mentions=NO_MENTIONS,
        guild_ready_timeout=0,
    )
    cog = QuestionsCog(
        answers,
        me=lambda: client.user,
        cooldown=UserCooldown(0),
        gate=Gate(),
        shelf=shelf,
        recent_days=3650,
    )
    await client.add_cog(cog)
    client.add_dynamic_items(*bound_buttons(NoPages(), shelf))
    with ErrorLogGuard(("discord", "newsbot")):
        async with running_client(client, fake):
            _, followup = await ask(fake, "when does the harbour festival open?")
            [lead] = followup.json["embeds"]
            reveal = await click_more_quotes(fake, followup)
            gone = await click_unknown_quotes(fake, followup)
    assert answers.asked[0][0] == "when does the harbour festival open?"

    # The lead: the answering sentence, underlined in its context, the answer in bold.
    first_line = lead["description"].splitlines()[0]
    assert first_line == (
        "> Organisers met on Monday. __The harbour festival opens on **14 July** this year.__ "
        "Tickets go on sale soon."
    )
    assert lead["title"] == "Festival dates set" and lead["url"] == "https://news.example/1"
    assert lead["footer"]["text"] == "Harbour Herald · 1 May 2024"

    # The other sources: one line each (the lead's own article is not one), agreement marked.
    [field] = lead["fields"]
    assert field["name"] == OTHER_SOURCES
    assert field["value"].splitlines() == [
        f"• Bay News, 1 May 2024 — [Festival @\u200beveryone](https://news.example/2) · {AGREES}",
        "• Coast Times, 1 May 2024 — [Summer crowds](https://news.example/3)",
    ]

    # The further quotes, privately, on a click, in the answer's order: the other sources',
    # and the runner-up sentence of the lead's own article.
    assert reveal.json["type"] == 4 and reveal.json["data"]["flags"] & 64
    shown = reveal.json["data"]["embeds"]
    assert [e["title"] for e in shown] == [
        "Festival @\u200beveryone",
        "Summer crowds",
        "Festival dates set",
    ]
    assert shown[0]["description"].startswith("> The festival starts on **14 JULY**")
    assert shown[2]["description"].startswith("> Another line from the lead's own article.")
    assert reveal.json["data"]["allowed_mentions"]["parse"] == []

    # A key the shelf no longer holds (a restart, an old answer) says so instead of failing.
    assert gone.json["data"]["content"] == QUOTES_GONE and gone.json["data"]["flags"] & 64


async def click_more_quotes(fake, followup):
    [key] = [c for c in custom_ids(followup.json) if c.startswith("newsbot:quotes:")]
    assert len(key) <= 100
    assert any(c.startswith("newsbot:full:") for c in custom_ids(followup.json))
    return await click(fake, key, followup.response)


async def click_unknown_quotes(fake, followup):
    """The same message, its quotes button pointing at a key the shelf never held."""
    unknown = "newsbot:quotes:00000000deadbeef"
    message = copy.deepcopy(followup.response)
    for row in message["components"]:
        for button in row["components"]:
            if button.get("custom_id", "").startswith("newsbot:quotes:"):
                button["custom_id"] = unknown
    return await click(fake, unknown, message)


async def click(fake, custom_id: str, message: dict):
    payload = fake.component_payload(custom_id, message=message)
    await fake.dispatch("INTERACTION_CREATE", payload)
    return await fake.wait_for_request(
        "POST",
        f"/interactions/{payload['id']}/{payload['token']}/callback",
        timeout=ANSWER_TIMEOUT,
    )
