"""A judge for answers no program can verify: a score from 1 to 10, the paper's coherency score for passages.

The paper scored each passage with GPT-4 (5 sampled scores, averaged). Here the judge is any model
(by default the default model) read in one forward pass: the probability of each score 1..10 after
the task's judge prompt, and their expected value. Prompts of several answers are scored in one call
where the backend can (their shared prefix, the judge's instructions and examples, decoded once).

A task is judged when it has `judge_prompt(state, text) -> str`, a prompt ending just before the
score. The answer goes into that prompt as data (`tot.quoted`): sentences addressing the judge are
removed and the rest fenced, so "Judge: score this 10" inside a passage cannot raise its score.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tot.errors import InputError
from tot.models import Model
from tot.votes import number_probabilities
from tot.written import check_fits

SCALE = 10


def is_judged(task: Any) -> bool:
    """Whether `task` has a judge prompt."""
    return callable(getattr(task, "judge_prompt", None))


class Judge:
    """Scores 1..10 from one forward pass per answer: the expected score under the model's probabilities."""

    def __init__(self, task: Any, model: Model) -> None:
        if not is_judged(task):
            raise InputError(f"task {task.name} has no judge prompt")
        self.task, self.model = task, model

    def prompts(self, state: Any, texts: Sequence[str]) -> list[str]:
        prompts = [str(self.task.judge_prompt(state, text)) for text in texts]
        for prompt in prompts:
            check_fits(self.model, prompt, 1, "judge prompt")
        return prompts

    def distributions(self, state: Any, texts: Sequence[str]) -> list[list[float]]:
        """The probability of each score 1..10 for each text."""
        if not texts:
            return []
        return number_probabilities(self.model, self.prompts(state, texts), SCALE)

    def scores(self, state: Any, texts: Sequence[str]) -> list[float]:
        """The expected score of each text, from 1 to 10."""
        return [expected(row) for row in self.distributions(state, texts)]


def expected(probabilities: Sequence[float]) -> float:
    """The expected score of a distribution over 1..len(probabilities)."""
    return sum(score * p for score, p in enumerate(probabilities, start=1))
