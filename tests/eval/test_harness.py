"""The eval harness: metric functions on hand-made cases, then ``newsbot eval`` end to end."""

from __future__ import annotations

import functools
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

import bot.cli.common
from bot.cli import app
from bot.eval.harness import (
    EvalQuestion,
    QuestionResult,
    answer_in_quote,
    evidence_recall,
    first_words,
    hits_at_k,
    load_questions,
    mrr_at_k,
    normalize_for_match,
    passage_hits,
    quote_hit,
    score_answer,
    summarize,
)
from index.engine import Engine
from index.errors import SourceError
from index.model import Answer, Passage, Quote, RetrievedPassage, StoredArticle

FACT = "The council approved the budget on Tuesday."


def filler(n: int) -> str:
    return " ".join(f"w{i}" for i in range(n))


# -- matching ------------------------------------------------------------------------------


def test_normalize_for_match_removes_every_kind_of_whitespace() -> None:
    assert normalize_for_match(" a b\tc\nd\u00a0e\r\n f ") == "abcdef"


def test_passage_hits_ignore_whitespace_differences_only() -> None:
    passages = [
        "Other news. The  council approved\nthe budget on\tTuesday. More.",
        "The council approved the budget on Wednesday.",
        "the council approved the budget on tuesday.",  # case differs: not the fact
        "Thecouncilapprovedthebudget onTuesday.",
    ]
    assert passage_hits(passages, [FACT]) == [True, False, False, True]


def test_passage_hits_count_only_the_first_300_words() -> None:
    fact_words = len(FACT.split())
    inside = filler(300 - fact_words) + " " + FACT  # the fact ends on word 300
    straddling = filler(300 - fact_words + 1) + " " + FACT  # its last word is word 301
    assert passage_hits([inside, straddling], [FACT]) == [True, False]
    assert passage_hits([straddling], [FACT], word_cap=400) == [True]


def test_empty_facts_never_match() -> None:
    assert passage_hits(["anything at all"], ["", "  \n"]) == [False]
    assert evidence_recall(["anything"], ["  "]) is None


