"""Search strategies, found by name. Third-party packages add their own through the
`tot.strategies` entry-point group: a function `(task, evaluator, root_state, *, budget, seed, **options) -> Result`.
A strategy with a keyword option `model` (the baselines) is given the model itself.
"""

from __future__ import annotations

from collections.abc import Callable
import inspect
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from tot.core import Result
from tot.errors import InputError

Strategy = Callable[..., Result]

BUILTIN = {
    "bfs": "tot.strategies.bfs:bfs",
    "dfs": "tot.strategies.dfs:dfs",
    "best-first": "tot.strategies.best_first:best_first",
    "mcts": "tot.strategies.mcts:mcts",
    "io": "tot.strategies.baselines:io",
    "cot": "tot.strategies.baselines:cot",
    "cot-sc": "tot.strategies.baselines:cot_sc",
    "refine": "tot.strategies.refine:refine",
}


def names() -> list[str]:
    """Every strategy name: built-in first, then entry points."""
    extra = sorted(ep.name for ep in entry_points(group="tot.strategies") if ep.name not in BUILTIN)
    return [*BUILTIN, *extra]


def get(name: str) -> Strategy:
    """The strategy function called `name`."""
    if name in BUILTIN:
        module, _, attr = BUILTIN[name].partition(":")
        strategy: Any = getattr(import_module(module), attr)
        return strategy  # type: ignore[no-any-return]
    for ep in entry_points(group="tot.strategies"):
        if ep.name == name:
            return ep.load()  # type: ignore[no-any-return]
    raise InputError(f"unknown strategy {name!r}; choose from {', '.join(names())}")


def takes_model(strategy: Strategy) -> bool:
    """Whether `strategy` wants the model itself (a keyword option `model`), as the baselines do."""
    return "model" in inspect.signature(strategy).parameters


def check_options(name: str, options: dict[str, Any]) -> None:
    """Raise `InputError` for an option the strategy called `name` does not take."""
    parameters = inspect.signature(get(name)).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return
    known = [p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in ("budget", "model", "seed")]
    for option in options:
        if option not in known:
            raise InputError(f"strategy {name} has no option {option!r}; its options: {', '.join(known)}")


def parse_options(assignments: list[str], kind: str = "strategy options") -> dict[str, Any]:
    """Options (of a strategy, or `kind`) from `KEY=VALUE` texts; values read as int, float, true/false, none, else
    text."""
    options: dict[str, Any] = {}
    for assignment in assignments:
        name, sep, text = assignment.partition("=")
        if not sep or not name.strip():
            raise InputError(f"{kind} take KEY=VALUE, got {assignment!r}")
        options[name.strip().replace("-", "_")] = _scalar(text.strip())
    return options


def _scalar(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
