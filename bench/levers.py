"""Each ranking lever turned off in turn, on every question set: which levers earn their keep.

    python bench/levers.py --data-dir DEVSTORE \
        --questions ../shared/eval/newsqa-dev.jsonl --questions bench/chat-questions.jsonl

DEVSTORE holds the corpus the sets are about. Prints one row per lever and set (retrieval,
first-quote answers, highlights, abstention) and writes bench/results/levers.json. A lever
stays only if turning it off costs some set more than noise; noise here is the spread of a
rate over n questions, about sqrt(p(1-p)/n) (0.02 at n = 600, 0.03 at n = 285).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bot.eval.harness import load_questions, run_eval
from index.config import EngineConfig
from index.engine import Engine

LEVERS: dict[str, dict[str, object]] = {
    "all on": {},
    "no sentence rerank": {"sentence_weight": 0.0},
    "no part slots": {"part_slots": 0},
    "no part order": {"clause_weight": 0.0},
    "no article spread": {"article_temperature": 0.0},
    "no phrase lists": {"phrase_search": False},
    "no best window": {"window_search": False},
    "no outlet/day lists": {"focus_weight": 0.0},
    "no quote context": {"quote_context": False},
}
COLUMNS = (
    ("H@10", "hits_at_10"),
    ("MRR", "mrr_at_10"),
    ("1st", "answer_first_rate"),
    ("any", "answer_any_rate"),
    ("hl", "highlight_rate"),
    ("QHit", "quote_hit_rate"),
    ("abst", "abstention_rate"),
    ("FA", "false_abstention_rate"),
    ("p50", "latency_ms_p50"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--questions", type=Path, action="append", required=True)
    parser.add_argument("--levers", help="comma-separated lever names (default: all)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/levers.json"))
    args = parser.parse_args()
    chosen = args.levers.split(",") if args.levers else list(LEVERS)
    sets = {path.stem: load_questions(path)[0] for path in args.questions}
    base = EngineConfig(data_dir=args.data_dir).for_many_questions()
    results: dict[str, dict[str, dict]] = {}
    print(f"{'lever':<22} {'set':<16} " + " ".join(f"{c:>6}" for c, _ in COLUMNS))
    for lever in chosen:
        with Engine(replace(base, **LEVERS[lever])) as engine:  # type: ignore[arg-type]
            for name, questions in sets.items():
                summary = run_eval(engine, questions, ["hybrid"]).summary()["hybrid"]["all"]
                results.setdefault(lever, {})[name] = summary
                cells = [
                    "-"
                    if summary[k] is None
                    else f"{summary[k]:.0f}"
                    if k.startswith("lat")
                    else f"{summary[k]:.3f}"
                    for _, k in COLUMNS
                ]
                print(f"{lever:<22} {name:<16} " + " ".join(f"{c:>6}" for c in cells), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
