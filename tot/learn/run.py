"""`tot learn`: searches on training puzzles, labels from them, the model's features, a head; generation after generation.

Generation 1 runs the searches you choose (default: MCTS over every legal step with no
judgement at all, `--evaluator uniform`); generation k + 1 runs the same searches guided by
generation k's value (the `learned` valuer). Each generation trains on the states of every
generation so far. Everything runs as `tot bench` runs (`tot.bench.harness`): one line per
search in `WORK/searches.jsonl`, one per chunk of embedded states in `WORK/features.jsonl`,
so an interrupted run (Ctrl-C, kill -9) resumes without redoing any; `--workers` and
`--server` spread the work. Each generation's head is saved as `WORK/genK.tot`; the best by
the held-out measures is copied to `--out`. It stops early when a generation no longer
improves the held-out AUC.
"""

from __future__ import annotations

import base64
import json
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tot.bench.config import Puzzle
from tot.bench.harness import Job, ModelSpec, Progress, Record, execute, job_key, model_spec, task_object
from tot.core import Budget
from tot.errors import InputError
from tot.learn import train
from tot.learn.features import FeaturePrompt, FeatureSpec, features
from tot.learn.labels import goal_check, label_tree
from tot.learn.valuefile import ValueFile
from tot.models import Model

DEFAULT_LAYERS = (9, 12)  # chosen on rows 0-899 (benchmarks/RESULTS.md, "Learned values")
CHUNK = 256  # states per features job
MIN_GAIN = 0.002  # a generation must raise the held-out AUC by this much to count as better


@dataclass(frozen=True)
class SearchSettings:
    """The searches of generation 1 (later generations swap in the learned valuer)."""

    strategy: str = "mcts"
    generator: str = "all"
    valuer: str = "uniform"
    budget: Budget = Budget(max_nodes=2000)
    options: tuple[tuple[str, Any], ...] = ()
    preset: str | None = None
    rollouts: int = 256  # playouts per undecided state; 0 drops undecided states


@dataclass(frozen=True)
class SearchJob:
    """One learning search: its settings, the generation, and the value guiding it (generation > 1)."""

    settings: SearchSettings
    generation: int
    value: str | None = None  # the value file of the previous generation
    value_checksum: str | None = None

    @property
    def valuer(self) -> str:
        return self.settings.valuer if self.value is None else "learned"

    @property
    def needs_model(self) -> bool:
        return self.value is not None or self.settings.generator != "all" or self.settings.valuer not in ("uniform", "oracle")

    def as_dict(self) -> dict[str, Any]:
        s = self.settings
        budget = {k: getattr(s.budget, f"max_{k}") for k in ("calls", "tokens", "seconds", "nodes")}
        return {
            "generation": self.generation,
            "preset": s.preset,
            "strategy": s.strategy,
            "generator": s.generator,
            "valuer": self.valuer,
            "value": self.value_checksum,
            "budget": {k: v for k, v in budget.items() if v is not None},
            "options": dict(s.options),
            "rollouts": s.rollouts,
        }


@dataclass(frozen=True)
class FeatureJob:
    """Embed one chunk of state prompts."""

    spec: FeatureSpec
    prefixes: tuple[str, ...]
    texts: tuple[tuple[int, str], ...]  # (prefix index, text)

    needs_model = True

    def as_dict(self) -> dict[str, Any]:
        return {"feature": self.spec.as_dict(), "prefixes": list(self.prefixes), "texts": [list(t) for t in self.texts]}


_VALUES: dict[tuple[str, str], ValueFile] = {}


def _value(path: str, checksum: str) -> ValueFile:
    """A value file loaded once per process."""
    from tot.learn import valuefile

    key = (path, checksum)
    if key not in _VALUES:
        _VALUES[key] = valuefile.load(path)
    return _VALUES[key]


