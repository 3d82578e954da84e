"""An int8 copy of the embedding model, measured rather than assumed (issue 21, item 4).

Ingest is bound by the encoder, and a dynamically quantized copy (onnxruntime's
``quantize_dynamic``, int8 weights) of the engine's verified fp32 ONNX copy might embed faster.
It would be offered only if quality barely moves: dev Hits@10, MRR@10 and quote hit within
0.01 of fp32, chat-style answers within 0.02. The int8 copy embeds passages AND questions, so
both sides drift together. This script reports its vectors' cosine to fp32 on dev questions
and passage windows, both copies' encode speed on the same windows (interleaved, median of 3),
the time to ingest the dev corpus with int8, and the harness's figures on the dev set and the
chat-style set; with ``--fp32-dev``/``--fp32-chat`` (``newsbot eval`` report.json files of the
fp32 store) it sets fp32's figures beside them and checks the bar.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/int8.py [--texts 300] \
        [--fp32-dev REPORT.json] [--fp32-chat REPORT.json]

The quantized copy lives in a temporary directory, never in the repo or the model cache.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bot.eval.harness import load_questions, run_eval
from index.config import EngineConfig
from index.dense import Encoder
from index.engine import Engine, dense_texts
from index.model import Article
from index.onnx_encoder import ONNX_FILE, OnnxEncoder
from index.segment import pack_passages
from index.sources import read_sources

REPO = Path(__file__).resolve().parent.parent
EVAL = REPO.parent / "shared" / "eval"
CORPUS = EVAL / "newsqa-corpus.jsonl"
SETS = {"dev": EVAL / "newsqa-dev.jsonl", "chat": REPO / "bench" / "chat-questions.jsonl"}
METRICS = (
    "hits_at_10",
    "mrr_at_10",
    "quote_hit_rate",
    "answer_first_rate",
    "answer_any_rate",
    "highlight_rate",
    "abstention_rate",
    "false_abstention_rate",
)
# The bar: (set, metrics, largest drop allowed against fp32).
BAR = (
    ("dev", ("hits_at_10", "mrr_at_10", "quote_hit_rate"), 0.01),
    ("chat", ("answer_first_rate", "answer_any_rate", "highlight_rate"), 0.02),
)


class FixedEncoder(Encoder):
    """The engine's ``Encoder`` (windows, spans, batching) over a given ONNX backend."""

    def __init__(self, backend: OnnxEncoder) -> None:
        super().__init__(batch_size=backend.batch_size)
        self._fixed = backend

    def _choose_backend(self) -> OnnxEncoder:
        return self._fixed


def quantized(fp32: OnnxEncoder, workdir: Path) -> OnnxEncoder:
    """A copy of ``fp32``'s model with int8 weights (activations quantized per batch)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(fp32.directory / ONNX_FILE, workdir / ONNX_FILE, weight_type=QuantType.QInt8)
    return OnnxEncoder(workdir, fp32.spec, fp32.batch_size)


def sample_texts(n: int) -> dict[str, list[str]]:
    """``n`` dev questions and ``n`` passage windows (headline + sentences, as the engine
    embeds them), each spread evenly over its file."""
    questions, _ = load_questions(SETS["dev"])
    windows = [
        text
        for item in read_sources([CORPUS])
        if isinstance(item, Article)
        for span in pack_passages(item.body, EngineConfig().passage_words)
        for text in dense_texts(item, span)
    ]
    return {"questions": spread([q.question for q in questions], n), "passages": spread(windows, n)}


def spread(items: list[str], n: int) -> list[str]:
    return [items[i] for i in np.linspace(0, len(items) - 1, min(n, len(items))).astype(int)]


def agreement(fp32: OnnxEncoder, int8: OnnxEncoder, texts: list[str]) -> dict[str, float]:
    """Cosines between the two copies' unit vectors of the same texts."""
    cos = np.sum(fp32.encode(texts) * int8.encode(texts), axis=1)
    return {
        "n": len(texts),
        "mean": float(cos.mean()),
        "p1": float(np.percentile(cos, 1)),
        "min": float(cos.min()),
    }


def encode_speed(encoders: dict[str, OnnxEncoder], texts: list[str], runs: int = 3) -> dict:
    """Texts/s of each encoder over the same texts, runs interleaved, median of ``runs``."""
    seconds: dict[str, list[float]] = {name: [] for name in encoders}
    for _, (name, encoder) in itertools.product(range(runs), encoders.items()):
        started = time.perf_counter()
        encoder.encode(texts)
        seconds[name].append(time.perf_counter() - started)
    return {
        f"{name}_passages_per_s": len(texts) / statistics.median(s) for name, s in seconds.items()
    }


