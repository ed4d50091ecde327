"""Every strategy on the real default model, on one Game of 24 puzzle, with small budgets."""

from __future__ import annotations

import pytest

import tot
from tot.core import Budget, Result
from tot.models import Model
from tot.tasks.game24 import Game24

pytestmark = pytest.mark.model
game = Game24()
PUZZLE = "4 5 6 10"


def assert_honest(result: Result) -> None:
    """A verified answer really is one; every edge of the tree is a legal step computed by the engine."""
    if result.answer is not None:
        assert result.answer.verified == game.check(game.initial(PUZZLE), result.answer.text).verified
    assert result.solved == (result.stop_reason == "solved")
    for node in result.tree:
        if node.parent is not None and node.action is not None:
            assert node.key == game.result(node.parent.state, node.action)


@pytest.mark.parametrize("strategy", ["bfs", "dfs", "best-first", "mcts"])
def test_search_stays_within_its_call_budget(model: Model, strategy: str) -> None:
    result = tot.solve("game24", PUZZLE, strategy=strategy, model=model, budget=Budget(max_calls=8))
    assert result.stop_reason in ("solved", "calls")
    assert 0 < result.usage.calls <= 9
    assert result.usage.nodes_expanded == len(result.tree.expansion_order)
    assert_honest(result)


def test_mcts_with_its_defaults_finds_a_verified_answer(model: Model) -> None:
    result = tot.solve("game24", PUZZLE, strategy="mcts", model=model)
    assert result.solved, result.usage
    assert_honest(result)
    assert result.tree.root.visits > 0
    assert sum(n.visits for n in result.tree.root.children) <= result.tree.root.visits


@pytest.mark.parametrize(("strategy", "chains"), [("io", 1), ("cot", 1), ("cot-sc", 4)])
def test_baselines_sample_chains_and_verify_their_answers(model: Model, strategy: str, chains: int) -> None:
    options = {"samples": chains} if strategy == "cot-sc" else {}
    result = tot.solve("game24", PUZZLE, strategy=strategy, model=model, **options)
    assert result.usage.calls == 1 and result.usage.generated_tokens > 0
    assert len(result.tree.root.children) == chains == result.usage.nodes_expanded
    assert result.answer is not None  # the model writes an "Answer:" line after these few-shot prompts
    assert_honest(result)