def run_search(job: Job, model: Model | None) -> Record:
    """A learning search: solve, label every state the search reached, record the states (no features yet)."""
    from tot import api

    config: SearchJob = job.config
    s = config.settings
    task = task_object(job.task)
    value = None if config.value is None else _value(config.value, str(config.value_checksum))
    result = api.solve(task, job.puzzle.text, preset=s.preset, strategy=s.strategy, generator=s.generator,
                       valuer=config.valuer, budget=s.budget, model=model, seed=job.seed, value=value, **dict(s.options))
    if result.stop_reason == "interrupted":
        raise KeyboardInterrupt
    root = result.tree.root
    labelled = label_tree(task, result.tree, goal_check(task, job.puzzle.text, root), rollouts=s.rollouts, seed=job.seed)
    prompt = FeaturePrompt(task)
    prefixes: dict[str, int] = {}
    states = []
    for item in labelled:
        prefix, text = prompt.split(item.node.state)
        states.append({
            "prefix": prefixes.setdefault(prefix, len(prefixes)),
            "text": text,
            "depth": item.node.depth,
            "label": item.label,
            "reason": item.reason,
            "value": None if item.node.value is None else round(item.node.value, 6),
        })
    return {
        "solved": result.solved,
        "prompt": prompt.version,
        "prefixes": list(prefixes),
        "states": states,
        "stop_reason": result.stop_reason,
        "usage": result.usage.as_dict(),
    }


def run_features(job: Job, model: Model | None) -> Record:
    """A features job: the chunk's hidden-state features, float16, base64."""
    if model is None:
        raise InputError("embedding states needs a model")
    config: FeatureJob = job.config
    rows = features(model, [(config.prefixes[p], text) for p, text in config.texts], config.spec)
    data = rows.astype("<f2")
    return {"shape": list(data.shape), "float16": base64.b64encode(data.tobytes()).decode("ascii")}


@dataclass
class Generation:
    """What one generation did and measured."""

    number: int
    searches: int
    solved: int
    nodes: float  # mean nodes expanded per search
    seconds: float  # wall time of this generation (searches, features, training)
    labelled: dict[str, int]  # positive / negative / dropped states of this generation's searches
    examples: int  # distinct labelled states trained on (all generations so far)
    validation: dict[str, Any]
    candidates: list[dict[str, Any]]
    value: Path
    previous_on_same: float | None = None  # the previous generation's held-out score on this generation's states

    def as_dict(self) -> dict[str, Any]:
        return {
            "generation": self.number, "searches": self.searches, "solved": self.solved, "mean_nodes": round(self.nodes, 2),
            "seconds": round(self.seconds, 1), "labelled": self.labelled, "examples": self.examples,
            "validation": self.validation, "value": str(self.value),
            "previous_on_same": None if self.previous_on_same is None else round(self.previous_on_same, 4),
        }


@dataclass
class LearnSummary:
    out: Path
    work: Path
    generations: list[Generation] = field(default_factory=list)
    best: int = 0
    stopped: str = ""


