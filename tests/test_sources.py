"""Source readers: every format, every bad-file kind, folders and globs, date parsing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from index.model import Article, SkippedItem
from index.sources import parse_published, read_html, read_sources

REPO = Path(__file__).resolve().parents[1]
SEED_NAME = "000_96aaae79b1960cf6.txt"
SEED_TITLE = "Japan, South Korea to Link Radar Systems to Track North Korea Missiles: Source"


def _seed_path() -> Path:
    for candidate in (
        REPO / "bot" / "samples" / SEED_NAME,
        REPO / "samples" / SEED_NAME,
        REPO.parent / "shared" / "seed" / SEED_NAME,
    ):
        if candidate.is_file():
            return candidate
    pytest.fail(f"seed sample {SEED_NAME} not found in the repo")


def _read(*paths: str | Path, **kw) -> list[Article | SkippedItem]:
    return list(read_sources(list(paths), **kw))


def _one_article(*paths: str | Path, **kw) -> Article:
    items = _read(*paths, **kw)
    assert len(items) == 1, items
    assert isinstance(items[0], Article), items[0]
    return items[0]


def _one_skip(*paths: str | Path, **kw) -> SkippedItem:
    items = _read(*paths, **kw)
    assert len(items) == 1, items
    assert isinstance(items[0], SkippedItem), items[0]
    return items[0]


# --- text dump -------------------------------------------------------------------------------


def test_seed_dump_parses_to_one_clean_article():
    seed = _seed_path()
    a = _one_article(seed, source="Tasnim")
    assert a.title == SEED_TITLE
    assert a.published == datetime(2023, 5, 10, 1, 24, tzinfo=UTC)
    assert a.body.startswith("Defense ministers from Japan, South Korea and the US")
    assert "from June 2 to 4" in a.body
    assert a.body.endswith("the first such meeting since November 2019.")
    assert "Featured Stories" not in a.body
    assert "Comment" not in a.body.split("\n")
    assert SEED_TITLE not in a.body
    assert "Story Code" not in a.body
    assert a.metadata["story_code"] == "1056873"
    assert a.source == "Tasnim"
    assert a.url is None
    assert a.origin == str(seed)
    # Paragraphs as in the file, and every body line is verbatim from it.
    assert "Reuters reported.\n\nThe Japanese government’s top spokesman" in a.body
    raw = seed.read_text(encoding="utf-8")
    for line in a.body.split("\n"):
        assert line in raw


def _dump(tmp_path: Path, text: str, name: str = "story.txt") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_dump_without_dateline_time_falls_back_to_header_date(tmp_path):
    p = _dump(
        tmp_path,
        "date 2024-01-02 3\n\nHeadline Here\nStory Code : 9\nHeadline Here\n"
        "First para.\n\n\n\nSecond para.\n\nFeatured Stories\nOther headline\n",
    )
    a = _one_article(p)
    assert a.title == "Headline Here"
    assert a.published == datetime(2024, 1, 2, tzinfo=UTC)
    assert a.body == "First para.\n\nSecond para."
    assert a.source is None
    assert a.metadata["story_code"] == "9"


def test_dump_dateline_without_weekday_or_time(tmp_path):
    p = _dump(tmp_path, "date 2024-01-02 0\n3 January 2024\nH\nStory Code : 1\nH\nBody text.\n")
    a = _one_article(p)
    assert a.published == datetime(2024, 1, 3, tzinfo=UTC)
    assert a.body == "Body text."


def test_dump_detected_by_content_with_crlf_and_no_extension(tmp_path):
    text = " date 2023-05-10 0\r\nWednesday 10 May 2023 - 01:24\r\n\r\nTitle\r\n\r\n"
    text += "Story Code : 5\r\nTitle\r\nLine one.\r\n\r\nLine two.\r\nComment\r\n"
    p = tmp_path / "dumpfile"
    p.write_bytes(text.encode("utf-8"))
    a = _one_article(p)
    assert a.title == "Title"
    assert a.body == "Line one.\n\nLine two."
    assert a.published == datetime(2023, 5, 10, 1, 24, tzinfo=UTC)


def test_dump_with_several_records_gives_several_articles(tmp_path):
    one = (
        "date 2023-05-10 0\nWednesday 10 May 2023 - 01:24\nA\nStory Code : 1\nA\nBody A.\nComment\n"
    )
    two = "date 2023-05-11 1\nThursday 11 May 2023 - 02:00\nB\nStory Code : 2\nB\nBody B.\n"
    p = _dump(tmp_path, one + two)
    items = _read(p)
    assert [(i.title, i.body, i.origin) for i in items] == [
        ("A", "Body A.", f"{p}:1"),
        ("B", "Body B.", f"{p}:8"),
    ]


def test_dump_without_body_is_skipped(tmp_path):
    p = _dump(
        tmp_path,
        "date 2023-05-10 0\nWednesday 10 May 2023 - 01:24\nT\nStory Code : 1\nT\nComment\n",
    )
    skip = _one_skip(p)
    assert skip.origin == str(p)
    assert "no body" in skip.reason


@pytest.mark.parametrize(
    "dateline",
    [
        "Thursday 30 February 2023 - 01:24",
        "32 May 2023",
        "Wednesday 10 May 2023 - 25:10",
        "Wednesday 10 Smarch 2023 - 01:24",
    ],
)
def test_dump_with_an_impossible_dateline_is_skipped_alone(tmp_path, dateline):
    # textdump.py: the dateline failed to parse and so was taken for the headline.
    bad = f"date 2023-05-10 0\n{dateline}\n\nBad\nStory Code : 1\nBad\nBody bad.\n"
    good = "date 2023-05-11 1\n11 May 2023\nGood\nStory Code : 2\nGood\nBody good.\n"
    p = _dump(tmp_path, bad + good)
    skip, article = _read(p)
    assert isinstance(skip, SkippedItem) and skip.origin == f"{p}:1"
    assert skip.reason == f"text dump dateline {dateline!r} is not a valid date"
    assert isinstance(article, Article) and article.title == "Good"


@pytest.mark.parametrize("headline", ["10 Things 2024", "31 Novelists 2024", "30 Junkies 2024"])
def test_a_headline_shaped_like_a_date_is_still_a_headline(tmp_path, headline):
    p = _dump(tmp_path, f"date 2024-01-02 0\n{headline}\nStory Code : 1\nBody text.\n")
    a = _one_article(p)
    assert a.title == headline and a.published == datetime(2024, 1, 2, tzinfo=UTC)


# --- JSONL -----------------------------------------------------------------------------------


def test_jsonl_good_and_bad_lines(tmp_path):
    good = {
        "id": "doc-1",
        "title": "Council approves budget",
        "text": "The council approved the budget.\n\nIt takes effect in May.",
        "published": "2023-11-27T08:45:59+00:00",
        "url": "https://example.com/budget",
        "source": "Example Times",
        "category": "politics",
        "author": "A. Writer",
    }
    lines = [
        json.dumps(good),  # 1
        "",  # 2: ignored
        "{not json",  # 3
        "[1, 2]",  # 4
        json.dumps({"text": "body only"}),  # 5
        json.dumps({"title": "t", "text": "   "}),  # 6
        json.dumps({"title": "t", "text": "body", "published": "next tuesday-ish"}),  # 7
        json.dumps({"title": "No date", "text": "Body.", "published": None}),  # 8
        "   ",  # 9: ignored
    ]
    p = tmp_path / "corpus.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    items = _read(p, source="Fallback")

    a = items[0]
    assert isinstance(a, Article)
    assert a.title == "Council approves budget"
    assert a.body == good["text"]
    assert a.published == datetime(2023, 11, 27, 8, 45, 59, tzinfo=UTC)
    assert a.url == "https://example.com/budget"
    assert a.source == "Example Times"
    assert a.origin == f"{p}:1"
    assert a.metadata == {"id": "doc-1", "category": "politics", "author": "A. Writer"}

    skips = items[1:6]
    assert all(isinstance(s, SkippedItem) for s in skips), skips
    assert [s.origin for s in skips] == [f"{p}:{n}" for n in (3, 4, 5, 6, 7)]
    assert "invalid JSON" in skips[0].reason
    assert "JSON object" in skips[1].reason and "list" in skips[1].reason
    assert "title" in skips[2].reason and "missing" in skips[2].reason
    assert "text" in skips[3].reason and "empty" in skips[3].reason
    assert "next tuesday-ish" in skips[4].reason
    assert all("\n" not in s.reason for s in skips)

    last = items[6]
    assert isinstance(last, Article)
    assert last.origin == f"{p}:8"
    assert last.published is None
    assert last.source == "Fallback"  # the argument fills in when the line has no source
    assert last.url is None
    assert len(items) == 7


def test_jsonl_numeric_timestamp_and_wrong_types(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text(
        json.dumps({"title": "T", "text": "B", "published": 1700000000})
        + "\n"
        + json.dumps({"title": 5, "text": "B"})
        + "\n"
        + json.dumps({"title": "T", "text": "B", "published": [2023]})
        + "\n",
        encoding="utf-8",
    )
    a, bad_title, bad_date = _read(p)
    assert a.published == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert isinstance(bad_title, SkippedItem) and "not a string" in bad_title.reason
    assert isinstance(bad_date, SkippedItem) and "published" in bad_date.reason


def test_a_deeply_nested_jsonl_line_is_skipped_alone(tmp_path):
    # jsonl.py: json.loads raised RecursionError, caught only per file, so the lines after
    # the deep one were lost with no line named.
    p = tmp_path / "deep.jsonl"
    after = {"title": "After", "text": "The line after the deep one is read."}
    deep = "[" * 100_000 + "]" * 100_000
    p.write_text(json.dumps({"title": "Before", "text": "B."}) + f"\n{deep}\n" + json.dumps(after))
    before, skipped, last = _read(p)
    assert isinstance(before, Article) and isinstance(last, Article)
    assert last.title == "After" and last.origin == f"{p}:3"
    assert isinstance(skipped, SkippedItem) and skipped.origin == f"{p}:2"
    assert "nested too deeply" in skipped.reason


def test_a_nul_escape_in_jsonl_text_is_dropped(tmp_path):
    # jsonl.py: "\u0000" passed the raw-bytes NUL check, and SQLite's substr then cut the
    # stored passage at it.
    p = tmp_path / "nul.jsonl"
    p.write_text(
        '{"title": "Bridge\\u0000 reopens", "text": "Before \\u0000after.", "source": "\\u0000"}\n'
        '{"title": "Only a NUL", "text": "\\u0000"}\n'
    )
    article, empty = _read(p)
    assert (article.title, article.body, article.source) == (
        "Bridge reopens",
        "Before after.",
        None,
    )
    assert isinstance(empty, SkippedItem) and empty.origin == f"{p}:2" and "empty" in empty.reason


def test_a_jsonl_line_with_a_lone_surrogate_is_skipped_naming_file_line_and_field(tmp_path):
    # jsonl.py: a "\ud800" escape became a lone surrogate in the article, and the engine's
    # hash of it raised UnicodeEncodeError, losing the whole batch with no file named.
    p = tmp_path / "surrogate.jsonl"
    p.write_text(
        '{"title": "Fine", "text": "Broken \\ud800 text."}\n'
        '{"title": "Fine", "text": "Fine text.", "tags": ["ok", "\\udc80"]}\n'
        '{"title": "Emoji pair", "text": "A valid pair \\ud83d\\ude00 is fine."}\n'
    )
    text, tags, emoji = _read(p)
    assert isinstance(text, SkippedItem) and text.origin == f"{p}:1"
    assert (
        text.reason
        == "field 'text' is not valid Unicode text (a lone surrogate U+D800 at character 7)"
    )
    assert isinstance(tags, SkippedItem) and tags.origin == f"{p}:2"
    assert "field 'tags'" in tags.reason and "U+DC80" in tags.reason
    assert isinstance(emoji, Article) and emoji.body == "A valid pair \U0001f600 is fine."


# --- HTML ------------------------------------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html><head>
<title>Harbour bridge to close for repairs | Coastal Courier</title>
<meta property="og:site_name" content="Coastal Courier">
<link rel="canonical" href="https://courier.example/news/harbour-bridge">
<meta property="article:published_time" content="2023-11-27T08:45:59+01:00">
</head><body>
<nav><a href="/">Home</a> | <a href="/news">News</a> | <a href="/sport">Sport</a></nav>
<article>
<h1>Harbour bridge to close for repairs</h1>
<p>The harbour bridge will close to all traffic for three weeks from Monday while engineers
replace corroded cables, the city council said on Tuesday.</p>
<p>Buses will be diverted through the tunnel, adding roughly twenty minutes to journeys between
the old town and the northern suburbs during the morning rush hour.</p>
<p>The repairs are expected to cost 4.2 million euros, paid from the regional maintenance fund
that was set aside after the last inspection found wear on the southern span.</p>
</article>
<footer>Copyright Coastal Courier. All rights reserved.</footer>
</body></html>
"""


