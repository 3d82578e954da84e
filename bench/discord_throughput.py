"""Discord bot throughput: bursts of concurrent /ask against the loopback fake Discord.

The real NewsBot (worker pool, rendering, discord.py's HTTP and gateway) answers a burst of N
/ask interactions from N members over the bundled sample. For each burst size it reports the
wall time, answers per second, the time from dispatch to the deferral (Discord wants it
within 3 s) and to the answer (p50 / p95 / max), the worst event-loop lag seen by a 20 ms
ticker, and the heartbeats acknowledged meanwhile (fake heartbeat interval: 100 ms).

Nothing leaves 127.0.0.1. Run from the repository root:

    python bench/discord_throughput.py --bursts 1,10,50,100 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the fake Discord and the bot harness live under tests/
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from index.config import EngineConfig  # noqa: E402
from index.engine import Engine  # noqa: E402
from tests.discord.harness import SHANGRI_LA, bot_settings, running_bot  # noqa: E402
from tests.support.fake_discord import FakeDiscord  # noqa: E402

SAMPLE_DIR = ROOT / "bot" / "samples"


async def burst(engine: Engine, data_dir: Path, size: int, workers: int) -> dict[str, float]:
    async with FakeDiscord(heartbeat_interval_ms=100) as fake:
        settings = bot_settings(data_dir, workers=workers, queue_limit=max(100, size))
        async with running_bot(fake, engine, settings):
            await fake.wait_for_heartbeats(2, timeout=10)
            payloads = [
                fake.slash_command_payload(
                    "ask", {"question": SHANGRI_LA}, user=fake.make_user(username=f"u{i}")
                )
                for i in range(size)
            ]
            worst_lag = 0.0

            async def ticker() -> None:
                nonlocal worst_lag
                while True:
                    before = time.perf_counter()
                    await asyncio.sleep(0.02)
                    worst_lag = max(worst_lag, time.perf_counter() - before - 0.02)

            tick = asyncio.create_task(ticker())
            beats_before = fake.heartbeat_acks_sent
            sent: dict[str, float] = {}
            started = time.monotonic()
            for payload in payloads:
                sent[payload["token"]] = time.monotonic()
                await fake.dispatch("INTERACTION_CREATE", payload)
            await fake.wait_until(
                lambda: len(fake.requests_to("POST", "/webhooks/**")) >= size,
                timeout=600,
                what=f"{size} answers",
            )
            elapsed = time.monotonic() - started
            tick.cancel()
            beats = fake.heartbeat_acks_sent - beats_before

    # /interactions/{id}/{token}/callback is the deferral, /webhooks/{app}/{token} the answer.
    acks = [r.at - sent[r.path.split("/")[3]] for r in fake.requests_to("POST", "/interactions/**")]
    answers = [r.at - sent[r.path.split("/")[3]] for r in fake.requests_to("POST", "/webhooks/**")]
    return {
        "n": size,
        "seconds": elapsed,
        "per_s": size / elapsed,
        "ack_max": max(acks),
        "p50": statistics.median(answers),
        "p95": sorted(answers)[max(0, int(len(answers) * 0.95) - 1)],
        "max": max(answers),
        "lag_ms": worst_lag * 1000,
        "beats": beats,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bursts", default="1,10,50,100", help="comma-separated burst sizes")
    parser.add_argument("--workers", type=int, default=2, help="NEWSBOT_WORKERS")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sizes = [int(s) for s in args.bursts.split(",") if s.strip()]

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        with Engine(EngineConfig(data_dir=data)) as engine:
            engine.ingest_paths([SAMPLE_DIR])
            engine.quote_answer(SHANGRI_LA)  # load the model before measuring
            rows = [await burst(engine, data, n, args.workers) for n in sizes]

    print(f"workers={args.workers}, cpus={os.cpu_count()}, sample corpus, fake heartbeat 100 ms")
    header = (
        f"{'burst':>5} {'wall s':>7} {'ans/s':>6} {'ack max s':>9} {'p50 s':>6} "
        f"{'p95 s':>6} {'max s':>6} {'loop lag ms':>11} {'heartbeats':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['n']:>5} {r['seconds']:>7.2f} {r['per_s']:>6.1f} {r['ack_max']:>9.3f} "
            f"{r['p50']:>6.2f} {r['p95']:>6.2f} {r['max']:>6.2f} {r['lag_ms']:>11.1f} "
            f"{r['beats']:>10}"
        )


if __name__ == "__main__":
    asyncio.run(main())
