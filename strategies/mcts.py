"""Monte Carlo tree search with PUCT: the evaluator's prior guides selection, its value scores leaves.

Each simulation walks down from the root, at every expanded node taking the child with
the highest PUCT score (open_spiel's `puct_value`)

    Q(child) + c_puct * P(parent -> child) * sqrt(N(parent)) / (1 + N(child)),

Q being the child's mean backed-up reward (0 before its first visit), then expands the
leaf it reaches (one expansion per simulation), values it, and backs the value up the
path it actually took. Statistics (`visits`, `value_sum`) live on the tree's nodes, one
per canonical key, so transpositions share them; priors are kept per edge.

Rewards are exact wherever the task can tell: reaching a goal ends the search, and a
terminal state that is not a goal is worth 0 and never selected again; so is a node all
of whose children are dead. A leaf whose children are all dead is known to be worth 0
without asking the evaluator. Optional random rollouts (the task's legal actions, no
model) mix their exact rewards into the leaf's value, AlphaGo style.

The answer is the first verified solution found, else the end of the most visited path.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

from tot.strategies.common import Search
from tot.core import Budget, Evaluator, Result, Task
from tot.errors import InputError
from tot.tree import Node
from tot.written import is_open_ended

ROLLOUT_DEPTH = 200  # a playout that has not ended after this many actions counts as a loss


def mcts(
    task: Task[Any, Any],
    evaluator: Evaluator[Any, Any],
    root_state: Any,
    *,
    budget: Budget = Budget(),
    simulations: int = 1000,
    c_puct: float = 1.0,
    rollouts: int = 0,
    rollout_weight: float = 0.5,
    seed: int = 0,
) -> Result:
    """PUCT search from `root_state` for up to `simulations` simulations (or the budget).

    `rollouts` random playouts per new leaf (0: none) are mixed into its value as
    `(1 - rollout_weight) * value + rollout_weight * mean playout reward`.
    """
    if simulations <= 0:
        raise InputError(f"simulations must be positive, got {simulations}")
    if c_puct < 0:
        raise InputError(f"c_puct must not be negative, got {c_puct}")
    if rollouts < 0:
        raise InputError(f"rollouts must not be negative, got {rollouts}")
    if not 0.0 <= rollout_weight <= 1.0:
        raise InputError(f"rollout_weight must be between 0 and 1, got {rollout_weight}")
    config = {
        "simulations": simulations,
        "c_puct": c_puct,
        "rollouts": rollouts,
        "rollout_weight": rollout_weight,
        "seed": seed,
    }
    search = Search("mcts", task, evaluator, root_state, budget, config)
    rng = random.Random(seed)

    def body() -> str | None:
        for _ in range(simulations):
            if search.goals or search.dead(search.root):
                return None
            search.check()
            simulate(search, c_puct=c_puct, rollouts=rollouts, rollout_weight=rollout_weight, rng=rng)
        return None if search.goals or search.dead(search.root) else "simulations"

    stop = search.run(body)
    return search.result(stop, best=None if search.goals else most_visited(search.root))


def puct(parent: Node, child: Node, prior: float, c_puct: float) -> float:
    """The PUCT score of `child` below `parent`, with the edge's `prior`."""
    q = child.value_sum / child.visits if child.visits else 0.0
    return q + c_puct * prior * math.sqrt(parent.visits) / (1 + child.visits)


def backup(path: Sequence[Node], reward: float | None) -> None:
    """Count one visit on every node of `path` (the nodes this simulation went through) and add `reward`."""
    for node in path:
        node.visits += 1
        if reward is not None:
            node.value_sum += reward


def select(search: Search, c_puct: float) -> list[Node]:
    """The path from the root to the node this simulation stops at: an unexpanded node, or a dead end."""
    node = search.root
    path = [node]
    while node.expanded_at is not None:
        parent = node
        live = [c for c in parent.children if not search.dead(c) and c not in path]
        if not live:
            break
        node = max(live, key=lambda c: (puct(parent, c, search.prior(parent, c), c_puct), -c.id))
        path.append(node)
    return path


def simulate(search: Search, *, c_puct: float, rollouts: int, rollout_weight: float, rng: random.Random) -> None:
    """One simulation: select, expand one leaf, value it (exactly where possible), back up."""
    path = select(search, c_puct)
    leaf = path[-1]
    reward: float | None
    if leaf.expanded_at is not None:
        # A dead end (every child dead) or a cycle back onto the path: nothing new to expand.
        reward = 0.0 if _all_children_dead(search, leaf) else _mean(leaf)
    else:
        search.check()
        search.expand(leaf)
        if search.goals:
            return
        if _all_children_dead(search, leaf):
            reward = 0.0
        elif leaf is search.root:
            reward = None  # nothing above the root uses its value
        else:
            search.check()
            reward = search.value(leaf)
            if rollouts:
                playouts = rollout_value(search, leaf, rollouts, rng)
                if search.goals:
                    return
                reward = (1.0 - rollout_weight) * reward + rollout_weight * playouts
    backup(path, reward)
    for node in reversed(path):
        if not _all_children_dead(search, node):
            break
        node.status = "dead"


def rollout_value(search: Search, leaf: Node, rollouts: int, rng: random.Random) -> float:
    """Mean exact reward of `rollouts` random playouts from `leaf`; stops at the first that reaches a goal."""
    total = 0.0
    for _ in range(rollouts):
        search.check()
        total += playout(search, leaf, rng)
        if search.goals:
            break
    return total / rollouts


def playout(search: Search, start: Node, rng: random.Random) -> float:
    """Random legal actions from `start` to a terminal state: 1 for a goal (its path joins the tree), else 0."""
    task = search.task
    state, actions = start.state, []
    for _ in range(ROLLOUT_DEPTH):
        if task.is_goal(state) or task.is_terminal(state):
            break
        legal = list(task.actions(state))
        if not legal:
            break
        action = rng.choice(legal)
        actions.append(action)
        state = task.result(state, action)
    if not task.is_goal(state):
        return 0.0
    node = start
    for action in actions:
        node = search.add_child(node, action, thought=task.describe(node.state, action), source="rollout", prior=0.0)
    return 1.0


def most_visited(root: Node) -> Node:
    """The end of the path that follows the most visited child from `root` (ties: the earliest created)."""
    node, seen = root, {root.id}
    while True:
        visited = [c for c in node.children if c.visits > 0 and c.id not in seen]
        if not visited:
            return node
        node = max(visited, key=lambda c: (c.visits, -c.id))
        seen.add(node.id)


def _all_children_dead(search: Search, node: Node) -> bool:
    if not node.children and is_open_ended(search.task) and search.task.is_terminal(node.state):
        return False  # a finished answer of an open-ended task: its value is its reward
    return node.expanded_at is not None and all(search.dead(c) for c in node.children)


def _mean(node: Node) -> float:
    return node.value_sum / node.visits if node.visits else 0.0
