"""Ingest against the bare encoder, this checkout's engine beside another's, interleaved.

    python bench/ingest_ab.py --baseline ../main --articles 200 --rounds 3

Each round runs ``scale.py``'s ingest worker once per checkout, in a fresh process with that
checkout's code on PYTHONPATH (the order alternates between rounds): the bare
``Encoder.encode`` of the chosen articles' windows, then ``Engine.ingest_paths`` of the same
articles from a JSONL file of their corpus lines (so reading and parsing are timed with it).
Each process gives its own ingest/bare ratio; the table gives, per checkout, the medians of
the ratios and of the ingest and encoder times, and this checkout's median ingest time over
the baseline's. Results: ``bench/results/ingest_ab.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent


def run_worker(code: Path, args: dict) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    env = {**os.environ, "PYTHONPATH": str(code), "HF_HUB_OFFLINE": "1"}
    try:
        subprocess.run(
            [
                sys.executable,
                str(BENCH / "scale.py"),
                *("--worker", "ingest", "--worker-args", json.dumps(args)),
                *("--worker-out", str(out)),
            ],
            check=True,
            cwd=code,
            env=env,
        )
        return json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, required=True, help="the other checkout")
    parser.add_argument("--articles", type=int, default=200, help="the corpus's first N")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "ingest_ab.json")
    args = parser.parse_args()
    codes = {"this": REPO, "baseline": args.baseline.resolve()}
    worker_args = {"passages": 0, "articles": args.articles, "repeats": 1, "from_file": True}
    runs: dict[str, list[dict]] = {name: [] for name in codes}
    for round_ in range(args.rounds):
        order = list(codes) if round_ % 2 else list(reversed(codes))
        for name in order:
            t0 = time.monotonic()
            result = run_worker(codes[name], worker_args)
            result["load_before_after"] = result.pop("loadavg_before_after")
            runs[name].append(result)
            if not result["engine_module"].startswith(str(codes[name])):
                raise SystemExit(f"{name} ran {result['engine_module']}, not {codes[name]}'s")
            print(
                f"round {round_ + 1} {name}: ratio {result['ratio']:.3f} "
                f"(ingest {result['pipeline_s'][0]:.1f} s, bare {result['bare_encode_s'][0]:.1f}"
                f" s) in {time.monotonic() - t0:.0f} s",
                file=sys.stderr,
            )
    table = {}
    for name, results in runs.items():
        table[name] = {
            "ratio_median": statistics.median(r["ratio"] for r in results),
            "ratios": [round(r["ratio"], 3) for r in results],
            "ingest_s_median": statistics.median(r["pipeline_s"][0] for r in results),
            "bare_s_median": statistics.median(r["bare_encode_s"][0] for r in results),
        }
    first = runs["this"][0]
    print(f"{first['articles']} articles, {first['passages']} passages, {args.rounds} rounds")
    print(f"{'code':<10} {'ingest/bare':>12} {'ratios':>24} {'ingest s':>9} {'bare s':>8}")
    for name, row in table.items():
        print(
            f"{name:<10} {row['ratio_median']:>11.3f}x {' '.join(map(str, row['ratios'])):>24} "
            f"{row['ingest_s_median']:>9.1f} {row['bare_s_median']:>8.1f}"
        )
    speedup = table["this"]["ingest_s_median"] / table["baseline"]["ingest_s_median"]
    print(f"this ingest / baseline ingest (medians): {speedup:.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"table": table, "this_over_baseline": speedup, "runs": runs}, indent=2) + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
