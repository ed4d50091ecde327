"""A scripted model and evaluator for exact tests of search logic. Never used for accuracy numbers."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

from tot.core import Candidate, Meter
from tot.models import normalise


class ScriptedModel:
    """Returns given completions in order, and scores from a function of the text."""

    name = "scripted"

    def __init__(self, completions: Sequence[str] = (), score: Callable[[str, str], float] | None = None) -> None:
        self.completions = list(completions)
        self.score = score or (lambda prompt, text: -float(len(text)))
        self.meter = Meter()
        self.prompts: list[str] = []

    def _count(self, prompt: str) -> None:
        self.meter.begin_call()
        self.prompts.append(prompt)
        self.meter.calls += 1
        self.meter.prompt_tokens += len(prompt.split())
        self.meter.prompt_tokens_evaluated += len(prompt.split())

    def complete(self, prompt: str, *, max_tokens: int, temperature: float = 0.7, stop: Sequence[str] = (), grammar: str | None = None) -> str:
        self._count(prompt)
        text = self.completions.pop(0) if self.completions else ""
        self.meter.generated_tokens += len(text.split())
        return text

    def sample(self, prompt: str, n: int, *, max_tokens: int, temperature: float = 0.7, stop: Sequence[str] = (), grammar: str | None = None) -> list[str]:
        self._count(prompt)
        texts = [self.completions.pop(0) if self.completions else "" for _ in range(n)]
        self.meter.generated_tokens += sum(len(t.split()) for t in texts)
        return texts

    def score_continuations(self, prompt: str, continuations: Sequence[str]) -> list[float]:
        self._count(prompt)
        return [self.score(prompt, c) for c in continuations]

    def score_many(self, prompt: str, continuations: Sequence[str], *, expand: int = 62) -> list[float]:
        """One call for a whole word list, as the llama backend's `score_many` (scores exact here)."""
        return self.score_continuations(prompt, continuations)

    def score_labels(self, prompt: str, labels: Sequence[str]) -> list[float]:
        return normalise(self.score_continuations(prompt, labels))


class ScriptedEvaluator:
    """Candidates and values from tables keyed by the task's state key; each call counts as one model call."""

    def __init__(self, task: Any, values: dict[Hashable, float], *, order: Callable[[Any], list[Any]] | None = None, default: float = 0.0) -> None:
        self.task = task
        self.values = values
        self.default = default
        self.order = order
        self.meter = Meter()
        self.evaluated: list[Hashable] = []

    def prior(self, state: Any) -> list[Candidate[Any]]:
        self.meter.calls += 1
        actions = self.order(state) if self.order else list(self.task.actions(state))
        return [Candidate(a, self.task.describe(state, a), 1.0 / len(actions), "scripted") for a in actions]

    def evaluate(self, state: Any) -> float:
        if self.task.is_terminal(state):
            return 1.0 if self.task.is_goal(state) else 0.0
        self.meter.calls += 1
        key = self.task.key(state)
        self.evaluated.append(key)
        return self.values.get(key, self.default)


class BatchingModel(ScriptedModel):
    """A scripted model that also scores the labels of several prompts in one call."""

    def score_labels_many(self, prompts: Sequence[str], labels: Sequence[str]) -> list[list[float]]:
        self._count(prompts[0])
        return [normalise([self.score(prompt, label) for label in labels]) for prompt in prompts]
