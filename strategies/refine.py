"""Search, look closer at the answer, search again: for evaluators that score cheaply first and carefully later.

Each round runs another strategy (`search`, default dfs, with the remaining budget and `options`) and
hands the goal it returns to the evaluator's `refine(state)`: an optional method beside the Evaluator
protocol that looks closer at a state (the crossword's evaluator asks the model's reverse channel about
the grid's words) and returns True when that changed its values. Then the next round searches again on
the changed values; rounds end when a look changes nothing, after `rounds`, or with the budget. With
`wider`, a look that changes nothing is followed by the evaluator's `widen()` (optional too: look at more
of everything, True when that changed its values), and the rounds go on while it does. It returns
the round whose goal the evaluator values most, on the values of the last look, so a longer budget never
returns a worse goal on them (the rounds are the same, only cut later). `Result.found` holds each round
that was the best so far, with what had been spent by then.

On a clock (`max_seconds`), a look or widening that takes `seconds=` is told the time left; it may do part
of its work, or return None when none would fit, and the rounds then stop on "seconds" rather than run past
the budget.

When the rounds first converge, the evaluator's optional `variants(root, goal)` may offer other roots to
search from (the crossword's: the same puzzle with one clue left to its crossings, for an answer the
dictionary lacks); each gets its own rounds while the budget lasts, then (`wider`) the root its widening
ones, and every goal competes on the evaluator's values.
"""

from __future__ import annotations

import inspect
from dataclasses import replace
from typing import Any

from tot import strategies
from tot.core import Budget, Evaluator, Found, Result, Task, Tracker
from tot.errors import InputError
from tot.tree import Node

LIMITS = ("calls", "tokens", "seconds", "nodes")  # a search's stop reasons that name a budget's limit


def refine(
    task: Task[Any, Any],
    evaluator: Evaluator[Any, Any],
    root_state: Any,
    *,
    budget: Budget = Budget(),
    search: str = "dfs",
    rounds: int = 12,
    wider: bool = False,
    seed: int = 0,
    **options: Any,
) -> Result:
    """Rounds of `search` from `root_state`, each on the evaluator's values after a closer look at the last
    round's goal (see the module's docstring). An evaluator without `refine` gets one round."""
    if rounds <= 0:
        raise InputError(f"rounds must be positive, got {rounds}")
    if search == "refine":
        raise InputError("refine cannot refine itself: give another strategy as search=")
    run = strategies.get(search)
    strategies.check_options(search, options)
    look: Any = getattr(evaluator, "refine", None)
    widen: Any = getattr(evaluator, "widen", None)
    closer = callable(look)
    if not closer:  # nothing to look closer at (a model-free evaluator): the search itself, once
        rounds = 1
    tracker = Tracker(budget, getattr(evaluator, "meter", None))
    variants: Any = getattr(evaluator, "variants", None)
    roots: list[tuple[Any, bool]] = [(root_state, False)]  # where each search starts, and whether it widens
    searched = 0
    done: list[tuple[Any, Result, bool]] = []  # each round's goal, its result, and whether it was looked at
    found: list[Found] = []
    stop = "rounds"
    while searched < len(roots):
        (root, widening), searched = roots[searched], searched + 1
        for _ in range(rounds):
            rest = _remaining(budget, tracker)
            if rest is None:
                stop = tracker.exhausted() or "exhausted"
                break
            result = run(task, evaluator, root, budget=rest, seed=seed, **options)
            tracker.nodes_expanded += result.usage.nodes_expanded
            tracker.nodes_generated += result.usage.nodes_generated
            goal = _goal(result)
            if goal is None:  # from a variant: nothing to add; from the root: the search's own end
                done = done or [(None, result, False)]
                cut = result.stop_reason in LIMITS or result.stop_reason == "interrupted"
                stop = "converged" if searched > 1 and not cut else result.stop_reason
                break
            interrupted = result.stop_reason == "interrupted"
            changed, looked, late = False, not closer, False
            if closer and not interrupted and tracker.exhausted() is None:  # a look calls the model: not past the budget
                try:
                    seen = _on_clock(look, budget, tracker, goal)
                    changed, looked, late = bool(seen), seen is not None, seen is None
                    if not changed and not late and widening and callable(widen) and tracker.exhausted() is None:
                        seen = _on_clock(widen, budget, tracker)
                        changed, late = bool(seen), seen is None
                except KeyboardInterrupt:
                    interrupted = True
            done.append((goal, result, looked))
            if _best(evaluator, done) is done[-1] and (not found or found[-1].path != result.path):
                found.append(_found(result, evaluator.evaluate(goal), tracker))
            if interrupted or late:
                stop = "interrupted" if interrupted else "seconds"
                break
            if not changed:
                stop = tracker.exhausted() or ("converged" if closer else result.stop_reason)
                break
        if stop != "converged":
            break
        if searched == 1:  # the first convergence: the variants, then the root again, wider
            offered = list(variants(root_state, _best(evaluator, done)[0])) if callable(variants) else []
            roots += [(variant, False) for variant in offered]
            if wider and callable(widen):
                try:  # without variants, widen now: the next round is the root's, as when a look widens
                    wide = bool(offered) or (tracker.exhausted() is None and _on_clock(widen, budget, tracker))
                    if wide:
                        roots.append((root_state, True))
                    elif wide is None:
                        stop = "seconds"
                except KeyboardInterrupt:
                    stop = "interrupted"
                    break
    _, chosen, _ = _best(evaluator, done)
    config = {"strategy": "refine", "search": search, "rounds": rounds, "wider": wider, "rounds_run": len(done),
              "roots": searched, "seed": seed, "inner": chosen.config}
    why = "" if closer else " (the evaluator has nothing to refine)"
    also = f" from {searched} roots" if searched > 1 else ""
    notes = (*chosen.notes, f"refine: {len(done)} round(s) of {search}{also}, stopped: {stop}{why}")
    return replace(chosen, strategy="refine", usage=tracker.usage(), stop_reason=stop, config=config, notes=notes,
                   found=tuple(found))


