"""Check and summarize the chat-style question set (bench/chat/*.jsonl) against the corpus.

    python bench/chat_questions.py ../shared/eval/newsqa-corpus.jsonl bench/chat/*.jsonl
    python bench/chat_questions.py CORPUS FILES... --merge bench/chat-questions.jsonl

Each line is one question in the format ``newsbot eval`` reads (the benchmark's fields) plus
what a chat question needs:

    {"id": "chat-a-001", "question": "when does the ceasefire end", "answerable": true,
     "question_type": "when", "answer": "on Thursday morning",
     "evidence": ["The truce ... ends on Thursday morning, officials said."],
     "evidence_doc_ids": ["doc-..."], "asked_on": "2023-11-24", "tags": ["lowercase"]}

``answer`` is a verbatim span of the one ``evidence`` sentence, which is verbatim in the
article (whitespace aside). ``asked_on`` is the day the question is asked, for "yesterday" or
"latest" (default: the day of the run). Unanswerable ones have ``answerable: false``, answer
"Insufficient information.", no evidence, and ``unanswerable_kind``: off_topic,
out_of_period, near_miss or unquoted_org.

Errors name the file and line; the exit code is 1 when any line is wrong.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from datetime import date
from pathlib import Path

KINDS = ("who", "what", "when", "where", "how_much", "how_many", "yes_no", "why")
UNANSWERABLE_KINDS = ("off_topic", "out_of_period", "near_miss", "unquoted_org")
TAGS = ("lowercase", "typo", "relative_time", "outlet", "outlet_word", "according_to", "latest")
_SPACE = re.compile(r"\s+")


def fold(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def check_line(obj: dict, corpus: dict[str, str]) -> list[str]:
    problems = []
    question = obj.get("question")
    if not isinstance(question, str) or not question.strip():
        problems.append("missing question")
    if obj.get("question_type") not in KINDS:
        problems.append(f"question_type must be one of {KINDS}")
    for tag in obj.get("tags", []):
        if tag not in TAGS:
            problems.append(f"unknown tag {tag!r} (one of {TAGS})")
    if "asked_on" in obj:
        try:
            date.fromisoformat(obj["asked_on"])
        except (TypeError, ValueError):
            problems.append("asked_on must be YYYY-MM-DD")
    if obj.get("answerable") is False:
        if obj.get("answer") != "Insufficient information.":
            problems.append('an unanswerable question has answer "Insufficient information."')
        if obj.get("evidence"):
            problems.append("an unanswerable question has no evidence")
        if obj.get("unanswerable_kind") not in UNANSWERABLE_KINDS:
            problems.append(f"unanswerable_kind must be one of {UNANSWERABLE_KINDS}")
        return problems
    if obj.get("answerable") is not True:
        return [*problems, "answerable must be true or false"]
    evidence, docs = obj.get("evidence"), obj.get("evidence_doc_ids")
    if not (isinstance(evidence, list) and len(evidence) == 1 and isinstance(evidence[0], str)):
        return [*problems, "evidence must be a list of one sentence"]
    if not (isinstance(docs, list) and len(docs) == 1 and docs[0] in corpus):
        return [*problems, "evidence_doc_ids must name one corpus article"]
    sentence, answer = fold(evidence[0]), fold(str(obj.get("answer", "")))
    if not answer:
        problems.append("empty answer")
    if sentence not in fold(corpus[docs[0]]):
        problems.append(f"the evidence sentence is not verbatim in {docs[0]}")
    if answer and answer not in sentence:
        problems.append("the answer is not verbatim in the evidence sentence")
    if len(answer.split()) > 12:
        problems.append("the answer is over 12 words: quote the span that answers")
    return problems


def summarize(rows: list[dict]) -> str:
    answerable = [r for r in rows if r.get("answerable")]
    words = [len(r["question"].split()) for r in rows]
    lines = [
        f"{len(rows)} questions: {len(answerable)} answerable, "
        f"{len(rows) - len(answerable)} unanswerable",
        "kinds: "
        + ", ".join(f"{k} {n}" for k, n in Counter(r["question_type"] for r in rows).items()),
        "unanswerable: "
        + ", ".join(
            f"{k} {n}"
            for k, n in Counter(
                r.get("unanswerable_kind") for r in rows if not r.get("answerable")
            ).items()
        ),
        "tags: "
        + ", ".join(
            f"{k} {n}" for k, n in Counter(t for r in rows for t in r.get("tags", [])).items()
        ),
        f"4-12 words: {sum(4 <= w <= 12 for w in words) / max(len(words), 1):.2f}; "
        f"lowercase without '?': "
        f"{sum(r['question'] == r['question'].lower() and '?' not in r['question'] for r in rows) / max(len(rows), 1):.2f}",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("files", type=Path, nargs="+")
    parser.add_argument("--merge", type=Path, help="write every valid line to this file")
    args = parser.parse_args()
    corpus = {}
    for line in args.corpus.read_text(encoding="utf-8").splitlines():
        doc = json.loads(line)
        corpus[doc["id"]] = doc["text"]
    rows, ids, bad = [], set(), 0
    for path in args.files:
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                print(f"{path}:{lineno}: invalid JSON: {exc.msg}")
                bad += 1
                continue
            problems = check_line(obj, corpus)
            if obj.get("id") in ids:
                problems.append(f"duplicate id {obj.get('id')!r}")
            ids.add(obj.get("id"))
            for p in problems:
                print(f"{path}:{lineno}: {p}")
            bad += bool(problems)
            if not problems:
                rows.append(obj)
    print(summarize(rows))
    if args.merge:
        with args.merge.open("w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
