"""What a learned value reads: the model's hidden states for a state's value prompt.

A state's prompt is a fixed `prefix` (shared by every state, decoded once and kept) and the
state's own `text`; the features are the hidden states of the text's tokens at the chosen
layers, pooled (`tot.models.embed`). Where the prompt comes from:

- a task (or its `prompts`) with `feature_prompt(state) -> (prefix, text)` and a
  `feature_version` string: its own (Game of 24: the verdict prompt's few-shot examples,
  then `4 9 10\\nVerdict:`);
- any other task: a generic prompt around `task.render(state)` (`generic-1`).

The version is saved with a learned value: a value learned on one prompt is refused on another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tot.models import Model, embed

GENERIC_VERSION = "generic-1"
GENERIC_PREFIX = (
    "A puzzle position follows. Can it still be completed to a correct solution by legal moves?"
    " Answer yes or no.\nPosition:"
)


@dataclass(frozen=True)
class FeatureSpec:
    """Which hidden states: the prompt's version, the layers (1..n, -1 the last), their pooling."""

    prompt: str
    layers: tuple[int, ...]
    pooling: str

    def as_dict(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "layers": list(self.layers), "pooling": self.pooling}


class FeaturePrompt:
    """The value prompt of one task as (prefix, text) pairs, and its version."""

    def __init__(self, task: Any) -> None:
        own = getattr(task, "feature_prompt", None)
        holder: Any = task
        if own is None:
            holder = getattr(task, "prompts", None)
            own = getattr(holder, "feature_prompt", None)
        self.task = task
        self._own = own
        self.version = str(getattr(holder, "feature_version", GENERIC_VERSION)) if own is not None else GENERIC_VERSION

    def split(self, state: Any) -> tuple[str, str]:
        """(prefix, text) of `state`'s prompt."""
        if self._own is None:
            return GENERIC_PREFIX, f" {self.task.render(state)}\nAnswer:"
        prefix, text = self._own(state)
        return str(prefix), str(text)


def features(model: Model, pairs: Sequence[tuple[str, str]], spec: FeatureSpec) -> np.ndarray[Any, np.dtype[np.float32]]:
    """One row of hidden-state features per (prefix, text): one model call per distinct prefix."""
    if not pairs:
        return np.zeros((0, 0), dtype=np.float32)
    groups: dict[str, list[int]] = {}
    for index, (prefix, _) in enumerate(pairs):
        groups.setdefault(prefix, []).append(index)
    rows: np.ndarray[Any, np.dtype[np.float32]] | None = None
    for prefix, members in groups.items():
        block = np.asarray(embed(model, prefix, [pairs[i][1] for i in members], layers=spec.layers, pooling=spec.pooling),
                           dtype=np.float32)
        if rows is None:
            rows = np.zeros((len(pairs), block.shape[1]), dtype=np.float32)
        rows[members] = block
    assert rows is not None
    return rows