def _on_clock(closer: Any, budget: Budget, tracker: Tracker, *args: Any) -> bool | None:
    """`closer(*args)` (a look or a widening), told the seconds left where it takes `seconds=` and the budget has
    a clock: True when it changed the values, None when no part of it would fit in that time."""
    takes = "seconds" in inspect.signature(closer).parameters
    if budget.max_seconds is None or not takes:
        return bool(closer(*args))
    seen: bool | None = closer(*args, seconds=budget.max_seconds - tracker.usage().seconds)
    return seen


def _found(result: Result, value: float, tracker: Tracker) -> Found:
    """A round's goal as the best so far, with what had been spent by then."""
    assert result.answer is not None
    usage = tracker.usage()
    return Found(result.answer, value, result.path, usage.seconds, usage.calls, usage.nodes_expanded)


def _goal(result: Result) -> Any:
    """The state of the goal a search returned (its node marked "solution"), or None."""
    solution: Node | None = next((n for n in result.tree if n.status == "solution"), None)
    return None if solution is None else solution.state


def _best(evaluator: Evaluator[Any, Any], done: list[tuple[Any, Result, bool]]) -> tuple[Any, Result, bool]:
    """The round whose goal the evaluator values most now (the first of equals), among the goals it looked at
    where there are any (a goal the budget left unlooked is valued on a guess)."""
    def rank(i: int) -> tuple[bool, float, int]:
        goal, _, looked = done[i]
        return looked, evaluator.evaluate(goal) if goal is not None else -1.0, -i

    return done[max(range(len(done)), key=rank)]


def _remaining(budget: Budget, tracker: Tracker) -> Budget | None:
    """What is left of `budget` after what `tracker` counted; None when a limit is reached."""
    usage = tracker.usage()
    spent = {"max_calls": usage.calls, "max_tokens": usage.tokens, "max_seconds": usage.seconds,
             "max_nodes": usage.nodes_expanded}
    left = {name: None if getattr(budget, name) is None else getattr(budget, name) - used for name, used in spent.items()}
    if tracker.exhausted() is not None or any(v is not None and v <= 0 for v in left.values()):
        return None
    return Budget(**left)
