"""The `learned` valuer: a value file's head over the model's hidden states, batched like the label values.

`LearnedValuer(task, model, value)` refuses (one `InputError`) a value file made for another
task, another prompt version, another model file or another kind of backend. `many(states)`
embeds all the states' prompts in one model call and runs the head on them. `LookaheadValuer`
(`lookahead`) values a state by the best learned value one step on; `MixedValuer` (`mixed`)
averages the learned value with the prompted label values.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tot.errors import InputError
from tot.learn import valuefile
from tot.learn.features import FeaturePrompt, features
from tot.learn.valuefile import ValueFile
from tot.models import Model, model_sha256


def model_identity(model: Model) -> dict[str, str]:
    """What a value file records of the model it was learned on: file name, sha256 and backend."""
    path = getattr(model, "path", None)
    if isinstance(path, Path):
        from tot.models import default_model_path

        try:
            default = path.resolve() == default_model_path().resolve()
        except Exception:  # the default package is not installed: hash the file itself
            default = False
        return {"file": path.name, "sha256": model_sha256(None if default else path), "backend": "llama"}
    return {"file": model.name, "sha256": "", "backend": "server" if hasattr(model, "url") else type(model).__name__}


def as_value(value: ValueFile | str | os.PathLike[str]) -> ValueFile:
    """A loaded value file, or the one at a path."""
    return value if isinstance(value, ValueFile) else valuefile.load(value)


def check(value: ValueFile, task: Any, model: Model) -> None:
    """Refuse a value learned for another task, prompt version, model or backend (one InputError)."""
    where = value.source
    if value.task != task.name:
        raise InputError(f"{where} was learned for task {value.task!r}, not {task.name!r}")
    version = FeaturePrompt(task).version
    if value.feature.prompt != version:
        raise InputError(f"{where} was learned on prompt {value.feature.prompt!r}; task {task.name} now uses {version!r}")
    mine = model_identity(model)
    theirs = value.model
    if theirs.get("backend") != mine["backend"]:
        raise InputError(f"{where} was learned on a {theirs.get('backend')} model ({theirs.get('file')}); "
                         f"this run uses a {mine['backend']} model ({mine['file']})")
    if mine["sha256"] and theirs.get("sha256") != mine["sha256"]:
        raise InputError(f"{where} was learned with model {theirs.get('file')} (sha256 {str(theirs.get('sha256'))[:12]}...); "
                         f"this run uses {mine['file']} (sha256 {mine['sha256'][:12]}...)")
    if not mine["sha256"] and theirs.get("file") != mine["file"]:
        raise InputError(f"{where} was learned with model {theirs.get('file')}; the server serves {mine['file']}")


class LearnedValuer:
    """State values from a learned head on the model's hidden states (see `tot.learn`)."""

    name = "learned"

    def __init__(self, task: Any, model: Model, value: ValueFile | str | os.PathLike[str]) -> None:
        self.value = as_value(value)
        check(self.value, task, model)
        self.task, self.model = task, model
        self.prompt = FeaturePrompt(task)

    def __call__(self, state: Any) -> float:
        return self.many([state])[0]

    def many(self, states: Sequence[Any]) -> list[float]:
        """The values of `states`, their prompts embedded in one model call."""
        if not states:
            return []
        rows = features(self.model, [self.prompt.split(state) for state in states], self.value.feature)
        if rows.shape[1] != self.value.head.width:
            raise InputError(f"the value file expects {self.value.head.width} features, the model gave {rows.shape[1]}")
        return [float(v) for v in self.value.head.predict(rows)]


class LookaheadValuer:
    """The learned value with one step of lookahead: a state whose next states are all non-terminal is
    worth the best learned value among them (all valued in the same model call); any other state, its own.

    The next states come from the task's legal actions; their values only from the head (never the
    task's goal test), so this is the learned judgement applied one step further, at the cost of
    embedding a state's children instead of the state.
    """

    name = "lookahead"

    def __init__(self, learned: LearnedValuer) -> None:
        self.learned, self.task = learned, learned.task

    def __call__(self, state: Any) -> float:
        return self.many([state])[0]

    def many(self, states: Sequence[Any]) -> list[float]:
        task = self.task
        plans: list[list[Any]] = []
        for state in states:
            children = [] if task.is_terminal(state) else [task.result(state, a) for a in task.actions(state)]
            ahead = bool(children) and not any(task.is_terminal(child) for child in children)
            plans.append(children if ahead else [state])
        distinct: dict[Any, Any] = {}
        for plan in plans:
            for item in plan:
                distinct.setdefault(task.key(item), item)
        keys = list(distinct)
        values = dict(zip(keys, self.learned.many([distinct[key] for key in keys])))
        return [max(values[task.key(item)] for item in plan) for plan in plans]


class MixedValuer:
    """The mean of a learned value and the prompted label value, weighted (`weight` on the labels)."""

    name = "mixed"

    def __init__(self, learned: LearnedValuer, labels: Any, *, weight: float = 0.5) -> None:
        if not 0.0 <= weight <= 1.0:
            raise InputError(f"the label weight must be between 0 and 1, got {weight}")
        self.learned, self.labels, self.weight = learned, labels, weight

    def __call__(self, state: Any) -> float:
        return self.many([state])[0]

    def many(self, states: Sequence[Any]) -> list[float]:
        learned = self.learned.many(states)
        labels = self.labels.many(states)
        return [(1 - self.weight) * a + self.weight * b for a, b in zip(learned, labels)]
