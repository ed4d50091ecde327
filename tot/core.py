"""The roles of a search: Task (the rules), Evaluator (the judge), Budget, and what a search returns.

A task knows its domain and nothing about search; an evaluator knows the model and
nothing about search; a strategy (in `strategies/`) knows search and nothing about
the domain. They meet here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from tot.errors import InputError

S = TypeVar("S", bound=Hashable)
A = TypeVar("A")
S_in = TypeVar("S_in", contravariant=True)


@dataclass(frozen=True)
class Answer:
    """A final answer and whether the task verified it exactly."""

    text: str
    verified: bool
    detail: str = ""


@runtime_checkable
class Task(Protocol[S, A]):
    """The rules of one domain. States are immutable and hashable."""

    name: str

    def initial(self, puzzle: str) -> S:
        """The start state for `puzzle`; raise `InputError` when it is malformed."""
        ...

    def actions(self, state: S) -> Sequence[A]:
        """Every legal action in `state` (empty for a terminal state)."""
        ...

    def result(self, state: S, action: A) -> S:
        """The state after `action`. The action must be legal."""
        ...

    def is_goal(self, state: S) -> bool:
        """Whether `state` solves the puzzle (checked exactly)."""
        ...

    def is_terminal(self, state: S) -> bool:
        """Whether no action can follow `state`."""
        ...

    def key(self, state: S) -> Hashable:
        """Canonical key: two paths to the same position share one key."""
        ...

    def describe(self, state: S, action: A) -> str:
        """The thought text for taking `action` in `state`."""
        ...

    def render(self, state: S) -> str:
        """A short human- and prompt-readable form of `state`."""
        ...

    def answer(self, start: S, actions: Sequence[A]) -> Answer:
        """The final answer reached by `actions` from `start`, verified by the task."""
        ...


@dataclass(frozen=True)
class Candidate(Generic[A]):
    """A proposed thought: the action, its text, its prior, and which generator made it."""

    action: A
    thought: str
    prior: float
    source: str


class Evaluator(Protocol[S_in, A]):
    """What a strategy asks of a judge: candidate thoughts with priors, and state values in [0, 1]."""

    def prior(self, state: S_in) -> list[Candidate[A]]:
        """Candidate thoughts from `state`, best first, with priors summing to at most 1."""
        ...

    def evaluate(self, state: S_in) -> float:
        """The value of `state`: 1 for certainly solvable, 0 for dead."""
        ...


@dataclass(frozen=True)
class Budget:
    """Limits on one search; None means unlimited. Every strategy stops when one is reached."""

    max_calls: int | None = None
    max_tokens: int | None = None
    max_seconds: float | None = None
    max_nodes: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_calls", "max_tokens", "max_seconds", "max_nodes"):
            limit = getattr(self, name)
            if limit is not None and limit <= 0:
                raise InputError(f"budget {name.removeprefix('max_')} must be positive, got {limit}")


@dataclass
class Meter:
    """Mutable counters of model work, incremented by a model backend and its evaluators."""

    calls: int = 0
    prompt_tokens: int = 0
    prompt_tokens_evaluated: int = 0
    generated_tokens: int = 0
    model_seconds: float = 0.0
    llama_seconds: float = 0.0  # the part of model_seconds spent inside llama.cpp calls
    cache_hits: int = 0
    proposal_lines: int = 0
    proposals_malformed: int = 0
    proposals_illegal: int = 0
    proposals_repaired: int = 0
    label_bounds: int = 0  # labels outside a server's likeliest next tokens, valued at the k-th one's probability
    votes: int = 0  # votes asked of the model (sampled votes), and those that named no existing choice
    abstentions: int = 0
    concluded: int = 0  # abstentions given a choice by the appended conclusion (`vote-conclude`)
    # Set by a running search: raises when its budget is spent, so that an evaluator making
    # several model calls for one node stops at the limit instead of after all of them.
    guard: Callable[[], None] | None = field(default=None, repr=False, compare=False)

    def begin_call(self) -> None:
        """Called by a model backend before each model call; raises when a search's budget is spent."""
        if self.guard is not None:
            self.guard()

    def snapshot(self) -> dict[str, float]:
        return {name: value for name, value in vars(self).items() if name != "guard"}


