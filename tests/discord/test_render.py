"""Rendering stays within Discord's limits and inert for any text, however hostile.

Property tests (hypothesis) throw long words, mentions, markdown, masked links, unicode and
control characters at every renderer and check the message Discord would receive.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import discord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.discord.render import (
    AGREES,
    NOT_ANSWERED,
    OTHER_SOURCES,
    agrees,
    article_pages,
    headline_pages,
    headlines_title,
    quote_block,
    render_answer,
    search_embed,
    sources_embed,
)
from bot.discord.text import (
    ELLIPSIS,
    escape,
    fit,
    fit_escaped,
    fit_tail,
    limit_violations,
    safe_url,
    split_escaped,
)
from index.model import Answer, Headline, Passage, Quote, RetrievedPassage, StoredArticle
from tests.support.quotes import context_quote

NOW = datetime(2024, 6, 1, tzinfo=UTC)
URL_RE = re.compile(discord.utils._URL_REGEX)

HOSTILE = [
    "@everyone",
    "@here",
    "<@123456789012345678>",
    "<@!123456789012345678>",
    "<@&123456789012345678>",
    "<#123456789012345678>",
    "**",
    "*",
    "__",
    "_",
    "~~",
    "||",
    "`",
    "```",
    "\\",
    "[click](https://evil.example/x)",
    "[](https://evil.example)",
    "](",
    "> ",
    ">>> ",
    "# ",
    "- ",
    "\n",
    "\n\n",
    " ",
    ". ",
    "? ",
    "https://example.com/a_b*c",
    "x" * 3000,
    "👍🏽",
    "e\u0301",
    "\u202e",
    "\u200b",
    "漢字",
    "\x00",
]

fragments = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=40))
hostile_text = st.lists(fragments, max_size=25).map("".join)
long_hostile = st.lists(fragments, min_size=1, max_size=80).map("".join)
published = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2030, 1, 1)).map(
        lambda d: d.replace(tzinfo=UTC)
    ),
)
urls = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "https://news.example/a(b)c",
            "javascript:alert(1)",
            "http://x.example/" + "y" * 3000,
            "https://news.example/<script>",
            "ftp://files.example/a",
            "not a url",
            "https://ok.example/path?q=1&r=2#frag",
        ]
    ),
    # Valid but long, like Google News RSS links (up to safe_url's 512).
    st.integers(20, 490).map(lambda n: "https://news.example/" + "a" * n),
    hostile_text,
)


@st.composite
def articles(draw: st.DrawFn) -> StoredArticle:
    return StoredArticle(
        id="a-" + draw(st.text("0123456789abcdef", min_size=16, max_size=16)),
        title=draw(long_hostile),
        body=draw(long_hostile),
        published=draw(published),
        source=draw(st.one_of(st.none(), hostile_text)),
        url=draw(urls),
        origin="test",
        ingested_at=NOW,
    )


@st.composite
def quotes(draw: st.DrawFn) -> Quote:
    text = draw(long_hostile)
    before, after = draw(hostile_text), draw(hostile_text)
    start = draw(st.integers(0, len(text)))
    end = draw(st.integers(start, len(text)))
    has_highlight = draw(st.booleans())
    sentence_start = draw(st.integers(0, start))  # an answering sentence around the words,
    sentence_end = draw(st.integers(end, len(text)))  # or (sometimes) not
    if draw(st.booleans()):
        sentence_start, sentence_end = draw(st.integers(0, len(text))), len(text)
    return Quote(
        text=text,
        passage=before + text + after,
        text_start=len(before),
        text_end=len(before) + len(text),
        highlight=text[start:end] if has_highlight else None,
        highlight_start=start if has_highlight else None,
        article=draw(articles()),
        score=1.0,
        resolved_dates=tuple(draw(st.lists(st.tuples(hostile_text, hostile_text), max_size=3))),
        sentence_start=sentence_start,
        sentence_end=sentence_end,
    )


def assert_fits(content: str | None, embeds: list[discord.Embed]) -> None:
    """Discord's limits, checked on the JSON Discord would receive (not via our helper)."""
    assert limit_violations(content, embeds) == []
    assert content is None or len(content) <= 2000
    assert len(embeds) <= 10
    total = 0
    for e in embeds:
        d = e.to_dict()
        title, desc = d.get("title", ""), d.get("description", "")
        footer = d.get("footer", {}).get("text", "")
        assert len(title) <= 256 and len(desc) <= 4096 and len(footer) <= 2048
        fields = d.get("fields", [])
        assert len(fields) <= 25
        assert all(len(f["name"]) <= 256 and 0 < len(f["value"]) <= 1024 for f in fields)
        total += len(title) + len(desc) + len(footer)
        total += sum(len(f["name"]) + len(f["value"]) for f in fields)
        url = d.get("url")
        assert url is None or (url.startswith(("http://", "https://")) and len(url) <= 512)
    assert total <= 6000


