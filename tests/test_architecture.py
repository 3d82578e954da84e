"""Architecture contracts over the import graph, read from the source (nothing is imported).

- the engine (``index``) imports nothing from the front ends (``bot``), not even lazily;
- no import cycle anywhere in ``bot``, counting every import: module level, under
  ``TYPE_CHECKING`` and inside functions. An import inside a function cannot break start-up,
  but a cycle of any kind still ties the modules together for a reader (and for the next
  refactor), so ``cycles(..., lazy=True)`` is the contract and the stricter one;
- the feature packages of the Discord front end (``bot/discord/features/<feature>/``) import
  neither each other nor the client and services that wire them;
- every exception class is defined in its package's ``errors.py``;
- every module path ``docs/architecture.md`` names exists, and it names every package.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ARCHITECTURE_DOC = REPO / "docs" / "architecture.md"
PACKAGES = ("index", "bot")


@dataclass(frozen=True)
class Import:
    source: str  # importing module, e.g. bot.cli.ask
    target: str  # imported module, e.g. index.engine
    kind: str  # "module", "type_checking" or "function"
    # True for the package of a "from package import module", which runs the package first:
    # a cycle through it is a cycle, but it is not a second import of whatever the module is.
    package: bool = False


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports_of(tree: ast.AST, kind: str = "module") -> list[tuple[ast.AST, str]]:
    """Every import statement under ``tree`` with where it runs."""
    found: list[tuple[ast.AST, str]] = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append((node, kind))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            found += _imports_of(node, "function")
        elif isinstance(node, ast.If) and _is_type_checking(node.test) and kind == "module":
            for child in node.body:
                found += _imports_of(ast.Module(body=[child], type_ignores=[]), "type_checking")
            for child in node.orelse:
                found += _imports_of(ast.Module(body=[child], type_ignores=[]), kind)
        else:
            found += _imports_of(node, kind)
    return found


def _targets(
    node: ast.AST, source: str, is_package: bool, modules: set[str]
) -> list[tuple[str, bool]]:
    """(imported module, whether it is only the package of a "from package import module")."""
    if isinstance(node, ast.Import):
        return [(alias.name, False) for alias in node.names]
    assert isinstance(node, ast.ImportFrom)
    base = node.module or ""
    if node.level:
        parts = source.split(".")
        keep = len(parts) - node.level + (1 if is_package else 0)
        base = ".".join([*parts[:keep], *([base] if base else [])])
    # "from pkg import mod" imports the submodule pkg.mod (and runs pkg); "from mod import name"
    # imports mod.
    found = [
        (f"{base}.{alias.name}", False) if f"{base}.{alias.name}" in modules else (base, False)
        for alias in node.names
    ]
    # (a package importing its own submodules is already running: not an edge to itself)
    if base in modules and base != source and any(target != base for target, _ in found):
        found.append((base, True))
    return found


def import_graph(root: Path, packages: tuple[str, ...] = PACKAGES) -> list[Import]:
    files = {
        module_name(root, path): path for pkg in packages for path in (root / pkg).rglob("*.py")
    }
    modules = set(files)
    edges = []
    for source, path in sorted(files.items()):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, kind in _imports_of(tree):
            for target, package in _targets(node, source, path.name == "__init__.py", modules):
                edges.append(Import(source, target, kind, package))
    return edges


def cycles(edges: list[Import], within: str, *, lazy: bool = False) -> list[list[str]]:
    """Strongly connected groups of more than one module (or a self-import) under ``within``,
    through imports that run when the module is loaded or type-checked, and with ``lazy``
    through imports inside functions too."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        counted = lazy or e.kind != "function"
        if counted and _under(e.source, within) and _under(e.target, within):
            graph.setdefault(e.source, set()).add(e.target)
            graph.setdefault(e.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph[node]:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def feature_packages(root: Path, features: str = "bot/discord/features") -> list[str]:
    """Each package directly under ``features``: one feature of the front end."""
    base = root / features
    return sorted(
        module_name(root, d / "__init__.py")
        for d in base.iterdir()
        if d.is_dir() and (d / "__init__.py").exists()
    )


def cross_feature_imports(edges: list[Import], features: list[str]) -> list[Import]:
    def feature_of(module: str) -> str | None:
        return next((f for f in features if _under(module, f)), None)

    return [
        e
        for e in edges
        if not e.package
        and feature_of(e.source)
        and feature_of(e.target)
        and feature_of(e.source) != feature_of(e.target)
    ]


def _base_names(node: ast.ClassDef) -> set[str]:
    return {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}


def misplaced_errors(root: Path, packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """Exception classes (``module.Class``) defined outside their package's ``errors.py``.

    An exception class is one whose base is a built-in's name (``...Error``, ``...Exception``)
    or an exception class found so far, until no new one is found: source only, no import.
    """
    classes = [
        (module_name(root, path), path.name, node)
        for pkg in packages
        for path in sorted((root / pkg).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef)
    ]
    errors = {"BaseException"}
    while True:
        found = {
            node.name
            for _, _, node in classes
            if any(b in errors or b.endswith(("Error", "Exception")) for b in _base_names(node))
        } | errors
        if found == errors:
            break
        errors = found
    return [
        f"{module}.{node.name}"
        for module, file, node in classes
        if node.name in errors and file != "errors.py"
    ]


@pytest.fixture(scope="module")
def edges() -> list[Import]:
    return import_graph(REPO)


# -- the contracts ----------------------------------------------------------------------------


def test_the_graph_sees_every_kind_of_import(edges):
    """The checks below are only as good as the graph: it holds lazy and TYPE_CHECKING imports."""
    kinds = {e.kind for e in edges}
    assert kinds == {"module", "type_checking", "function"}
    assert Import("bot.cli", "bot.cli.answers", "module") in edges
    assert Import("bot.cli.common", "index.engine", "function") in edges
    assert Import("bot.cli.common", "index.engine", "type_checking") in edges


def test_the_engine_imports_nothing_from_the_front_ends(edges):
    assert [e for e in edges if _under(e.source, "index") and _under(e.target, "bot")] == []


def test_no_import_cycle_in_bot_outside_the_discord_front_end(edges):
    found = [c for c in cycles(edges, "bot") if not all(_under(m, "bot.discord") for m in c)]
    assert found == []


def test_no_import_cycle_in_the_discord_front_end(edges):
    assert cycles(edges, "bot.discord") == []


def test_no_import_cycle_anywhere_in_bot_not_even_through_imports_in_functions(edges):
    assert cycles(edges, "bot", lazy=True) == []


def test_discord_feature_packages_do_not_import_each_other(edges):
    features = feature_packages(REPO)
    assert len(features) >= 2, features  # the check means something only over several
    assert cross_feature_imports(edges, features) == []


def test_features_import_neither_the_client_nor_the_services_that_wire_them(edges):
    features = feature_packages(REPO)
    assert [f.rpartition(".")[2] for f in features] == ["browse", "feeds", "health", "questions"]
    wiring = ("bot.discord.client", "bot.discord.services", "bot.discord.serve")
    assert [
        e for e in edges if any(_under(e.source, f) for f in features) and e.target in wiring
    ] == []


def test_every_error_class_is_in_its_packages_errors_module():
    assert misplaced_errors(REPO) == []


def test_every_path_the_architecture_doc_names_exists():
    named = re.findall(r"`((?:index|bot|tests|bench|docs)/[\w/.-]*)`", ARCHITECTURE_DOC.read_text())
    assert len(set(named)) >= 20, named
    missing = [p for p in named if not (REPO / p).exists()]
    assert missing == []


def test_the_architecture_doc_names_every_package():
    text = ARCHITECTURE_DOC.read_text()
    packages = [
        d.relative_to(REPO).as_posix() + "/"
        for pkg in PACKAGES
        for d in [REPO / pkg, *(REPO / pkg).iterdir()]
        if d.is_dir() and (d / "__init__.py").exists()
    ]
    assert [p for p in packages if f"`{p}`" not in text] == []


# -- the checks can fail ----------------------------------------------------------------------


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_type_checking_cycle_is_found_and_a_lazy_one_is_not(tmp_path):
    root = _tree(
        tmp_path,
        {
            "bot/__init__.py": "",
            "bot/a.py": "from bot.b import B\n",
            "bot/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bot import a\n",
            "bot/c.py": "import bot.d\n",
            "bot/d.py": "def f():\n    from bot.c import x\n",
            "index/__init__.py": "",
        },
    )
    edges = import_graph(root)
    assert cycles(edges, "bot") == [["bot.a", "bot.b"]]
    assert Import("bot.b", "bot.a", "type_checking") in edges
    assert cycles(edges, "bot", lazy=True) == [["bot.a", "bot.b"], ["bot.c", "bot.d"]]


def test_a_cycle_through_the_package_of_a_from_import_is_found(tmp_path):
    """``from bot.p import m`` runs ``bot/p/__init__.py`` first: if that imports the importer,
    the two are a cycle, although no edge goes from the importer to ``bot.p`` by name."""
    root = _tree(
        tmp_path,
        {
            "bot/__init__.py": "",
            "bot/p/__init__.py": "from bot.p import user\n",
            "bot/p/user.py": "from bot.p import helper\n",
            "bot/p/helper.py": "",
            "index/__init__.py": "",
        },
    )
    edges = import_graph(root)
    assert Import("bot.p.user", "bot.p", "module", package=True) in edges
    assert cycles(edges, "bot") == [["bot.p", "bot.p.user"]]


def test_an_error_class_outside_an_errors_module_is_found(tmp_path):
    root = _tree(
        tmp_path,
        {
            "bot/__init__.py": "",
            "bot/errors.py": "class BotError(Exception):\n    pass\n",
            "bot/feeds.py": "from bot.errors import BotError\nclass Stopped(BotError):\n    pass\n"
            "class Refused(Stopped):\n    pass\nclass Poller:\n    pass\n",
            "index/__init__.py": "",
            "index/fetch.py": "class Timeout(TimeoutError):\n    pass\n",
        },
    )
    assert misplaced_errors(root) == [
        "index.fetch.Timeout",
        "bot.feeds.Stopped",
        "bot.feeds.Refused",
    ]


def test_relative_imports_and_cross_feature_imports_are_found(tmp_path):
    root = _tree(
        tmp_path,
        {
            "bot/__init__.py": "",
            "bot/discord/__init__.py": "",
            "bot/discord/features/__init__.py": "",
            "bot/discord/features/ask/__init__.py": "",
            "bot/discord/features/ask/cog.py": "from ..feeds import cog as feeds_cog\nfrom . import helpers\n",
            "bot/discord/features/ask/helpers.py": "",
            "bot/discord/features/feeds/__init__.py": "",
            "bot/discord/features/feeds/cog.py": "def f():\n    from index import engine\n",
            "index/__init__.py": "",
            "index/engine.py": "def g():\n    import bot.discord\n",
        },
    )
    edges = import_graph(root)
    features = feature_packages(root)
    assert features == ["bot.discord.features.ask", "bot.discord.features.feeds"]
    assert cross_feature_imports(edges, features) == [
        Import("bot.discord.features.ask.cog", "bot.discord.features.feeds.cog", "module")
    ]
    assert (
        Import("bot.discord.features.ask.cog", "bot.discord.features.ask.helpers", "module")
        in edges
    )
    assert Import("index.engine", "bot.discord", "function") in edges
