"""Every strategy on synthetic tasks with known answers: completeness, pruning, budgets, interrupts."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tot import strategies
import tot.core
from tot.strategies.baselines import cot, cot_sc, io, vote
from tot.strategies.best_first import best_first
from tot.strategies.bfs import bfs
from tot.strategies.common import Search
from tot.strategies.dfs import dfs
from tot.strategies.mcts import mcts
from tests.scripted import ScriptedEvaluator, ScriptedModel
from tests.toy import RandomTree, Spell
from tot import api
from tot.core import Answer, Budget, Candidate, Result
from tot.errors import InputError
from tot.evaluators import AllActions, OracleValuer, ThoughtEvaluator, UniformValuer
from tot.tasks.game24 import Game24

SEARCHES: dict[str, Callable[..., Result]] = {
    "bfs": lambda *a, **k: bfs(*a, breadth=2, **k),
    "dfs": lambda *a, **k: dfs(*a, **k),
    "best-first": lambda *a, **k: best_first(*a, **k),
    "mcts": lambda *a, **k: mcts(*a, simulations=10_000, **k),
}


def oracle(task: Any) -> ThoughtEvaluator:
    return ThoughtEvaluator(task, AllActions(task), OracleValuer(task))


def uniform(task: Any) -> ThoughtEvaluator:
    return ThoughtEvaluator(task, AllActions(task), UniformValuer())


def assert_consistent(result: Result, task: Any) -> None:
    """The answer is what the task says about the reported path; the tree's edges are real moves."""
    if result.solved:
        assert result.answer is not None and result.answer.verified
        assert result.stop_reason == "solved"
        goal = next(n for n in result.tree if n.status == "solution")
        assert task.is_goal(goal.state)
        assert result.path == goal.thoughts()
    for node in result.tree:
        for child in node.children:
            assert child.key in {task.key(task.result(node.state, a)) for a in task.actions(node.state)}
    assert len(result.tree.expansion_order) == len(set(result.tree.expansion_order))


trees = st.builds(
    RandomTree,
    st.integers(0, 10_000),
    depth=st.integers(1, 4),
    branching=st.integers(1, 4),
    goal_rate=st.sampled_from([0.0, 0.05, 0.2, 0.5]),
    merge=st.booleans(),
)


@settings(max_examples=150, deadline=None)
@given(task=trees, name=st.sampled_from(sorted(SEARCHES)), judge=st.sampled_from([oracle, uniform]))
def test_complete_strategies_solve_exactly_the_solvable_trees(
    task: RandomTree, name: str, judge: Callable[[Any], ThoughtEvaluator]
) -> None:
    result = SEARCHES[name](task, judge(task), ())
    assert result.solved == task.solvable(())
    if not result.solved:
        assert result.stop_reason == "exhausted"
    assert_consistent(result, task)


@settings(max_examples=100, deadline=None)
@given(task=trees)
def test_dfs_with_uniform_values_explores_the_whole_space_before_giving_up(task: RandomTree) -> None:
    result = dfs(task, uniform(task), ())
    expanded = {n.key for n in result.tree if n.expanded_at is not None}
    if task.solvable(()):
        assert result.solved
    else:
        assert not result.solved and result.stop_reason == "exhausted"
        assert expanded == {s for s in task.states() if not task.is_terminal(s)}


@settings(max_examples=100, deadline=None)
@given(task=trees)
def test_oracle_dfs_never_expands_an_unsolvable_state_below_the_root(task: RandomTree) -> None:
    result = dfs(task, oracle(task), ())
    assert all(task.solvable(n.state) for n in result.tree if n.expanded_at is not None and n.depth > 0)


def test_dfs_tries_children_best_first_and_backtracks() -> None:
    task = Spell("bca")
    values = {"a": 0.9, "b": 0.5, "c": 0.1, "aa": 0.8, "ab": 0.7, "ac": 0.6, "ba": 0.2, "bb": 0.2, "bc": 0.3}
    result = dfs(task, ScriptedEvaluator(task, values), "")
    order = [task.render(result.tree.nodes[k].key) for k in _expanded_keys(result)]
    assert order == ["(empty)", "a", "aa", "ab", "ac", "b", "bc"]
    assert result.solved and result.answer is not None and result.answer.text == "bca"


