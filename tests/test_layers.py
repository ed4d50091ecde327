"""The import graph of tot's own modules has no cycles, function-level imports included: rules and search at
the bottom, the library API above them, the CLI and rendering on top."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"tot": ROOT / "tot", "tot.strategies": ROOT / "strategies", "tot.bench": ROOT / "benchmarks"}


def modules() -> dict[str, Path]:
    """Every module of tot as it installs (strategies/ is tot.strategies, benchmarks/ is tot.bench)."""
    found: dict[str, Path] = {}
    for package, folder in PACKAGES.items():
        for file in folder.rglob("*.py"):
            parts = list(file.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = file
    return found


def import_graph() -> networkx.DiGraph:
    known = modules()
    graph = networkx.DiGraph()
    graph.add_nodes_from(known)
    for name, file in known.items():
        package = name if file.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                source = ".".join([*base, *([node.module] if node.module else [])])
                targets = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source for alias in node.names]
            else:
                continue
            graph.add_edges_from((name, target) for target in targets if target in known and target != name)
    return graph


def test_the_graph_sees_function_level_imports() -> None:
    graph = import_graph()
    assert graph.has_edge("tot.cli.bench", "tot.bench.harness")  # imported inside a command function
    assert graph.has_edge("tot.api", "tot.strategies")  # `from tot import strategies` inside solve()


def test_tot_modules_import_each_other_without_cycles() -> None:
    # The package __init__ only re-exports the API; a module importing the package itself is not a layer breach.
    graph = import_graph()
    graph.remove_node("tot")
    cycles = sorted(networkx.simple_cycles(graph))
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join([*c, c[0]]) for c in cycles)


def test_the_rules_know_no_screen() -> None:
    graph = import_graph()
    rules = [m for m in graph if m.startswith(("tot.tasks", "tot.strategies", "tot.core", "tot.evaluators", "tot.tree"))]
    screens = {m for m in graph if m == "tot.cli" or m.startswith("tot.cli.")} | {"tot.render", "tot.render_crossword"}
    for module in rules:
        assert not screens & set(networkx.descendants(graph, module)), module
