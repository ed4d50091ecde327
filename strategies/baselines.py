"""The paper's baselines, to show what search buys: IO, CoT and CoT-SC.

- `io`: one completion of the task's IO prompt (answer directly);
- `cot`: one chain of thought (the steps, then the answer);
- `cot_sc`: `samples` chains of thought, majority vote over the verified answers
  (over all parsed answers when none verifies).

`io` and `cot` also take `samples` (the paper's creative writing draws 10 of each): the answer is then
chosen by the same vote, and an open-ended task's candidates are every sample's answer, to be judged.
Stop sequences and lengths are the task's prompts' own where they say (`stop`, `io_max_tokens`,
`cot_max_tokens`).

They use the model directly, not the evaluator: the model comes from the `model` option
(`tot.solve` passes it), else from the evaluator's `model` attribute if it has one. The
prompts and the answer parser come from the task (`task.prompts`: `io_prompt`,
`cot_prompt`, `parse_answer`) and every answer is verified by the task's `check`. The
Result has the same shape as a search's: the tree is the root with one child per chain,
and each chain counts as one node expanded against the budget.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from collections.abc import Callable
from typing import Any, Protocol

from tot.strategies.common import Search
from tot.core import Answer, Budget, Evaluator, Result, Task
from tot.errors import InputError
from tot.models import Model
from tot.tree import Node
from tot.written import is_open_ended

STOP = ("Input:", "\n\n")


class AnswerPrompts(Protocol):
    """What a task's prompts need for the baselines."""

    def io_prompt(self, state: Any) -> str: ...
    def cot_prompt(self, state: Any) -> str: ...
    def parse_answer(self, text: str) -> str | None: ...


@dataclass(frozen=True)
class _ChainKey:
    """The tree key of a chain node: never equal to a task's state key."""

    index: int


@dataclass(frozen=True)
class _Settings:
    """One baseline run's settings."""

    name: str
    samples: int
    batch: int
    temperature: float
    max_tokens: int | None  # None: the task's prompts' own length, else MAX_TOKENS
    seed: int


def _single(name: str, doc: str) -> Callable[..., Result]:
    """A baseline (io or cot) of one chain, or of `samples` chains drawn together (the paper's creative writing
    samples 10 of each, and judges every one)."""

    def single(
        task: Task[Any, Any],
        evaluator: Evaluator[Any, Any] | None,
        root_state: Any,
        *,
        budget: Budget = Budget(),
        model: Model | None = None,
        samples: int = 1,
        temperature: float = 0.7,
        max_tokens: int | None = None,
        seed: int = 0,
    ) -> Result:
        settings = _Settings(name, samples, samples, temperature, max_tokens, seed)
        return _chains(task, evaluator, root_state, budget, model, settings)

    single.__name__ = single.__qualname__ = name
    single.__doc__ = doc
    return single


io = _single("io", "Input-output prompting: the model answers directly (once, or `samples` times).")
cot = _single("cot", "Chain of thought: the model writes the steps, then the answer (once, or `samples` times).")
MAX_TOKENS = {"io": 32, "cot": 160, "cot-sc": 160}  # unless the task's prompts say (`io_max_tokens`, `cot_max_tokens`)


def cot_sc(
    task: Task[Any, Any],
    evaluator: Evaluator[Any, Any] | None,
    root_state: Any,
    *,
    budget: Budget = Budget(),
    model: Model | None = None,
    samples: int = 10,
    batch: int = 10,
    temperature: float = 0.7,
    max_tokens: int | None = None,
    seed: int = 0,
) -> Result:
    """Self-consistent chain of thought: `samples` chains, `batch` per model call, majority vote."""
    settings = _Settings("cot-sc", samples, batch, temperature, max_tokens, seed)
    return _chains(task, evaluator, root_state, budget, model, settings)


