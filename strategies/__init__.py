"""Search strategies, found by name. Third-party packages add their own through the
`tot.strategies` entry-point group: a function `(task, evaluator, root_state, *, budget, seed, **options) -> Result`.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from tot.core import Result
from tot.errors import InputError

Strategy = Callable[..., Result]

BUILTIN = {
    "bfs": "strategies.bfs:bfs",
    "best-first": "strategies.best_first:best_first",
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