def test_read_html_extracts_text_and_metadata():
    a = read_html(PAGE, "page.html")
    assert isinstance(a, Article), a
    assert a.title.startswith("Harbour bridge to close for repairs")
    assert a.source == "Coastal Courier"
    assert a.url == "https://courier.example/news/harbour-bridge"
    assert a.published == datetime(2023, 11, 27, 8, 45, 59, tzinfo=timezone(timedelta(hours=1)))
    assert a.origin == "page.html"
    assert a.body.startswith("The harbour bridge will close")
    assert "4.2 million euros" in a.body
    assert a.body.count("\n\n") == 2  # three paragraphs
    assert "Home" not in a.body and "Copyright" not in a.body
    assert not a.body.startswith("Harbour bridge to close")  # the <h1> repeat is dropped


def test_read_html_source_argument_and_relative_canonical():
    page = PAGE.replace("https://courier.example/news/harbour-bridge", "/news/bridge")
    a = read_html(page, "feed", url="https://courier.example/feed/item?id=7", source="Courier RSS")
    assert isinstance(a, Article)
    assert a.source == "Courier RSS"
    assert a.url == "https://courier.example/news/bridge"
    assert a.metadata["fetched_url"] == "https://courier.example/feed/item?id=7"


def test_html_file_is_read_via_read_html(tmp_path):
    p = tmp_path / "story.htm"
    p.write_text(PAGE, encoding="utf-8")
    a = _one_article(p)
    assert a.origin == str(p)
    assert "corroded cables" in a.body


