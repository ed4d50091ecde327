"""Thoughts the model writes: tasks whose actions no program can enumerate (a plan, a passage, a step in words).

A task says its thoughts come from the model by having two methods beside the Task ones:

- `thought_prompt(state) -> ThoughtPrompt`: the prompt the next thoughts are sampled from, with its
  stop sequences, length limit and how many to sample (or, with `propose`, one completion that lists
  several thoughts, one per line: the paper's propose prompt);
- `read_thought(state, text) -> action | None`: the action a completion stands for (the task may tidy
  or repair the text), None when it is unusable.

Its `actions(state)` may then return nothing: the `sample` generator asks the model instead. An
open-ended task (`open_ended = True`: the paper's creative writing, a TOML task without a checker) has
answers to be judged rather than puzzles to be solved: a finished state is not a dead end, and the
valuer (a vote, a value prompt) ranks it like any other.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from tot.core import Candidate
from tot.errors import InputError
from tot.models import Model


@dataclass(frozen=True)
class ThoughtPrompt:
    """How the model writes the thoughts that follow a state."""

    text: str
    samples: int = 5
    stop: tuple[str, ...] = ("\n\n",)
    max_tokens: int = 160
    temperature: float = 0.7
    propose: bool = False  # one completion listing thoughts one per line, instead of `samples` completions


@runtime_checkable
class WrittenTask(Protocol):
    """The two methods of a task whose thoughts the model writes (beside the Task methods)."""

    def thought_prompt(self, state: Any) -> ThoughtPrompt: ...
    def read_thought(self, state: Any, text: str) -> Any | None: ...


def is_written(task: Any) -> bool:
    """Whether the model writes `task`'s thoughts (it has `thought_prompt` and `read_thought`)."""
    return callable(getattr(task, "thought_prompt", None)) and callable(getattr(task, "read_thought", None))


def is_open_ended(task: Any) -> bool:
    """Whether `task`'s finished states are answers to rank, not solved-or-failed puzzles."""
    return bool(getattr(task, "open_ended", False))


_SPACE = re.compile(r"\s+")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "—": "-", "–": "-"})


def normal_text(text: str) -> str:
    """`text` folded for comparison: Unicode-normalised, straight quotes, lower case, single spaces."""
    folded = unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold()
    return _SPACE.sub(" ", folded).strip()


def check_fits(model: Model, prompt: str, max_tokens: int, what: str) -> None:
    """Raise `InputError` (with the token counts) when `prompt` plus `max_tokens` cannot fit the model's context.

    Only a model that can count its own tokens (llama.cpp) is checked; a server says so itself.
    """
    context = getattr(model, "n_ctx", None)
    count = getattr(model, "prompt_tokens", None)
    if not isinstance(context, int) or not callable(count):
        return
    tokens = len(count(prompt))
    if tokens + max_tokens > context:
        raise InputError(
            f"the {what} is {tokens} tokens; with {max_tokens} to generate it does not fit the model's context "
            f"of {context} tokens (shorten the prompt or the input)"
        )


class SampledThoughts:
    """The paper's "sample" generator: k completions of the task's thought prompt, one thought each.

    Completions that lead to the same state (the task's key: normalised text) are merged; a
    thought's prior is the share of the completions that wrote it. With a propose prompt
    (`ThoughtPrompt.propose`) one completion is read line by line instead.
    """

    name = "sample"

    def __init__(self, task: Any, model: Model, *, samples: int | None = None) -> None:
        if not is_written(task):
            raise InputError(f"task {task.name} has no thought prompt, so the sample generator cannot run on it")
        if samples is not None and samples <= 0:
            raise InputError(f"thought samples must be positive, got {samples}")
        self.task, self.model, self.samples = task, model, samples

    def __call__(self, state: Any) -> list[Candidate[Any]]:
        request: ThoughtPrompt = self.task.thought_prompt(state)
        check_fits(self.model, request.text, request.max_tokens, "thought prompt")
        if request.propose:
            completion = self.model.complete(
                request.text, max_tokens=request.max_tokens, temperature=request.temperature, stop=request.stop
            )
            texts = [line for line in completion.splitlines() if line.strip()]
            source = "propose"
        else:
            n = self.samples or request.samples
            texts = self.model.sample(
                request.text, n, max_tokens=request.max_tokens, temperature=request.temperature, stop=request.stop
            )
            source = self.name
        return self.merge(state, texts, source)

    def merge(self, state: Any, texts: Sequence[str], source: str) -> list[Candidate[Any]]:
        """The distinct usable thoughts of `texts`, most often written first, each prior its share of the texts."""
        meter = self.model.meter
        meter.proposal_lines += len(texts)
        found: dict[Any, tuple[Any, int]] = {}
        for text in texts:
            action = self.task.read_thought(state, text)
            if action is None:
                meter.proposals_malformed += 1
                continue
            key = self.task.key(self.task.result(state, action))
            first, count = found.get(key, (action, 0))
            found[key] = (first, count + 1)
        total = max(1, len(texts))
        ranked = sorted(found.values(), key=lambda item: -item[1])  # stable: ties keep the order written
        return [Candidate(action, self.task.describe(state, action), count / total, source) for action, count in ranked]