def markup_only(text: str) -> str:
    """``text`` with every backslash-escaped character replaced by a neutral placeholder, so
    what remains is what Discord could read as markup (no new adjacency is created)."""
    return re.sub(r"\\.", "\x01", text, flags=re.S)


def assert_inert(text: str) -> None:
    """Nothing in ``text`` renders as a mention, and no masked link was let through."""
    assert not re.search(r"@(everyone|here)", text), text
    assert not re.search(r"<(@[!&]?|#)", text), text
    assert "](" not in markup_only(text), text


def unescaped_bold_markers(line: str) -> int:
    line = URL_RE.sub("", line)  # a URL swallows what touches it; Discord shows it as a link
    return markup_only(line).count("**")


# --------------------------------------------------------------------------- properties

FAST = settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.lists(quotes(), min_size=1, max_size=10), st.integers(0, 4000))
def test_answers_fit_and_are_inert(qs: list[Quote], recent_days: int) -> None:
    answer = Answer("q?", tuple(qs), (), {})
    reply = render_answer(answer, now=NOW, recent_days=recent_days)
    assert_fits(reply.content, reply.embeds)
    assert 1 <= len(reply.embeds) <= 10
    for embed in reply.embeds:
        assert_inert(embed.description or "")
        assert_inert(embed.title or "")
        quote_line = (embed.description or "").split("\n\n")[0]
        assert quote_line.startswith("> ") and "\n" not in quote_line
    for link in reply.articles:
        assert len(link.label) <= 80 and len(f"newsbot:full:{link.article_id}") <= 100
    # The other sources' quotes, shown by a button, make one message of their own.
    if reply.more_quotes:
        assert_fits(None, reply.more_quotes)
    for embed in reply.more_quotes:
        assert_inert(embed.description or "")
    for field in (f for embed in reply.embeds for f in embed.fields):
        # Each line is ours ("• meta — [headline](url)"): one masked link at most, no mention.
        for line in field.value.splitlines():
            assert line.startswith("• ") and markup_only(line).count("](") <= 1, line
            assert not re.search(r"@(everyone|here)|<(@[!&]?|#)", line), line


@FAST
@given(quotes(), st.integers(12, 4096))
def test_quote_block_keeps_the_bold_and_the_limit(quote: Quote, limit: int) -> None:
    block = quote_block(quote, limit)
    assert len(block) <= limit
    assert block.startswith("> ") and "\n" not in block
    assert_inert(block)
    highlight = (quote.highlight or "").strip()
    start = quote.highlight_start or 0
    end = start + len(quote.highlight or "")
    touches_url = any(m.start() <= end and m.end() >= start for m in URL_RE.finditer(quote.text))
    if highlight and limit >= 200 and not touches_url:
        assert unescaped_bold_markers(block) == 2, block
    elif not highlight:
        assert unescaped_bold_markers(block) == 0, block
    assert block.count("__") in (0, 2)  # underline markers pair up


@FAST
@given(
    st.lists(
        st.tuples(long_hostile, st.one_of(st.none(), hostile_text), published, urls), max_size=40
    )
)
def test_headline_pages_fit(rows: list) -> None:
    heads = [Headline(f"a-{i:016x}", t, s, p, u) for i, (t, s, p, u) in enumerate(rows)]
    pages = headline_pages(heads, title="Headlines")
    assert len(pages) == (len(heads) + 9) // 10
    for n, page in enumerate(pages):
        assert_fits(None, [page])
        description = page.description or ""
        lines = description.splitlines()
        assert len(lines) == len(heads[n * 10 : n * 10 + 10])
        # The only links are our own ("[escaped title](safe url)", or none when the URL
        # would not fit)...
        for line, h in zip(lines, heads[n * 10 : n * 10 + 10], strict=True):
            links = markup_only(line).count("](")
            assert links == 0 or (links == 1 and f"]({safe_url(h.url)})" in line), line
        # ...and the rest is inert.
        assert_inert(re.sub(r"\]\((https?://[^)\s]+)\)", "]", description))


