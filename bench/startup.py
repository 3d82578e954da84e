"""Start-up budget: the wall time of the commands a person, a script or a container restart
pays for, each beside ``python -c "import numpy"`` (the floor: an interpreter that loads
one compiled library) in the same run.

    python bench/startup.py [--runs 5] [--dev-store DATA_DIR] [--no-serve] [--out FILE.json]
    python bench/startup.py --only --help --baseline ../main --runs 15   # before/after

``--only`` keeps the named variants (and the floor); ``--baseline DIR`` also runs each
command variant from another checkout (its code on PYTHONPATH, same interpreter), in the
same interleaving, as ``NAME [baseline]``: a change measured against the code before it.

Variants run interleaved (run 1 of each, then run 2 of each, ...) so a machine that gets
busier part-way slows all of them alike; the table gives medians. ``ask (sample)`` runs over
the bundled sample, ingested first into a temporary data directory (which also exports the
model's ONNX copy, as a first ``newsbot ingest`` does). ``serve`` is the time from starting
``newsbot serve`` until its /healthz answers 200, that is the loopback fake Discord's gateway
identified it and the index is loaded. Targets (issue 21): --help <= 0.5 s, ask on the
sample <= 1.5 s and on the dev store <= 2 s, serve ready <= 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

QUESTION = "When is the Shangri-La Dialogue?"
CLI = [sys.executable, "-c", "from bot.cli import main; main()"]
TARGETS = {"--help": 0.5, "ask (sample)": 1.5, "ask (dev store)": 2.0, "serve ready": 5.0}


def environment(data_dir: Path | None = None, repo: Path = REPO) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(repo), "HF_HUB_OFFLINE": "1"}
    env["TRANSFORMERS_OFFLINE"] = "1"
    if data_dir is not None:
        env["NEWSBOT_DATA_DIR"] = str(data_dir)
    return env


def timed_command(argv: list[str], env: dict[str, str]) -> Callable[[], float]:
    """Runs in the checkout on PYTHONPATH: ``python -c`` puts the working directory first on
    sys.path, so a baseline run from this one would import this code."""

    def run() -> float:
        started = time.perf_counter()
        done = subprocess.run(
            argv, env=env, cwd=env["PYTHONPATH"], capture_output=True, text=True, timeout=600
        )
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv[3:])}: exit {done.returncode}\n{done.stderr[-2000:]}")
        return elapsed

    return run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


async def _serve_once(data_dir: Path) -> float:
    """Seconds from starting ``newsbot serve`` until /healthz says ready."""
    from tests.support.fake_discord import FakeDiscord

    port = _free_port()
    async with FakeDiscord(patch_endpoints=False) as fake:
        env = environment(data_dir) | {
            "DISCORD_TOKEN": "bench.token.not-a-secret",
            "NEWSBOT_DISCORD_API_BASE": fake.api_base,
            "NEWSBOT_DISCORD_GATEWAY_URL": fake.gateway_url,
            "NEWSBOT_HEALTH_HOST": "127.0.0.1",
            "NEWSBOT_HEALTH_PORT": str(port),
        }
        env.pop("DISCORD_TOKEN_FILE", None)
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            *CLI,
            "serve",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            while not await asyncio.to_thread(_healthy, port):
                if proc.returncode is not None or time.perf_counter() - started > 300:
                    err = (await proc.stderr.read()).decode(errors="replace")  # type: ignore[union-attr]
                    raise SystemExit(f"serve never became ready:\n{err[-2000:]}")
                await asyncio.sleep(0.02)
            ready = time.perf_counter() - started
        finally:
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
    return ready


def variants(
    sample: Path, dev_store: Path | None, serve: bool, baseline: Path | None = None
) -> dict[str, Callable[[], float]]:
    floor = [sys.executable, "-c", "import numpy"]
    commands = {
        "--help": ["--help"],
        "ask (sample)": ["--data-dir", str(sample), "ask", QUESTION],
    }
    if dev_store is not None:
        commands["ask (dev store)"] = ["--data-dir", str(dev_store), "ask", QUESTION]
    found: dict[str, Callable[[], float]] = {
        "import numpy (floor)": timed_command(floor, environment())
    }
    for name, args in commands.items():
        found[name] = timed_command([*CLI, *args], environment())
        if baseline is not None:
            found[f"{name} [baseline]"] = timed_command([*CLI, *args], environment(repo=baseline))
    if serve:
        found["serve ready"] = lambda: asyncio.run(_serve_once(sample))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each variant (>= 3)")
    parser.add_argument("--dev-store", type=Path, help="a data directory holding the dev corpus")
    parser.add_argument("--no-serve", action="store_true", help="skip the serve start")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "startup.json")
    parser.add_argument(
        "--only",
        action="append",
        metavar="VARIANT",
        help="only this variant (repeatable; e.g. --only=--help); the floor always runs",
    )
    parser.add_argument(
        "--baseline", type=Path, help="also run the commands from this checkout, interleaved"
    )
    args = parser.parse_args()
    if args.runs < 3:
        parser.error("--runs: at least 3, for a median")
    with tempfile.TemporaryDirectory(prefix="newsbot-startup-") as tmp:
        sample = Path(tmp) / "sample"
        needs_sample = not args.only or any(v in args.only for v in ("ask (sample)", "serve ready"))
        if needs_sample:
            timed_command([*CLI, "--data-dir", str(sample), "ingest", "--sample"], environment())()
        chosen = variants(sample, args.dev_store, not args.no_serve, args.baseline)
        if args.only:
            unknown = set(args.only) - {n.removesuffix(" [baseline]") for n in chosen}
            if unknown:
                parser.error(f"--only: no variant {', '.join(sorted(unknown))}")
            chosen = {
                name: measure
                for name, measure in chosen.items()
                if name == "import numpy (floor)" or name.removesuffix(" [baseline]") in args.only
            }
        times: dict[str, list[float]] = {name: [] for name in chosen}
        for run in range(args.runs):
            for name, measure in chosen.items():
                times[name].append(measure())
            print(f"run {run + 1}/{args.runs} done", file=sys.stderr)
    report(times, args.out)


def report(times: dict[str, list[float]], out: Path) -> None:
    floor = statistics.median(times["import numpy (floor)"])
    rows = []
    print(
        f"{'variant':<27} {'median s':>9} {'min':>6} {'max':>6} {'- floor':>8} {'target':>7}"
        f" {'/ baseline':>10}"
    )
    for name, values in times.items():
        median = statistics.median(values)
        target = TARGETS.get(name.removesuffix(" [baseline]"))
        base = times.get(f"{name} [baseline]")
        ratio = median / statistics.median(base) if base else None
        rows.append(
            {
                "variant": name,
                "median_s": round(median, 3),
                "runs_s": values,
                "over_floor_s": round(median - floor, 3),
                "target_s": target,
                "ratio_to_baseline": None if ratio is None else round(ratio, 3),
            }
        )
        print(
            f"{name:<27} {median:>9.2f} {min(values):>6.2f} {max(values):>6.2f} "
            f"{median - floor:>8.2f} {'' if target is None else f'<= {target}':>7}"
            f" {'' if ratio is None else f'{ratio:.2f}x':>10}"
        )
    meta = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "runs": len(next(iter(times.values()))),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
