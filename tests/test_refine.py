"""The refine strategy on a toy task: rounds of a search, each after a closer look at the last goal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from tests.scripted import ScriptedEvaluator
from tests.toy import Spell
from tot import strategies
from tot.core import Answer, Budget, Candidate, Meter
from tot.errors import InputError
from tot.strategies.refine import refine


class Words(Spell):
    """Every two-letter word over "abc" is a goal; none is known to be right."""

    def is_goal(self, state: str) -> bool:
        return len(state) == 2

    def answer(self, start: str, actions: Sequence[str]) -> Answer:
        return Answer(start + "".join(actions), False)


# What a goal looks worth before a closer look, and what it is worth after one.
GUESS = {"aa": 0.9, "ab": 0.8, "ba": 0.7, "bb": 0.68}
TRUTH = {"aa": 0.1, "ab": 0.65, "ba": 0.2, "bb": 0.95}


class Looking:
    """Ranks moves by the best goal below them, valued by its guess until `refine` has looked at it.

    Each look is one model call."""

    name = "looking"

    def __init__(self, task: Words, truth: dict[str, float] = TRUTH) -> None:
        self.task, self.truth, self.meter, self.looked = task, truth, Meter(), set[str]()

    def worth(self, goal: str) -> float:
        return (self.truth if goal in self.looked else GUESS).get(goal, 0.0)

    def evaluate(self, state: str) -> float:
        return max((self.worth(goal) for goal in GUESS if goal.startswith(state)), default=0.0)

    def prior(self, state: str) -> list[Candidate[str]]:
        actions = sorted(self.task.actions(state), key=lambda a: -self.evaluate(state + a))
        return [Candidate(a, f"add {a}", 1 / len(actions), "looking") for a in actions]

    def refine(self, state: str) -> bool:
        if state in self.looked:
            return False
        self.meter.calls += 1
        self.looked.add(state)
        return True


def test_rounds_look_at_each_goal_until_a_look_changes_nothing_and_return_the_best() -> None:
    task = Words("xx")
    evaluator = Looking(task)
    result = refine(task, evaluator, "", search="dfs", order="prior")
    # Rounds find aa (guess 0.9, worth 0.1), ab (0.8, 0.65), ba (0.7, 0.2), bb (0.68, 0.95), then bb again: converged
    assert evaluator.looked == {"aa", "ab", "ba", "bb"}
    assert result.answer is not None and result.answer.text == "bb"
    assert [f.answer.text for f in result.found] == ["aa", "ab", "bb"]  # each round that was the best so far
    assert [f.value for f in result.found] == [0.1, 0.65, 0.95]
    assert result.stop_reason == "converged" and result.strategy == "refine"
    assert result.config["rounds_run"] == 5 and result.config["inner"]["order"] == "prior"
    assert result.usage.calls == 4 and result.usage.nodes_expanded == 5 * 2  # the root and one letter per round
    assert result.path == ("add b", "add b")


def test_fewer_rounds_or_a_smaller_budget_return_the_best_goal_so_far_never_a_better_one() -> None:
    task = Words("xx")
    full = refine(task, Looking(task), "", search="dfs", order="prior")
    best = {f.answer.text: f.value for f in full.found}
    for rounds in range(1, 6):
        cut = refine(task, Looking(task), "", search="dfs", order="prior", rounds=rounds)
        assert cut.answer is not None and TRUTH[cut.answer.text] <= TRUTH[full.answer.text]  # type: ignore[union-attr]
        assert cut.answer.text in best
    by_calls = refine(task, Looking(task), "", search="dfs", order="prior", budget=Budget(max_calls=2))
    assert by_calls.answer is not None and by_calls.answer.text == "ab" and by_calls.stop_reason == "calls"
    by_nodes = refine(task, Looking(task), "", search="dfs", order="prior", budget=Budget(max_nodes=7))
    assert by_nodes.usage.nodes_expanded == 7 and by_nodes.stop_reason == "nodes"
    assert by_nodes.answer is not None and by_nodes.answer.text == "ab"  # rounds 1-3 (aa, ab, ba), round 4 cut


class ScriptedEvaluatorWithLook(ScriptedEvaluator):
    """Looks at every goal and always sees something new."""

    def __init__(self, task: Any) -> None:
        super().__init__(task, {}, default=0.5)

    def refine(self, state: Any) -> bool:
        return True


class Widening(Looking):
    """Also looks at every goal at once, when asked to look wider."""

    def widen(self) -> bool:
        fresh = set(GUESS) - self.looked
        self.looked |= fresh
        return bool(fresh)


def test_wider_looks_at_more_once_a_look_changes_nothing() -> None:
    task = Words("xx")
    stuck = dict(TRUTH, ab=0.75)  # ab looks better than ba's and bb's guesses once looked at: rounds stop there
    narrow = refine(task, Widening(task, stuck), "", search="dfs", order="prior")
    assert narrow.answer is not None and narrow.answer.text == "ab" and narrow.stop_reason == "converged"
    wide = refine(task, Widening(task, stuck), "", search="dfs", order="prior", wider=True)
    assert wide.answer is not None and wide.answer.text == "bb" and wide.stop_reason == "converged"
    assert [f.answer.text for f in wide.found] == ["aa", "ab", "bb"] and wide.config["wider"] is True


def test_a_search_that_finds_no_goal_ends_the_rounds() -> None:
    task = Spell("zz", alphabet="ab")  # no goal reachable
    result = refine(task, ScriptedEvaluatorWithLook(task), "", search="dfs")
    assert result.answer is None or not result.answer.verified
    assert result.config["rounds_run"] == 1 and result.stop_reason == "exhausted"


def test_an_evaluator_with_nothing_to_refine_gets_one_round() -> None:
    task = Words("xx")
    once = refine(task, ScriptedEvaluator(task, {}, default=0.5), "", search="dfs")
    assert once.config["rounds_run"] == 1 and once.stop_reason == "solved"  # the search's own
    assert "nothing to refine" in once.notes[-1] and once.answer is not None and once.answer.text == "aa"


def test_bad_refine_settings_are_input_errors() -> None:
    task = Words("xx")
    with pytest.raises(InputError, match="rounds"):
        refine(task, Looking(task), "", rounds=0)
    with pytest.raises(InputError, match="itself"):
        refine(task, Looking(task), "", search="refine")
    with pytest.raises(InputError, match="no option"):
        refine(task, Looking(task), "", search="dfs", breadth=3)
    assert "refine" in strategies.names()


def test_ctrl_c_during_a_look_keeps_the_rounds_so_far() -> None:
    task = Words("xx")

    class Interrupted(Looking):
        def refine(self, state: str) -> bool:
            if self.looked:
                raise KeyboardInterrupt
            return super().refine(state)

    result = refine(task, Interrupted(task), "", search="dfs", order="prior")
    assert result.stop_reason == "interrupted" and result.config["rounds_run"] == 2
    assert result.answer is not None and result.answer.text == "aa"  # looked at (0.1) beats ab's unlooked guess


class Clocked(Looking):
    """Looks only when told at least `needs` seconds are left (None otherwise), and records what it was told."""

    def __init__(self, task: Words, needs: float) -> None:
        super().__init__(task)
        self.needs, self.told = needs, list[float]()

    def refine(self, state: str, *, seconds: float | None = None) -> bool | None:
        assert seconds is not None
        self.told.append(seconds)
        return super().refine(state) if seconds >= self.needs else None


def test_on_a_clock_a_look_is_told_the_seconds_left_and_one_that_would_not_fit_stops_the_rounds() -> None:
    task = Words("xx")
    fits = Clocked(task, needs=0.0)
    result = refine(task, fits, "", search="dfs", order="prior", budget=Budget(max_seconds=600))
    assert result.answer is not None and result.answer.text == "bb" and result.stop_reason == "converged"
    assert fits.told and all(0 < t <= 600 for t in fits.told) and fits.told == sorted(fits.told, reverse=True)
    late = refine(task, Clocked(task, needs=1e6), "", search="dfs", order="prior", budget=Budget(max_seconds=600))
    assert late.stop_reason == "seconds" and late.config["rounds_run"] == 1  # the first goal, never looked at
    assert late.answer is not None and late.answer.text == "aa"
    unclocked = refine(task, Looking(task), "", search="dfs", order="prior", budget=Budget(max_seconds=600))
    assert unclocked.answer is not None and unclocked.answer.text == "bb"  # a look without `seconds`: as before


def test_a_search_from_another_root_cut_by_the_budget_reports_the_limit_not_convergence() -> None:
    task = Words("xx")
    stuck = dict(TRUTH, ab=0.75)
    cut = refine(task, Widening(task, stuck), "", search="dfs", order="prior", wider=True, budget=Budget(max_nodes=7))
    assert cut.config["roots"] == 2 and cut.stop_reason == "nodes"  # the widening root's search ran out of nodes
    whole = refine(task, Widening(task, stuck), "", search="dfs", order="prior", wider=True, budget=Budget(max_nodes=50))
    assert whole.stop_reason == "converged"