def test_hits_and_mrr_at_k() -> None:
    hits = [False, False, True, False, True]
    assert [hits_at_k(hits, k) for k in (1, 2, 3, 10)] == [0.0, 0.0, 1.0, 1.0]
    assert mrr_at_k(hits, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(hits, 2) == 0.0
    assert mrr_at_k([True], 10) == 1.0
    assert hits_at_k([], 4) == 0.0
    assert mrr_at_k([False] * 10 + [True], 10) == 0.0  # rank 11 is outside the top 10


def test_evidence_recall_counts_distinct_facts_in_the_top_k() -> None:
    a, b, c = "Alpha rose sharply.", "Beta fell.", "Gamma held steady."
    passages = ["x " + a, *["nothing here"] * 9, "y " + b]  # b only at rank 11
    facts = [a, b, c, "Alpha  rose\nsharply."]  # the 4th is a respaced copy of a
    assert evidence_recall(passages, facts) == pytest.approx(1 / 3)
    assert evidence_recall(passages, facts, k=11) == pytest.approx(2 / 3)
    # Both facts in one passage count both.
    assert evidence_recall([f"{a} {c}"], [a, c]) == 1.0


def test_quote_hit_counts_quotes_by_their_first_100_words() -> None:
    quotes = [
        f"Reporters said: {FACT}",
        "Nothing relevant was said.",
        filler(100) + " " + FACT,  # the fact starts after word 100
    ]
    result = quote_hit(quotes, [FACT])
    assert (result.matched, result.total, result.hit) == (1, 3, True)
    assert quote_hit([], [FACT]).hit is False
    assert first_words(filler(150), 100).split() == filler(100).split()


def test_answer_in_quote_checks_short_span_answers_only() -> None:
    quotes = ["Nothing here.", "The deal, said SAM   ALTMAN on Friday, is done."]
    assert answer_in_quote("Sam Altman", quotes) is True
    assert answer_in_quote("Greg Brockman", quotes) is False
    for excluded in ("Yes", "no", "No.", "Before", "after", " yes "):
        assert answer_in_quote(excluded, ["yes no before after"]) is None
    assert answer_in_quote("one two three four five six", ["one two three four five six"]) is None
    assert answer_in_quote("one two three four five", ["one two three four five"]) is True
    assert answer_in_quote("", quotes) is None
    assert answer_in_quote("Sam Altman", [filler(100) + " Sam Altman"]) is False


# -- scoring an Answer ---------------------------------------------------------------------


def _article() -> StoredArticle:
    now = datetime(2023, 11, 1, tzinfo=UTC)
    return StoredArticle("a-1", "Budget", "body", now, "Daily", None, "test", now)


def _retrieved(text: str, pid: int) -> RetrievedPassage:
    return RetrievedPassage(Passage(pid, "a-1", pid, 0, len(text), text, ()), _article(), 1.0)


def test_score_answer_matches_quote_text_not_its_passage() -> None:
    passage = f"Intro sentence. {FACT} Closing sentence."
    quote = Quote("Intro sentence.", passage, 0, 15, None, None, _article(), 0.9)
    answer = Answer(
        "q?",
        (quote,),
        (_retrieved("unrelated", 1), _retrieved(passage, 2)),
        {"total": 12.5},
        id="q1",
    )
    question = EvalQuestion("q1", "q?", "Tuesday", True, "temporal_query", (FACT,))
    result = score_answer(question, answer, "bm25", wall_ms=13.0)
    assert result.hits == (False, True)
    assert (result.quotes, result.quotes_with_fact) == (1, 0)
    assert result.answer_in_quote is False
    assert result.evidence_recall == 1.0
    assert (result.latency_ms, result.wall_ms) == (12.5, 13.0)


# -- aggregation ---------------------------------------------------------------------------


def _record(
    qid: str,
    *,
    retriever: str = "bm25",
    qtype: str = "inference_query",
    answerable: bool = True,
    abstained: bool = False,
    hits: tuple[bool, ...] = (),
    quotes: int = 0,
    with_fact: int = 0,
    aiq: bool | None = None,
    latency: float = 10.0,
) -> QuestionResult:
    return QuestionResult(
        qid=qid,
        retriever=retriever,
        question_type=qtype,
        answerable=answerable,
        abstained=abstained,
        unanswerable_kind=None,
        hits=hits,
        evidence_recall=(1.0 if any(hits) else 0.0) if answerable else None,
        quotes=quotes,
        quotes_with_fact=with_fact,
        answer_in_quote=aiq,
        answer_first=aiq,
        answer_any=aiq,
        highlight_on_answer=None,
        latency_ms=latency,
        wall_ms=latency + 1,
    )


def test_summarize_accounts_abstention_quotes_and_types() -> None:
    records = [
        _record("a", hits=(True,), quotes=2, with_fact=1, aiq=True, latency=10),
        _record("b", hits=(False, False, False, True), quotes=1, aiq=False, latency=20),
        _record("c", qtype="temporal_query", abstained=True, latency=30),  # false abstention
        _record("d", qtype="null_query", answerable=False, abstained=True, latency=40),
        _record("e", qtype="null_query", answerable=False, quotes=3, latency=50),
        _record("a", retriever="dense", hits=(False, True), quotes=1, with_fact=1),
    ]
    summary = summarize(records)
    assert list(summary) == ["bm25", "dense"]
    bm25 = summary["bm25"]["all"]
    assert (bm25["questions"], bm25["answerable"], bm25["unanswerable"]) == (5, 3, 2)
    assert bm25["hits_at_4"] == pytest.approx(2 / 3)
    assert bm25["hits_at_10"] == pytest.approx(2 / 3)
    assert bm25["mrr_at_10"] == pytest.approx((1 + 1 / 4 + 0) / 3)
    assert bm25["hits_at_k"][:4] == pytest.approx([1 / 3, 1 / 3, 1 / 3, 2 / 3])
    # Quotes on unanswerable questions are not in the precision; abstaining is a quote miss.
    assert bm25["quote_hit_rate"] == pytest.approx(1 / 3)
    assert bm25["quote_precision"] == pytest.approx(1 / 3)
    assert bm25["quotes"] == 3
    assert (bm25["answer_in_quote_rate"], bm25["answer_in_quote_n"]) == (0.5, 2)
    assert bm25["abstention_rate"] == 0.5
    assert bm25["false_abstention_rate"] == pytest.approx(1 / 3)
    assert bm25["latency_ms_p50"] == 30.0
    assert bm25["wall_ms_p50"] == 31.0

    by_type = summary["bm25"]["by_type"]
    assert sorted(by_type) == ["inference_query", "null_query", "temporal_query"]
    null = by_type["null_query"]
    assert null["hits_at_10"] is None and null["quote_hit_rate"] is None
    assert null["abstention_rate"] == 0.5
    assert by_type["temporal_query"]["abstention_rate"] is None
    assert by_type["temporal_query"]["false_abstention_rate"] == 1.0

    dense = summary["dense"]["all"]
    assert (dense["questions"], dense["mrr_at_10"], dense["quote_precision"]) == (1, 0.5, 1.0)


# -- loading questions ---------------------------------------------------------------------


def test_load_questions_skips_bad_lines_naming_file_and_line(tmp_path: Path) -> None:
    good = {"id": "q1", "question": "Who?", "answer": "X", "answerable": True, "evidence": ["E."]}
    lines = [
        json.dumps(good),
        "{not json",
        "[1, 2]",
        json.dumps({"id": "q2", "question": "  "}),
        json.dumps({"id": "q3", "question": "Why?", "answerable": True, "evidence": []}),
        "",
        json.dumps(good),  # duplicate id
        json.dumps({"question": "What?", "answerable": False, "question_type": None}),
    ]
    path = tmp_path / "qs.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    questions, skipped = load_questions(path)
    assert [q.id for q in questions] == ["q1", "line-8"]
    assert questions[1].answerable is False and questions[1].question_type == "unknown"
    assert [s.origin for s in skipped] == [f"{path}:{n}" for n in (2, 3, 4, 5, 7)]
    assert "duplicate" in skipped[-1].reason
    with pytest.raises(SourceError, match=r"missing\.jsonl"):
        load_questions(tmp_path / "missing.jsonl")


# -- newsbot eval end to end ---------------------------------------------------------------

ARTICLES = [
    {
        "id": "doc-tide",
        "title": "Harbor City opens tidal power plant",
        "source": "Coast Herald",
        "published": "2023-10-02T09:00:00+00:00",
        "text": "Harbor City switched on its first tidal power plant this week. "
        "Mayor Elena Ruiz cut the ribbon on the tidal power plant on Monday. "
        "The plant can deliver 240 megawatts when the tide runs at full strength. "
        "Engineers spent four years building turbines that survive salt water.",
    },
    {
        "id": "doc-park",
        "title": "Glacier National Park reports record crowds",
        "source": "Mountain Times",
        "published": "2023-11-14T12:00:00+00:00",
        "text": "Glacier National Park had its busiest year on record. "
        "The park welcomed a record 3.1 million visitors in 2023, officials said. "
        "Rangers added shuttle buses to ease traffic on the Going-to-the-Sun Road. "
        "Camping reservations sold out within minutes of opening in spring.",
    },
    {
        "id": "doc-chess",
        "title": "Teenager wins national chess championship",
        "source": "Board Report",
        "published": "2023-12-01T18:30:00+00:00",
        "text": "A fourteen-year-old from Denver won the national chess championship. "
        "Priya Natarajan clinched the title with a quiet endgame in the final round. "
        "She is the youngest champion in the tournament's history. "
        "Her coach said she studies classic games for three hours every day.",
    },
]
QUESTIONS = [
    {
        "id": "q-mayor",
        "question": "Which mayor cut the ribbon on the Harbor City tidal power plant?",
        "answer": "Elena Ruiz",
        "answerable": True,
        "question_type": "inference_query",
        "evidence": ["Mayor Elena Ruiz cut the ribbon on the tidal power plant on Monday."],
    },
    {
        "id": "q-park",
        "question": "How many visitors did Glacier National Park welcome in 2023?",
        "answer": "3.1 million",
        "answerable": True,
        "question_type": "temporal_query",
        # Respaced on purpose: matching must ignore whitespace.
        "evidence": ["The park welcomed  a record\n3.1 million visitors in 2023, officials said."],
    },
    {
        "id": "q-none",
        "question": "What does a ticket to the opera on the Mars colony cost?",
        "answer": "Insufficient information.",
        "answerable": False,
        "question_type": "null_query",
        "evidence": [],
    },
]


@pytest.fixture
def eval_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoder) -> tuple[Path, Path]:
    """A tiny corpus and question file; the CLI's engines share the session's encoder."""
    monkeypatch.setattr(bot.cli.common, "new_engine", functools.partial(Engine, encoder=encoder))
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(a) + "\n" for a in ARTICLES), encoding="utf-8")
    questions = tmp_path / "questions.jsonl"
    lines = [json.dumps(q) for q in QUESTIONS[:2]] + ["{broken"] + [json.dumps(QUESTIONS[2])]
    questions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return corpus, questions


