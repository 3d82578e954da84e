"""The eval's files for people: a Markdown summary and a Hits@k plot (``report.json`` holds
the same numbers for tools)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

Summary = dict[str, dict[str, Any]]

_RETRIEVAL = (
    ("Hits@4", "hits_at_4"),
    ("Hits@10", "hits_at_10"),
    ("MRR@10", "mrr_at_10"),
    ("EvRecall@10", "evidence_recall_at_10"),
)
_QUOTING = (
    ("quote hit", "quote_hit_rate"),
    ("quote precision", "quote_precision"),
    ("answer in quote", "answer_in_quote_rate"),
    ("answer checked", "answer_in_quote_n"),
    ("answer in 1st quote", "answer_first_rate"),
    ("answer in any quote", "answer_any_rate"),
    ("highlight on answer", "highlight_rate"),
    ("false abstention", "false_abstention_rate"),
    ("abstention (unanswerable)", "abstention_rate"),
)
_LATENCY = (
    ("engine p50 ms", "latency_ms_p50"),
    ("engine p95 ms", "latency_ms_p95"),
    ("wall p50 ms", "wall_ms_p50"),
    ("wall p95 ms", "wall_ms_p95"),
)


def _rate(value: float | None) -> str:
    if isinstance(value, int):  # a count beside the rates
        return str(value)
    return "–" if value is None else f"{value:.3f}"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def _cell(text: str) -> str:
    """``text`` as one Markdown table cell: a question type may hold ``|`` or a newline,
    which would end the cell or the row (backslashes are escaped so ``\\|`` stays text)."""
    return " ".join(text.split()).replace("\\", "\\\\").replace("|", "\\|")


def _table(
    summary: Summary,
    columns: tuple[tuple[str, str], ...],
    count: tuple[str, str],
    fmt: Callable[[float | None], str],
) -> list[str]:
    """One row per retriever (all questions) followed by its per-question-type rows; a
    type with nothing to count (no answerable question in the retrieval table) is left out."""
    head = ["retriever", "question type", count[0], *(name for name, _ in columns)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for retriever, groups in summary.items():
        rows = [("all", groups["all"]), *groups["by_type"].items()]
        for qtype, m in rows:
            if not m[count[1]]:
                continue
            cells = [retriever, qtype, str(m[count[1]]), *(fmt(m[key]) for _, key in columns)]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def markdown_report(summary: Summary, meta: dict[str, Any]) -> str:
    """The summary tables as Markdown; ``meta`` lines (files, counts, timings) head it."""
    lines = ["# newsbot evaluation", ""]
    lines += [f"- {key}: {value}" for key, value in meta.items()]
    lines += [
        "",
        "Passages count by their first 300 words, quotes by their first 100; a hit contains a "
        "gold evidence fact with all whitespace removed. Retrieval and quote metrics are over "
        "answerable questions (abstaining counts as a quote miss); abstention is over "
        "unanswerable ones.",
        "",
        "## Retrieval (answerable questions)",
        "",
        *_table(summary, _RETRIEVAL, ("answerable", "answerable"), _rate),
        "",
        "## Quoting and abstention",
        "",
        *_table(summary, _QUOTING, ("questions", "questions"), _rate),
        "",
        "`answer in quote` covers short answers (<= 5 words, not yes/no/before/after); "
        "`answer checked` is how many answerable questions had one.",
        "",
        "## Latency",
        "",
        *_table(summary, _LATENCY, ("questions", "questions"), _ms),
        "",
    ]
    return "\n".join(lines)


def plot_hits_at_k(summary: Summary, path: Path) -> None:
    """Hits@k for k = 1..10, one line per retriever, over all answerable questions.

    Uses the Agg canvas directly so no GUI backend or global pyplot state is involved.
    """
    fig = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ks = list(range(1, 11))
    for retriever, groups in summary.items():
        values = [v if v is not None else float("nan") for v in groups["all"]["hits_at_k"]]
        ax.plot(ks, values, marker="o", label=retriever)
    ax.set_xlabel("k (passages)")
    ax.set_ylabel("Hits@k (answerable questions)")
    ax.set_xticks(ks)
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend()
    ax.set_title("Hits@k per retriever")
    fig.tight_layout()
    fig.savefig(path, format="png")