def test_long_urls_are_dropped_not_allowed_past_the_limits() -> None:
    """Ten headlines with 500-character links (Google News RSS) made a 5,400-character
    description; the link goes, the whole title stays."""
    long_url = "https://news.google.com/rss/articles/CBMi" + "x" * 460
    short_url = "https://news.example/ferry"
    heads = [
        Headline(f"a-{i:016x}", f"Ferry *strike* ends {i}", "Wire", NOW, long_url)
        for i in range(10)
    ] + [Headline("a-short", "Ferry strike ends", "Wire", NOW, short_url)]
    first, second = headline_pages(heads, title="Headlines")
    assert_fits(None, [first])
    lines = first.description.splitlines()
    assert lines[0] == "**1.** Ferry \\*strike\\* ends 0 — Wire, 1 June 2024"
    assert all(long_url not in line for line in lines)
    assert second.description == f"**11.** [Ferry strike ends]({short_url}) — Wire, 1 June 2024"


@FAST
@given(st.lists(articles(), max_size=10), hostile_text)
def test_search_results_fit(found: list[StoredArticle], query: str) -> None:
    results = [
        RetrievedPassage(Passage(i, a.id, 0, 0, len(a.body), a.body, ()), a, 1.0)
        for i, a in enumerate(found)
    ]
    embed = search_embed(query or "q", results)
    assert_fits(None, [embed])
    assert_inert(embed.title or "")


@FAST
@given(st.one_of(st.none(), long_hostile), st.one_of(st.none(), long_hostile))
def test_headlines_titles_fit_and_are_inert(source: str | None, topic: str | None) -> None:
    # /headlines takes up to 100 characters of each; outlet names can be longer.
    title = headlines_title(source, topic and topic[:100])
    assert len(title) <= 256
    assert_inert(title)
    assert_fits(None, headline_pages([Headline("a-1", "t", None, None, None)], title=title))


def test_what_members_type_is_escaped_in_titles() -> None:
    assert headlines_title("**Loud** Wire", "_storm_") == (
        "Headlines from \\*\\*Loud\\*\\* Wire about \\_storm\\_"
    )
    assert search_embed("**ferry** @everyone", []).title == (
        "Search: \\*\\*ferry\\*\\* @\u200beveryone"
    )


@FAST
@given(articles())
def test_article_pages_fit(article: StoredArticle) -> None:
    pages = article_pages(article)
    assert pages
    for page in pages:
        assert_fits(None, [page])
        assert_inert(page.description or "")


@FAST
@given(st.lists(st.tuples(long_hostile, st.integers(1, 10**6)), max_size=300))
def test_sources_fit(rows: list) -> None:
    assert_fits(None, [sources_embed(rows)])


@FAST
@given(long_hostile, st.integers(2, 5000))
def test_fit_keeps_a_prefix_within_the_limit(text: str, limit: int) -> None:
    head, tail = fit(text, limit), fit_tail(text, limit)
    assert len(head) <= limit and len(tail) <= limit
    if len(text) <= limit:
        assert head == tail == text
    else:
        assert head.endswith(ELLIPSIS) and text.startswith(head[:-1].rstrip())
        assert tail.startswith(ELLIPSIS) and text.endswith(tail[1:].lstrip())


@FAST
@given(long_hostile, st.integers(16, 5000))
def test_fit_escaped_never_splits_an_escape(text: str, limit: int) -> None:
    out = fit_escaped(text, limit)
    assert len(out) <= limit
    assert not re.search(r"(?<!\\)(\\\\)*\\$", out.removesuffix(ELLIPSIS).rstrip())
    assert_inert(out)


@FAST
@given(
    st.lists(
        st.sampled_from(["The tide rose.", "Ferries ran", "on time!", "x" * 700, " "]), max_size=60
    ).map(" ".join),
    st.integers(50, 4000),
)
def test_split_escaped_loses_nothing(text: str, limit: int) -> None:
    pieces = split_escaped(text, limit)
    assert all(0 < len(p) <= limit for p in pieces)
    assert "".join("".join(pieces).split()) == "".join(text.split())
    assert " ".join(pieces).split() == text.split() or any(len(w) > limit for w in text.split())