def ingest_and_eval(encoder: Encoder) -> dict:
    """Ingest the dev corpus into a fresh data dir with ``encoder``, then answer both sets."""
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="newsbot-int8-") as tmp:
        config = EngineConfig(data_dir=Path(tmp)).for_many_questions()
        with Engine(config, encoder) as engine:
            started = time.perf_counter()
            report = engine.ingest_paths([CORPUS])
            seconds = time.perf_counter() - started
            out["ingest"] = {
                "seconds": round(seconds, 1),
                "articles": report.added + report.updated,
                "passages": report.passages,
                "passages_per_s": round(report.passages / seconds, 1),
            }
            for name, path in SETS.items():
                questions, _ = load_questions(path)
                summary = run_eval(engine, questions, ["hybrid"]).summary()["hybrid"]["all"]
                out[name] = {m: summary[m] for m in METRICS}
    return out


def fp32_figures(paths: dict[str, Path | None]) -> dict[str, dict]:
    """``results.hybrid.all`` of the fp32 store's ``newsbot eval`` reports, per set given."""
    figures = {}
    for name, path in paths.items():
        if path is not None:
            summary = json.loads(path.read_text())["results"]["hybrid"]["all"]
            figures[name] = {m: summary[m] for m in METRICS}
    return figures


def verdict(int8: dict, fp32: dict) -> dict | None:
    """Each barred figure's drop against fp32 and whether all stay within the bar."""
    if not all(name in fp32 for name, _, _ in BAR):
        return None
    drops = {
        f"{name}.{m}": round(fp32[name][m] - int8[name][m], 4)
        for name, metrics, _ in BAR
        for m in metrics
    }
    ok = all(fp32[n][m] - int8[n][m] <= limit + 1e-9 for n, ms, limit in BAR for m in ms)
    return {"drops": drops, "meets_bar": ok}


def print_table(result: dict) -> None:
    for kind, c in result["cosine"].items():
        print(
            f"cosine int8 vs fp32, {c['n']} {kind}: mean {c['mean']:.4f}, "
            f"1st percentile {c['p1']:.4f}, min {c['min']:.4f}"
        )
    speed = result["encode"]
    print(
        f"encode (same passages, median of 3): fp32 {speed['fp32_passages_per_s']:.1f}/s, "
        f"int8 {speed['int8_passages_per_s']:.1f}/s ({speed['speedup']:.2f}x)"
    )
    for name, run in (("int8", result), ("fp32", result.get("fp32_same_run"))):
        if run is not None:
            ing = run["ingest"]
            print(
                f"{name} ingest: {ing['articles']} articles, {ing['passages']} passages in "
                f"{ing['seconds']} s ({ing['passages_per_s']} passages/s)"
            )
    refs = {"fp32 rep": result["fp32"], "fp32 run": result.get("fp32_same_run")}
    refs = {k: v for k, v in refs.items() if v}
    print(f"\n{'hybrid':<22}" + "".join(f"{n + ' int8':>14}" + _ref_cells(n, refs) for n in SETS))
    for m in METRICS:
        cells = ""
        for n in SETS:
            cells += f"{_num(result[n][m]):>14}" + _ref_cells(n, refs, m, result[n][m])
        print(f"{m:<22}{cells}")
    if result["verdict"] is not None:
        print(f"\nmeets the issue's bar: {result['verdict']['meets_bar']}")


def _ref_cells(name: str, refs: dict, metric: str | None = None, int8: float | None = None) -> str:
    """Each reference's figure and int8's difference from it (headers without ``metric``)."""
    if metric is None:
        return "".join(f"{name + ' ' + label:>14}{'diff':>8}" for label in refs)
    cells = ""
    for ref in refs.values():
        value = ref.get(name, {}).get(metric)
        diff = "-" if value is None or int8 is None else f"{int8 - value:+.4f}"
        cells += f"{_num(value):>14}{diff:>8}"
    return cells


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=300, help="questions and passages to compare")
    parser.add_argument("--fp32-dev", type=Path, help="newsbot eval report.json, dev set, fp32")
    parser.add_argument("--fp32-chat", type=Path, help="the same for the chat-style set")
    parser.add_argument(
        "--fp32-control", action="store_true", help="also ingest and answer with fp32 here"
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "int8.json")
    args = parser.parse_args()
    fp32 = Encoder().backend
    if not isinstance(fp32, OnnxEncoder):
        raise SystemExit("the engine's encoder is not the ONNX copy: nothing to quantize")
    with tempfile.TemporaryDirectory(prefix="newsbot-int8-model-") as workdir:
        int8 = quantized(fp32, Path(workdir))
        texts = sample_texts(args.texts)
        result: dict = {"fp32_model": str(fp32.directory / ONNX_FILE)}
        result["cosine"] = {kind: agreement(fp32, int8, t) for kind, t in texts.items()}
        speed = encode_speed({"fp32": fp32, "int8": int8}, texts["passages"])
        speed["speedup"] = speed["int8_passages_per_s"] / speed["fp32_passages_per_s"]
        result["encode"] = speed
        result |= ingest_and_eval(FixedEncoder(int8))
    if args.fp32_control:
        result["fp32_same_run"] = ingest_and_eval(FixedEncoder(fp32))
    result["fp32"] = fp32_figures({"dev": args.fp32_dev, "chat": args.fp32_chat})
    result["verdict"] = verdict(result, result["fp32"] or result.get("fp32_same_run", {}))
    print_table(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
