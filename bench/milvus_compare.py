"""The Milvus backend beside the local one: retrieval quality on the dev questions, and query
latency at 100k passages.

    python bench/milvus_compare.py eval                 # Hits@10, MRR@10, quotes, agreement
    python bench/milvus_compare.py latency --size 100000 --queries 200

Both parts start their own Milvus Lite server on a free loopback port (``--uri`` uses a
running Milvus instead). ``eval`` ingests ``newsqa-corpus.jsonl`` once into a cached local
data directory, then answers every dev question on each backend over that same store, with
the metrics of ``bot/eval/harness.py``; besides the backends it runs the Milvus backend with
the two idf fallbacks a large corpus would use (a sampled table, a constant), to show what
they cost in quotes. ``latency`` copies the synthetic 100k-passage corpus of ``corpus.py``
(random vectors), times the migration into Milvus, then the same questions on each backend.

Results: a table on stdout and ``bench/results/milvus_compare-<part>.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # tests.support.milvus_server: the same server the tests run

from corpus import CACHE_ROOT, CORPUS_PATH, QUESTIONS_PATH, CorpusSpec, log, questions  # noqa: E402

from bot.eval.harness import load_questions, run_eval  # noqa: E402
from index.backends import store_idf  # noqa: E402
from index.config import EngineConfig  # noqa: E402
from index.dense import Encoder  # noqa: E402
from index.engine import Engine  # noqa: E402

RESULTS_DIR = REPO / "bench" / "results"
# Milvus has no phrase columns or window vectors: the local engine leaves both off, like for like.
LOCAL = {"phrase_search": False, "window_search": False}
EVAL_DATA = CACHE_ROOT / "milvus-eval" / "data"


def start_server(uri: str | None, where: Path):
    if uri:
        return None, uri
    from tests.support.milvus_server import MilvusLiteServer

    server = MilvusLiteServer(where / "milvus-lite").start()
    log(f"milvus-lite server on {server.uri} ({where / 'milvus-lite'})")
    return server, server.uri


def milvus_config(data_dir: Path, uri: str, collection: str, **extra) -> EngineConfig:
    return EngineConfig(
        data_dir=data_dir, backend="milvus", milvus_uri=uri, milvus_collection=collection, **extra
    )


def pct(values: list[float], q: int) -> float:
    """numpy's (linear) percentile; numpy itself loads after the engine, see corpus.py."""
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1] if values else float("nan")
    )


# -- eval -------------------------------------------------------------------------------------


def ensure_eval_store(encoder: Encoder) -> Path:
    """The eval corpus in a cached data directory; an interrupted ingest is finished (the
    engine skips what it already stored), a complete one is marked and reused."""
    done = EVAL_DATA / "ingested"
    if done.exists():
        return EVAL_DATA
    log(f"ingesting {CORPUS_PATH} into {EVAL_DATA}")
    with Engine(EngineConfig(data_dir=EVAL_DATA), encoder) as engine:
        report = engine.ingest_paths([CORPUS_PATH])
    log(f"  {report.added} articles added, {report.unchanged} already there")
    done.touch()
    return EVAL_DATA


def evaluate(
    engine: Engine, qs, label: str, patch: Callable[[Engine], None] | None = None
) -> tuple[dict, dict[str, list[int]]]:
    if patch:
        patch(engine)
    tops: dict[str, list[int]] = {}

    def keep(result, answer) -> None:
        tops[result.qid] = [rp.passage.id for rp in answer.passages[:10]]

    t0 = time.perf_counter()
    report = run_eval(engine, qs, ("hybrid",), progress=keep)
    summary = report.summary()["hybrid"]["all"]
    log(f"  {label}: {len(qs)} questions in {time.perf_counter() - t0:.0f} s")
    return summary, tops


def agreement(a: dict[str, list[int]], b: dict[str, list[int]]) -> dict:
    same = [a[q] == b[q] for q in a]
    same_set = [set(a[q]) == set(b[q]) for q in a]
    overlap = [len(set(a[q]) & set(b[q])) / max(len(a[q]), 1) for q in a if a[q]]
    top1 = [a[q][:1] == b[q][:1] for q in a]
    return {
        "identical_top10": sum(same) / len(same),
        "same_top10_set": sum(same_set) / len(same_set),
        "mean_overlap_at_10": statistics.fmean(overlap) if overlap else None,
        "same_top1": sum(top1) / len(top1),
    }


