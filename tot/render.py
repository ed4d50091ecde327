"""Rich renderings of a Result: answer, path, search tree and usage. No search logic here."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from tot.core import Result, Usage
from tot.tree import Node

WIDE = 10_000  # columns of a console that is not a terminal: wide enough to cut no table


def console(*, stderr: bool = False) -> Console:
    """A console for the CLI: on a terminal, the terminal's width; into a pipe or a file (and no COLUMNS set),
    wide enough that no table is cut and no line is wrapped."""
    made = Console(stderr=stderr, soft_wrap=True)
    if not made.is_terminal and "COLUMNS" not in os.environ:
        made.width = WIDE
    return made


STYLE = {
    "solution": "bold green",
    "expanded": "cyan",
    "kept": "white",
    "pruned": "dim",
    "frontier": "dim",
    "dead": "dim red",
}


def node_label(node: Node, on_path: bool, thought: str | None = None, mark: str = "") -> Text:
    """One node's line: the thought of the edge it is drawn under (default: its first), value, visits, status."""
    text = Text()
    thought = node.thought if thought is None else thought
    if mark:
        text.append(f"{mark} ", style="bold yellow")
    if node.parent is not None:
        text.append(thought, style=STYLE.get(node.status, ""))
    else:
        text.append(f"start: {node.label}", style="bold")
    if node.value is not None:
        text.append(f"  v={node.value:.3f}", style="magenta")
    if node.visits:
        text.append(f"  n={node.visits}", style="blue")
    if node.source:
        text.append(f"  [{node.source}]", style="dim")
    if node.goal:
        text.append("  ✓", style="bold green")
    elif node.status == "pruned":
        text.append("  pruned", style="dim")
    if on_path:
        text.stylize("bold")
    return text


def tree_view(result: Result, *, max_children: int = 8) -> Tree:
    """The search tree: expanded nodes in full; unexpanded children beyond `max_children` summarised.

    Each edge is drawn with its own thought. A state reached from several parents (a transposition) is
    drawn in full once, marked `#id`; under its other parents a `↪` line names that mark and the state.
    """
    tree = result.tree
    on_path = {id(n) for n in _solution_nodes(result)}
    thoughts = {(parent, child): thought for parent, child, thought in tree.edges}
    parents: dict[int, int] = {}
    for _, child, _ in tree.edges:
        parents[child] = parents.get(child, 0) + 1
    marks = {node_id: f"#{node_id}" for node_id, count in parents.items() if count > 1}
    root = Tree(node_label(tree.root, True, mark=marks.get(tree.root.id, "")))
    seen: set[int] = set()

    def add(branch: Tree, node: Node) -> None:
        seen.add(node.id)
        important = [c for c in node.children if c.expanded_at is not None or c.goal or id(c) in on_path]
        rest = [c for c in node.children if c not in important]
        rest.sort(key=lambda c: -(c.value or 0.0))
        shown = important + rest[: max(0, max_children - len(important))]
        for child in shown:
            thought = thoughts.get((node.id, child.id), child.thought)
            if child.id in seen:
                where = "the start" if child.parent is None else f"{marks.get(child.id, '')} above"
                branch.add(Text(f"↪ {thought}  (same state as {where}: {child.label})", style="dim"))
                continue
            add(branch.add(node_label(child, id(child) in on_path, thought, marks.get(child.id, ""))), child)
        hidden = len(node.children) - len(shown)
        if hidden > 0:
            branch.add(Text(f"… {hidden} more unexpanded thoughts", style="dim"))

    add(root, tree.root)
    return root


def _solution_nodes(result: Result) -> list[Node]:
    for node in result.tree:
        if node.status == "solution":
            path: list[Node] = node.path()
            return path
    return []


def usage_table(usage: Usage) -> Table:
    table = Table(title="usage", show_header=False, box=None, padding=(0, 2))
    rows = [
        ("LLM calls", f"{usage.calls}"),
        ("prompt tokens (requested / evaluated)", f"{usage.prompt_tokens} / {usage.prompt_tokens_evaluated}"),
        ("generated tokens", f"{usage.generated_tokens}"),
        ("nodes expanded / generated", f"{usage.nodes_expanded} / {usage.nodes_generated}"),
        ("value cache hits", f"{usage.cache_hits}"),
        ("wall seconds (in model calls)", f"{usage.seconds:.2f} ({usage.model_seconds:.2f})"),
    ]
    if usage.proposal_lines:
        rows.append(
            (
                "proposal lines (malformed / illegal / result repaired)",
                f"{usage.proposal_lines} ({usage.proposals_malformed} / {usage.proposals_illegal} / "
                f"{usage.proposals_repaired})",
            )
        )
    if usage.label_bounds:
        rows.append(("labels bounded (not among the server's likeliest tokens)", f"{usage.label_bounds}"))
    if usage.votes:
        concluded = f", {usage.concluded} concluded" if usage.concluded else ""
        rows.append(("votes (abstentions)", f"{usage.votes} ({usage.abstentions}{concluded})"))
    for name, value in rows:
        table.add_row(name, value)
    return table


def outcome(result: Result) -> Text:
    """How the search ended: the answer (with why, where the task could not verify it), or why there is none (a
    complete search proves it)."""
    if result.solved and result.answer is not None:
        return Text(result.answer.text, style="bold green")
    if result.answer is not None:  # an answer the task could not verify (a crossword grid that is not the gold one)
        shown = Text(f"{result.answer.text}\n{result.answer.detail}", style="bold yellow")
        if result.stop_reason == "exhausted":  # and whether the search could have found a verified one
            shown.append("\n")
            shown.append_text(_why_none(result))
        return shown
    if result.stop_reason == "interrupted":
        return Text("interrupted: no solution found yet", style="bold yellow")
    if result.stop_reason != "exhausted":
        return Text(f"no solution found within budget: the {result.stop_reason} budget ran out", style="bold red")
    return _why_none(result)