def test_dfs_in_prior_order_tries_children_as_the_generator_ranks_them_and_values_only_prune() -> None:
    task = Spell("bca")
    values = {"a": 0.9, "b": 0.5, "c": 0.1, "cc": 0.005}
    backwards = ScriptedEvaluator(task, values, order=lambda s: list(reversed(task.actions(s))), default=0.5)
    result = dfs(task, backwards, "", order="prior")
    order = [task.render(result.tree.nodes[k].key) for k in _expanded_keys(result)]
    assert order == ["(empty)", "c", "cb", "ca", "b", "bc"]  # c before the better-valued b and a; cc pruned
    assert result.solved and result.answer is not None and result.answer.text == "bca"
    assert result.config["order"] == "prior"
    with pytest.raises(InputError, match="order"):
        dfs(task, backwards, "", order="belief")


def test_dfs_prunes_below_the_threshold_and_caps_children() -> None:
    task = Spell("bca")
    values = {"a": 0.9, "b": 0.005, "c": 0.1}
    pruned = dfs(task, ScriptedEvaluator(task, values, default=0.5), "", threshold=0.01)
    assert not pruned.solved and pruned.stop_reason == "exhausted"
    assert next(n for n in pruned.tree if n.key == "b").status == "pruned"
    capped = dfs(task, ScriptedEvaluator(task, {}, default=0.5), "", max_children=1)
    assert [n.key for n in capped.tree if n.expanded_at is not None] == ["", "a", "aa"]


def test_dfs_step_limit_returns_the_best_state_seen() -> None:
    task = Spell("ccc")
    result = dfs(task, ScriptedEvaluator(task, {"a": 0.9, "aa": 0.8}, default=0.1), "", max_steps=3)
    assert result.stop_reason == "steps" and result.usage.nodes_expanded == 3
    assert result.answer is None  # the deepest, best-valued state seen is not terminal: no answer to give
    assert result.path == ("add a", "add a")


def test_best_first_path_cost_prefers_shallow_states() -> None:
    task = Spell("cab")
    values = {"a": 0.5, "b": 0.4, "c": 0.3, "aa": 0.6, "ab": 0.6, "ac": 0.6}
    greedy = best_first(task, ScriptedEvaluator(task, values), "")
    a_star = best_first(task, ScriptedEvaluator(task, values), "", path_cost=1.0)
    assert _expanded_keys(greedy)[:3] == ["", "a", "aa"]  # 0.6 at depth 2 beats 0.4 at depth 1
    assert _expanded_keys(a_star)[:4] == ["", "a", "b", "c"]  # with f = g + h, depth 1 comes first


def _expanded_keys(result: Result) -> list[Hashable]:
    by_id = {n.id: n.key for n in result.tree}
    return [by_id[i] for i in result.tree.expansion_order]


# ---- budgets ----------------------------------------------------------------------------


