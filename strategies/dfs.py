"""Depth-first search as in the paper's crosswords search: best child first, prune, backtrack.

Each step expands one state and values its children; the children are tried in
descending value (ties by creation order). A child valued below `threshold`, or
that the task marks dead (a terminal state that is not a goal), is pruned; a state
with nothing left to try is a dead end and the search backtracks. At most
`max_children` children are tried per state and `max_steps` states expanded in all
(the paper used 100 steps). It stops at the first goal, or returns the best state seen.

With `anytime`, it does not stop at a goal: it keeps every goal better than the ones before
(by value; the evaluator must value goals by how good they are, not all at 1), prunes every
state valued no higher than the best goal so far (the values of other states are read as
optimistic bounds on the goals below them: depth-first branch and bound), and runs until
the budget, `max_steps` or the space runs out. It returns the best goal and, in
`Result.found`, each better goal with what had been spent when it was found. A larger
budget never returns a worse goal: the search is the same, only cut later.

With `order="prior"`, children are tried in the generator's order (descending prior, ties by
creation order) instead of by value; values still prune (`threshold`, and the bound when
`anytime`). For a generator whose own ranking is better than the valuer's at choosing
among siblings (the crossword's belief order).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tot.strategies.common import Search, ranked
from tot.core import Budget, Evaluator, Result, Task
from tot.errors import InputError
from tot.tree import Node


def dfs(
    task: Task[Any, Any],
    evaluator: Evaluator[Any, Any],
    root_state: Any,
    *,
    budget: Budget = Budget(),
    threshold: float = 0.01,
    max_children: int | None = None,
    max_steps: int | None = None,
    anytime: bool = False,
    order: str = "value",
    seed: int = 0,
) -> Result:
    """Depth-first search from `root_state`: first goal found (with `anytime`: the best goal found), or
    the best state seen within the limits.

    With `max_children=None` and `max_steps=None` the search is complete: only pruning
    (`threshold`) and the budget leave states unexplored.
    """
    if not 0.0 <= threshold <= 1.0:
        raise InputError(f"threshold must be between 0 and 1, got {threshold}")
    for name, limit in (("max_children", max_children), ("max_steps", max_steps)):
        if limit is not None and limit <= 0:
            raise InputError(f"{name} must be positive, got {limit}")
    if order not in ("value", "prior"):
        raise InputError(f"order must be value or prior, got {order!r}")
    config = {"threshold": threshold, "max_children": max_children, "max_steps": max_steps, "anytime": anytime,
              "order": order, "seed": seed}
    sort = ranked if order == "value" else by_prior
    search = Search("dfs", task, evaluator, root_state, budget, config)

    def body() -> str | None:
        stack: list[Iterator[Node]] = []
        node: Node | None = search.root
        steps = 0
        while node is not None:
            if max_steps is not None and steps >= max_steps:
                return "steps"
            search.check()
            steps += 1
            children = search.expand(node)
            if search.goals and not anytime:
                return None
            search.value_all([child for child in children if not search.dead(child)])
            if anytime:
                for child in ranked([c for c in children if c.goal]):
                    search.offer(child)
            stack.append(_to_try(search, sort(children), threshold, max_children, anytime))
            node = None
            while stack and node is None:
                node = next(stack[-1], None)
                if node is None:
                    stack.pop()  # every child tried: backtrack
        return None

    return search.result(search.run(body))


def by_prior(nodes: list[Node]) -> list[Node]:
    """Nodes by descending prior, ties broken by creation order (stable)."""
    return sorted(nodes, key=lambda n: (-n.prior, n.id))


def _to_try(
    search: Search, children: list[Node], threshold: float, max_children: int | None, anytime: bool = False
) -> Iterator[Node]:
    """The children to descend into, best first; marks the pruned and dead ones as it passes them.

    Lazy, so a child that another branch has explored meanwhile (a transposition) is skipped, and,
    `anytime`, so a child is pruned against the best goal found by the time it is reached (goals
    themselves are kept by `Search.offer`, not descended into).
    """
    tried = 0
    for child in children:
        if max_children is not None and tried >= max_children:
            return
        if child.expanded_at is not None:
            continue
        if search.dead(child):
            child.status = "dead"
            continue
        if anytime and child.goal:
            continue
        best = search.best_goal() if anytime else None
        if (child.value or 0.0) < threshold or (best is not None and (child.value or 0.0) <= (best.value or 0.0)):
            child.status = "pruned"
            continue
        tried += 1
        yield child