def _why_none(result: Result) -> Text:
    """Why an exhausted search has no verified answer: a complete search proves none exists, any other does not."""
    if not any(node.goal for node in result.tree) and result.tree.complete():
        return Text("no solution: the search tried every possible step, so none exists", style="bold red")
    return Text(f"no solution found: {result.strategy} ended without trying every step", style="bold red")


def tree_summary(result: Result, *, branches: int = 3) -> RenderableType:
    """The tree in a few lines: how many nodes were expanded, pruned, dead and transposed, and the best branches
    from the start (the chosen path's first, then by visits and value), each with what lies below it."""
    tree = result.tree
    nodes = list(tree)
    counts = Counter(node.status for node in nodes)
    transpositions = len(tree.edges) - (len(nodes) - 1)
    goals = sum(node.goal for node in nodes)
    depth = max(node.depth for node in nodes)
    head = Text("tree  ", style="bold")
    head.append(f"{len(nodes)} nodes to depth {depth}: {len(tree.expansion_order)} expanded, {counts['pruned']} pruned, "
                f"{counts['dead']} dead, {transpositions} transpositions, {goals} goal{'s' if goals != 1 else ''}")
    below: Counter[int] = Counter()  # nodes under each of the start's children (along first parents)
    expanded_below: Counter[int] = Counter()
    for node in nodes:
        top = node.path()[1:2]
        if top:
            below[top[0].id] += 1
            expanded_below[top[0].id] += int(node.expanded_at is not None)
    on_path = {id(n) for n in _solution_nodes(result) or _best_nodes(result)}
    first = [child for child in tree.root.children if child.parent is tree.root]
    first.sort(key=lambda c: (id(c) not in on_path, -c.visits, -(c.value if c.value is not None else -1.0), c.id))
    table = Table(show_header=False, box=None, padding=(0, 1), pad_edge=False)
    for child in first[:branches]:
        mark = Text(" ✓" if result.solved and id(child) in on_path else "  ", style="bold green")
        size, opened = below[child.id] - 1, expanded_below[child.id] - int(child.expanded_at is not None)
        table.add_row(mark, node_label(child, id(child) in on_path), Text(f"{size} below, {opened} expanded" if size else "", style="dim"))
    parts: list[RenderableType] = [head]
    if first:
        which = "the one branch" if len(first) == 1 else f"best {min(branches, len(first))} of {len(first)} branches"
        parts.append(Text(f"{which} from the start:", style="dim"))
        parts.append(table)
    parts.append(Text("--tree draws the whole tree; --html FILE makes a page to explore it in a browser", style="dim"))
    return Group(*parts)


def _best_nodes(result: Result) -> list[Node]:
    """The nodes of the reported path (an unsolved search's best path so far), following first parents."""
    nodes, node = [result.tree.root], result.tree.root
    for thought in result.path:
        node = next((c for c in node.children if c.parent is node and c.thought == thought), None)
        if node is None:
            break
        nodes.append(node)
    return nodes


def summary(result: Result, *, tree: bool = False) -> RenderableType:
    """What `tot solve` prints: the answer (or why there is none), the path of thoughts, the tree (in a few lines,
    or whole with `tree`), notes, usage and config."""
    solved = result.solved and result.answer is not None
    written = bool(result.config.get("open_ended")) and result.answer is not None  # ranked by the model, not verified
    parts: list[RenderableType] = []
    if written and result.answer is not None:
        style = "bold green" if result.answer.verified else "bold"
        parts.append(Panel(Text(result.answer.text, style=style), title="answer", expand=False))
        if result.answer.detail:
            parts.append(Text(result.answer.detail, style="green" if result.answer.verified else "yellow"))
    else:
        title = "answer (verified)" if solved else "answer (not verified)" if result.answer is not None else None
        parts.append(Panel(outcome(result), title=title, expand=False))
    if result.path:
        path = Text("\n".join(f"{i}. {thought}" for i, thought in enumerate(result.path, 1)))
        parts.append(Panel(path, title="path of thoughts" if result.solved or written else "best path so far", expand=False))
    for note in result.notes:
        parts.append(Text(f"note: {note}", style="yellow"))
    parts.append(tree_view(result) if tree else tree_summary(result))
    parts.append(usage_table(result.usage))
    config = ", ".join(f"{k}={v}" for k, v in result.config.items() if k not in ("puzzle",))
    parts.append(Text(config, style="dim"))
    return Group(*parts)


def live_view(task: Any, state: Any) -> RenderableType:
    """A drawing of the state a search is expanding, for the CLI's status line (a crossword: its grid)."""
    from tot.tasks.crosswords import MiniCrossword

    if isinstance(task, MiniCrossword):
        from tot.render_crossword import grid

        return grid(state.cells)
    return Text(task.render(state))


def final_view(task: Any, puzzle: str, result: Result) -> RenderableType | None:
    """A task's own drawing of what a search ended with (a crossword: the grid found and the gold one), if any."""
    from tot.tasks.crosswords import MiniCrossword

    if isinstance(task, MiniCrossword):
        from tot.render_crossword import report_view

        return report_view(task, puzzle, result)
    return None
