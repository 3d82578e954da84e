"""The shape of the Discord front end, checked over the import graph of ``bot/``.

Every import counts: module level, inside functions, and under ``TYPE_CHECKING``, because a
type-only cycle still ties the modules together for a reader (and for the next refactor).
"""

from __future__ import annotations

import ast
from pathlib import Path

import bot

BOT = Path(bot.__file__).parent
FEATURES = "bot.discord.features"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(BOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def bot_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(BOT.rglob("*.py"))}


def imported(path: Path, name: str, known: set[str]) -> set[str]:
    """The ``bot`` modules ``path`` (module ``name``) imports anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {m for m in found if m in known and m != name}


def import_graph() -> dict[str, set[str]]:
    modules = bot_modules()
    known = set(modules)
    return {name: imported(path, name, known) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def feature_of(module: str) -> str | None:
    if not module.startswith(FEATURES + "."):
        return None
    return module.split(".")[3]


def test_no_import_cycle_anywhere_in_bot() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_type_only_cycle(tmp_path: Path) -> None:
    a = tmp_path / "a.py"
    a.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bot.b import B\n")
    assert imported(a, "bot.a", {"bot.a", "bot.b"}) == {"bot.b"}
    assert cycles({"bot.a": {"bot.b"}, "bot.b": {"bot.a"}, "bot.c": set()}) == [["bot.a", "bot.b"]]


def test_features_import_neither_each_other_nor_the_client_or_the_engine_services() -> None:
    graph = import_graph()
    features = {feature_of(m) for m in graph} - {None}
    assert features == {"questions", "browse", "feeds", "health"}
    crossings = [
        (module, target)
        for module, targets in graph.items()
        if feature_of(module) is not None
        for target in targets
        if (feature_of(target) not in (None, feature_of(module)))
        or target in ("bot.discord.client", "bot.discord.services", "bot.discord.serve")
    ]
    assert crossings == []
