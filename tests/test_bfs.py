import pytest

from tot.strategies.best_first import best_first
from tot.strategies.bfs import bfs
from tests.scripted import ScriptedEvaluator
from tests.toy import Spell
from tot.core import Budget
from tot.errors import InputError


def kept(result, depth):  # type: ignore[no-untyped-def]
    return sorted(n.key for n in result.tree if n.depth == depth and n.status in ("kept", "expanded", "solution"))


def test_bfs_keeps_exactly_the_best_b_per_step() -> None:
    task = Spell("cab")
    values = {"a": 0.2, "b": 0.5, "c": 0.9, "ca": 0.8, "cb": 0.1, "cc": 0.3, "ba": 0.7, "bb": 0.0, "bc": 0.0}
    result = bfs(task, ScriptedEvaluator(task, values), "", breadth=2, backtrack=False)
    assert kept(result, 1) == ["b", "c"]
    assert kept(result, 2) == ["ba", "ca"]
    assert result.solved and result.answer is not None and result.answer.text == "cab"
    assert result.path == ("add c", "add a", "add b")


def test_ties_are_broken_by_creation_order() -> None:
    task = Spell("aaa")
    result = bfs(task, ScriptedEvaluator(task, {}, default=0.5), "", breadth=2, backtrack=False)
    assert kept(result, 1) == ["a", "b"]  # a, b, c all 0.5: the first two generated stay


def test_beam_that_loses_the_solution_fails_without_backtracking() -> None:
    task = Spell("abc")
    values = {"a": 0.1, "b": 0.9, "c": 0.8}
    result = bfs(task, ScriptedEvaluator(task, values), "", breadth=2, backtrack=False)
    assert not result.solved
    assert result.stop_reason == "exhausted"
    assert result.answer is not None and not result.answer.verified  # best terminal state, unverified


def test_backtracking_recovers_a_pruned_solution() -> None:
    task = Spell("abc")
    values = {"a": 0.1, "b": 0.9, "c": 0.8}
    result = bfs(task, ScriptedEvaluator(task, values), "", breadth=2, backtrack=True)
    assert result.solved and result.answer is not None and result.answer.text == "abc"
    assert any("backtracking" in note for note in result.notes)


def test_value_proportional_selection_is_seeded() -> None:
    task = Spell("cab")
    values = {"a": 0.3, "b": 0.3, "c": 0.3}
    runs = [kept(bfs(task, ScriptedEvaluator(task, values), "", breadth=1, selection="sample", seed=s, backtrack=False), 1) for s in range(12)]
    again = [kept(bfs(task, ScriptedEvaluator(task, values), "", breadth=1, selection="sample", seed=s, backtrack=False), 1) for s in range(12)]
    assert runs == again
    assert len({tuple(r) for r in runs}) > 1


@pytest.mark.parametrize(
    ("budget", "reason", "field", "limit"),
    [(Budget(max_calls=5), "calls", "calls", 5), (Budget(max_nodes=3), "nodes", "nodes_expanded", 3)],
)
def test_budget_stops_bfs_within_one_call(budget: Budget, reason: str, field: str, limit: int) -> None:
    task = Spell("ccc", alphabet="abcd")
    result = bfs(task, ScriptedEvaluator(task, {}, default=0.5), "", breadth=4, budget=budget)
    assert result.stop_reason == reason
    assert getattr(result.usage, field) <= limit + 1


def test_zero_budget_is_rejected() -> None:
    with pytest.raises(InputError):
        Budget(max_calls=0)
    with pytest.raises(InputError):
        Budget(max_seconds=-1)


def test_bad_options_are_input_errors() -> None:
    task = Spell()
    with pytest.raises(InputError):
        bfs(task, ScriptedEvaluator(task, {}), "", breadth=0)
    with pytest.raises(InputError):
        bfs(task, ScriptedEvaluator(task, {}), "", selection="random")


def test_best_first_follows_values_and_a_star_prefers_shallow() -> None:
    task = Spell("cab")
    values = {"c": 0.9, "ca": 0.9, "a": 0.5, "b": 0.5}
    result = best_first(task, ScriptedEvaluator(task, values, default=0.0), "")
    assert result.solved
    assert [task.render(task.key(n.state)) for n in result.tree if n.expanded_at is not None] == ["(empty)", "c", "ca"]


def test_tree_exports_to_networkx() -> None:
    task = Spell("cab")
    result = bfs(task, ScriptedEvaluator(task, {"c": 1.0, "ca": 1.0}), "", breadth=1)
    graph = result.tree.to_networkx()
    assert graph.number_of_nodes() == len(result.tree)
    assert graph.nodes[0]["state"] == "(empty)"
    assert all("thought" in data for _, _, data in graph.edges(data=True))
    assert result.as_dict()["solved"] is True