def test_newsbot_eval_end_to_end(tmp_path: Path, eval_files: tuple[Path, Path]) -> None:
    corpus, questions = eval_files
    out, dump, unused = tmp_path / "report", tmp_path / "answers.jsonl", tmp_path / "unused"
    args = ["--data-dir", str(unused), "eval", str(questions), "--corpus", str(corpus)]
    args += ["--out", str(out), "--dump", str(dump)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "questions.jsonl:3" in result.output  # the broken line, named
    assert "answered 9/9" in result.output  # plain progress lines when not on a terminal

    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["meta"]["questions"] == 3 and report["meta"]["skipped_lines"] == 1
    assert report["meta"]["ingest"]["articles"] == 3
    assert report["retrievers"] == ["bm25", "dense", "hybrid"]
    assert list(report["results"]) == ["bm25", "dense", "hybrid"]
    for retriever, groups in report["results"].items():
        m = groups["all"]
        assert (m["questions"], m["answerable"], m["unanswerable"]) == (3, 2, 1), retriever
        assert m["hits_at_10"] == 1.0, retriever  # 3 articles: the evidence is always found
        assert m["evidence_recall_at_10"] == 1.0, retriever
        assert m["answer_in_quote_n"] == 2
        assert len(m["hits_at_k"]) == 10 and m["hits_at_k"] == sorted(m["hits_at_k"])
        assert sorted(groups["by_type"]) == ["inference_query", "null_query", "temporal_query"]
    # The temporary index is gone and the global data directory was never used.
    assert not Path(report["meta"]["data_dir"].removesuffix(" (temporary)")).exists()
    assert not unused.exists()

    answers = [json.loads(line) for line in dump.read_text(encoding="utf-8").splitlines()]
    assert len(answers) == 9
    assert {(a["id"], a["retriever"]) for a in answers} == {
        (q["id"], r) for q in QUESTIONS for r in ("bm25", "dense", "hybrid")
    }
    # Recompute Hits@1 from the dumped answers, independently of bot.eval.harness.
    gold = {q["id"]: q["evidence"] for q in QUESTIONS if q["answerable"]}
    for retriever in ("bm25", "dense", "hybrid"):
        firsts = [
            re.sub(r"\s", "", a["passages"][0]["text"]) if a["passages"] else ""
            for a in answers
            if a["retriever"] == retriever and a["id"] in gold
        ]
        facts = [
            [re.sub(r"\s", "", f) for f in gold[a["id"]]]
            for a in answers
            if a["retriever"] == retriever and a["id"] in gold
        ]
        expected = sum(any(f in p for f in fs) for p, fs in zip(firsts, facts, strict=True)) / 2
        assert report["results"][retriever]["all"]["hits_at_k"][0] == expected
        # Abstention accounting, recomputed: the unanswerable question, and the answerable two.
        ours = [a for a in answers if a["retriever"] == retriever]
        declined = [a["abstained"] for a in ours if a["id"] not in gold]
        wrongly = [a["abstained"] for a in ours if a["id"] in gold]
        m = report["results"][retriever]["all"]
        assert m["abstention_rate"] == sum(declined) / 1
        assert m["false_abstention_rate"] == sum(wrongly) / 2

    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "| bm25 | all | 2 |" in markdown and "| hybrid | temporal_query |" in markdown
    assert (out / "hits_at_k.png").read_bytes().startswith(b"\x89PNG")


def _eval_bm25(tmp_path: Path, corpus: Path, rows: list[dict]) -> Path:
    """``newsbot eval`` of ``rows`` over ``corpus`` with BM25 alone; returns the --out folder
    (answers.jsonl beside it is the --dump)."""
    questions = tmp_path / "odd.jsonl"
    questions.write_text("".join(json.dumps(q) + "\n" for q in rows), encoding="utf-8")
    out = tmp_path / "r"
    args = ["eval", str(questions), "--corpus", str(corpus), "--retrievers", "bm25"]
    result = CliRunner().invoke(
        app, [*args, "--out", str(out), "--dump", str(tmp_path / "answers.jsonl")]
    )
    assert result.exit_code == 0, result.output
    return out


def test_newsbot_eval_keeps_a_question_id_of_0(
    tmp_path: Path, eval_files: tuple[Path, Path]
) -> None:
    # harness.py: `id or f"line-{n}"` renamed question 0 "line-1".
    rows = [{**QUESTIONS[0], "id": 0}, {**QUESTIONS[2], "id": ""}, {**QUESTIONS[1], "id": None}]
    out = _eval_bm25(tmp_path, eval_files[0], rows)
    dumped = (tmp_path / "answers.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in dumped] == ["0", "", "line-3"]
    per_question = (out / "per_question.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["qid"] for line in per_question] == ["0", "", "line-3"]


def test_newsbot_eval_escapes_pipes_in_report_tables(
    tmp_path: Path, eval_files: tuple[Path, Path]
) -> None:
    # report.py: a "|" in a question type split its Markdown table row into extra cells.
    rows = [{**QUESTIONS[0], "question_type": "a|b"}, {**QUESTIONS[2], "question_type": "c\\|d"}]
    markdown = (_eval_bm25(tmp_path, eval_files[0], rows) / "report.md").read_text("utf-8")
    assert "| bm25 | a\\|b | 1 |" in markdown and "| bm25 | c\\\\\\|d | 1 |" in markdown
    tables = re.findall(r"(?m)(?:^\|.*\n)+", markdown)
    assert len(tables) == 3
    for table in tables:  # every row as many cells as its header
        widths = {re.sub(r"\\.", "", row).count("|") for row in table.splitlines()}
        assert len(widths) == 1, table


def test_newsbot_eval_limit_and_one_retriever(
    tmp_path: Path, eval_files: tuple[Path, Path]
) -> None:
    corpus, questions = eval_files
    out = tmp_path / "r"
    args = ["eval", str(questions), "--corpus", str(corpus), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--limit", "1", "--retrievers", "dense"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert list(report["results"]) == ["dense"]
    assert report["results"]["dense"]["all"]["questions"] == 1


def test_newsbot_eval_refuses_bad_input(tmp_path: Path, eval_files: tuple[Path, Path]) -> None:
    _, questions = eval_files
    runner = CliRunner()
    empty = ["--data-dir", str(tmp_path / "empty"), "eval", str(questions)]
    result = runner.invoke(app, [*empty, "--out", str(tmp_path / "r")])
    assert result.exit_code == 1 and "index is empty" in result.output
    result = runner.invoke(app, [*empty, "--retrievers", "bm25,splade"])
    assert result.exit_code == 1 and "--retrievers" in result.output
    result = runner.invoke(app, ["eval", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 1 and "nope.jsonl" in result.output
    assert not (tmp_path / "r" / "report.json").exists()


def test_eval_refuses_to_dump_over_an_input_and_reads_a_bom(
    tmp_path: Path, eval_files: tuple[Path, Path]
) -> None:
    # --dump naming the corpus emptied it (opened for writing before it was read); a BOM made
    # the questions file's first line "invalid JSON".
    corpus, questions = eval_files
    before = corpus.read_bytes()
    for target in (corpus, questions):
        args = ["eval", str(questions), "--corpus", str(corpus), "--dump", str(target)]
        result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "r")])
        assert result.exit_code == 1 and "that is an input file" in result.output
    assert corpus.read_bytes() == before
    bom = tmp_path / "bom.jsonl"
    bom.write_text(json.dumps(QUESTIONS[0]) + "\n", encoding="utf-8-sig")
    loaded, skipped = load_questions(bom)
    assert [q.id for q in loaded] == ["q-mayor"] and skipped == []