# --------------------------------------------------------------------------- examples


def test_fit_prefers_a_sentence_end() -> None:
    text = "The ferry left at noon. " * 10 + "It arrived late because of the wind."
    out = fit(text, 100)
    assert out.endswith(f"noon. {ELLIPSIS}") and len(out) <= 100
    assert fit("word " * 50, 30).endswith(f"word {ELLIPSIS}")  # no sentence: a word boundary
    assert fit("x" * 50, 10) == "x" * 8 + " " + ELLIPSIS  # one huge word: hard cut


def test_escape_neutralises_markdown_mentions_and_links() -> None:
    text = "**bold** @everyone <@123456789012345678> [click](https://evil.example) _x_"
    out = escape(text)
    assert "\\*\\*bold\\*\\*" in out and "\\_x\\_" in out
    assert "@\u200beveryone" in out and "<\u200b@123456789012345678>" in out
    assert_inert(out)


def test_markdown_inside_a_masked_link_span_is_escaped_too() -> None:
    """``escape_markdown`` escapes a "[...](...)" span (a line's first "[" to its last ")") as
    one link, with one backslash in front: a spoiler, code span or bold inside it stayed live
    and hid or restyled the quoted words, and a "[" in a headline link showed a stray "\\"."""
    text = "Officials [said](x) the ||vote was rigged|| and `code **x**` (y)."
    out = escape(text)
    assert out == (
        "Officials [said]\\(x) the \\|\\|vote was rigged\\|\\| and \\`code \\*\\*x\\*\\*\\` (y)."
    )
    assert_inert(out)
    article = StoredArticle("a-0", "t", "b", None, None, None, "o", NOW)
    quote = Quote(text, text, 0, len(text), "rigged", text.index("rigged"), article, 1.0)
    block = quote_block(quote, 500)
    assert "||" not in markup_only(block) and "`" not in markup_only(block)
    assert unescaped_bold_markers(block) == 2  # only the highlight's own pair
    heads = [Headline("a-1", "Ferry [strike](x) ||ends||", "W", NOW, "https://h.example/1")]
    [page] = headline_pages(heads, title="Headlines")
    assert page.description == (
        "**1.** [Ferry \\[strike\\]\\(x) \\|\\|ends\\|\\|](https://h.example/1) — W, 1 June 2024"
    )


def test_bold_never_splits_a_url() -> None:
    article = StoredArticle("a-0", "t", "b", None, None, None, "o", NOW)
    text = "Read https://evil.example/a_b/c now"
    quote = Quote(text, text, 0, len(text), "example/a_b", text.index("example"), article, 1.0)
    assert quote_block(quote, 500) == "> Read **https://evil.example/a_b/c** now"


def test_safe_url() -> None:
    assert safe_url("https://news.example/a(b)c") == "https://news.example/a%28b%29c"
    assert safe_url("javascript:alert(1)") is None
    assert safe_url("https://news.example/a b") is None
    assert safe_url("ftp://x.example/") is None
    assert safe_url(None) is None


def test_answer_embed_for_the_sample_shape() -> None:
    article = StoredArticle(
        "a-0123456789abcdef",
        "Japan, South Korea to Link Radar Systems",
        "body",
        datetime(2023, 5, 10, 1, 24, tzinfo=UTC),
        "Example News",
        "https://news.example/radar",
        "o",
        NOW,
    )
    text = "The Shangri-La Dialogue is held in Singapore from June 2 to 4, officials said."
    start = text.index("from June")
    quote = Quote(
        text,
        "Before. " + text,
        8,
        8 + len(text),
        "from June 2 to 4",
        start,
        article,
        1.0,
        (("tomorrow", "2023-05-11"),),
    )
    reply = render_answer(Answer("q", (quote,), (), {}), now=NOW, recent_days=30)
    [embed] = reply.embeds
    assert embed.title == "Japan, South Korea to Link Radar Systems"
    assert embed.url == "https://news.example/radar"
    assert embed.description.splitlines()[0] == (
        "> …The Shangri-La Dialogue is held in Singapore **from June 2 to 4**, officials said."
    )
    assert "“tomorrow” = 2023-05-11" in embed.description
    assert "*Reported on 10 May 2023.*" in embed.description
    assert embed.footer.text == "Example News · 10 May 2023"
    assert [link.label for link in reply.articles] == ["Full article"]
    recent = render_answer(
        Answer("q", (quote,), (), {}), now=article.published + timedelta(days=2), recent_days=30
    )
    assert "Reported on" not in recent.embeds[0].description


