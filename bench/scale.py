"""How newsbot scales: question latency, index load time, memory and ingest overhead.

For each corpus size (synthetic articles of real news sentences, see ``corpus.py``):

* warm ``Engine.quote_answer`` latency, p50 / p95 over real questions, with the per-stage
  breakdown the engine reports in ``Answer.timings_ms``;
* ``Engine`` open time on the existing data directory (loads the snapshot; at 100k+ passages
  this includes numba compiling the BM25 kernels) and a second ``load_snapshot`` in the same
  process, plus the embedding model's first load;
* resident memory after load and after the questions (``/proc/self/status`` VmRSS, split into
  anonymous and file-backed pages, and ``ru_maxrss`` for the peak);
* the same questions through rank-bm25's ``BM25Okapi`` over the same tokens, as a baseline.

Once per run, the ingest overhead: ``Engine.ingest`` of ~2k real passages against the bare
``Encoder.encode`` of the same passage texts.

Every measurement runs in its own process so its memory figures are its own. Results: a table
on stdout, ``bench/results/scale.json`` and ``bench/results/scale.png``.

    python bench/scale.py --sizes 10000,100000,1000000 --queries 200
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import corpus
import numpy as np
from corpus import (
    CorpusSpec,
    ensure_corpus,
    log,
    mem_available_mb,
    peak_rss_mb,
    proc_status_mb,
    questions,
    real_articles,
)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
TARGETS = {
    "p50_ms": 60.0,
    "p95_ms": 150.0,
    "load_s": 5.0,
    "rss_mb": 3072.0,
    "ingest_ratio": 1.25,
    "at_size": 1_000_000,
}
STAGES = ("embed", "lexical", "dense", "fuse", "load", "quote")
WARMUP_QUESTIONS = 10


def summarize(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    arr = np.asarray(values, dtype=np.float64)
    return {
        "p50": float(np.percentile(arr, 50)),
        "p95": float(np.percentile(arr, 95)),
        "mean": float(arr.mean()),
        "max": float(arr.max()),
        "n": len(values),
    }


# -- workers (each runs in a fresh process) -------------------------------------------------


def worker_query(spec: CorpusSpec, n_queries: int) -> dict:
    from index.config import EngineConfig
    from index.dense import Encoder
    from index.engine import Engine
    from index.snapshot import load_snapshot

    config = EngineConfig(data_dir=spec.data_dir)
    memory = {"start": proc_status_mb()}
    c0, t0 = time.process_time(), time.perf_counter()
    engine = Engine(config, Encoder(config.model, config.embed_batch_size))
    open_s, open_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    memory["after_open"] = proc_status_mb()
    t0 = time.perf_counter()
    again = load_snapshot(config.index_dir)
    reload_s = time.perf_counter() - t0
    del again
    c0, t0 = time.process_time(), time.perf_counter()
    engine.encoder.encode(["warm up the model"])
    model_s, model_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    memory["after_load"] = proc_status_mb()

    texts = questions(n_queries + WARMUP_QUESTIONS)
    for q in texts[:WARMUP_QUESTIONS]:
        engine.quote_answer(q)
    records = []
    load_before = os.getloadavg()
    for q in texts[WARMUP_QUESTIONS:]:
        c0, t0 = time.process_time(), time.perf_counter()
        answer = engine.quote_answer(q)
        wall = (time.perf_counter() - t0) * 1000
        records.append(
            {
                "timings_ms": answer.timings_ms,
                "wall_ms": wall,
                "cpu_ms": (time.process_time() - c0) * 1000,
                "abstained": answer.abstained,
                "passages": len(answer.passages),
            }
        )
    memory["after_queries"] = proc_status_mb()
    memory["peak_rss"] = peak_rss_mb()

    # Process CPU time of the three heavy stages called directly, on the same questions:
    # unlike wall time, barely moved by other processes competing for the cores.
    from index.retrieve import parse_query

    backend = getattr(engine, "backend", None)  # the local backend owns the snapshot
    snap = backend.snapshot() if backend is not None else engine.snapshot()
    stage_cpu: dict[str, list[float]] = {"embed": [], "lexical": [], "dense": []}
    for q in texts[WARMUP_QUESTIONS:]:
        c0 = time.process_time()
        vector = engine.encoder.encode_question(q)
        c1 = time.process_time()
        tokens = parse_query(q, engine.tokenizer, snap.sources).tokens
        c2 = time.process_time()
        snap.lexical.search(tokens, config.candidates)
        c3 = time.process_time()
        snap.dense.search(vector, config.candidates)
        c4 = time.process_time()
        stage_cpu["embed"].append((c1 - c0) * 1000)
        stage_cpu["lexical"].append((c3 - c2) * 1000)
        stage_cpu["dense"].append((c4 - c3) * 1000)
    engine.close()

    stages = {}
    for stage in (*STAGES, "other"):
        values = []
        for r in records:
            t = r["timings_ms"]
            if stage == "other":
                values.append(t["total"] - sum(t.get(s, 0.0) for s in STAGES))
            else:
                values.append(t.get(stage, 0.0))
        stages[stage] = summarize(values)
    return {
        "questions": len(records),
        "engine_open_s": open_s,
        "engine_open_cpu_s": open_cpu_s,
        "model_first_load_cpu_s": model_cpu_s,
        "load_snapshot_again_s": reload_s,
        "model_first_load_s": model_s,
        "memory_mb": memory,
        "total_ms": summarize([r["timings_ms"]["total"] for r in records]),
        "wall_ms": summarize([r["wall_ms"] for r in records]),
        "process_cpu_ms": summarize([r["cpu_ms"] for r in records]),
        "stage_process_cpu_ms": {k: summarize(v) for k, v in stage_cpu.items()},
        "threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
        "loadavg_before_after": [load_before, os.getloadavg()],
        "stages_ms": stages,
        "abstained": sum(r["abstained"] for r in records) / max(len(records), 1),
        "per_question": [
            {"total": r["timings_ms"]["total"], "lexical": r["timings_ms"].get("lexical", 0.0)}
            for r in records
        ],
    }


def worker_rankbm25(spec: CorpusSpec, n_queries: int) -> dict:
    from rank_bm25 import BM25Okapi

    from index.config import EngineConfig
    from index.store import Store
    from index.tokenize import NewsTokenizer

    config = EngineConfig(data_dir=spec.data_dir)
    memory = {"start": proc_status_mb()}
    store = Store(config.db_path)
    t0 = time.perf_counter()
    docs = [row.tokens.split() for row in store.iter_passage_rows()]
    if spec.tiled_from:  # the same corpus repeated, as in the tiled index
        docs = [list(d) for _ in range(spec.size // len(docs)) for d in docs]
    read_s = time.perf_counter() - t0
    store.close()
    memory["after_read"] = proc_status_mb()
    t0 = time.perf_counter()
    bm25 = BM25Okapi(docs, k1=config.bm25_k1, b=config.bm25_b)
    build_s = time.perf_counter() - t0
    del docs
    memory["after_build"] = proc_status_mb()

    tokenizer = NewsTokenizer(stem=config.stemming)
    # The same questions, in the same order, as the engine's timed ones.
    texts = questions(n_queries + WARMUP_QUESTIONS)[WARMUP_QUESTIONS:]
    times, cpu = [], []
    load_before = os.getloadavg()
    for q in texts:
        tokens = tokenizer.tokens(q)
        c0, t0 = time.process_time(), time.perf_counter()
        scores = bm25.get_scores(tokens)
        k = min(config.candidates, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    memory["after_queries"] = proc_status_mb()
    return {
        "questions": len(times),
        "corpus_size": spec.size,
        "read_tokens_s": read_s,
        "build_s": build_s,
        "query_ms": summarize(times),
        "process_cpu_ms": summarize(cpu),
        "loadavg_before_after": [load_before, os.getloadavg()],
        "per_question_ms": times,
        "memory_mb": memory,
        "peak_rss_mb": peak_rss_mb(),
    }


def worker_ingest(
    target_passages: int, repeats: int, *, from_file: bool = False, articles_n: int = 0
) -> dict:
    """Engine.ingest of real articles vs Encoder.encode of the same passage texts.

    The articles are the corpus's first ones up to ``target_passages`` passages, or its
    first ``articles_n``. ``from_file``: the ingest reads them from a JSONL file of their
    corpus lines (``Engine.ingest_paths``, so reading and parsing are timed with it) instead
    of taking them already read."""
    import importlib
    from dataclasses import replace

    from index.config import EngineConfig
    from index.dense import Encoder
    from index.engine import Engine, dense_texts
    from index.model import Article
    from index.onnx_encoder import OnnxEncoder
    from index.segment import pack_passages
    from index.sources import read_sources
    from index.tokenize import NewsTokenizer

    config = EngineConfig()
    spent: dict[str, float] = {}

    def timed(name: str, fn):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - t0

        return wrapper

    class TimedTokenizer(NewsTokenizer):
        def tokens(self, text):
            return timed("tokenize", super().tokens)(text)

    for name in ("index.backends.local", "index.engine"):  # wherever the engine builds
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "build_snapshot"):
            module.build_snapshot = timed("snapshot", module.build_snapshot)

    # The bare encoder reads exactly the windows the engine embeds for these passages.
    articles, texts, n_passages = [], [], 0
    for article in real_articles():
        spans = pack_passages(article.body, config.passage_words)
        articles.append(article)
        texts += [text for s in spans for text in dense_texts(article, s)]
        n_passages += len(spans)
        if len(articles) == articles_n or (not articles_n and n_passages >= target_passages):
            break
    source_dir = Path(tempfile.mkdtemp(prefix="newsbot-ingest-source-"))
    source = source_dir / "slice.jsonl"
    if from_file:  # the corpus's own lines, which read back as exactly these articles
        lines = [line for line in corpus.CORPUS_PATH.read_text("utf-8").splitlines() if line]
        source.write_text("\n".join(lines[: len(articles)]) + "\n", encoding="utf-8")
        read = [a for a in read_sources([source]) if isinstance(a, Article)]
        if [replace(a, origin="") for a in read] != [replace(a, origin="") for a in articles]:
            raise AssertionError(f"{source} does not read back as the chosen articles")
    encoder = Encoder(config.model, config.embed_batch_size)
    t0 = time.perf_counter()
    encoder.encode(["warm up the model"])
    model_s = time.perf_counter() - t0
    # "encode" is the model's passes. The engine asks for token vectors too (to pool each
    # sentence's vector, which counts as "other"), so the passes are timed where both the
    # plain and that path run them: the ONNX copy's encode_tokens.
    backend = encoder.backend
    backend.encode_tokens = timed("encode", backend.encode_tokens)
    if not isinstance(backend, OnnxEncoder):  # the torch fallback embeds plain texts apart
        backend.encode = timed("encode", backend.encode)

    bare, pipeline, breakdowns = [], [], []
    load_before = os.getloadavg()
    for _ in range(repeats):
        t0 = time.perf_counter()
        encoder.encode(texts)
        bare.append(time.perf_counter() - t0)

        data_dir = Path(tempfile.mkdtemp(prefix="newsbot-ingest-"))
        try:
            engine = Engine(EngineConfig(data_dir=data_dir), encoder)
            engine.tokenizer = TimedTokenizer(stem=config.stemming)
            engine.store.write_batch = timed("store_write", engine.store.write_batch)
            spent.clear()
            t0 = time.perf_counter()
            report = engine.ingest_paths([source]) if from_file else engine.ingest(articles)
            elapsed = time.perf_counter() - t0
            engine.close()
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
        if report.passages != n_passages:
            raise AssertionError(f"ingest made {report.passages} passages, not {n_passages}")
        pipeline.append(elapsed)
        breakdown = dict(spent)
        breakdown["other"] = elapsed - sum(breakdown.values())
        breakdowns.append(breakdown)

    shutil.rmtree(source_dir, ignore_errors=True)
    bare_s, pipeline_s = statistics.median(bare), statistics.median(pipeline)
    best = pipeline.index(statistics.median_low(pipeline))
    return {
        "engine_module": importlib.import_module("index.engine").__file__,
        "from_file": from_file,
        "articles": len(articles),
        "passages": n_passages,
        "repeats": repeats,
        "model_first_load_s": model_s,
        "bare_encode_s": bare,
        "pipeline_s": pipeline,
        "bare_passages_per_s": n_passages / bare_s,
        "pipeline_passages_per_s": n_passages / pipeline_s,
        "ratio": pipeline_s / bare_s,
        "pipeline_breakdown_s": breakdowns[best],
        "loadavg_before_after": [load_before, os.getloadavg()],
        "peak_rss_mb": peak_rss_mb(),
    }


QUIET = {"load": 0.0, "wait_s": 0.0}


def wait_quiet() -> dict:
    """Wait (bounded) for the machine's 1-minute load average to drop under ``QUIET['load']``:
    other processes on a 2-core machine distort every timing. Returns what was seen."""
    t0 = time.monotonic()
    load = os.getloadavg()[0]
    if QUIET["load"] > 0:
        while load > QUIET["load"] and time.monotonic() - t0 < QUIET["wait_s"]:
            time.sleep(10)
            load = os.getloadavg()[0]
    return {"waited_s": round(time.monotonic() - t0, 1), "loadavg_1m_at_start": load}


def run_worker(name: str, args: dict, threads: int | None = None) -> dict:
    """Run one worker in a fresh interpreter; its JSON result comes back through a file.
    ``threads`` caps the BLAS / OpenMP (torch) thread pools of that process."""
    env = dict(os.environ)
    if threads:
        for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[key] = str(threads)
    quiet = wait_quiet()
    if quiet["waited_s"]:
        log(f"waited {quiet['waited_s']} s for load {quiet['loadavg_1m_at_start']:.2f}")
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    try:
        subprocess.run(
            [
                sys.executable,
                __file__,
                *("--worker", name, "--worker-args", json.dumps(args), "--worker-out", str(out)),
            ],
            check=True,
            env=env,
        )
        return {**json.loads(out.read_text()), "quiet": quiet}
    finally:
        out.unlink(missing_ok=True)


def _worker_main(name: str, args: dict, out: Path) -> None:
    if name in ("query", "rankbm25"):
        spec = CorpusSpec(args["size"], args["vectors"], tiled_from=args.get("tiled_from", 0))
        work = worker_query if name == "query" else worker_rankbm25
        result = work(spec, args["queries"])
    elif name == "ingest":
        result = worker_ingest(
            args["passages"],
            args["repeats"],
            from_file=args.get("from_file", False),
            articles_n=args.get("articles", 0),
        )
    else:
        raise SystemExit(f"unknown worker {name}")
    out.write_text(json.dumps(result))


# -- report ---------------------------------------------------------------------------------


def _fmt(value, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return f"{value:,.{digits}f}"


def _get(d, *keys):
    for key in keys:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def print_tables(results: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=200)
    runs = sorted(results["sizes"], key=lambda r: r["size"])

    t = Table(title="quote_answer latency, warm (ms; p50 / p95 over the questions)")
    for col in (
        "passages",
        "dense vectors",
        "words/passage",
        "questions",
        "total p50",
        "total p95",
        "abstained",
    ):
        t.add_column(col, justify="right")
    for stage in (*STAGES, "other"):
        t.add_column(f"{stage} p50/p95", justify="right")
    for r in runs:
        q = r.get("query") or {}
        row = [
            f"{r['size']:,}",
            r["vectors"]
            + (
                f", index = {r['tiled_from']:,} x{r['size'] // r['tiled_from']}"
                if r.get("tiled_from")
                else ""
            ),
            str(
                _get(r, "build", "passage_words")
                or _get(r, "build", "base", "passage_words")
                or "160"
            ),
            str(q.get("questions", "-")),
            _fmt(_get(q, "total_ms", "p50")),
            _fmt(_get(q, "total_ms", "p95")),
            f"{q['abstained']:.0%}" if q else "-",
        ]
        for stage in (*STAGES, "other"):
            row.append(
                f"{_fmt(_get(q, 'stages_ms', stage, 'p50'))} / "
                f"{_fmt(_get(q, 'stages_ms', stage, 'p95'))}"
            )
        t.add_row(*row)
    console.print(t)

    t = Table(
        title="CPU time per question (process_time, ms, p50 / p95): robust to other processes "
        "competing for the cores, unlike the wall times above"
    )
    for col in (
        "passages",
        "threads",
        "load avg (1m)",
        "quote_answer",
        "embed",
        "lexical",
        "dense",
    ):
        t.add_column(col, justify="right")
    for r in runs:
        q = r.get("query") or {}
        if not q:
            continue

        def pair(*keys, q=q):
            return f"{_fmt(_get(q, *keys, 'p50'))} / {_fmt(_get(q, *keys, 'p95'))}"

        loads = q.get("loadavg_before_after") or [[None], [None]]
        t.add_row(
            f"{r['size']:,}",
            str(_get(q, "threads", "OMP_NUM_THREADS") or "default"),
            f"{_fmt(loads[0][0])} -> {_fmt(loads[1][0])}",
            pair("process_cpu_ms"),
            pair("stage_process_cpu_ms", "embed"),
            pair("stage_process_cpu_ms", "lexical"),
            pair("stage_process_cpu_ms", "dense"),
        )
    console.print(t)

    t = Table(title="index build, load and memory (MiB; VmRSS = anon + file-backed mapped index)")
    for col in (
        "passages",
        "db MiB",
        "index MiB",
        "generate s",
        "build_snapshot s",
        "build peak",
        "Engine open s",
        "load_snapshot again s",
        "model load s",
        "VmRSS after load (anon/file)",
        "VmRSS after queries (anon/file)",
        "ru_maxrss",
    ):
        t.add_column(col, justify="right")
    for r in runs:
        b, q = r.get("build") or {}, r.get("query") or {}

        def rss(phase, q=q):
            m = _get(q, "memory_mb", phase)
            if not m:
                return "-"
            return f"{m['VmRSS']:,.0f} ({m['RssAnon']:,.0f}/{m['RssFile']:,.0f})"

        t.add_row(
            f"{r['size']:,}",
            _fmt(b.get("db_mb"), 0),
            _fmt(b.get("index_mb"), 0),
            _fmt(b.get("generate_s")) if "tile_s" not in b else f"tiled {b['tile_s']:.0f}",
            _fmt(b.get("build_snapshot_s")),
            _fmt(b.get("build_peak_rss_mb"), 0),
            f"{_fmt(q.get('engine_open_s'), 2)} ({_fmt(q.get('engine_open_cpu_s'), 2)} cpu)",
            _fmt(q.get("load_snapshot_again_s"), 2),
            f"{_fmt(q.get('model_first_load_s'), 2)} ({_fmt(q.get('model_first_load_cpu_s'), 2)} cpu)",
            rss("after_load"),
            rss("after_queries"),
            _fmt(_get(q, "memory_mb", "peak_rss"), 0),
        )
    console.print(t)

    t = Table(title="rank-bm25 BM25Okapi baseline (same tokens, same first questions)")
    for col in (
        "passages",
        "questions",
        "build s",
        "peak MiB",
        "scoring p50 ms",
        "scoring p95 ms",
        "CPU p50 ms",
        "x newsbot lexical p50",
        "x newsbot quote_answer p50",
    ):
        t.add_column(col, justify="right")
    for r in runs:
        rb = r.get("rankbm25") or {}
        if "skipped" in rb or not rb:
            t.add_row(f"{r['size']:,}", rb.get("skipped", "not run"), *["-"] * 7)
            continue
        t.add_row(
            f"{r['size']:,}",
            str(rb["questions"]),
            _fmt(rb["build_s"]),
            _fmt(rb["peak_rss_mb"], 0),
            _fmt(rb["query_ms"]["p50"]),
            _fmt(rb["query_ms"]["p95"]),
            _fmt(_get(rb, "process_cpu_ms", "p50")),
            _fmt(_get(rb, "ratio", "vs_lexical_p50")),
            _fmt(_get(rb, "ratio", "vs_total_p50")),
        )
    console.print(t)

    ing = results.get("ingest")
    if ing:
        t = Table(title="ingest throughput: Engine.ingest vs bare Encoder.encode, same passages")
        for col in (
            "articles",
            "passages",
            "bare encode p/s",
            "pipeline p/s",
            "pipeline / bare time",
            "pipeline breakdown s",
        ):
            t.add_column(col, justify="right")
        t.add_row(
            str(ing["articles"]),
            str(ing["passages"]),
            _fmt(ing["bare_passages_per_s"]),
            _fmt(ing["pipeline_passages_per_s"]),
            _fmt(ing["ratio"], 3),
            ", ".join(f"{k} {v:.2f}" for k, v in ing["pipeline_breakdown_s"].items()),
        )
        console.print(t)

    checks = results.get("targets_check") or {}
    if checks:
        console.print("targets: " + "; ".join(f"{k}: {v}" for k, v in checks.items()))


def check_targets(results: dict) -> dict[str, str]:
    runs = {r["size"]: r for r in results["sizes"]}
    largest = max(runs)
    r = runs[largest]
    out = {}

    def verdict(name: str, value, limit: float, unit: str) -> None:
        if value is None:
            return
        mark = "ok" if value <= limit else "MISSED"
        out[f"{name} @ {largest:,}"] = f"{value:,.1f}{unit} (target <= {limit:g}{unit}) {mark}"

    verdict("p50", _get(r, "query", "total_ms", "p50"), TARGETS["p50_ms"], " ms")
    verdict("p95", _get(r, "query", "total_ms", "p95"), TARGETS["p95_ms"], " ms")
    verdict("Engine open", _get(r, "query", "engine_open_s"), TARGETS["load_s"], " s")
    peak = max(
        (
            _get(r, "query", "memory_mb", "after_queries", "VmRSS") or 0,
            _get(r, "query", "memory_mb", "peak_rss") or 0,
        )
    )
    verdict("RSS", peak or None, TARGETS["rss_mb"], " MiB")
    if results.get("ingest"):
        verdict("ingest time ratio", results["ingest"]["ratio"], TARGETS["ingest_ratio"], "x")
    if largest < TARGETS["at_size"]:
        out["note"] = f"targets are for {TARGETS['at_size']:,} passages; largest run {largest:,}"
    return out


def output_paths(tag: str) -> tuple[Path, Path]:
    stem = f"scale-{tag}" if tag else "scale"
    return RESULTS_DIR / f"{stem}.json", RESULTS_DIR / f"{stem}.png"


def finish(results: dict) -> None:
    results["targets_check"] = check_targets(results) if results["sizes"] else {}
    json_path, png_path = output_paths(results["settings"]["tag"])
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2))
    if results["sizes"]:
        from plot import plot_scale

        plot_scale(results, png_path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=200, help="timed questions per size")
    parser.add_argument("--skip-rankbm25", action="store_true")
    parser.add_argument(
        "--rankbm25-queries",
        type=int,
        default=50,
        help="questions through rank-bm25 (20 at 1M passages and above)",
    )
    parser.add_argument(
        "--real-vectors-upto",
        type=int,
        default=10_000,
        help="embed passages with the real model up to this size; random unit vectors above",
    )
    parser.add_argument(
        "--rankbm25-max-size", type=int, default=1_000_000, help="skip rank-bm25 above this size"
    )
    parser.add_argument(
        "--tile-from",
        type=int,
        default=0,
        help="build sizes above this one by repeating this corpus in the index (see corpus.py "
        "tile_index) instead of generating and indexing them",
    )
    parser.add_argument(
        "--any-passage-words",
        action="store_true",
        help="reuse cached corpora packed at another passage_words (the tables show it)",
    )
    parser.add_argument("--ingest-passages", type=int, default=2000)
    parser.add_argument("--ingest-repeats", type=int, default=3)
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="cap BLAS/OpenMP threads of the question-answering processes (0: library defaults)",
    )
    parser.add_argument("--tag", default="", help="write scale-TAG.json / .png instead")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the other sizes (and ingest) of the existing scale.json, replace these",
    )
    parser.add_argument(
        "--quiet-load",
        type=float,
        default=1.5,
        help="before each timed step, wait for the 1-minute load average to fall under this "
        "(0: do not wait)",
    )
    parser.add_argument("--quiet-wait", type=float, default=300, help="longest wait, seconds")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--worker-args", help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", help=argparse.SUPPRESS)
    parser.add_argument(
        "--combine",
        metavar="JSON,JSON",
        help="measure nothing: merge these result files (later ones win for a size) into the "
        "--tag output, print the tables and redraw the plot",
    )
    args = parser.parse_args()
    if args.worker:
        _worker_main(args.worker, json.loads(args.worker_args), Path(args.worker_out))
        return
    if args.combine:
        combined: dict = {}
        for path in args.combine.split(","):
            part = json.loads(Path(path).read_text())
            if not combined:
                combined = {**part, "sizes": [], "notes": list(part.get("notes", []))}
            sizes = {r["size"] for r in part["sizes"]}
            combined["sizes"] = [r for r in combined["sizes"] if r["size"] not in sizes]
            combined["sizes"] += part["sizes"]
            if "ingest" in part:
                combined["ingest"] = part["ingest"]
            combined["notes"].append(f"combined from {path} ({part.get('created')})")
        combined["settings"] = {**combined.get("settings", {}), "tag": args.tag}
        finish(combined)
        print_tables(combined)
        return

    QUIET.update(load=args.quiet_load, wait_s=args.quiet_wait)
    corpus.ANY_PASSAGE_WORDS = args.any_passage_words
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    results: dict = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "mem_available_mb_at_start": mem_available_mb(),
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        },
        "targets": TARGETS,
        "settings": {k: v for k, v in vars(args).items() if not k.startswith("worker")},
        "notes": [
            "Corpora are synthetic articles of real news sentences resampled from the eval "
            "corpus, with real titles, outlets and dates; questions are real dev questions.",
            "Sizes above --real-vectors-upto use random unit vectors (float32, 384-d) for the "
            "dense side: exact search costs the same; the question itself is embedded by the "
            "real model, so embed time is real.",
            "Warm page cache: the corpus was just built or read on this machine.",
            "A size with tiled_from > 0 has an index that is the tiled_from corpus repeated "
            "(same postings per copy, same vectors), over that corpus's store: the index has "
            "the size's posting-list lengths and vector count, but build_snapshot was not run "
            "at that size and store lookups hit the smaller store.",
        ],
        "sizes": [],
    }

    previous = output_paths(args.tag)[0]
    if args.merge and previous.exists():
        before = json.loads(previous.read_text())
        results["sizes"] = [r for r in before.get("sizes", []) if r["size"] not in sizes]
        if "ingest" in before:
            results["ingest"] = before["ingest"]
        results["notes"].append(f"merged with results of {before.get('created')}")

    if not args.skip_ingest:
        log(f"ingest: ~{args.ingest_passages} real passages, {args.ingest_repeats} repeats")
        results["ingest"] = run_worker(
            "ingest", {"passages": args.ingest_passages, "repeats": args.ingest_repeats}
        )
        log(f"ingest: ratio {results['ingest']['ratio']:.3f}")
        finish(results)

    for size in sizes:
        vectors = "minilm" if size <= args.real_vectors_upto else "random"
        tiled = args.tile_from if args.tile_from and size > args.tile_from else 0
        spec = CorpusSpec(size, vectors, tiled_from=tiled)
        run = {"size": size, "vectors": vectors, "tiled_from": tiled, "build": ensure_corpus(spec)}
        results["sizes"].append(run)
        log(f"{size:,}: {args.queries} questions through quote_answer")
        run["query"] = run_worker(
            "query",
            {"size": size, "vectors": vectors, "tiled_from": tiled, "queries": args.queries},
            args.threads,
        )
        log(f"{size:,}: p50 {run['query']['total_ms']['p50']:.1f} ms")
        finish(results)

        if args.skip_rankbm25:
            run["rankbm25"] = {"skipped": "--skip-rankbm25"}
        elif size > args.rankbm25_max_size:
            run["rankbm25"] = {"skipped": f"--rankbm25-max-size {args.rankbm25_max_size}"}
        else:
            n = min(args.rankbm25_queries, args.queries)
            if size >= 1_000_000:
                n = min(n, 20)
            # Memory grows linearly: extrapolate from the largest size measured so far.
            measured = [r for r in results["sizes"] if "peak_rss_mb" in r.get("rankbm25", {})]
            per_passage, base = 0.012, 200.0  # MiB; a guess until something is measured
            if measured:
                last = max(measured, key=lambda r: r["size"])["rankbm25"]
                base = last["memory_mb"]["start"]["VmRSS"]
                per_passage = (last["peak_rss_mb"] - base) / last["corpus_size"]
            estimate = base + per_passage * size
            available = mem_available_mb()
            if estimate > 0.8 * available:
                run["rankbm25"] = {
                    "skipped": f"needs ~{estimate:,.0f} MiB, {available:,.0f} MiB available"
                }
            else:
                log(f"{size:,}: rank-bm25 on {n} questions (~{estimate:,.0f} MiB expected)")
                rb = run_worker(
                    "rankbm25",
                    {"size": size, "vectors": vectors, "tiled_from": tiled, "queries": n},
                    args.threads,
                )
                ours = run["query"]["per_question"][: rb["questions"]]
                rb["newsbot_same_questions_ms"] = {
                    "total": summarize([x["total"] for x in ours]),
                    "lexical": summarize([x["lexical"] for x in ours]),
                }
                rb["ratio"] = {
                    "vs_lexical_p50": rb["query_ms"]["p50"]
                    / rb["newsbot_same_questions_ms"]["lexical"]["p50"],
                    "vs_total_p50": rb["query_ms"]["p50"]
                    / rb["newsbot_same_questions_ms"]["total"]["p50"],
                }
                run["rankbm25"] = rb
                log(f"{size:,}: rank-bm25 p50 {rb['query_ms']['p50']:.1f} ms")
        finish(results)

    print_tables(results)
    print("\nwrote {} and {}".format(*output_paths(args.tag)))


if __name__ == "__main__":
    main()
