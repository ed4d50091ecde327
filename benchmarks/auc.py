"""How well does a valuer rank solvable Game of 24 states above unsolvable ones? (ROC AUC against the exact solver.)

States come from real puzzles: for each puzzle, the distinct states one and two steps
from the start (three and two numbers left), the states every search of that puzzle
chooses among, sampled up to `per_depth` per depth with a seed. Each state is valued by
the chosen valuer (`labels`: one forward pass, `sample`: the paper's 3 sampled
judgements, or `oracle` / `uniform` as checks) and labelled by `Game24().solvable`.
An AUC of 0.5 is no better than a coin (the uniform valuer), 1.0 is the oracle.

One JSON line per (puzzle, valuer), written resumably like `tot bench`:

    tot auc --rows 900:1000 --valuer labels,sample --out results/auc.jsonl
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tot.api import LEARNED_VALUERS
from tot.bench.config import Puzzle, select_puzzles, split_list
from tot.bench.harness import Job, ModelSpec, Progress, Record, Summary, execute, job_key, model_name, model_spec
from tot.errors import InputError
from tot.models import Model

TASK = "game24"
VALUERS = ("labels", "sample", "oracle", "uniform", *LEARNED_VALUERS)  # learned, lookahead, mixed: with a value file


@dataclass(frozen=True)
class ValueConfig:
    """Which valuer judges the states, and how many states per depth each puzzle contributes."""

    valuer: str
    per_depth: int
    value: str = ""  # the value file (learned, mixed)
    value_checksum: str = ""

    @property
    def needs_model(self) -> bool:
        return self.valuer in ("labels", "sample", *LEARNED_VALUERS)

    def as_dict(self) -> dict[str, Any]:
        return {"valuer": self.valuer, "per_depth": self.per_depth,
                **({"value": self.value_checksum} if self.value_checksum else {})}


def roc_auc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """The probability that a random positive scores above a random negative (ties count half).

    Rank-based (Mann-Whitney U with average ranks for ties); None without both classes.
    """
    values = np.asarray(scores, dtype=float)
    positive = np.asarray(labels, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = len(values) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based average rank of each distinct score
    ranks = average_rank[inverse]
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def auc_standard_error(auc: float, n_pos: int, n_neg: int) -> float:
    """Hanley and McNeil's (1982) standard error of an AUC."""
    q1 = auc / (2 - auc)
    q2 = 2 * auc * auc / (1 + auc)
    variance = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg)
    return math.sqrt(max(variance, 0.0))


def sample_states(puzzle: str, per_depth: int, seed: int) -> list[tuple[int, Any]]:
    """Up to `per_depth` distinct states at depths 1 and 2 below the puzzle's start, chosen with `seed`."""
    from tot.tasks.game24 import Game24

    task = Game24()
    rng = random.Random(f"{seed}:{puzzle}")
    level = [task.initial(puzzle)]
    chosen: list[tuple[int, Any]] = []
    for depth in (1, 2):
        following = {task.key(s): s for state in level for s in (task.result(state, a) for a in task.actions(state))}
        level = [following[key] for key in sorted(following)]
        picked = level if len(level) <= per_depth else rng.sample(level, per_depth)
        chosen.extend((depth, state) for state in sorted(picked))
    return chosen


def run_values(job: Job, model: Model | None) -> Record:
    """A values job: value the puzzle's sampled states and label each with the exact solver."""
    from tot import api
    from tot.tasks.game24 import Game24

    config: ValueConfig = job.config
    task = Game24()
    learned = None
    if config.value:
        from tot.learn import valuefile

        learned = valuefile.load(config.value)
    evaluator = api.make_evaluator(task, model, generator="all", valuer=config.valuer, value=learned)
    before = evaluator.meter.snapshot()
    sampled = sample_states(job.puzzle.text, config.per_depth, job.seed)
    values = evaluator.evaluate_many([state for _, state in sampled])  # batched where the valuer can (labels, learned)
    states = []
    for (depth, state), value in zip(sampled, values):
        states.append({"state": task.render(state), "depth": depth, "solvable": task.solvable(state), "value": round(value, 6)})
    after = evaluator.meter.snapshot()
    used = {name: after[name] - before[name] for name in ("calls", "prompt_tokens", "prompt_tokens_evaluated", "generated_tokens")}
    return {"states": states, "usage": {name: int(value) for name, value in used.items()}}