def learn(
    task_name: str,
    puzzles: Sequence[Puzzle],
    out: str | Path,
    *,
    settings: SearchSettings = SearchSettings(),
    generations: int = 1,
    layers: Sequence[int] = DEFAULT_LAYERS,
    candidates: Sequence[train.Candidate] | None = None,
    validation_every: int = 10,
    work: str | Path | None = None,
    model: str | None = None,
    threads: int | None = None,
    servers: Sequence[str] = (),
    workers: int = 1,
    seed: int = 0,
    progress: Callable[[str], Progress | None] = lambda stage: None,
    report: Callable[[Generation], None] = lambda generation: None,
) -> LearnSummary:
    """Learn a value for `task_name` from searches on `puzzles`; see the module docstring."""
    if generations <= 0:
        raise InputError(f"generations must be positive, got {generations}")
    if workers <= 0:
        raise InputError(f"workers must be positive, got {workers}")
    if len(puzzles) < 2:
        raise InputError("learning needs at least 2 training puzzles (some are held out for validation)")
    out = Path(out)
    work_dir = Path(work) if work is not None else out.with_name(out.name + ".d")
    try:
        work_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"cannot make the work folder {work_dir}: {error.strerror or error}") from None
    task = task_object(task_name)
    prompt = FeaturePrompt(task)
    spec_model = model_spec(model, threads, servers)
    stored = FeatureSpec(prompt.version, (-1,), "server") if servers else FeatureSpec(prompt.version, tuple(layers), "mean+last")
    if candidates is None:
        candidates = default_candidates(stored)
    validation: set[str] = set()
    summary = LearnSummary(out, work_dir)
    records: list[Record] = []
    previous: ValueFile | None = None
    previous_path: Path | None = None
    for number in range(1, generations + 1):
        started = time.perf_counter()
        job = SearchJob(settings, number, None if previous_path is None else str(previous_path),
                        None if previous is None else _checksum(previous_path))
        identity = spec_model.identity() if job.needs_model else None
        jobs = [Job(run_search, "learn-search", task_name, p, job, seed,
                    job_key("learn-search", task_name, p.text, job.as_dict(), seed, identity)) for p in puzzles]
        searched = execute(jobs, work_dir / "searches.jsonl", spec_model, seed=seed, workers=workers,
                           progress=progress(f"generation {number}: searches"))
        records += searched.records
        if not validation:
            validation = held_out_puzzles(searched.records, validation_every, seed)
        examples = train.merge(_states(records), _prefix_table(records))
        feature_of = _features(examples, stored, spec_model, work_dir, seed, workers, progress(f"generation {number}: features"))
        train_set, held = train.split(examples, validation)
        width = _width(stored, feature_of)
        trained = train.choose(train_set, held, feature_of, stored.layers, width, candidates, seed=seed,
                               progress=progress(f"generation {number}: training"))
        chosen = trained.candidate
        spec = FeatureSpec(prompt.version, chosen.layers, "server" if servers else chosen.pooling)
        before = None
        if previous is not None:
            before = _held_score(previous, held, feature_of, stored, width)
        labelled = _count(searched.records)
        value = ValueFile(
            model=_model_record(spec_model),
            task=task.name,
            feature=spec,
            head=trained.head,
            training={
                "puzzles": len(puzzles), "rows": _rows(puzzles), "validation_puzzles": sorted(validation), "generation": number,
                "search": job.as_dict(), "labels": labelled, "examples": len(examples), "train": len(train_set),
                "held_out": len(held), "undecided": "rollouts" if settings.rollouts else "dropped",
                "rollouts": settings.rollouts, "candidate": chosen.describe(),
            },
            metrics={"validation": trained.validation, "candidates": trained.table},
        )
        path = work_dir / f"gen{number}.tot"
        value.save(path)
        generation = Generation(number, len(searched.records), sum(bool(r.get("solved")) for r in searched.records),
                                float(np.mean([r["usage"]["nodes_expanded"] for r in searched.records])),
                                time.perf_counter() - started, labelled, len(examples), trained.validation, trained.table,
                                path, before)
        summary.generations.append(generation)
        report(generation)
        now = float(trained.validation["score"])
        if before is not None and now < before + MIN_GAIN:
            summary.stopped = (f"generation {number} did not improve the held-out AUC "
                               f"({now:.4f} against {before:.4f} for generation {number - 1} on the same states)")
            break
        summary.best = number
        previous, previous_path = value, path
    best_path = work_dir / f"gen{summary.best}.tot"
    try:
        shutil.copyfile(best_path, out)
    except OSError as error:
        raise InputError(f"cannot write {out}: {error.strerror or error}") from None
    return summary


def held_out_puzzles(records: Sequence[Record], every: int, seed: int) -> set[str]:
    """1 in `every` puzzles (at least one), drawn with `seed` from the solved and the unsolved ones alike, so that
    the held-out states have both labels where the searches found both."""
    chosen: set[str] = set()
    rng = random.Random(f"validation:{seed}")
    for solved in (True, False):
        group = sorted(r["puzzle"] for r in records if bool(r.get("solved")) == solved)
        rng.shuffle(group)
        if group:
            chosen.update(group[: max(1, round(len(group) / max(2, every)))])
    return chosen


def default_candidates(stored: FeatureSpec) -> list[train.Candidate]:
    """Each stored layer alone, its tokens' mean, into an MLP of 256 ReLU units; and a logistic regression on the
    deepest. (On Game of 24's training rows, means beat last tokens and both, MLPs beat logistic regression by
    0.1-0.15 AUC at depth 1, and several layers together did no better than one.)"""
    if stored.pooling == "server":
        return [train.Candidate((-1,), "server", hidden, 1e-4) for hidden in (0, 256)]
    found = [train.Candidate((layer,), "mean", 256, 1e-4) for layer in sorted(stored.layers, reverse=True)]
    return [*found, train.Candidate((max(stored.layers),), "mean", 0, 1e-4)]