def test_html_without_article_text_is_skipped(tmp_path):
    p = tmp_path / "empty.html"
    p.write_text(
        "<html><head><title>Nothing here</title></head><body><nav></nav></body></html>",
        encoding="utf-8",
    )
    skip = _one_skip(p)
    assert skip.origin == str(p)
    assert "no article text" in skip.reason
    direct = read_html("<html><body><div></div></body></html>", "x")
    assert isinstance(direct, SkippedItem)


# --- plain text and markdown -----------------------------------------------------------------


def test_plain_txt_and_md(tmp_path):
    (tmp_path / "a.txt").write_text("\n\nCity opens library\nIt opened today.\n\nMore.\n")
    (tmp_path / "b.md").write_text("## Storm warning\n\nWinds of 100 km/h are expected.\n")
    a, b = _read(tmp_path, source="Local")
    assert (a.title, a.body, a.published, a.source) == (
        "City opens library",
        "It opened today.\n\nMore.",
        None,
        "Local",
    )
    assert (b.title, b.body) == ("Storm warning", "Winds of 100 km/h are expected.")


def test_title_only_text_file_is_skipped(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("Just a title\n")
    assert "no body" in _one_skip(p).reason


# --- bad files -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.txt", b"", "empty file"),
        ("blank.txt", b" \n\n\t\n", "empty file"),
        ("bin.txt", b"title\n\x00\x01\x02body", "binary"),
        ("latin1.txt", "Caf\u00e9 news\nbody".encode("latin-1"), "not UTF-8"),
        ("utf16.txt", "Title\nBody".encode("utf-16"), "UTF-16"),
        ("photo.png", b"\x89PNG\r\n\x1a\n", "unsupported file type '.png'"),
        ("notes", b"just some words\n", "unsupported file type '(no extension)'"),
    ],
)
def test_bad_files_are_skipped_with_a_reason(tmp_path, name, content, reason):
    p = tmp_path / name
    p.write_bytes(content)
    skip = _one_skip(p)
    assert skip.origin == str(p)
    assert reason in skip.reason
    assert "\n" not in skip.reason


