"""Evaluators: turn model calls (or exact knowledge) into candidate thoughts and state values.

An evaluator is a thought generator plus a state valuer. Generators:
`propose` (the paper's prompt, parsed and recomputed exactly), `grammar` (the same,
constrained by a GBNF grammar to well-formed steps over the numbers left), `enumerate`
(every legal action, ranked by the model's likelihood), `values` (every legal action, ranked
by the valuer's values of the states they lead to, all valued in one batched call) and `all`
(every legal action, uniform prior, no model). Valuers: `sample` (the paper's value prompt, n samples),
`labels` (label probabilities from one forward pass), `oracle` (the task's exact
solver) and `uniform` (every state 0.5).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, Protocol

from tot.core import Candidate, Meter, Task
from tot.errors import InputError
from tot.models import Model, normalise, score_labels_many
from tot.written import is_open_ended


class ParsedProposals(Protocol):
    steps: Sequence[Any]
    lines: int
    malformed: int
    illegal: int
    repaired: int


class Prompts(Protocol):
    """A task's prompts in the paper's formats."""

    labels: Mapping[str, float]

    def propose_prompt(self, state: Any) -> str: ...
    def parse_proposals(self, state: Any, text: str) -> ParsedProposals: ...
    def propose_grammar(self, state: Any) -> str: ...
    def action_text(self, state: Any, action: Any) -> str: ...  # what `enumerate` scores after the propose prompt
    def value_prompt(self, state: Any) -> str: ...
    def verdict_prompt(self, state: Any) -> str: ...


class Generator(Protocol):
    name: str

    def __call__(self, state: Any) -> list[Candidate[Any]]: ...


class Valuer(Protocol):
    name: str

    def __call__(self, state: Any) -> float: ...


def label_value(probabilities: Mapping[str, float], weights: Mapping[str, float]) -> float:
    """Expected label weight, scaled into [0, 1] by the largest weight (sure=20 -> 1)."""
    top = max(weights.values())
    return sum(p * weights[label] for label, p in probabilities.items()) / top


class ProposeGenerator:
    """The paper's propose prompt: one completion lists steps; each is parsed and recomputed exactly."""

    def __init__(
        self,
        task: Task[Any, Any],
        prompts: Prompts,
        model: Model,
        *,
        constrained: bool = False,
        temperature: float = 0.7,
        max_tokens: int = 160,
    ) -> None:
        self.task, self.prompts, self.model = task, prompts, model
        self.constrained = constrained
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.name = "grammar" if constrained else "propose"

    def __call__(self, state: Any) -> list[Candidate[Any]]:
        prompt = self.prompts.propose_prompt(state)
        grammar = self.prompts.propose_grammar(state) if self.constrained else None
        text = self.model.complete(
            prompt, max_tokens=self.max_tokens, temperature=self.temperature, stop=("Input:", "\n\n"), grammar=grammar
        )
        if grammar is not None and not text.endswith("\n"):
            text = text[: text.rfind("\n") + 1]  # the grammar ends every line with a newline: the rest was cut off
        parsed = self.prompts.parse_proposals(state, text)
        meter = self.model.meter
        meter.proposal_lines += parsed.lines
        meter.proposals_malformed += parsed.malformed
        meter.proposals_illegal += parsed.illegal
        meter.proposals_repaired += parsed.repaired
        steps = list(parsed.steps)
        if not steps:
            return []
        # Earlier lines first: the model lists what it finds most natural first.
        weights = [1.0 / (rank + 1) for rank in range(len(steps))]
        total = sum(weights)
        return [
            Candidate(step, self.task.describe(state, step), w / total, self.name)
            for step, w in zip(steps, weights)
        ]


class EnumerateGenerator:
    """Every legal action, ranked by the model's log-likelihood of its thought line (a policy prior)."""

    name = "enumerate"

    def __init__(self, task: Task[Any, Any], prompts: Prompts, model: Model, *, temperature: float = 1.0) -> None:
        self.task, self.prompts, self.model = task, prompts, model
        self.temperature = temperature

    def __call__(self, state: Any) -> list[Candidate[Any]]:
        actions = list(self.task.actions(state))
        if not actions:
            return []
        if all(self.task.is_terminal(self.task.result(state, a)) for a in actions):
            # Every child is valued exactly by the task; a model ranking would change nothing.
            return [Candidate(a, self.task.describe(state, a), 1.0 / len(actions), self.name) for a in actions]
        texts = [self.prompts.action_text(state, a) for a in actions]
        logprobs = self.model.score_continuations(self.prompts.propose_prompt(state), texts)
        priors = normalise([lp / self.temperature for lp in logprobs])
        ranked = sorted(range(len(actions)), key=lambda i: -priors[i])
        return [Candidate(actions[i], self.task.describe(state, actions[i]), priors[i], self.name) for i in ranked]


class ChildValues:
    """Every legal action, its prior the value of the state it leads to (`value ** (1 / temperature)`, normalised).

    `values` values several states at once (a `ThoughtEvaluator`'s `evaluate_many`): one batched
    model call per expansion, and the children's values are then known (cached) when a search asks.
    """

    name = "values"

    def __init__(
        self, task: Task[Any, Any], values: Callable[[Sequence[Any]], list[float]], *, temperature: float = 1.0
    ) -> None:
        self.task, self.values = task, values
        self.temperature = temperature

    def __call__(self, state: Any) -> list[Candidate[Any]]:
        actions = list(self.task.actions(state))
        if not actions:
            return []
        values = self.values([self.task.result(state, a) for a in actions])
        priors = normalise([math.log(max(v, 1e-9)) / self.temperature for v in values])
        ranked = sorted(range(len(actions)), key=lambda i: -priors[i])
        return [Candidate(actions[i], self.task.describe(state, actions[i]), priors[i], self.name) for i in ranked]