def _states(records: Sequence[Record]) -> list[dict[str, Any]]:
    """Every recorded state of the search lines, with its prefix index made global and its puzzle."""
    table = _prefix_table(records)
    index = {prefix: i for i, prefix in enumerate(table)}
    states = []
    for record in records:
        for state in record["states"]:
            states.append({**state, "prefix": index[record["prefixes"][state["prefix"]]], "puzzle": record["puzzle"]})
    return states


def _prefix_table(records: Sequence[Record]) -> list[str]:
    return list(dict.fromkeys(prefix for record in records for prefix in record["prefixes"]))


def _features(
    examples: dict[train.Key, train.Example], spec: FeatureSpec, model: ModelSpec, work: Path, seed: int, workers: int,
    progress: Progress | None,
) -> dict[train.Key, np.ndarray[Any, Any]]:
    """The stored features of every example, embedding those not yet in `work/features.jsonl`."""
    path = work / "features.jsonl"
    have = _read_features(path, spec)
    missing = sorted(key for key in examples if key not in have)
    if missing:
        prefixes = tuple(dict.fromkeys(prefix for prefix, _ in missing))
        index = {prefix: i for i, prefix in enumerate(prefixes)}
        jobs = []
        for start in range(0, len(missing), CHUNK):
            chunk = FeatureJob(spec, prefixes, tuple((index[p], t) for p, t in missing[start : start + CHUNK]))
            key = job_key("features", "", "", chunk.as_dict(), 0, model.identity())
            jobs.append(Job(run_features, "features", "-", Puzzle(f"{len(chunk.texts)} states"), chunk, seed, key))
        execute(jobs, path, model, seed=seed, workers=workers, progress=progress)
        have = _read_features(path, spec)
    return {key: have[key] for key in examples}


def _read_features(path: Path, spec: FeatureSpec) -> dict[train.Key, np.ndarray[Any, Any]]:
    from tot.bench.harness import read_records

    if not path.exists():
        return {}
    found: dict[train.Key, np.ndarray[Any, Any]] = {}
    for record in read_records([path]):
        config = record["config"]
        if config["feature"] != spec.as_dict():
            continue
        rows = np.frombuffer(base64.b64decode(record["float16"]), dtype="<f2").reshape(record["shape"])
        for (p, text), row in zip(config["texts"], rows):
            found[(config["prefixes"][p], text)] = row
    return found


def _width(stored: FeatureSpec, feature_of: dict[train.Key, np.ndarray[Any, Any]]) -> int:
    """The model's hidden size, from the stored features' width."""
    total = len(next(iter(feature_of.values())))
    return total if stored.pooling == "server" else total // (2 * len(stored.layers))


def _held_score(value: ValueFile, held: Sequence[train.Example], feature_of: dict[train.Key, np.ndarray[Any, Any]],
                stored: FeatureSpec, width: int) -> float:
    """A previous generation's head judged on this generation's held-out states."""
    if stored.pooling == "server":
        cols = np.arange(width)
    else:
        cols = train.columns(stored.layers, width, value.feature.layers, value.feature.pooling)
    x = np.stack([feature_of[e.key] for e in held]).astype(np.float32)[:, cols]
    return train.mean_auc(value.head.predict(x), held)


def _count(records: Sequence[Record]) -> dict[str, int]:
    counts = {"positive": 0, "negative": 0, "dropped": 0}
    for record in records:
        for state in record["states"]:
            label = state["label"]
            counts["dropped" if label is None else "positive" if label else "negative"] += 1
    return counts


def _model_record(spec: ModelSpec) -> dict[str, str]:
    return {"file": spec.file, "sha256": spec.sha256, "backend": "server" if spec.servers else "llama"}


def _rows(puzzles: Sequence[Puzzle]) -> str:
    rows = [p.row for p in puzzles if p.row is not None]
    if len(rows) == len(puzzles) and rows == list(range(rows[0], rows[0] + len(rows))):
        return f"{rows[0]}:{rows[-1] + 1}"
    return json.dumps([p.row if p.row is not None else p.text for p in puzzles])


def _checksum(path: Path | None) -> str | None:
    if path is None:
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return str(data.get("checksum"))
