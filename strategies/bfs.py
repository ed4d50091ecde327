"""ToT-BFS as in the paper: expand the whole frontier, value the candidates, keep the best `breadth`.

With `backtrack=True` (the default) a beam that loses every solvable branch does not
end the search: the pruned thoughts are searched best-first, within the same budget.
`backtrack=False, breadth=5` is the paper's exact configuration.
"""

from __future__ import annotations

import random
from typing import Any

from tot.strategies.best_first import expand_best_first
from tot.strategies.common import Search, ranked
from tot.core import Budget, Evaluator, Result, Task
from tot.errors import InputError
from tot.tree import Node
from tot.written import is_open_ended


def bfs(
    task: Task[Any, Any],
    evaluator: Evaluator[Any, Any],
    root_state: Any,
    *,
    budget: Budget = Budget(),
    breadth: int = 5,
    selection: str = "greedy",
    max_steps: int | None = None,
    backtrack: bool = True,
    seed: int = 0,
) -> Result:
    """Breadth-first tree search with a beam of `breadth` states per step."""
    if breadth <= 0:
        raise InputError(f"breadth must be positive, got {breadth}")
    if selection not in ("greedy", "sample"):
        raise InputError(f"selection must be 'greedy' or 'sample', got {selection!r}")
    config = {"breadth": breadth, "selection": selection, "max_steps": max_steps, "backtrack": backtrack, "seed": seed}
    search = Search("bfs", task, evaluator, root_state, budget, config)
    rng = random.Random(seed)

    def body() -> None:
        frontier, step = [search.root], 0
        while frontier and not search.goals and (max_steps is None or step < max_steps):
            candidates: list[Node] = []
            for node in frontier:
                search.check()
                for child in search.expand(node):
                    if search.goals:
                        break
                    if child not in candidates and child.expanded_at is None:
                        candidates.append(child)
                if search.goals:
                    break
            if search.goals or not candidates:
                break
            search.value_all(candidates)
            kept = select(candidates, breadth, selection, rng)
            for child in candidates:
                child.status = "kept" if child in kept else "pruned"
            frontier = [n for n in kept if not task.is_terminal(n.state)]
            step += 1
        if not search.goals and backtrack and not is_open_ended(task):  # open-ended: no goal to find
            search.notes.append(
                f"the beam of {breadth} found no solution; backtracking best-first over the pruned thoughts"
            )
            open_nodes = [n for n in search.tree if n.expanded_at is None and n.status in ("pruned", "kept")]
            expand_best_first(search, ranked(open_nodes), path_cost=0.0)

    stop = search.run(body)
    finals = [n for n in search.tree if n.status == "kept" and task.is_terminal(n.state)]
    return search.result(stop, finals=ranked(finals)[:breadth])


def select(candidates: list[Node], breadth: int, selection: str, rng: random.Random) -> list[Node]:
    """The `breadth` candidates to keep: highest values (ties by creation order) or value-proportional samples."""
    if selection == "greedy" or len(candidates) <= breadth:
        return ranked(candidates)[:breadth]
    pool = list(candidates)
    kept: list[Node] = []
    while pool and len(kept) < breadth:
        weights = [max(n.value or 0.0, 1e-9) for n in pool]
        chosen = rng.choices(range(len(pool)), weights=weights)[0]
        kept.append(pool.pop(chosen))
    return kept