def test_too_large_file_is_skipped(tmp_path):
    p = tmp_path / "big.txt"
    p.write_text("Title\n" + "word " * 100)
    skip = _one_skip(p, max_file_bytes=100)
    assert "too large" in skip.reason and "100" in skip.reason
    assert isinstance(_one_article(p, max_file_bytes=10_000), Article)


def test_missing_path_and_empty_glob(tmp_path):
    missing = tmp_path / "nope.txt"
    skip = _one_skip(missing)
    assert skip.origin == str(missing)
    assert "no such file" in skip.reason
    pattern = str(tmp_path / "*.jsonl")
    skip = _one_skip(pattern)
    assert skip.origin == pattern
    assert "matched no files" in skip.reason


def test_bad_file_does_not_stop_the_others(tmp_path):
    (tmp_path / "1.txt").write_bytes(b"\x00\x00")
    (tmp_path / "2.txt").write_text("Good\nBody.")
    items = _read(tmp_path / "1.txt", tmp_path / "missing.md", tmp_path / "2.txt")
    assert [type(i).__name__ for i in items] == ["SkippedItem", "SkippedItem", "Article"]
    assert items[2].title == "Good"


# --- folders and globs -----------------------------------------------------------------------


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "news"
    (root / "b_sub").mkdir(parents=True)
    (root / ".hidden_dir").mkdir()
    (root / "z.txt").write_text("Z title\nZ body.")
    (root / "a.md").write_text("# A title\nA body.")
    (root / "b_sub" / "c.txt").write_text("C title\nC body.")
    (root / ".secret.txt").write_text("Hidden\nNo.")
    (root / ".hidden_dir" / "d.txt").write_text("Hidden dir\nNo.")
    return root