class AllActions:
    """Every legal action with a uniform prior; no model."""

    name = "all"

    def __init__(self, task: Task[Any, Any]) -> None:
        self.task = task

    def __call__(self, state: Any) -> list[Candidate[Any]]:
        actions = list(self.task.actions(state))
        return [Candidate(a, self.task.describe(state, a), 1.0 / len(actions), self.name) for a in actions]


class SampledValuer:
    """The paper's value prompt: n sampled judgements, label weights averaged."""

    name = "sample"

    def __init__(self, prompts: Prompts, model: Model, *, n: int = 3, temperature: float = 0.7, max_tokens: int = 64):
        if n <= 0:
            raise InputError(f"value samples must be positive, got {n}")
        self.prompts, self.model, self.n = prompts, model, n
        self.temperature, self.max_tokens = temperature, max_tokens

    def __call__(self, state: Any) -> float:
        texts = self.model.sample(
            self.prompts.value_prompt(state),
            self.n,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            stop=("Numbers:", "\n\n"),
        )
        weights = self.prompts.labels
        counts = {label: 0.0 for label in weights}
        for text in texts:
            label = _last_label(text, weights)
            if label is not None:
                counts[label] += 1.0 / self.n
        return label_value(counts, weights)


def _last_label(text: str, labels: Mapping[str, float]) -> str | None:
    for line in reversed(text.strip().lower().splitlines()):
        for label in labels:
            if label in line:
                return label
    return None


class LabelValuer:
    """Label probabilities after the verdict prompt, read from one forward pass."""

    name = "labels"

    def __init__(self, prompts: Prompts, model: Model) -> None:
        self.prompts, self.model = prompts, model
        self.labels = list(prompts.labels)

    def __call__(self, state: Any) -> float:
        probabilities = self.model.score_labels(self.prompts.verdict_prompt(state), [" " + lab for lab in self.labels])
        return label_value(dict(zip(self.labels, probabilities)), self.prompts.labels)

    def many(self, states: Sequence[Any]) -> list[float]:
        """The values of `states`, their verdict prompts scored in one model call where the model can."""
        verdicts = [self.prompts.verdict_prompt(state) for state in states]
        scores = score_labels_many(self.model, verdicts, [" " + lab for lab in self.labels])
        return [label_value(dict(zip(self.labels, probabilities)), self.prompts.labels) for probabilities in scores]


class OracleValuer:
    """Exact: 1 if the task's solver says the state can still be solved, else 0. An upper bound."""

    name = "oracle"

    def __init__(self, task: Any) -> None:
        if not hasattr(task, "solvable"):
            raise InputError(f"task {task.name} has no exact solver, so it has no oracle evaluator")
        self.task = task

    def __call__(self, state: Any) -> float:
        return 1.0 if self.task.solvable(state) else 0.0


class UniformValuer:
    """Every state is worth 0.5: search with no judgement at all. A lower bound."""

    name = "uniform"

    def __call__(self, state: Any) -> float:
        return 0.5


class ThoughtEvaluator:
    """A generator and a valuer behind the two-method Evaluator interface, with a value cache.

    Terminal states are valued exactly by the task (1 for a goal, 0 otherwise), except the finished
    answers of an open-ended task, which the valuer values; a state whose canonical key was valued
    before costs no second model call.
    """

    def __init__(self, task: Task[Any, Any], generator: Generator, valuer: Valuer, meter: Meter | None = None):
        self.task, self.generator, self.valuer = task, generator, valuer
        self.meter = meter if meter is not None else Meter()
        self.cache: dict[Hashable, float] = {}
        self.name = f"{generator.name}+{valuer.name}"

    def prior(self, state: Any) -> list[Candidate[Any]]:
        return self.generator(state)

    def exact(self, state: Any) -> bool:
        """Whether the task values `state` itself: a finished state, unless the task is open-ended."""
        return self.task.is_terminal(state) and not is_open_ended(self.task)

    def evaluate(self, state: Any) -> float:
        if self.exact(state):
            return 1.0 if self.task.is_goal(state) else 0.0
        key = self.task.key(state)
        if key in self.cache:
            self.meter.cache_hits += 1
            return self.cache[key]
        value = self.valuer(state)
        if not math.isfinite(value):
            value = 0.0
        self.cache[key] = value
        return value

    def evaluate_many(self, states: Sequence[Any]) -> list[float]:
        """`evaluate` of each state, the uncached ones valued together where the valuer has `many`.

        The values, the cache and its hit count are those of evaluating the states one by one.
        """
        many = getattr(self.valuer, "many", None)
        if many is None:
            return [self.evaluate(state) for state in states]
        fresh: dict[Hashable, Any] = {}
        for state in states:
            if not self.exact(state):
                key = self.task.key(state)
                if key not in self.cache:
                    fresh.setdefault(key, state)
        if fresh:
            for key, value in zip(fresh, many(list(fresh.values()))):
                self.cache[key] = value if math.isfinite(value) else 0.0
        values = [self.evaluate(state) for state in states]  # now terminal or cached, so no model call
        self.meter.cache_hits -= len(fresh)  # the first look-up of a fresh key is no hit
        return values
