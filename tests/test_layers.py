"""The package's layers import downward only, and no module imports itself back through others.

Every import counts: at module level, inside functions and under TYPE_CHECKING, since a
function-local import hides a cycle without removing it. docs/architecture.md draws the layers.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "freqai_seq"

#: rank of each room, lowest first: a module may import its own rank or a lower one
LAYERS: tuple[tuple[str, ...], ...] = (
    ("", "errors", "atomic", "defaults", "json_files", "paths", "redaction", "labels",
     "processes", "compat", "checkpoints", "run_fingerprint"),
    ("data",),
    ("market",),
    ("model",),
    ("strategy",),
    # what users' files import by path: loader files, pickled models' loaders
    ("freqaimodels", "strategies", "sequence_model", "ensemble"),
    ("runs",),
    ("evaluation",),
    ("cli",),
)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_files(root: Path) -> dict[str, Path]:
    return {module_name(path, root): path for path in sorted(root.rglob("*.py"))}


def imports_of(name: str, path: Path, modules: set[str]) -> set[str]:
    """The package's modules `name` imports anywhere in its file."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                       for alias in node.names]
        else:
            continue
        found.update(target for target in targets if target in modules and target != name)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    files = module_files(root)
    return {name: imports_of(name, path, set(files)) for name, path in files.items()}


def rank(module: str, root_name: str) -> int:
    room = module.removeprefix(root_name).removeprefix(".").split(".")[0]
    for index, rooms in enumerate(LAYERS):
        if room in rooms:
            return index
    raise AssertionError(f"{module} is in no layer: add its room to LAYERS")


def upward_imports(graph: dict[str, set[str]], root_name: str) -> list[str]:
    return sorted(f"{source} -> {target}" for source, targets in graph.items()
                  for target in targets if rank(target, root_name) > rank(source, root_name))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while (member := stack.pop()) != node:
                group.append(member)
            if group:
                found.append(sorted([node, *group]))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_import_points_down_the_layers_and_none_closes_a_cycle() -> None:
    graph = import_graph(PACKAGE)
    assert len(graph) > 100
    assert upward_imports(graph, PACKAGE.name) == []
    assert cycles(graph) == []


def test_an_upward_import_and_a_hidden_cycle_are_caught(tmp_path: Path) -> None:
    copy = tmp_path / PACKAGE.name
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    windowing = copy / "model" / "windowing.py"
    windowing.write_text(windowing.read_text()
                         + "\n\ndef _f():\n    from freqai_seq.cli import main  # noqa\n")
    graph = import_graph(copy)
    assert "freqai_seq.model.windowing -> freqai_seq.cli.main" in upward_imports(graph, copy.name)
    assert any("freqai_seq.model.windowing" in group for group in cycles(graph))