def test_folder_is_recursive_sorted_and_skips_hidden(tmp_path):
    root = _tree(tmp_path)
    items = _read(root)
    assert [i.title for i in items] == ["A title", "C title", "Z title"]
    assert items[1].origin == str(root / "b_sub" / "c.txt")


def test_glob_patterns_and_duplicates(tmp_path):
    root = _tree(tmp_path)
    assert [i.title for i in _read(str(root / "*.txt"))] == ["Z title"]
    assert [i.title for i in _read(str(root / "**" / "*.txt"))] == ["C title", "Z title"]
    # The same file reached twice is read once.
    assert [i.title for i in _read(root / "z.txt", str(root / "*.txt"))] == ["Z title"]


def test_single_path_string_is_not_iterated_as_characters(tmp_path):
    p = tmp_path / "one.txt"
    p.write_text("One\nBody.")
    assert [a.title for a in read_sources(str(p))] == ["One"]


# --- parse_published -------------------------------------------------------------------------

EST = timezone(timedelta(hours=-5))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2023-11-27T08:45:59+00:00", datetime(2023, 11, 27, 8, 45, 59, tzinfo=UTC)),
        ("2023-11-27T08:45:59Z", datetime(2023, 11, 27, 8, 45, 59, tzinfo=UTC)),
        ("2023-11-27T08:45:59+05:30", datetime(2023, 11, 27, 3, 15, 59, tzinfo=UTC)),
        ("2023-11-27 08:45", datetime(2023, 11, 27, 8, 45, tzinfo=UTC)),
        ("2023-11-27", datetime(2023, 11, 27, tzinfo=UTC)),
        ("Mon, 27 Nov 2023 08:45:59 GMT", datetime(2023, 11, 27, 8, 45, 59, tzinfo=UTC)),
        ("Mon, 27 Nov 2023 08:45:59 -0500", datetime(2023, 11, 27, 8, 45, 59, tzinfo=EST)),
        ("November 27, 2023", datetime(2023, 11, 27, tzinfo=UTC)),
        ("27 Nov 2023", datetime(2023, 11, 27, tzinfo=UTC)),
        ("Sept. 5, 2023", datetime(2023, 9, 5, tzinfo=UTC)),
        ("Nov. 27, 2023, 5:00 a.m. EST", datetime(2023, 11, 27, 5, tzinfo=EST)),
        ("November 27, 2023 8:45 PM ET", datetime(2023, 11, 27, 20, 45, tzinfo=EST)),
        ("July 4, 2023 8:45 AM ET", datetime(2023, 7, 4, 12, 45, tzinfo=UTC)),
    ],
)
def test_parse_published_formats(value, expected):
    got = parse_published(value, "x")
    assert got is not None and got.tzinfo is not None
    assert got == expected  # aware datetimes compare as instants


