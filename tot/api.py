"""The library in a few calls: `solve`, `check`, `load_model`, `connect`, `make_evaluator`.

    import tot
    result = tot.solve("game24", "4 9 10 13")
    print(result.answer.text if result.solved else f"no solution ({result.stop_reason})", result.usage.calls)
    graph = result.tree.to_networkx()
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from tot import tasks
from tot.core import Answer, Budget, Meter, Result
from tot.errors import InputError, TotError
from tot.evaluators import (
    AllActions,
    ChildValues,
    EnumerateGenerator,
    LabelValuer,
    OracleValuer,
    ProposeGenerator,
    SampledValuer,
    ThoughtEvaluator,
    UniformValuer,
)
from tot.models import Model
from tot.votes import OnePassVote, SampledVote, VoteEvaluator
from tot.written import SampledThoughts, is_open_ended

# task: the task's own (`task.model_evaluator`); sample: thoughts the model writes (`tot.written`)
GENERATORS = ("enumerate", "values", "propose", "grammar", "all", "task", "sample")
LEARNED_VALUERS = ("learned", "lookahead", "mixed")  # a value file's head (tot.learn.valuer): need `value`
VOTERS = ("vote", "vote-conclude", "vote-pass", "vote-rotate")  # `tot.votes`
VALUERS = ("labels", "sample", "oracle", "uniform", "task", *VOTERS, *LEARNED_VALUERS)
MODEL_VALUERS = ("labels", "sample", "task", *VOTERS, *LEARNED_VALUERS)


@dataclass(frozen=True)
class Preset:
    """A named search configuration."""

    strategy: str
    generator: str
    valuer: str
    options: tuple[tuple[str, Any], ...]
    description: str
    seconds: float | None = None  # an anytime preset's default budget, when no seconds or nodes budget is given


PRESETS = {
    "fast": Preset(
        "mcts",
        "enumerate",
        "labels",
        (),
        "MCTS (PUCT) over every legal step, the model's likelihood of each step as its prior, one-pass label values",
    ),
    "paper": Preset(
        "bfs",
        "propose",
        "sample",
        (("breadth", 5), ("backtrack", False)),
        "the paper's ToT-BFS: propose prompt, 3 sampled values, beam 5, no backtracking",
    ),
    "crossword": Preset(
        "refine",
        "task",
        "task",
        (("search", "dfs"), ("order", "prior"), ("max_steps", 100)),
        "rounds of depth-first search on the crossword's own evaluator (every dictionary word scored per clue, "
        "re-ranked, plus the reverse channel: how likely each clue is as a definition of the word): fills in "
        "belief-propagation order, most believed word first, backtracking from dead boards, to the first complete "
        "grid of dictionary words (at most 100 expansions); then the reverse channel is asked about that grid's words "
        "and the search runs again, until a grid holds no word not asked (at most 12 rounds; no clock, so a busy "
        "machine gets the same grid)",
    ),
    "crossword-anytime": Preset(
        "refine",
        "task",
        "task",
        (("search", "dfs"), ("order", "prior"), ("max_steps", 100), ("rounds", 1000), ("wider", True)),
        "the crossword preset that goes on until the budget (default 60 s) runs out: once a round finds no word "
        "not yet asked, the reverse channel is asked about each clue's next 20 words by the forward scores, and "
        "the rounds go on; it keeps the best grid by the objective (`--json` lists each better grid, with the "
        "seconds spent by then)",
        seconds=60.0,
    ),
    "vote": Preset(
        "bfs",
        "sample",
        "vote",
        (("breadth", 1), ("backtrack", False)),
        "the paper's creative-writing ToT: the model writes k = 5 thoughts per step (a plan, then a passage), "
        "5 sampled votes keep the best one (breadth 1)",
    ),
    "value": Preset(
        "bfs",
        "sample",
        "labels",
        (("breadth", 5),),
        "ToT-BFS over model-written thoughts (k samples per step), valued by the task's value prompt in one pass "
        "(label probabilities), beam 5",
    ),
}

DEFAULT_BUDGET = Budget(max_calls=300)

_MODELS: dict[tuple[Any, ...], Model] = {}


def load_model(
    path: str | os.PathLike[str] | None = None,
    *,
    threads: int | None = None,
    n_gpu_layers: int | None = None,
    seed: int = 0,
    chat: bool = False,
    server: str | None = None,
) -> Model:
    """A GGUF model through llama.cpp, loaded once per process and kept warm (default: Gemma 3 270M).

    With `server` (an OpenAI-compatible server's URL), the model that server serves instead
    (see `connect`). With `chat`, every prompt is sent as a user message in the model's chat
    template, read from the GGUF's metadata (with a server: from the GGUF at `path`, the
    default model's when None, which should be the model the server serves).
    """
    if server is not None:
        return connect(server, seed=seed, chat_template_from=path if chat else None, chat=chat)

    def make() -> Model:
        from tot.models.llama import load

        return load(path, threads=threads, n_gpu_layers=n_gpu_layers, seed=seed, chat=chat)

    return _kept((None if path is None else os.fspath(path), threads, n_gpu_layers, chat), make, seed)


def connect(
    url: str,
    *,
    seed: int = 0,
    chat: bool = False,
    chat_template_from: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
) -> Model:
    """The model served by the OpenAI-compatible server at `url` (vLLM, llama.cpp's servers, ...), kept per process.

    Checks that the server answers. `chat` applies the chat template of the GGUF at
    `chat_template_from` (default: the default model's) here, before prompts are sent.
    """
    from tot.models import server as http

    def make() -> Model:
        template = None
        if chat:
            from tot.models.chat import model_template
            from tot.models import resolve_model_path

            template = model_template(resolve_model_path(chat_template_from))
        return http.connect(url, seed=seed, chat_template=template, timeout=timeout or http.DEFAULT_TIMEOUT)

    key = ("server", http.base_url(url), chat, None if chat_template_from is None else os.fspath(chat_template_from))
    return _kept(key, make, seed)


def _kept(key: tuple[Any, ...], make: Callable[[], Model], seed: int) -> Model:
    """The model kept under `key` (made by `make` on first use), reseeded to `seed`."""
    model = _MODELS.get(key)
    if model is None:
        model = _MODELS[key] = make()
    reseed = getattr(model, "reseed", None)
    if reseed is not None:
        reseed(seed)
    return model


def make_evaluator(
    task: Any,
    model: Model | None,
    *,
    generator: str = "enumerate",
    valuer: str = "labels",
    value_samples: int = 3,
    value: Any = None,
) -> ThoughtEvaluator | VoteEvaluator:
    """Combine a thought generator and a state valuer (see `tot.evaluators`, `tot.written`, `tot.votes`) for `task`.

    `value`: a learned value (a `tot.learn.valuefile.ValueFile` or its path), for the valuers
    `learned`, `lookahead` (the best learned value one step on) and `mixed` (learned and prompted
    label values averaged)."""
    if generator not in GENERATORS:
        raise InputError(f"unknown generator {generator!r}; choose from {', '.join(GENERATORS)}")
    if valuer not in VALUERS:
        raise InputError(f"unknown evaluator {valuer!r}; choose from {', '.join(VALUERS)}")
    needs_model = generator not in ("all", "values") or valuer in MODEL_VALUERS
    if needs_model and model is None:
        raise InputError(f"generator {generator!r} with evaluator {valuer!r} needs a model")
    forget = getattr(task, "forget_evaluator", None)  # a task whose metrics read its own evaluator's scores
    if callable(forget):
        forget()  # ... reads them only for a search that used that evaluator (set again below)
    if "task" in (generator, valuer):
        own = getattr(task, "model_evaluator", None)
        if own is None:
            raise InputError(f"task {task.name} has no evaluator of its own (generator/evaluator 'task')")
        evaluator: ThoughtEvaluator = own(model, generator=generator, valuer=valuer)
        return evaluator
    if generator == "sample" or valuer in VOTERS:
        return _written(task, model, generator, valuer, value_samples, value)  # type: ignore[arg-type]
    prompts = getattr(task, "prompts", None)
    needs_prompts = generator in ("enumerate", "propose", "grammar") or valuer in ("labels", "sample", "mixed")
    if needs_prompts and prompts is None:
        free = "oracle or uniform" if hasattr(task, "solvable") else "uniform (it has no exact solver for oracle)"
        raise InputError(f"task {task.name} has no prompts, so it runs only with --generator all and --evaluator {free}"
                         " (or a value learned by `tot learn`: --evaluator learned --value FILE)")
    gen: Any
    if generator == "enumerate":
        gen = EnumerateGenerator(task, prompts, model)  # type: ignore[arg-type]
    elif generator in ("propose", "grammar"):
        gen = ProposeGenerator(task, prompts, model, constrained=generator == "grammar")  # type: ignore[arg-type]
    elif generator == "all":
        gen = AllActions(task)
    val: Any
    if valuer == "labels":
        val = LabelValuer(prompts, model)  # type: ignore[arg-type]
    elif valuer == "sample":
        val = SampledValuer(prompts, model, n=value_samples)  # type: ignore[arg-type]
    elif valuer in LEARNED_VALUERS:
        val = _learned(task, model, value, valuer)
    elif valuer == "oracle":
        val = OracleValuer(task)
    else:
        val = UniformValuer()
    meter = model.meter if model is not None else Meter()
    if generator == "values":  # the prior comes from the evaluator's own (batched, cached) values
        evaluator = ThoughtEvaluator(task, AllActions(task), val, meter)
        evaluator.generator = ChildValues(task, evaluator.evaluate_many)
        evaluator.name = f"values+{val.name}"
        return evaluator
    return ThoughtEvaluator(task, gen, val, meter)


def _learned(task: Any, model: Any, value: Any, kind: str) -> Any:
    """The learned valuer of `value`, with one step of lookahead, or mixed with the label values (`tot.learn.valuer`)."""
    from tot.learn.valuer import LearnedValuer, LookaheadValuer, MixedValuer

    if value is None:
        raise InputError(f"the {kind} evaluator needs a value file (--value FILE; make one with `tot learn`)")
    learned = LearnedValuer(task, model, value)
    if kind == "learned":
        return learned
    if kind == "lookahead":
        return LookaheadValuer(learned)
    prompts = getattr(task, "prompts", None)
    if prompts is None:
        raise InputError(f"task {task.name} has no prompts, so its learned value cannot be mixed with label values")
    return MixedValuer(learned, LabelValuer(prompts, model))


def _written(
    task: Any, model: Model, generator: str, valuer: str, value_samples: int, value: Any = None
) -> ThoughtEvaluator | VoteEvaluator:
    """Evaluators with thoughts the model writes (generator `sample`), or valued by votes among states."""
    gen: Any
    if generator == "sample":
        gen = SampledThoughts(task, model)
    elif generator == "values":
        raise InputError(f"generator 'values' does not combine with evaluator {valuer!r}")
    else:
        gen = make_evaluator(task, model, generator=generator, valuer="uniform").generator
    if valuer in ("vote", "vote-conclude"):
        return VoteEvaluator(task, gen, SampledVote(task, model, conclude=valuer == "vote-conclude"), model.meter)
    if valuer in ("vote-pass", "vote-rotate"):
        return VoteEvaluator(task, gen, OnePassVote(task, model, rotate=valuer == "vote-rotate"), model.meter)
    needed = {"labels": "verdict_prompt", "sample": "value_prompt"}.get(valuer)
    if needed is not None and not callable(getattr(getattr(task, "prompts", None), needed, None)):
        raise InputError(f"task {task.name} has no value prompt, so it has no {valuer!r} values; try --evaluator vote")
    evaluator = make_evaluator(task, model, generator="all", valuer=valuer, value_samples=value_samples, value=value)
    assert isinstance(evaluator, ThoughtEvaluator)
    evaluator.generator = gen
    evaluator.name = f"{gen.name}+{evaluator.valuer.name}"
    return evaluator


def solve(
    task: str | Any,
    puzzle: str,
    *,
    preset: str | None = None,
    strategy: str | None = None,
    generator: str | None = None,
    valuer: str | None = None,
    budget: Budget = DEFAULT_BUDGET,
    model: Model | None = None,
    model_path: str | os.PathLike[str] | None = None,
    server: str | None = None,
    chat: bool = False,
    seed: int = 0,
    evaluator: str | None = None,
    value: Any = None,
    **options: Any,
) -> Result:
    """Search for a solution of `puzzle`; returns a Result with the answer, the tree and the usage.

    `preset` picks defaults (`fast`, `paper`, `crossword`, `crossword-anytime`; default: the task's own `preset`, else
    `fast`); `strategy`, `generator`, `valuer` (or `evaluator`, its name in the CLI) and
    strategy `options` (e.g. `breadth=5`) override them. The default model is loaded
    on first use unless `model` is given or no model is needed; `server` uses the model
    of an OpenAI-compatible server instead and `chat` the model's chat template (see `load_model`).
    `value` (a file made by `tot learn`, or a loaded `ValueFile`) makes the default valuer `learned`, and where
    the preset ranks steps by the model (`fast`), ranks them by the learned values of the states they lead to.
    """
    from tot import strategies

    if evaluator is not None and valuer is not None and evaluator != valuer:
        raise InputError(f"evaluator={evaluator!r} and valuer={valuer!r} name the same setting; give one")
    valuer = valuer or evaluator
    task_obj = _task(task)
    preset = preset or getattr(task_obj, "preset", "fast")
    if preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    chosen = PRESETS[preset]
    if chosen.seconds is not None and budget.max_seconds is None and budget.max_nodes is None:
        budget = replace(budget, max_seconds=chosen.seconds)
    strategy = strategy or chosen.strategy
    if value is not None and valuer is None and generator is None and chosen.generator == "enumerate":
        generator = "values"  # a learned value also ranks the steps: the value of the state each leads to
    generator = generator or chosen.generator
    valuer = valuer or ("learned" if value is not None else chosen.valuer)
    run = strategies.get(strategy)
    root = tasks.start(task_obj, puzzle)
    needs_model = strategies.takes_model(run) or generator != "all" or valuer in MODEL_VALUERS
    if needs_model and model is None:
        model = load_model(model_path, seed=seed, chat=chat, server=server)
    judge = make_evaluator(task_obj, model, generator=generator, valuer=valuer, value=value)
    merged = dict(chosen.options) if strategy == chosen.strategy else {}
    merged.update(options)
    strategies.check_options(strategy, merged)
    if strategies.takes_model(run):
        merged["model"] = model
    try:
        result = run(task_obj, judge, root, budget=budget, seed=seed, **merged)
    except Exception as error:
        if isinstance(error, TotError) or not tasks.raised_by_user_task(task_obj, error):
            raise
        raise InputError(f"task {task_obj.name}: {type(error).__name__} during the search: {error}") from error
    for answer in (result.answer, *result.candidates):
        if answer is not None and not isinstance(answer, Answer):
            raise InputError(f"task {task_obj.name}: answer() must return tot.Answer, got {type(answer).__name__}")
    config = {
        **result.config,
        "task": task_obj.name,
        "puzzle": puzzle,
        "preset": preset,
        "generator": generator,
        "evaluator": valuer,
        "model": None if model is None else model.name,
        **({"open_ended": True} if is_open_ended(task_obj) else {}),
    }
    return replace(result, config=config)


def check(task: str | Any, puzzle: str, answer: str) -> Answer:
    """Verify a user-supplied answer to `puzzle` with the task's own rules."""
    task_obj = _task(task)
    verify = getattr(task_obj, "check", None)
    if verify is None:
        raise InputError(f"task {task_obj.name} cannot check answers")
    result: Answer = verify(tasks.start(task_obj, puzzle), answer)
    return result


def _task(task: str | Any) -> Any:
    """The task named `task`, or the task object itself once its methods are checked."""
    if isinstance(task, str):
        return tasks.get(task)
    tasks.validate(task)
    return task
