"""The `newsbot` command through typer's CliRunner: ingest, ask (text, JSON, JSONL batch),
headlines, stats, and one-line errors."""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import bot.cli
import bot.cli.common
from index.engine import Engine

SEED_TITLE = "Japan, South Korea to Link Radar Systems to Track North Korea Missiles: Source"
QUOTE_KEYS = {
    "text",
    "passage",
    "highlight",
    "article_id",
    "title",
    "source",
    "published",
    "url",
    "score",
}
ANSWER_KEYS = {"id", "question", "abstained", "reason", "quotes", "passages", "timings_ms"}
TIMING_KEYS = {"embed", "lexical", "dense", "fuse", "quote", "total"}


@pytest.fixture(scope="module")
def patched(encoder):
    """The CLI on the session's encoder, with no NEWSBOT_* setting from the environment."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("NEWSBOT_") or name in ("DISCORD_TOKEN", "DISCORD_TOKEN_FILE"):
                mp.delenv(name)
        mp.setattr(bot.cli.common, "new_engine", functools.partial(Engine, encoder=encoder))
        yield


def _runner(data: Path):
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(bot.cli.app, ["--data-dir", str(data), *args])

    return run


@pytest.fixture
def cli(patched, tmp_path):
    """`newsbot --data-dir <fresh tmp> ...`, in-process."""
    return _runner(tmp_path / "data")


@pytest.fixture(scope="module")
def sample_cli(patched, tmp_path_factory):
    """`newsbot --data-dir <dir with the sample ingested once> ...` for read-only commands."""
    run = _runner(tmp_path_factory.mktemp("sample") / "data")
    _ok(run("ingest", "--sample"))
    return run


def _ok(result):
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_ingest_sample_prints_a_summary_and_re_ingest_is_unchanged(cli):
    first = _ok(cli("ingest", "--sample"))
    m = re.search(
        r"added 1, updated 0, unchanged 0, skipped 0 \((\d+) passages indexed\)", first.stdout
    )
    assert m and int(m.group(1)) >= 1
    again = _ok(cli("ingest", "--sample"))
    assert "added 0, updated 0, unchanged 1, skipped 0 (0 passages indexed)" in again.stdout
    stats = _ok(cli("stats")).stdout
    assert re.search(r"articles\s*│\s*1\b", stats)
    assert re.search(rf"passages\s*│\s*{m.group(1)} \({m.group(1)} in the served index\)", stats)
    assert "all-MiniLM-L6-v2" in stats and "0.1.0" in stats


def test_ask_quotes_the_answer_with_its_highlight(sample_cli):
    out = _ok(sample_cli("ask", "When is the Shangri-La Dialogue?")).stdout
    assert "**from June 2 to 4**" in out
    assert "IISS Shangri-La Dialogue to be held in Singapore" in out
    assert SEED_TITLE in out and "10 May 2023" in out

    who = _ok(sample_cli("ask", "Who is the Japanese government's top spokesman?")).stdout
    assert "**Hirokazu Matsuno**" in who


def test_ask_an_unanswerable_question_lists_the_closest_headlines(sample_cli):
    out = _ok(sample_cli("ask", "What is the price of bitcoin?")).stdout
    assert "does not answer" in out
    assert "Closest headlines" in out and SEED_TITLE in out


def test_ask_json_matches_the_schema(sample_cli):
    result = _ok(sample_cli("ask", "--json", "When is the Shangri-La Dialogue?"))
    data = json.loads(result.stdout)
    assert set(data) >= ANSWER_KEYS
    assert data["question"] == "When is the Shangri-La Dialogue?"
    assert data["abstained"] is False and data["reason"] is None and data["id"] is None
    assert data["quotes"] and set(data["quotes"][0]) >= QUOTE_KEYS
    quote = data["quotes"][0]
    assert quote["highlight"] == "from June 2 to 4"
    assert quote["text"] in quote["passage"]
    assert quote["title"] == SEED_TITLE
    assert quote["published"].startswith("2023-05-10")
    assert isinstance(quote["score"], float)
    assert data["passages"] and {"text", "article_id", "score"} <= set(data["passages"][0])
    assert set(data["timings_ms"]) >= TIMING_KEYS
    assert all(v >= 0 for v in data["timings_ms"].values())

    abstained = json.loads(_ok(sample_cli("ask", "--json", "What is the price of bitcoin?")).stdout)
    assert abstained["abstained"] is True and abstained["quotes"] == []
    assert abstained["reason"] in ("low_confidence", "no_match")


def test_ask_json_questions_file_gives_one_answer_per_line_in_order(sample_cli, tmp_path):
    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        json.dumps({"id": "q-when", "question": "When is the Shangri-La Dialogue?"})
        + "\n\n"
        + "not json\n"
        + json.dumps({"id": 2, "question": "What is the price of bitcoin?"})
        + "\n"
        + json.dumps({"question": "Who is the Japanese government's top spokesman?"})
        + "\n"
        + json.dumps({"id": None, "question": "When is the Shangri-La Dialogue?"})
        + "\n"
        + json.dumps({"id": 0, "question": "When is the Shangri-La Dialogue?"})
        + "\n",
        encoding="utf-8",
    )
    result = _ok(sample_cli("ask", "--json", "--questions", str(questions)))
    lines = result.stdout.strip().splitlines()
    answers = [json.loads(line) for line in lines]
    # No id, or a null one: the line number. 0 is an id.
    assert [a["id"] for a in answers] == ["q-when", "2", "5", "6", "0"]
    assert [a["abstained"] for a in answers] == [False, True, False, False, False]
    assert answers[0]["quotes"][0]["highlight"] == "from June 2 to 4"
    assert answers[2]["quotes"][0]["highlight"] == "Hirokazu Matsuno"
    assert all(set(a) >= ANSWER_KEYS for a in answers)
    assert f"{questions}:3" in result.stderr


def test_questions_file_with_a_bom_and_a_question_that_is_not_text(sample_cli, tmp_path):
    # A UTF-8 BOM made line 1 "not a JSON object"; a null question raised AttributeError and
    # lost the answers of every later line.
    questions = tmp_path / "bom.jsonl"
    lines = [{"id": 1, "question": "When is the Shangri-La Dialogue?"}, {"id": 2, "question": None}]
    lines.append({"id": 3, "question": "Who is the Japanese government's top spokesman?"})
    questions.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8-sig")
    result = _ok(sample_cli("ask", "--json", "--questions", str(questions)))
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["1", "3"]
    assert result.stderr.strip() == f"{questions}:2: not a JSON object with a question; skipped"


def test_a_bad_setting_is_one_line_naming_it_and_never_its_value(
    patched, tmp_path, monkeypatch, capsys
):
    secret = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.s3cr3t-in-a-bad-setting"
    monkeypatch.setenv("NEWSBOT_DISCORD_WORKERS", secret)  # a token pasted into the wrong variable
    monkeypatch.setenv("NEWSBOT_LOG_LEVEL", "chatty")
    monkeypatch.setattr("sys.argv", ["newsbot", "--data-dir", str(tmp_path), "stats"])
    with pytest.raises(SystemExit) as exit_info:
        bot.cli.main()  # was a pydantic traceback
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    [line] = captured.err.strip().splitlines()
    assert line.startswith("error: invalid settings: ")
    assert "NEWSBOT_DISCORD_WORKERS: " in line and "NEWSBOT_LOG_LEVEL: " in line
    assert secret not in captured.err + captured.out and "s3cr3t" not in line


def test_headlines_newest_first_with_limit_and_source(cli, tmp_path):
    rows = [
        {"title": "Oldest story", "text": "Old news about rail.", "published": "2023-05-01"},
        {
            "title": "Newest story",
            "text": "New news about ports.",
            "published": "2023-05-09",
            "source": "BBC",
        },
        {
            "title": "Middle story",
            "text": "Some news about water.",
            "published": "2023-05-05",
            "source": "BBC",
        },
    ]
    _ok(cli("ingest", "--source", "Wire", str(_write_jsonl(tmp_path / "n.jsonl", rows))))
    out = _ok(cli("headlines")).stdout
    assert out.index("Newest story") < out.index("Middle story") < out.index("Oldest story")
    assert "(BBC, 9 May 2023)" in out and "(Wire, 1 May 2023)" in out

    limited = _ok(cli("headlines", "--limit", "2")).stdout
    assert "Newest story" in limited and "Middle story" in limited
    assert "Oldest story" not in limited
    bbc = _ok(cli("headlines", "--source", "bbc")).stdout
    assert "Newest story" in bbc and "Middle story" in bbc and "Oldest story" not in bbc
    since = _ok(cli("headlines", "--since", "2023-05-04")).stdout
    assert "Oldest story" not in since and "Middle story" in since


def test_an_empty_data_dir_says_how_to_ingest(cli):
    result = cli("ask", "When is the Shangri-La Dialogue?")
    assert result.exit_code == 1
    assert "newsbot ingest --sample" in result.stdout
    assert "newsbot ingest --sample" in _ok(cli("headlines")).stdout
    assert re.search(r"articles\s*│\s*0\b", _ok(cli("stats")).stdout)


def test_ask_json_on_an_empty_index_exits_1_like_the_text_answer(cli, tmp_path):
    # --json printed the empty_index answer and exited 0, where the text answer exits 1.
    result = cli("ask", "--json", "When is the Shangri-La Dialogue?")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["reason"] == "empty_index"
    questions = _write_jsonl(tmp_path / "q.jsonl", [{"id": "a", "question": "When?"}])
    result = cli("ask", "--json", "--questions", str(questions))
    assert result.exit_code == 1
    assert [json.loads(line)["reason"] for line in result.stdout.splitlines()] == ["empty_index"]


@pytest.mark.parametrize(
    "args, message",
    [
        (("ask", "--since", "not a date", "When?"), "--since: unrecognised date 'not a date'"),
        (("ask",), "give a question"),
        (("ingest",), "nothing to ingest"),
        (("ask", "--questions", "/nonexistent/q.jsonl"), "cannot read"),
    ],
)
def test_an_error_is_one_line_with_exit_1(cli, args, message):
    result = cli(*args)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert result.stdout == ""


def test_a_data_dir_that_is_a_file_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    monkeypatch.setattr("sys.argv", ["newsbot", "--data-dir", str(not_a_dir), "stats"])
    with pytest.raises(SystemExit) as exit_info:
        bot.cli.main()
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: cannot open the store")


def test_ingest_reports_skipped_inputs(cli, tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    result = _ok(cli("ingest", str(tmp_path / "empty.txt"), str(tmp_path / "missing.txt")))
    assert "added 0, updated 0, unchanged 0, skipped 2" in result.stdout
    assert "empty file" in result.stderr and "no such file" in result.stderr


def test_ingest_skips_a_dump_with_an_impossible_dateline_and_stores_the_rest(cli, tmp_path):
    bad = tmp_path / "dumps" / "bad.txt"
    bad.parent.mkdir()
    bad.write_text("date 2023-02-28 0\n30 February 2023\nT\nStory Code : 1\nT\nBody.\n")
    good = tmp_path / "dumps" / "good.txt"
    good.write_text("date 2023-02-28 1\n28 February 2023\nFine\nStory Code : 2\nFine\nBody.\n")
    result = _ok(cli("ingest", str(bad.parent)))
    assert "added 1, updated 0, unchanged 0, skipped 1" in result.stdout
    [line] = result.stderr.strip().splitlines()
    assert line == f"skipped {bad}: text dump dateline '30 February 2023' is not a valid date"
    assert "Fine" in _ok(cli("headlines")).stdout


def test_untrusted_text_is_printed_as_it_is_never_read_as_markup(cli, tmp_path):
    """A URL, a headline or a path holding ``[/b]`` once raised rich's MarkupError: the
    whole ingest aborted with nothing stored, and errors were lost in a traceback."""
    rows = [{"title": "Ferry [/b] strike [bold]ends", "text": "The ferry strike ended today."}]
    jsonl = _write_jsonl(tmp_path / "n.jsonl", rows)
    bad_url = "http://127.0.0.1:9/x[/b]"
    result = _ok(cli("ingest", str(jsonl), bad_url))
    assert "added 1, updated 0, unchanged 0, skipped 1" in result.stdout
    assert re.search(rf"skipped {re.escape(bad_url)}: \S", result.stderr), result.stderr

    assert "Ferry [/b] strike [bold]ends" in _ok(cli("stats")).stdout

    result = cli("ask", "--since", "x[/b]", "When?")
    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: --since: unrecognised date 'x[/b]'"), line


def test_an_engine_error_holding_brackets_is_printed_as_it_is(tmp_path, monkeypatch, capsys):
    (tmp_path / "file[").mkdir()
    not_a_dir = tmp_path / "file[/b]"  # the file "b]" in the folder "file["
    not_a_dir.write_text("x")
    monkeypatch.setattr("sys.argv", ["newsbot", "--data-dir", str(not_a_dir), "stats"])
    with pytest.raises(SystemExit) as exit_info:
        bot.cli.main()
    assert exit_info.value.code == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: cannot open the store") and "file[/b]" in line


def test_eval_prints_question_file_paths_as_they_are(cli, tmp_path):
    (tmp_path / "q[").mkdir()
    questions = tmp_path / "q[/b].jsonl"
    questions.write_text("not json\n", encoding="utf-8")
    result = cli("eval", str(questions), "--out", str(tmp_path / "report"))
    assert result.exit_code == 1
    assert f"skipped {questions}:1: invalid JSON" in result.stderr
    assert f"error: {questions}: no usable questions" in result.stderr


def test_the_terminal_underlines_the_answering_sentence_and_bolds_its_words():
    from bot.terminal import quote_markup
    from tests.support.quotes import context_quote

    quote = context_quote(
        "Before it. The summit runs from June 2 to 4. After it.",
        "The summit runs from June 2 to 4.",
        "June 2 to 4",
    )
    markup = quote_markup(quote)
    assert markup.startswith('"Before it. [underline]The summit runs from [/]')
    assert "[underline][bold yellow]**June 2 to 4**[/][/]" in markup
    assert markup.endswith('[underline].[/] After it."')
