"""Best-first search: always expand the open node with the lowest f = h + path_cost * g.

h is 1 - value (the evaluator's value read as a cost to go) and g the node's depth, so
`path_cost=0` is greedy best-first and `path_cost=1` the A*-style f = g + h.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Any

from tot.strategies.common import Search
from tot.core import Budget, Evaluator, Result, Task
from tot.tree import Node


def best_first(
    task: Task[Any, Any],
    evaluator: Evaluator[Any, Any],
    root_state: Any,
    *,
    budget: Budget = Budget(),
    path_cost: float = 0.0,
    seed: int = 0,
) -> Result:
    """Greedy best-first (or A* with `path_cost=1`) from `root_state` until a goal or the budget."""
    search = Search("best-first", task, evaluator, root_state, budget, {"path_cost": path_cost, "seed": seed})
    stop = search.run(lambda: expand_best_first(search, [search.root], path_cost=path_cost))
    return search.result(stop)


def expand_best_first(search: Search, open_nodes: Iterable[Node], *, path_cost: float) -> None:
    """Expand nodes in f order from `open_nodes` until a goal is found or nothing is left open.

    Raises `BudgetReached` when the budget runs out; values every child it generates.
    """
    heap: list[tuple[float, int, Node]] = []

    def push(node: Node) -> None:
        if node.expanded_at is None and not search.task.is_terminal(node.state):
            h = 1.0 - (node.value if node.value is not None else search.value(node))
            heapq.heappush(heap, (h + path_cost * node.depth, node.id, node))

    for node in open_nodes:
        search.check()
        push(node)
    while heap and not search.goals:
        search.check()
        _, _, node = heapq.heappop(heap)
        if node.expanded_at is not None:
            continue
        children = search.expand(node)
        if search.goals:
            return
        search.value_all(children)
        for child in children:
            push(child)
