"""The one-shot commands start without the heavy libraries: torch and sentence-transformers
(seconds to import; the ONNX copy embeds questions), numba (bm25s's compiler) and
trafilatura (only reading a web page needs it)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from index.onnx_encoder import OnnxEncoder

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "sentence_transformers", "transformers", "numba", "trafilatura")
# `newsbot --help` runs no command and not the settings callback: it needs neither numpy nor
# the settings' pydantic (together ~0.15 s of a ~0.4 s help on a quiet 2-core machine).
HELP_ONLY = ("numpy", "pydantic", "pydantic_settings", "bot.settings")

# Runs one command line in a fresh interpreter, then reports which heavy modules it loaded.
RUN = """
import json, sys
heavy = {heavy!r}
sys.argv = ["newsbot", *json.loads(sys.argv[1])]
from bot.cli import main
try:
    main()
    code = 0
except SystemExit as exc:
    code = exc.code or 0
print()
print(json.dumps({{"code": code, "loaded": [m for m in heavy if m in sys.modules]}}))
"""


def run_cli(
    *args: str, env: dict[str, str] | None = None, heavy: tuple[str, ...] = HEAVY
) -> tuple[int, list[str], str]:
    """(exit code, heavy modules loaded, output) of ``newsbot ARGS`` in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", RUN.format(heavy=heavy), json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
    )
    *output, last = done.stdout.rstrip("\n").split("\n")
    report = json.loads(last)
    return report["code"], report["loaded"], "\n".join(output) + done.stderr


def test_importing_the_command_line_loads_no_heavy_library():
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys, bot.cli; print([m for m in {HEAVY!r} if m in sys.modules])",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_help_config_and_healthcheck_load_no_heavy_library(tmp_path):
    code, loaded, output = run_cli("--help", heavy=HEAVY + HELP_ONLY)
    assert (code, loaded) == (0, []) and "ask" in output
    code, loaded, output = run_cli("--data-dir", str(tmp_path), "config")
    assert (code, loaded) == (0, []) and "NEWSBOT_DATA_DIR" in output
    port = {"NEWSBOT_HEALTH_PORT": str(_free_port())}
    code, loaded, output = run_cli("--data-dir", str(tmp_path), "healthcheck", env=port)
    assert (code, loaded) == (1, []) and "unhealthy" in output


def test_a_one_shot_question_is_answered_without_torch(sample_engine, encoder):
    # The store and the ONNX copy exist, as after `newsbot ingest`.
    assert isinstance(encoder.backend, OnnxEncoder)
    data = str(sample_engine.config.data_dir)
    sample_engine.close()
    code, loaded, output = run_cli("--data-dir", data, "ask", "When is the Shangri-La Dialogue?")
    assert (code, loaded) == (0, []), output
    assert "June 2 to 4" in output
    code, loaded, output = run_cli("--data-dir", data, "headlines")
    assert (code, loaded) == (0, []) and "Japan, South Korea" in output, output
    code, loaded, output = run_cli("--data-dir", data, "stats")
    assert (code, loaded) == (0, []) and "passages" in output, output


def test_bm25s_imports_numba_only_for_an_index_that_compiles_its_kernels(sample_engine):
    """A small index loads without numba; a large one in the same process still gets the
    kernels (bm25s is imported again, with numba) and both answer alike."""
    index_dir = sample_engine.config.index_dir
    script = f"""
import sys
from pathlib import Path
from index.lexical import LexicalIndex
bm25 = sorted(Path({str(index_dir)!r}).glob("gen-*/bm25"))[-1]
small = LexicalIndex.load(bm25, numba_from=10**9)
before = small.search(["shangri"], 3)
print("numba" in sys.modules, small._bm25.backend)
large = LexicalIndex.load(bm25, numba_from=0)
print("numba" in sys.modules, large._bm25.backend)
after = [index.search(["shangri"], 3) for index in (small, large)]
print(all(str(a) == str(before) for a in after))
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:3] == ["False numpy", "True numba", "True"]