def test_parse_published_naive_is_utc():
    got = parse_published("2023-05-10T01:24:00", "x")
    assert got is not None
    assert got.utcoffset() == timedelta(0)
    assert (got.year, got.month, got.day, got.hour, got.minute) == (2023, 5, 10, 1, 24)


@pytest.mark.parametrize("value", [None, "", "   "])
def test_parse_published_empty_is_none(value):
    assert parse_published(value, "x") is None


@pytest.mark.parametrize(
    "value", ["garbage", "May 2023", "2023", "12:30", "2023-13-45", "2023-05-10 10:00 XYZ"]
)
def test_parse_published_garbage_raises_naming_origin_and_value(value):
    with pytest.raises(ValueError) as info:
        parse_published(value, "feed.jsonl:7")
    assert "feed.jsonl:7" in str(info.value)
    assert repr(value) in str(info.value)


@pytest.mark.parametrize("value", ["9999-12-31", "1899-12-31T23:00:00Z", "December 31, 2999"])
def test_parse_published_refuses_implausible_years_naming_origin_and_value(value):
    # common.py: "9999-12-31" was accepted, and questions then crashed with OverflowError
    # resolving the article's "next week" or its day.
    with pytest.raises(ValueError) as info:
        parse_published(value, "feed.jsonl:7")
    assert str(info.value).startswith(f"feed.jsonl:7: date {value!r} is out of range")
    assert parse_published("1900-01-01", "x") == datetime(1900, 1, 1, tzinfo=UTC)


def test_jsonl_lines_dated_in_an_implausible_year_are_skipped_alone(tmp_path):
    p = tmp_path / "dates.jsonl"
    lines = [
        {"title": "Far future", "text": "Body.", "published": "9999-12-31"},
        {"title": "Far stamp", "text": "Body.", "published": 253402214400},  # 9999-12-31
        {"title": "Fine", "text": "Body.", "published": "2023-05-10"},
    ]
    p.write_text("".join(json.dumps(line) + "\n" for line in lines))
    future, stamp, fine = _read(p)
    assert isinstance(future, SkippedItem) and future.origin == f"{p}:1"
    assert "'9999-12-31' is out of range" in future.reason
    assert (
        isinstance(stamp, SkippedItem) and "timestamp 253402214400 is out of range" in stamp.reason
    )
    assert isinstance(fine, Article) and fine.published == datetime(2023, 5, 10, tzinfo=UTC)


def test_a_dump_dated_in_an_implausible_year_has_no_date(tmp_path):
    p = tmp_path / "dump.txt"
    p.write_text("date 9999-12-31 0\n\nHeadline here\n\nThe body of the story. It has words.\n")
    assert _one_article(p).published is None