def _chains(
    task: Task[Any, Any],
    evaluator: Evaluator[Any, Any] | None,
    root_state: Any,
    budget: Budget,
    model: Model | None,
    settings: _Settings,
) -> Result:
    """Sample chains from the task's IO or CoT prompt, verify each answer, vote."""
    name = settings.name
    llm = model if model is not None else getattr(evaluator, "model", None)
    if llm is None:
        raise InputError(f"strategy {name} needs a model")
    prompts: AnswerPrompts | None = getattr(task, "prompts", None)
    if prompts is None or not all(callable(getattr(prompts, m, None)) for m in ("io_prompt", "cot_prompt", "parse_answer")):
        raise InputError(f"task {task.name} has no IO/CoT prompts, so the {name} baseline cannot run on it")
    if settings.max_tokens is None:
        own = getattr(prompts, "io_max_tokens" if name == "io" else "cot_max_tokens", None)
        settings = replace(settings, max_tokens=own if isinstance(own, int) else MAX_TOKENS.get(name, 160))
    for option in ("samples", "batch", "max_tokens"):
        if getattr(settings, option) <= 0:
            raise InputError(f"{option} must be positive, got {getattr(settings, option)}")
    stop: tuple[str, ...] = tuple(getattr(prompts, "stop", STOP))
    check = getattr(task, "check", None)
    if not callable(check):
        raise InputError(f"task {task.name} cannot check answers, so the {name} baseline cannot run on it")
    several = name == "cot-sc" or settings.samples > 1  # a one-chain baseline's config names no samples (as before)
    config = {k: v for k, v in vars(settings).items() if k != "name" and (several or k not in ("samples", "batch"))}
    search = Search(name, task, evaluator, root_state, budget, config, meter=llm.meter)  # type: ignore[arg-type]
    prompt = prompts.io_prompt(root_state) if name == "io" else prompts.cot_prompt(root_state)
    chains: list[tuple[str, Answer | None]] = []

    def body() -> None:
        search.tree.mark_expanded(search.root)
        while len(chains) < settings.samples:
            search.check()
            n = min(settings.batch, settings.samples - len(chains))
            if budget.max_nodes is not None:
                n = min(n, budget.max_nodes - search.tracker.nodes_expanded)
            assert settings.max_tokens is not None
            texts = llm.sample(prompt, n, max_tokens=settings.max_tokens, temperature=settings.temperature, stop=stop)
            search.tracker.nodes_expanded += len(texts)
            search.tracker.nodes_generated += len(texts)
            for text in texts:
                expression = prompts.parse_answer(text)
                chains.append((text, None if expression is None else check(root_state, expression)))
            if not texts:
                break

    reason = search.run(body)
    nodes = [_add_chain(search, i, text, answer, name, 1.0 / len(chains)) for i, (text, answer) in enumerate(chains)]
    answers = [answer for _, answer in chains if answer is not None]
    chosen = vote(answers)
    path: tuple[str, ...] = ()
    if chosen is not None:
        i = next(i for i, (_, answer) in enumerate(chains) if answer is not None and _same(answer, chosen))
        path = tuple(line.strip() for line in chains[i][0].strip().splitlines() if line.strip())
        if chosen.verified:
            nodes[i].status = "solution"
    distinct: dict[str, Answer] = {}
    for answer in answers:
        distinct.setdefault(_normal(answer.text), answer)
    # An open-ended task's every sample is an output to judge, duplicates included; else the distinct answers.
    candidates = tuple(answers) if is_open_ended(task) else tuple(distinct.values())
    solved = chosen is not None and chosen.verified
    return search.finish("solved" if solved else reason, chosen, path, candidates=candidates)


def vote(answers: list[Answer]) -> Answer | None:
    """The most frequent verified answer (ties: the first drawn); the most frequent answer if none verifies."""
    pool = [a for a in answers if a.verified] or answers
    if not pool:
        return None
    counts = Counter(_normal(a.text) for a in pool)
    top = counts.most_common(1)[0][0]
    return next(a for a in pool if _normal(a.text) == top)


def _normal(text: str) -> str:
    return "".join(text.split())


def _same(a: Answer, b: Answer) -> bool:
    return _normal(a.text) == _normal(b.text)


def _add_chain(search: Search, index: int, text: str, answer: Answer | None, source: str, prior: float) -> Node:
    """One chain as a child of the root: valued 1 if its answer verified, else 0."""
    tree, root = search.tree, search.root
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    thought = " | ".join(lines) or "(no output)"
    label = answer.text if answer is not None else "(no answer)"
    node = Node(len(tree.nodes), root.state, _ChainKey(index), root, None, thought, source, prior, label)
    node.goal = answer is not None and answer.verified
    node.value = 1.0 if node.goal else 0.0
    node.status = "kept" if node.goal else "dead"
    tree.nodes[node.key] = node
    root.children.append(node)
    tree.edges.append((root.id, node.id, thought))
    return node
