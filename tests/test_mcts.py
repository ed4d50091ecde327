"""MCTS pieces on hand-built nodes: PUCT arithmetic, selection, backup through transpositions, dead ends."""

from __future__ import annotations

import math
import random

import pytest

from tot.strategies.common import Search
from tot.strategies.mcts import backup, mcts, most_visited, puct, select, simulate
from tests.scripted import ScriptedEvaluator
from tests.toy import Spell
from tot.core import Budget
from tot.tree import Node


def node(id: int, visits: int = 0, value_sum: float = 0.0, prior: float = 1.0) -> Node:
    made = Node(id, f"s{id}", f"s{id}", prior=prior)
    made.visits, made.value_sum = visits, value_sum
    return made


def test_puct_is_mean_value_plus_prior_weighted_exploration() -> None:
    parent = node(0, visits=9)
    visited = node(1, visits=2, value_sum=1.0)
    assert puct(parent, visited, 0.5, 1.5) == pytest.approx(0.5 + 1.5 * 0.5 * 3 / 3)
    fresh = node(2)
    assert puct(parent, fresh, 0.2, 2.0) == pytest.approx(2.0 * 0.2 * 3)  # Q of an unvisited child is 0
    assert puct(parent, visited, 0.5, 0.0) == pytest.approx(0.5)  # c_puct 0: pure exploitation
    assert puct(node(3, visits=0), fresh, 0.9, 1.0) == 0.0  # before the parent's first visit


def test_backup_counts_the_path_taken_through_a_shared_node() -> None:
    root, a, b, shared = node(0), node(1), node(2), node(3)
    backup([root, a, shared], 1.0)
    backup([root, b, shared], 0.0)
    backup([root, b, shared], 0.5)
    assert (root.visits, root.value_sum) == (3, 1.5)
    assert (a.visits, a.value_sum) == (1, 1.0)
    assert (b.visits, b.value_sum) == (2, 0.5)
    assert (shared.visits, shared.value_sum) == (3, 1.5)  # statistics are shared by both parents
    backup([root], None)
    assert (root.visits, root.value_sum) == (4, 1.5)  # a visit without a value


def spell_search(word: str = "cab", values: dict[str, float] | None = None) -> tuple[Search, ScriptedEvaluator]:
    task = Spell(word)
    evaluator = ScriptedEvaluator(task, values or {}, default=0.5)
    return Search("mcts", task, evaluator, "", Budget(), {}), evaluator


def test_select_follows_the_highest_puct_and_breaks_ties_by_creation_order() -> None:
    search, _ = spell_search()
    children = search.expand(search.root)  # a, b, c with prior 1/3 each
    a, b, c = children
    search.root.visits = 4
    a.visits, a.value_sum = 1, 0.1
    b.visits, b.value_sum = 1, 0.6
    # a: 0.1 + 1/3 * 2 / 2 = 0.433; b: 0.6 + 1/3 = 0.933; c (unvisited): 0 + 1/3 * 2 / 1 = 0.667
    assert select(search, 1.0) == [search.root, b]
    b.value_sum = 0.0  # b: 0.333, now c is best
    assert select(search, 1.0) == [search.root, c]
    c.visits, c.value_sum = 1, 0.1  # a and c tie exactly: the earlier created wins
    assert select(search, 1.0) == [search.root, a]


def test_edge_priors_not_node_priors_are_used_for_transpositions() -> None:
    task = Spell("ab")
    search = Search("mcts", task, ScriptedEvaluator(task, {}), "", Budget(), {})
    root = search.root
    x, _ = search.tree.child(root, "x", action="x", thought="x", source="hand", prior=0.9)
    y, _ = search.tree.child(root, "y", action="y", thought="y", source="hand", prior=0.1)
    shared, _ = search.tree.child(x, "s", action="s", thought="s", source="hand", prior=0.9)
    search.tree.child(y, "s", action="s", thought="s", source="hand", prior=0.1)
    search.priors[(x.id, shared.id)] = 0.9
    search.priors[(y.id, shared.id)] = 0.1
    y.visits = 4
    assert search.prior(y, shared) == 0.1 and shared.prior == 0.9
    assert puct(y, shared, search.prior(y, shared), 1.0) == pytest.approx(0.1 * math.sqrt(4))


def test_a_leaf_with_only_dead_children_is_worth_zero_without_asking_the_evaluator() -> None:
    search, evaluator = spell_search("cab")
    rng = random.Random(0)
    search.expand(search.root)
    a = search.root.children[0]
    aa, _ = search.tree.child(a, "aa", action="a", thought="add a", source="hand", prior=1.0)
    search.tree.mark_expanded(a)
    search.root.visits = 1
    for key in ("b", "c"):  # make a the only choice
        next(n for n in search.root.children if n.key == key).status = "dead"
    simulate(search, c_puct=1.0, rollouts=0, rollout_weight=0.5, rng=rng)  # selects aa, expands it: all dead
    assert aa.status == "dead" and aa.visits == 1 and aa.value_sum == 0.0
    assert "aa" not in evaluator.evaluated
    assert a.status == "dead" and search.root.status == "dead"  # deadness propagates up the path