def test_abstention_lists_closest_headlines() -> None:
    closest = (
        Headline("a-1", "Ferry [strike] @everyone", "Harbour Herald", NOW, "https://h.example/1"),
    )
    answer = Answer("q", (), (), {}, abstained=True, reason="low_confidence", closest=closest)
    [embed] = render_answer(answer, now=NOW, recent_days=30).embeds
    lines = embed.description.splitlines()
    assert lines[0] == NOT_ANSWERED
    assert lines[-1] == (
        "• [Ferry \\[strike\\] @\u200beveryone](https://h.example/1) — Harbour Herald, 1 June 2024"
    )


def test_the_answering_sentence_is_underlined_among_its_context() -> None:
    quote = context_quote(
        "Ministers met on Sunday. The summit runs from June 2 to 4. Talks follow.",
        "The summit runs from June 2 to 4.",
        "June 2 to 4",
    )
    assert quote_block(quote, 1000) == (
        "> Ministers met on Sunday. __The summit runs from **June 2 to 4**.__ Talks follow."
    )
    cut = quote_block(quote, 40)  # too long to show whole: cut as before, no underline
    assert "__" not in cut and "**June 2 to 4**" in cut and len(cut) <= 40


def _sourced(text: str, words: str | None, n: int, source: str) -> Quote:
    day = datetime(2024, 3, n, tzinfo=UTC)
    art = StoredArticle(f"a{n}", f"Report {n}", "", day, source, f"https://n.example/{n}", "t", day)
    start = text.index(words) if words else None
    return Quote(text, text, 0, len(text), words, start, art, 1.0)


def test_the_reply_leads_with_the_answer_and_lists_other_sources_one_line_each() -> None:
    lead = context_quote(
        "Ministers met on Sunday. The summit runs from June 2 to 4. Talks follow.",
        "The summit runs from June 2 to 4.",
        "June 2 to 4",
    )
    same = _sourced("It runs from june 2 to 4, in Singapore.", None, 2, "Wire")
    other = _sourced("The summit is held every year.", None, 3, "Daily [x]")
    again = _sourced("The summit runs from June 2 to 4 too.", None, 3, "Daily [x]")
    reply = render_answer(Answer("q", (lead, same, other, again), (), {}), now=NOW, recent_days=30)
    [embed] = reply.embeds
    assert embed.description.splitlines()[0] == (
        "> Ministers met on Sunday. __The summit runs from **June 2 to 4**.__ Talks follow."
    )
    [field] = embed.fields
    assert field.name == OTHER_SOURCES
    # One line per other article, in order; article 3 agrees through its second quote.
    assert field.value.splitlines() == [
        f"• Wire, 2 March 2024 — [Report 2](https://n.example/2) · {AGREES}",
        f"• Daily [x], 3 March 2024 — [Report 3](https://n.example/3) · {AGREES}",
    ]
    assert [e.title for e in reply.more_quotes] == ["Report 2", "Report 3", "Report 3"]


def test_agreement_needs_the_same_answer_words() -> None:
    lead = _sourced("Rates rose by 0.25 points.", "0.25 points", 1, "A")
    assert agrees(lead, _sourced("A rise of 0.25 Points, said the bank.", None, 2, "B"))
    assert not agrees(lead, _sourced("Rates rose by 0.5 points.", None, 2, "B"))
    assert not agrees(lead, _sourced("They rose by 10.25 points.", None, 2, "B"))
    unhighlighted = _sourced("Rates rose.", None, 1, "A")
    assert not agrees(unhighlighted, _sourced("Rates rose.", None, 2, "B"))


def test_one_source_is_one_embed_with_its_other_sentence_behind_the_button() -> None:
    lead = _sourced("Rates rose by 0.25 points.", "0.25 points", 1, "A")
    more = _sourced("Another line of the same report.", None, 1, "A")
    reply = render_answer(Answer("q", (lead, more), (), {}), now=NOW, recent_days=30)
    assert [len(e.fields) for e in reply.embeds] == [0]
    [shown] = reply.more_quotes
    assert shown.description.startswith("> Another line of the same report.")