class FakeClock:
    """Stands in for `time` in tot.core: a second passes on every model call."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


class CostlyEvaluator(ScriptedEvaluator):
    """Every model call costs 1 call, 10 tokens and 1 second; raises Ctrl-C after `interrupt_after` calls."""

    def __init__(self, task: Any, clock: FakeClock, interrupt_after: int | None = None) -> None:
        super().__init__(task, {}, default=0.5)
        self.clock, self.interrupt_after = clock, interrupt_after

    def _charge(self) -> None:
        if self.interrupt_after is not None and self.meter.calls >= self.interrupt_after:
            raise KeyboardInterrupt
        self.meter.prompt_tokens_evaluated += 10
        self.clock.now += 1.0

    def prior(self, state: Any) -> list[Candidate[Any]]:
        self._charge()
        return super().prior(state)

    def evaluate(self, state: Any) -> float:
        if not self.task.is_terminal(state):
            self._charge()
        return super().evaluate(state)


class CostlyModel(ScriptedModel):
    """A scripted model whose every call also costs 10 evaluated tokens and 1 second."""

    def __init__(self, completions: list[str], clock: FakeClock) -> None:
        super().__init__(completions)
        self.clock = clock

    def sample(self, prompt: str, n: int, **options: Any) -> list[str]:
        self.clock.now += 1.0
        evaluated, generated = self.meter.prompt_tokens_evaluated, self.meter.generated_tokens
        texts = super().sample(prompt, n, **options)
        self.meter.prompt_tokens_evaluated, self.meter.generated_tokens = evaluated + 10, generated
        return texts


ALL = ["bfs", "dfs", "best-first", "mcts", "io", "cot", "cot-sc"]
LIMITS = {"calls": 7, "tokens": 65, "seconds": 6.5, "nodes": 4}
PER_CALL = {"calls": 1, "tokens": 10, "seconds": 1.0, "nodes": 0}
USED = {"calls": "calls", "tokens": "tokens", "seconds": "seconds", "nodes": "nodes_expanded"}


def run_strategy(name: str, budget: Budget, clock: FakeClock, interrupt_after: int | None = None) -> Result:
    game = Game24()
    if name in ("io", "cot", "cot-sc"):
        model = CostlyModel(["Steps:\n4 + 5 = 9\nAnswer: 4 + 5 + 6 + 10 = 25"] * 50, clock)
        options = {"samples": 30, "batch": 2} if name == "cot-sc" else {}
        run = strategies.get(name)
        return run(game, None, game.initial("4 5 6 10"), budget=budget, model=model, **options)
    task = Spell("zzzz", alphabet="abcd")  # never solved: the budget always binds
    evaluator = CostlyEvaluator(task, clock, interrupt_after)
    return strategies.get(name)(task, evaluator, "", budget=budget)


@pytest.mark.parametrize("kind", sorted(LIMITS))
@pytest.mark.parametrize("name", ALL)
def test_usage_never_exceeds_a_budget_by_more_than_one_call(
    name: str, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(tot.core, "time", clock)
    result = run_strategy(name, Budget(**{f"max_{kind}": LIMITS[kind]}), clock)  # type: ignore[arg-type]
    used = getattr(result.usage, USED[kind])
    assert used <= LIMITS[kind] + PER_CALL[kind]
    if name not in ("io", "cot"):  # one call each: no budget here binds them
        assert result.stop_reason == kind


class ChattyEvaluator(ScriptedEvaluator):
    """Asks a scripted model `calls_per_step` times for every prior and value, as the crossword evaluator does per clue."""

    def __init__(self, task: Any, calls_per_step: int) -> None:
        super().__init__(task, {}, default=0.5)
        self.model = ScriptedModel()
        self.meter = self.model.meter
        self.calls_per_step = calls_per_step

    def _ask(self) -> None:
        for _ in range(self.calls_per_step):
            self.model.score_continuations("clue", ["word"])

    def prior(self, state: Any) -> list[Candidate[Any]]:
        self._ask()
        actions = list(self.task.actions(state))
        return [Candidate(a, self.task.describe(state, a), 1.0 / len(actions), "scripted") for a in actions]

    def evaluate(self, state: Any) -> float:
        if not self.task.is_terminal(state):
            self._ask()
        return 0.5


@pytest.mark.parametrize("name", ["bfs", "dfs", "best-first", "mcts"])
def test_a_step_of_many_model_calls_still_stops_within_one_call_of_the_limit(name: str) -> None:
    task = Spell("zzzz", alphabet="abcd")
    evaluator = ChattyEvaluator(task, calls_per_step=6)
    result = strategies.get(name)(task, evaluator, "", budget=Budget(max_calls=9))
    assert result.stop_reason == "calls"
    assert result.usage.calls <= 9
    assert evaluator.meter.guard is None  # the search takes its guard away when it stops


def test_ctrl_c_after_a_goal_is_found_still_reports_the_interrupt() -> None:
    task = Spell("ab", alphabet="ab")
    search = Search("test", task, ScriptedEvaluator(task, {}), "", Budget(), {})

    def body() -> None:
        for child in search.expand(search.root):
            search.expand(child)
        assert search.goals  # "ab" was generated
        raise KeyboardInterrupt  # Ctrl-C before the strategy returns

    result = search.result(search.run(body))
    assert result.stop_reason == "interrupted"  # a benchmark stops instead of carrying on
    assert result.solved and result.answer is not None  # and the verified answer is kept


@pytest.mark.parametrize("name", ["bfs", "dfs", "best-first", "mcts"])
def test_ctrl_c_returns_the_tree_so_far(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(tot.core, "time", clock)
    result = run_strategy(name, Budget(), clock, interrupt_after=5)
    assert result.stop_reason == "interrupted"
    assert result.usage.calls == 5 and len(result.tree) > 1
    assert result.path  # the best path so far


def test_every_builtin_strategy_is_registered() -> None:
    assert strategies.names()[:7] == ["bfs", "dfs", "best-first", "mcts", "io", "cot", "cot-sc"]
    assert [strategies.takes_model(strategies.get(n)) for n in ALL] == [False] * 4 + [True] * 3


def test_unknown_options_are_input_errors() -> None:
    with pytest.raises(InputError, match="no option 'breadth'"):
        strategies.check_options("dfs", {"breadth": 3})
    with pytest.raises(InputError, match="no option"):
        api.solve("game24", "4 5 6 10", strategy="mcts", generator="all", valuer="oracle", simulation=3)
    strategies.check_options("mcts", {"simulations": 3, "c_puct": 2.0})


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("dfs", {"threshold": 1.5}),
        ("dfs", {"max_steps": 0}),
        ("dfs", {"max_children": -1}),
        ("mcts", {"simulations": 0}),
        ("mcts", {"c_puct": -1.0}),
        ("mcts", {"rollouts": -1}),
        ("mcts", {"rollout_weight": 2.0}),
    ],
)
def test_bad_strategy_options_are_input_errors(name: str, options: dict[str, Any]) -> None:
    with pytest.raises(InputError):
        api.solve("game24", "4 5 6 10", strategy=name, generator="all", valuer="oracle", **options)


@pytest.mark.parametrize("name", ["bfs", "dfs", "best-first", "mcts"])
@pytest.mark.parametrize("valuer", ["oracle", "uniform"])
def test_every_search_solves_game24_without_a_model(name: str, valuer: str) -> None:
    result = api.solve("game24", "4 5 6 10", strategy=name, generator="all", valuer=valuer)
    assert result.solved and result.usage.calls == 0
    assert Game24().check(Game24().initial("4 5 6 10"), result.answer.text).verified  # type: ignore[union-attr]
    assert result.as_dict()["config"]["strategy"] == name


# ---- baselines --------------------------------------------------------------------------


def test_io_verifies_the_models_answer() -> None:
    game = Game24()
    model = ScriptedModel(["Answer: (10 - 4) * (6 - 5) * 4 = 24\n"])
    result = io(game, None, game.initial("4 5 6 10"), model=model)
    assert not result.solved  # uses 4 twice
    assert result.answer is not None and "must use" in result.answer.detail
    assert model.prompts[0].endswith("Input: 4 5 6 10\n")
    assert result.usage.calls == 1 and result.stop_reason == "exhausted"


def test_cot_parses_the_answer_line_after_the_steps() -> None:
    game = Game24()
    text = "10 - 6 = 4 (left: 4 4 5)\n5 * 4 = 20 (left: 4 20)\n20 + 4 = 24 (left: 24)\nAnswer: 5 * (10 - 6) + 4 = 24"
    result = cot(game, None, game.initial("4 5 6 10"), model=ScriptedModel([text]))
    assert result.solved and result.answer is not None and result.answer.text == "5 * (10 - 6) + 4"
    assert result.path[-1].startswith("Answer:") and len(result.path) == 4
    chain = next(n for n in result.tree if n.depth == 1)
    assert chain.status == "solution" and chain.value == 1.0 and chain.source == "cot"


def test_cot_sc_votes_over_verified_answers_only() -> None:
    game = Game24()
    wrong = "Answer: 4 + 5 + 6 + 10 = 24"
    right = "Answer: (5 * (10 - 6)) + 4 = 24"
    other = "Answer: 4 * (10 - 6) + 5 = 24"  # wrong: 21
    model = ScriptedModel([wrong, wrong, wrong, right, other, "no answer here"])
    result = cot_sc(game, None, game.initial("4 5 6 10"), model=model, samples=6, batch=4)
    assert result.solved and result.answer is not None and result.answer.text == "(5 * (10 - 6)) + 4"
    assert result.usage.calls == 2 and len(result.tree) == 7
    assert [c.text for c in result.candidates] == ["4 + 5 + 6 + 10", "(5 * (10 - 6)) + 4", "4 * (10 - 6) + 5"]


def test_vote_prefers_frequent_verified_answers_and_falls_back_to_unverified() -> None:
    a, b, c = Answer("1+2", True), Answer("2 + 1", True), Answer("x", False)
    assert vote([c, c, a, b, Answer("2+1", True)]) == b
    assert vote([c, Answer("y", False), Answer("y", False)]) == Answer("y", False)
    assert vote([]) is None


def test_baselines_need_a_model_and_prompts() -> None:
    with pytest.raises(InputError, match="needs a model"):
        cot(Game24(), None, Game24().initial("4 5 6 10"))
    with pytest.raises(InputError, match="no IO/CoT prompts"):
        io(Spell(), None, "", model=ScriptedModel())
    with pytest.raises(InputError, match="samples must be positive"):
        cot_sc(Game24(), None, Game24().initial("4 5 6 10"), model=ScriptedModel(), samples=0)


def test_cli_passes_strategy_options_through() -> None:
    import json

    from typer.testing import CliRunner

    from tot.cli import app

    base = ["solve", "game24", "4", "5", "6", "10", "--generator", "all", "--evaluator", "uniform", "--json"]
    runner = CliRunner()
    mcts_run = runner.invoke(app, [*base, "--strategy", "mcts", "--simulations", "400", "--c-puct", "2"])
    assert mcts_run.exit_code == 0, mcts_run.output
    config = json.loads(mcts_run.output)["config"]
    assert (config["simulations"], config["c_puct"]) == (400, 2.0)
    dfs_run = runner.invoke(app, [*base, "--strategy", "dfs", "--set", "max_steps=2", "--threshold", "0.2"])
    assert dfs_run.exit_code == 1  # two steps cannot reach the end
    data = json.loads(dfs_run.output)
    assert (data["config"]["max_steps"], data["config"]["threshold"], data["stop_reason"]) == (2, 0.2, "steps")
    for bad in (["--strategy", "dfs", "--samples", "3"], ["--strategy", "mcts", "--set", "rollouts"]):
        wrong = runner.invoke(app, [*base, *bad])
        assert wrong.exit_code == 2 and "error:" in wrong.output and "Traceback" not in wrong.output


def test_game24_baseline_examples_are_correct_and_parse() -> None:
    from tot.tasks.game24 import ANSWER_EXAMPLES, parse_answer, parse_proposals

    game = Game24()
    for numbers, steps, answer in ANSWER_EXAMPLES:
        state = game.initial(numbers)
        expression = parse_answer(f"Answer: {answer}")
        assert expression is not None and game.check(state, expression).verified
        for line in steps:  # every step is legal and exact where it is taken
            parsed = parse_proposals(state, line)
            assert len(parsed.steps) == 1 and parsed.repaired == 0
            state = game.result(state, parsed.steps[0])
        assert game.is_goal(state)


@pytest.mark.parametrize("name", ["bfs", "best-first", "dfs"])
def test_batched_values_change_nothing_but_the_number_of_calls(name: str) -> None:
    from tests.scripted import BatchingModel
    from tests.test_game24 import verdict_score

    results = []
    for model in (ScriptedModel(score=verdict_score), BatchingModel(score=verdict_score)):
        evaluator = api.make_evaluator(Game24(), model)
        result = strategies.get(name)(Game24(), evaluator, Game24().initial("4 9 10 13"), budget=Budget(max_nodes=30))
        results.append((result, model.meter.calls))
    (single, single_calls), (batched, batched_calls) = results
    assert batched.tree.as_dict() == single.tree.as_dict() and batched.answer == single.answer
    assert batched.stop_reason == single.stop_reason
    assert batched_calls < single_calls
