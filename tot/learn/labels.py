"""Labels for the states of a finished search, from the search itself and the task's verifier only.

- positive: a state from which the search tree reaches a verified goal (the task's `is_goal`,
  and its `answer(...)` verified; for a task graded against a hidden answer, one whose
  `metrics(puzzle, state)["game"]` is 1, see `goal_check`);
- negative: a state whose whole subtree the search exhausted without a goal: a terminal
  non-goal, or a state expanded with every legal action's state among its children, all
  of them negative (so a generator that proposes only some actions never makes a negative);
- undecided: the rest (a state valued but never expanded, a subtree left half searched).
  These are dropped, or, with `rollouts`, labelled by random playouts of the task's legal
  actions: positive when one reaches a verified goal (then exact), else negative (then
  possibly wrong: a solvable state whose playouts all missed; `tot learn` reports how often).

No exact solver is consulted: a label is what the search and the verifier established.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from tot.tree import Node, SearchTree

POSITIVE, NEGATIVE = "goal-path", "exhausted"
ROLLOUT_POSITIVE, ROLLOUT_NEGATIVE = "rollout-goal", "rollout-none"
ROLLOUT_DEPTH = 200


@dataclass(frozen=True)
class Labelled:
    """One non-terminal state of a search and what the search established about it."""

    node: Node
    label: bool | None  # True solvable, False not, None undecided (dropped)
    reason: str  # goal-path, exhausted, rollout-goal, rollout-none, undecided


GoalCheck = Callable[[Node, Sequence[Any]], bool]  # (a goal node or the node a playout started from, the actions after it)


def goal_check(task: Any, puzzle: str, root: Node) -> GoalCheck:
    """Whether a goal is verified: its answer verified by the task, and for tasks graded against a hidden
    answer (with `metrics(puzzle, state)` giving "game"), that answer matched."""
    from tot.bench.harness import metrics_function

    measure = metrics_function(task)

    def verified(node: Node, more: Sequence[Any]) -> bool:
        state = node.state
        for action in more:
            state = task.result(state, action)
        if not task.is_goal(state):
            return False
        if not task.answer(root.state, [*node.actions(), *more]).verified:
            return False
        if measure is not None:
            graded = measure(puzzle, state)
            if "game" in graded:
                return float(graded["game"]) >= 1
        return True

    return verified


def label_tree(task: Any, tree: SearchTree, verified: GoalCheck, *, rollouts: int = 0, seed: int = 0) -> list[Labelled]:
    """Every non-terminal state of `tree` with its label (see the module docstring), in node order."""
    parents: dict[int, list[Node]] = {}
    for node in tree:
        for child in node.children:
            parents.setdefault(child.id, []).append(node)
    positive: set[int] = set()
    todo = [node for node in tree if node.goal and verified(node, ())]
    while todo:
        node = todo.pop()
        if node.id in positive:
            continue
        positive.add(node.id)
        todo.extend(parents.get(node.id, []))
    negative = _exhausted(task, tree, positive)
    labelled = []
    for node in sorted(tree, key=lambda n: n.id):
        if task.is_terminal(node.state):
            continue
        if node.id in positive:
            labelled.append(Labelled(node, True, POSITIVE))
        elif node.id in negative:
            labelled.append(Labelled(node, False, NEGATIVE))
        elif rollouts > 0:
            hit = _rolled(task, node, verified, rollouts, seed)
            labelled.append(Labelled(node, hit, ROLLOUT_POSITIVE if hit else ROLLOUT_NEGATIVE))
        else:
            labelled.append(Labelled(node, None, "undecided"))
    return labelled


def _exhausted(task: Any, tree: SearchTree, positive: set[int]) -> set[int]:
    """The ids of nodes whose whole subtree the search covered without a verified goal."""
    known: dict[int, bool] = {}

    def dead(node: Node, path: frozenset[int]) -> bool:
        if node.id in known:
            return known[node.id]
        if node.id in positive or node.id in path:
            return False  # a cycle proves nothing, and is not remembered
        if task.is_terminal(node.state):
            result = True
        elif node.expanded_at is None:
            result = False
        else:
            children: dict[Hashable, Node] = {child.key: child for child in node.children}
            wanted = {task.key(task.result(node.state, action)) for action in task.actions(node.state)}
            inner = path | {node.id}
            result = wanted <= children.keys() and all(dead(children[key], inner) for key in wanted)
        known[node.id] = result
        return result

    return {node.id for node in tree if dead(node, frozenset())}


_ROLLED: dict[tuple[str, int, int, str], bool] = {}  # a state's rollout outcome, once per process


def _rolled(task: Any, node: Node, verified: GoalCheck, rollouts: int, seed: int) -> bool:
    """Whether one of `rollouts` playouts from `node` reaches a verified goal.

    The playouts are drawn from a generator seeded by the state itself, so the outcome is a function of
    the state (and the seed): it is remembered per process, as states recur across puzzles, except for
    tasks graded against each puzzle's hidden answer (`metrics`)."""
    from tot.bench.harness import metrics_function

    key = (task.name, rollouts, seed, repr(node.key))
    shared = metrics_function(task) is None
    if shared and key in _ROLLED:
        return _ROLLED[key]
    rng = random.Random(f"{seed}:{task.name}:{node.key!r}")
    hit = any(_playout(task, node, verified, rng) for _ in range(rollouts))
    if shared and len(_ROLLED) < 1_000_000:
        _ROLLED[key] = hit
    return hit


def _playout(task: Any, start: Node, verified: GoalCheck, rng: random.Random) -> bool:
    """Random legal actions from `start` to a terminal state: whether it ends in a verified goal."""
    state, actions = start.state, []
    for _ in range(ROLLOUT_DEPTH):
        if task.is_terminal(state):
            break
        legal = list(task.actions(state))
        if not legal:
            break
        action = rng.choice(legal)
        actions.append(action)
        state = task.result(state, action)
    return task.is_goal(state) and verified(start, actions)