def value_jobs(
    puzzles: Sequence[Puzzle], valuers: Sequence[str], per_depth: int, seed: int, model: ModelSpec | None,
    value: tuple[str, str] = ("", ""),
) -> list[Job]:
    jobs = []
    for valuer in valuers:
        config = ValueConfig(valuer, per_depth, *(value if valuer in LEARNED_VALUERS else ("", "")))
        identity = model.identity() if model is not None and config.needs_model else None
        for puzzle in puzzles:
            key = job_key("values", TASK, puzzle.text, config.as_dict(), seed, identity)
            jobs.append(Job(run_values, "values", TASK, puzzle, config, seed, key))
    return jobs


def run(
    *,
    rows: str | None = "900:1000",
    valuers: Sequence[str] | str = ("labels", "sample"),
    per_depth: int = 10,
    out: str = "auc-game24.jsonl",
    model: str | None = None,
    threads: int | None = None,
    seed: int = 0,
    workers: int = 1,
    progress: Progress | None = None,
    value: str | None = None,
) -> Summary:
    """Value states of the selected puzzles with each valuer, appending one line per (puzzle, valuer).

    `value`: the value file of the learned and mixed valuers."""
    names = [str(v) for v in split_list(valuers)]
    if not names:
        raise InputError("give at least one valuer")
    for name in names:
        if name not in VALUERS:
            raise InputError(f"unknown valuer {name!r}; choose from {', '.join(VALUERS)}")
    if per_depth <= 0:
        raise InputError(f"states per depth must be positive, got {per_depth}")
    if workers <= 0:
        raise InputError(f"workers must be positive, got {workers}")
    puzzles = select_puzzles(TASK, rows, [])
    needs_model = any(ValueConfig(name, per_depth).needs_model for name in names)
    spec = model_spec(model, threads) if needs_model else ModelSpec(model, threads)
    file = ("", "")
    if value:
        from tot.learn import valuefile

        file = (value, str(valuefile.load(value).as_dict()["checksum"]))
    elif set(LEARNED_VALUERS) & set(names):
        raise InputError(f"the {'/'.join(LEARNED_VALUERS)} valuers need a value file: --value FILE (made by `tot learn`)")
    jobs = value_jobs(puzzles, names, per_depth, seed, spec if needs_model else None, file)
    return execute(jobs, out, spec, seed=seed, workers=workers, progress=progress)


@dataclass(frozen=True)
class ValueRow:
    """The AUC of one valuer (on one model) over every state of the lines given."""

    task: str
    model: str
    valuer: str
    puzzles: int
    states: int
    solvable: int
    auc: float | None
    se: float | None
    auc_by_depth: tuple[float | None, ...]
    mean_solvable: float | None
    mean_unsolvable: float | None
    seconds_per_state: float


def summarize(records: Sequence[Record]) -> list[ValueRow]:
    """One row per (task, model, valuer) of the `values` lines among `records`."""
    groups: dict[tuple[str, str, str], list[Record]] = {}
    for record in records:
        if record.get("kind") != "values":
            continue
        valuer = record["config"]["valuer"]
        if record["config"].get("value"):  # one row per value file
            valuer = f"{valuer} ({record['config']['value'][:8]})"
        groups.setdefault((record["task"], model_name(record), valuer), []).append(record)
    rows = []
    for (task, model, valuer), lines in groups.items():
        states = [state for line in lines for state in line["states"]]
        scores = [float(s["value"]) for s in states]
        labels = [bool(s["solvable"]) for s in states]
        n_pos = sum(labels)
        auc = roc_auc(scores, labels)
        se = None if auc is None else auc_standard_error(auc, n_pos, len(labels) - n_pos)
        by_depth = tuple(
            roc_auc([float(s["value"]) for s in states if s["depth"] == d], [bool(s["solvable"]) for s in states if s["depth"] == d])
            for d in (1, 2)
        )
        rows.append(
            ValueRow(
                task=task,
                model=model,
                valuer=valuer,
                puzzles=len(lines),
                states=len(states),
                solvable=n_pos,
                auc=auc,
                se=se,
                auc_by_depth=by_depth,
                mean_solvable=_mean([v for v, ok in zip(scores, labels) if ok]),
                mean_unsolvable=_mean([v for v, ok in zip(scores, labels) if not ok]),
                seconds_per_state=sum(float(line["seconds"]) for line in lines) / max(len(states), 1),
            )
        )
    return rows


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None