class Flatterer(ScriptedEvaluator):
    """Says 0.9 about every state, terminal or not, and records what it was asked."""

    def evaluate(self, state: object) -> float:
        self.evaluated.append(state)  # type: ignore[arg-type]
        return 0.9


def test_terminal_states_are_valued_exactly_never_by_the_evaluator() -> None:
    task = Spell("cab")
    evaluator = Flatterer(task, {})
    result = mcts(task, evaluator, "", simulations=500)
    assert result.solved and result.answer is not None and result.answer.text == "cab"
    assert evaluator.evaluated and not any(task.is_terminal(state) for state in evaluator.evaluated)


def test_unsolvable_space_is_exhausted_with_every_state_expanded() -> None:
    task = Spell("zzz")
    result = mcts(task, ScriptedEvaluator(task, {}, default=0.5), "", simulations=500)
    assert result.stop_reason == "exhausted" and not result.solved
    assert result.tree.root.status == "dead"
    assert len(result.tree.expansion_order) == 1 + 3 + 9 == result.tree.root.visits


def test_unsolved_answer_is_the_most_visited_path() -> None:
    task = Spell("zzzz")
    result = mcts(task, ScriptedEvaluator(task, {"b": 0.9}, default=0.1), "", simulations=12)
    assert result.stop_reason == "simulations" and not result.solved
    assert result.path == most_visited(result.tree.root).thoughts()
    assert result.path[0] == "add b"


def test_simulation_limit_is_a_stop_reason() -> None:
    task = Spell("zzz")
    result = mcts(task, ScriptedEvaluator(task, {}, default=0.5), "", simulations=5)
    assert result.stop_reason == "simulations"
    assert result.tree.root.visits == 5


def test_rollouts_that_reach_a_goal_join_the_tree_as_the_answer() -> None:
    task = Spell("abab", alphabet="ab")
    result = mcts(task, ScriptedEvaluator(task, {}, default=0.0), "", rollouts=20, seed=1)
    assert result.solved and result.answer is not None and result.answer.text == "abab"
    assert result.usage.calls == 3  # the root's prior, then the first child's prior and value
    goal = next(n for n in result.tree if n.status == "solution")
    assert goal.source == "rollout" and goal.path()[1].key == "a"  # played out from the first leaf


def test_rollouts_mix_their_reward_into_the_leaf_value() -> None:
    task = Spell("zzz", alphabet="ab")
    search = Search("mcts", task, ScriptedEvaluator(task, {"a": 0.8}), "", Budget(), {})
    rng = random.Random(0)
    simulate(search, c_puct=1.0, rollouts=3, rollout_weight=0.25, rng=rng)  # expands the root
    simulate(search, c_puct=1.0, rollouts=3, rollout_weight=0.25, rng=rng)  # expands a
    a = search.root.children[0]
    assert a.visits == 1 and a.value_sum == pytest.approx(0.75 * 0.8 + 0.25 * 0.0)


def test_visits_count_the_paths_taken_when_transpositions_share_nodes(monkeypatch: pytest.MonkeyPatch) -> None:
    import tot.strategies.mcts as module
    from tests.toy import RandomTree
    from tot.evaluators import AllActions, ThoughtEvaluator, UniformValuer

    paths: list[list[Node]] = []
    selected: list[list[Node]] = []

    def selecting(search: Search, c_puct: float) -> list[Node]:
        selected.append(select(search, c_puct))
        return selected[-1]

    def recording(path: list[Node], reward: float | None) -> None:
        assert list(path) == selected[-1]  # backed up along the path the selection took
        paths.append(list(path))
        backup(path, reward)

    monkeypatch.setattr(module, "select", selecting)
    monkeypatch.setattr(module, "backup", recording)
    shared_nodes = 0
    for seed in range(8):
        paths.clear()
        task = RandomTree(seed, depth=4, branching=3, goal_rate=0.0, merge=True)
        result = mcts(task, ThoughtEvaluator(task, AllActions(task), UniformValuer()), (), simulations=60)
        shared_nodes += sum(sum(n in p.children for p in result.tree) > 1 for n in result.tree)
        for path in paths:
            assert path[0] is result.tree.root
            assert all(child in parent.children for parent, child in zip(path, path[1:]))
        for node in result.tree:
            assert node.visits == sum(node in path for path in paths)
    assert shared_nodes > 0  # the spaces do have transpositions
