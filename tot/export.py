"""A search result as files: the saved result (`tot solve --json`), an HTML page of its tree, a graph file.

Everything here works on the saved form, the dict `--json` prints, so a result written on one machine is
viewed and exported on another. Loading one is reading data: nothing in the file is run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tot.core import Result
from tot.errors import InputError

Data = dict[str, Any]

GRAPH_FORMATS = (".graphml", ".gexf", ".json")


def result_data(result: Result, task: Any, puzzle: str) -> Data:
    """What `tot solve --json` prints: `Result.as_dict()` and the task's own account of it (crossword: grid, metrics)."""
    report: Callable[[str, Result], Mapping[str, Any]] | None = getattr(task, "report", None)
    return {**result.as_dict(), **(report(puzzle, result) if report is not None else {})}


def load(path: str | os.PathLike[str]) -> Data:
    """The result saved in `path` by `tot solve --json` (`-` reads standard input), checked to be one."""
    import sys

    name = "standard input" if str(path) == "-" else str(path)
    try:
        text = sys.stdin.read() if str(path) == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read {name}: {getattr(error, 'strerror', None) or error}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"{name} is not a result saved by `tot solve --json`: not JSON ({error.msg}, line {error.lineno})") from None
    problem = _problem(data)
    if problem:
        raise InputError(f"{name} is not a result saved by `tot solve --json`: {problem}")
    return data  # type: ignore[no-any-return]


_NUMBER = (int, float)
_NODE_FIELDS: dict[str, Any] = {
    "id": int, "state": str, "thought": str, "prior": _NUMBER, "visits": int, "depth": int, "status": str, "goal": bool,
}
_OPTIONAL_NODE_FIELDS: dict[str, Any] = {"parent": int, "value": _NUMBER, "expanded_at": int}
_RESULT_FIELDS: dict[str, Any] = {
    "strategy": str, "solved": bool, "path": list, "stop_reason": str, "usage": dict, "config": dict, "tree": dict,
}


def _problem(data: Any) -> str:
    """What makes `data` not a saved result ("" when it is one): the fields the page and the graph read."""
    if not isinstance(data, dict):
        return "not a JSON object"
    for name, kind in _RESULT_FIELDS.items():
        if not json_is(data.get(name), kind):
            return f"no {name!r} field of the right type"
    if not (data.get("answer") is None or isinstance(data["answer"], str)):
        return "its 'answer' is not text"
    tree = data["tree"]
    nodes, edges, order = tree.get("nodes"), tree.get("edges"), tree.get("expansion_order")
    if not (isinstance(nodes, list) and nodes and isinstance(edges, list) and isinstance(order, list)):
        return "its 'tree' has no nodes, edges and expansion_order"
    for index, node in enumerate(nodes):
        if not isinstance(node, dict):
            return f"tree node {index} is not an object"
        for name, kind in _NODE_FIELDS.items():
            if not json_is(node.get(name), kind):
                return f"tree node {index} has no {name!r} of the right type"
        for name, kind in _OPTIONAL_NODE_FIELDS.items():
            if node.get(name) is not None and not json_is(node[name], kind):
                return f"tree node {index} has a {name!r} of the wrong type"
        if node["id"] != index:
            return f"tree node {index} has the id {node['id']}"
    count = len(nodes)
    if nodes[0].get("parent") is not None or nodes[0]["depth"] != 0:
        return "its first tree node is not the start"
    for index, node in enumerate(nodes[1:], start=1):  # first parents come first: the page walks up them to the start
        if node.get("parent") is None or not 0 <= node["parent"] < index:
            return f"tree node {index} has no earlier parent"
        if node["depth"] != nodes[node["parent"]]["depth"] + 1:
            return f"tree node {index} is not one deeper than its parent"
    for index, edge in enumerate(edges):
        if not (isinstance(edge, dict) and all(json_is(edge.get(end), int) and 0 <= edge[end] < count for end in ("parent", "child"))
                and isinstance(edge.get("thought"), str)):
            return f"tree edge {index} is not a parent, child and thought"
    if not all(json_is(step, int) and 0 <= step < count for step in order):
        return "its expansion_order names nodes not in the tree"
    return ""


def json_is(value: Any, kind: Any) -> bool:
    """isinstance, except that a bool is not a number here (JSON's true is not 1)."""
    return isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool)


# ---- output files ---------------------------------------------------------------------------


def check_writable(path: str | os.PathLike[str], what: str, *, suffixes: tuple[str, ...] = ()) -> Path:
    """`path`, once it is known that a file can be written there (and ends in one of `suffixes`): checked before a
    search, so that a typo costs nothing. Raises a one-line InputError."""
    target = Path(path).expanduser()
    if suffixes and target.suffix.lower() not in suffixes:
        raise InputError(f"{what} file {str(path)!r} must end in {_either(suffixes)}")
    folder = target.parent
    if target.is_dir():
        raise InputError(f"cannot write the {what} file {path}: it is a folder")
    if not folder.is_dir():
        raise InputError(f"cannot write the {what} file {path}: no folder {folder}")
    if not os.access(folder, os.W_OK | os.X_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise InputError(f"cannot write the {what} file {path}: permission denied")
    return target


def _either(names: tuple[str, ...]) -> str:
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]


def _write(path: str | os.PathLike[str], what: str, write: Callable[[Path], object]) -> None:
    try:
        write(Path(path).expanduser())
    except OSError as error:
        raise InputError(f"cannot write the {what} file {path}: {error.strerror or error}") from None


def write_html(data: Data, path: str | os.PathLike[str]) -> None:
    """One self-contained HTML page of the search (see `tot.html`)."""
    from tot.html import page

    text = page(data)
    _write(path, "HTML", lambda target: target.write_text(text, encoding="utf-8"))


def write_graph(data: Data, path: str | os.PathLike[str]) -> None:
    """The tree as GraphML, GEXF or node-link JSON (by the file's extension), for Gephi, yEd or networkx."""
    import networkx

    from tot.tree import graph

    suffix = Path(path).suffix.lower()
    if suffix not in GRAPH_FORMATS:
        raise InputError(f"graph file {str(path)!r} must end in {_either(GRAPH_FORMATS)}")
    tree = graph(data["tree"], exportable=True)
    for name in ("task", "puzzle", "strategy"):
        value = data.get(name, data["config"].get(name))
        if isinstance(value, str):
            tree.graph[name] = value
    tree.graph["solved"] = bool(data["solved"])

    def write(target: Path) -> None:
        if suffix == ".graphml":
            networkx.write_graphml(tree, target)
        elif suffix == ".gexf":
            networkx.write_gexf(tree, target)
        else:
            try:
                linked = networkx.node_link_data(tree, edges="edges")
            except TypeError:  # networkx before 3.4 names the keyword `link`
                linked = networkx.node_link_data(tree, link="edges")
            target.write_text(json.dumps(linked), encoding="utf-8")

    _write(path, "graph", write)