def run_eval_part(args) -> dict:
    encoder = Encoder()
    data = ensure_eval_store(encoder)
    qs, _ = load_questions(QUESTIONS_PATH)
    if args.limit:
        qs = qs[: args.limit]
    server, uri = start_server(args.uri, CACHE_ROOT / "milvus-eval")
    results: dict[str, dict] = {}
    tops: dict[str, dict[str, list[int]]] = {}
    try:
        with Engine(EngineConfig(data_dir=data, **LOCAL), encoder) as local:
            results["local"], tops["local"] = evaluate(local, qs, "local")
        t0 = time.perf_counter()
        with Engine(milvus_config(data, uri, "eval_passages"), encoder) as milvus:
            sync_s = time.perf_counter() - t0
            results["milvus"], tops["milvus"] = evaluate(milvus, qs, "milvus")

            def sampled(engine: Engine) -> None:
                passages = engine.store.counts()[1]
                table = store_idf.StoreIdf.from_store(engine.store, sample=max(passages // 20, 1))
                engine.backend.idf = table.idf  # type: ignore[method-assign]

            def constant(engine: Engine) -> None:
                engine.backend.idf = lambda tokens: dict.fromkeys(tokens, 1.0)  # type: ignore[method-assign]

            results["milvus_sampled_idf_5pct"], _ = evaluate(
                milvus, qs, "milvus, idf from 5%", sampled
            )
            results["milvus_constant_idf"], _ = evaluate(
                milvus, qs, "milvus, constant idf", constant
            )
    finally:
        if server:
            server.stop()
    out = {
        "questions": len(qs),
        "milvus_uri": uri,
        "milvus_first_sync_s": sync_s,
        "results": results,
        "agreement_local_vs_milvus": agreement(tops["local"], tops["milvus"]),
    }
    keys = (
        "hits_at_10",
        "mrr_at_10",
        "hits_at_4",
        "quote_hit_rate",
        "abstention_rate",
        "false_abstention_rate",
        "latency_ms_p50",
        "latency_ms_p95",
    )
    print(f"{'run':28}" + "".join(f"{k:>22}" for k in keys))
    for name, r in results.items():
        print(f"{name:28}" + "".join(f"{_fmt(r.get(k)):>22}" for k in keys))
    print("agreement:", json.dumps(out["agreement_local_vs_milvus"]))
    return out


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)


# -- latency ----------------------------------------------------------------------------------


def run_latency_part(args) -> dict:
    source = CorpusSpec(args.size, "random").data_dir
    if not (source / "newsbot.sqlite3").exists():
        raise SystemExit(
            f"no cached corpus at {source}: run python bench/corpus.py {args.size} random"
        )
    work = CACHE_ROOT / f"milvus-latency-{args.size}"
    data = work / "data"
    if not (data / "newsbot.sqlite3").exists():  # a copy: syncing writes to the store's meta
        log(f"copying {source} to {data}")
        shutil.copytree(source, data)
    encoder = Encoder()
    encoder.encode_question("warm up")
    texts = questions(args.queries + 10)
    out: dict = {"size": args.size, "queries": args.queries}
    # Local first, before Milvus Lite starts: its server loads the collection in the
    # background for a while, on the same two cores.
    with Engine(EngineConfig(data_dir=data, **LOCAL), encoder) as local:
        out["local"] = time_questions(local, texts)
    server, uri = start_server(args.uri, work)
    out["milvus_uri"] = uri
    try:
        t0 = time.perf_counter()
        with Engine(milvus_config(data, uri, f"latency_{args.size}"), encoder) as milvus:
            out["milvus_open_and_sync_s"] = time.perf_counter() - t0
            log(f"milvus: opened and synced in {out['milvus_open_and_sync_s']:.0f} s")
            out["milvus"] = time_questions(milvus, texts)
    finally:
        if server:
            server.stop()
    for name in ("local", "milvus"):
        r = out[name]
        print(
            f"{name:8} total p50 {r['total_p50']:8.1f} ms  p95 {r['total_p95']:8.1f} ms   "
            f"search p50 {r['search_p50']:8.1f} ms  p95 {r['search_p95']:8.1f} ms"
        )
    return out


SEARCH_STAGES = ("lexical", "dense", "fuse", "milvus_search")


def time_questions(engine: Engine, texts: list[str]) -> dict:
    for q in texts[:10]:
        engine.quote_answer(q)
    totals, searches = [], []
    for q in texts[10:]:
        answer = engine.quote_answer(q)
        totals.append(answer.timings_ms["total"])
        searches.append(sum(answer.timings_ms.get(s, 0.0) for s in SEARCH_STAGES))
    log(f"  {engine.backend.name}: {len(totals)} questions, p50 {pct(totals, 50):.0f} ms")
    return {
        "total_p50": pct(totals, 50),
        "total_p95": pct(totals, 95),
        "search_p50": pct(searches, 50),
        "search_p95": pct(searches, 95),
        "n": len(totals),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="part", required=True)
    e = sub.add_parser("eval")
    e.add_argument("--limit", type=int, default=0, help="only the first N questions")
    e.add_argument("--uri", default=None, help="a running Milvus instead of Milvus Lite")
    lat = sub.add_parser("latency")
    lat.add_argument("--size", type=int, default=100_000)
    lat.add_argument("--queries", type=int, default=200)
    lat.add_argument("--uri", default=None)
    args = parser.parse_args()
    out = run_eval_part(args) if args.part == "eval" else run_latency_part(args)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"milvus_compare-{args.part}.json"
    path.write_text(json.dumps(out, indent=2, default=str))
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
