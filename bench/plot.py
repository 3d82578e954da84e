"""The scale plot: latency and memory against corpus size, newsbot beside rank-bm25."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def plot_scale(results: dict, path: Path) -> None:
    runs = sorted(results["sizes"], key=lambda r: r["size"])
    targets = results["targets"]
    fig, (lat, mem) = plt.subplots(1, 2, figsize=(12, 4.8))

    def series(key_path: tuple[str, ...], runs=runs) -> tuple[list[int], list[float]]:
        xs, ys = [], []
        for r in runs:
            value = r
            for key in key_path:
                value = value.get(key) if isinstance(value, dict) else None
            if isinstance(value, int | float):
                xs.append(r["size"])
                ys.append(value)
        return xs, ys

    for label, key, style in [
        ("newsbot quote_answer p50", ("query", "total_ms", "p50"), "o-"),
        ("newsbot quote_answer p95", ("query", "total_ms", "p95"), "s-"),
        ("newsbot quote_answer CPU p50", ("query", "process_cpu_ms", "p50"), "D-"),
        ("newsbot lexical stage p50", ("query", "stages_ms", "lexical", "p50"), "^:"),
        ("newsbot dense stage p50", ("query", "stages_ms", "dense", "p50"), "v:"),
        ("rank-bm25 scoring p50", ("rankbm25", "query_ms", "p50"), "o--"),
        ("rank-bm25 scoring p95", ("rankbm25", "query_ms", "p95"), "s--"),
    ]:
        xs, ys = series(key)
        if xs:
            lat.plot(xs, ys, style, label=label)
    lat.axhline(targets["p50_ms"], color="grey", lw=0.8, ls="-.")
    lat.axhline(targets["p95_ms"], color="grey", lw=0.8, ls="-.")
    lat.text(runs[0]["size"], targets["p50_ms"], " p50 target", va="bottom", fontsize=8)
    lat.text(runs[0]["size"], targets["p95_ms"], " p95 target", va="bottom", fontsize=8)
    lat.set_xscale("log")
    lat.set_yscale("log")
    lat.set_xlabel("passages")
    lat.set_ylabel("ms per question (warm)")
    lat.set_title("Latency")
    lat.legend(fontsize=8)
    lat.grid(True, which="both", alpha=0.3)

    for label, key, style in [
        ("newsbot VmRSS after load", ("query", "memory_mb", "after_load", "VmRSS"), "o-"),
        ("newsbot VmRSS after queries", ("query", "memory_mb", "after_queries", "VmRSS"), "s-"),
        ("newsbot peak (ru_maxrss)", ("query", "memory_mb", "peak_rss"), "^:"),
        ("snapshot build peak", ("build", "build_peak_rss_mb"), "v:"),
        ("rank-bm25 peak (ru_maxrss)", ("rankbm25", "peak_rss_mb"), "o--"),
    ]:
        xs, ys = series(key)
        if xs:
            mem.plot(xs, [y / 1024 for y in ys], style, label=label)
    mem.axhline(targets["rss_mb"] / 1024, color="grey", lw=0.8, ls="-.")
    mem.text(runs[0]["size"], targets["rss_mb"] / 1024, " memory target", va="bottom", fontsize=8)
    mem.set_xscale("log")
    mem.set_xlabel("passages")
    mem.set_ylabel("GiB resident")
    mem.set_title("Memory")
    mem.legend(fontsize=8)
    mem.grid(True, which="both", alpha=0.3)

    vectors = ", ".join(
        f"{r['size']:,}: {r['vectors']}"
        + (
            f" (index = {r['tiled_from']:,} x{r['size'] // r['tiled_from']})"
            if r.get("tiled_from")
            else ""
        )
        for r in runs
    )
    fig.suptitle(
        f"newsbot scale on {results['machine']['cpus']} cores (dense vectors: {vectors})",
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