@dataclass(frozen=True)
class Usage:
    """What one search cost."""

    calls: int = 0
    prompt_tokens: int = 0
    prompt_tokens_evaluated: int = 0
    generated_tokens: int = 0
    model_seconds: float = 0.0
    llama_seconds: float = 0.0
    cache_hits: int = 0
    proposal_lines: int = 0
    proposals_malformed: int = 0
    proposals_illegal: int = 0
    proposals_repaired: int = 0
    label_bounds: int = 0
    votes: int = 0
    abstentions: int = 0
    concluded: int = 0
    nodes_expanded: int = 0
    nodes_generated: int = 0
    seconds: float = 0.0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens_evaluated + self.generated_tokens

    def as_dict(self) -> dict[str, float]:
        return {name: round(value, 3) if isinstance(value, float) else value for name, value in vars(self).items()}


class Tracker:
    """Counts one search's work against its budget.

    `meter` is the model's counter object (None for model-free evaluators); the
    tracker reports the difference since the search started.
    """

    def __init__(self, budget: Budget, meter: Meter | None = None) -> None:
        self.budget = budget
        self.meter = meter if meter is not None else Meter()
        self.start = self.meter.snapshot()
        self.started_at = time.perf_counter()
        self.nodes_expanded = 0
        self.nodes_generated = 0
        self.interrupted = False

    def used(self, name: str) -> float:
        return self.meter.snapshot()[name] - self.start[name]

    def exhausted(self) -> str | None:
        """The name of the first limit reached, or None while there is budget left."""
        b = self.budget
        if self.interrupted:
            return "interrupted"
        if b.max_calls is not None and self.used("calls") >= b.max_calls:
            return "calls"
        if b.max_tokens is not None and (
            self.used("prompt_tokens_evaluated") + self.used("generated_tokens") >= b.max_tokens
        ):
            return "tokens"
        if b.max_nodes is not None and self.nodes_expanded >= b.max_nodes:
            return "nodes"
        if b.max_seconds is not None and time.perf_counter() - self.started_at >= b.max_seconds:
            return "seconds"
        return None

    def usage(self) -> Usage:
        now = self.meter.snapshot()
        spent = {name: now[name] - self.start[name] for name in now}
        return Usage(
            **spent,  # type: ignore[arg-type]
            nodes_expanded=self.nodes_expanded,
            nodes_generated=self.nodes_generated,
            seconds=time.perf_counter() - self.started_at,
        )


@dataclass(frozen=True)
class Found:
    """A goal an anytime search found on its way, better than every goal before it: its answer, its
    value, its path, and what the search had spent when it found it."""

    answer: Answer
    value: float
    path: tuple[str, ...]
    seconds: float
    calls: int
    nodes_expanded: int

    def as_dict(self) -> dict[str, Any]:
        return {"answer": self.answer.text, "verified": self.answer.verified, "value": round(self.value, 6),
                "seconds": round(self.seconds, 3), "calls": self.calls, "nodes_expanded": self.nodes_expanded}


@dataclass(frozen=True)
class Result:
    """What every strategy returns: the answer, the whole tree, and the cost.

    An anytime search (`dfs(anytime=True)`) also returns `found`: each better goal in the order found,
    the last being the answer; a shorter budget would have returned the last one found within it.
    """

    strategy: str
    answer: Answer | None
    path: tuple[str, ...]
    tree: Any  # tot.tree.SearchTree; Any keeps this module free of a cycle
    usage: Usage
    stop_reason: str
    candidates: tuple[Answer, ...] = ()
    notes: tuple[str, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)
    found: tuple[Found, ...] = ()

    @property
    def solved(self) -> bool:
        return self.answer is not None and self.answer.verified

    def as_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "solved": self.solved,
            "answer": None if self.answer is None else self.answer.text,
            "verified": bool(self.answer and self.answer.verified),
            "path": list(self.path),
            "candidates": [{"answer": c.text, "verified": c.verified} for c in self.candidates],
            "stop_reason": self.stop_reason,
            "notes": list(self.notes),
            "usage": self.usage.as_dict(),
            "config": self.config,
            "found": [f.as_dict() for f in self.found],
            "tree": self.tree.as_dict(),
        }
