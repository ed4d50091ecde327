"""From labelled states and their features to a chosen, calibrated head.

The states of every search so far are merged by prompt (a state seen in several puzzles is one
example; it is positive if any search proved it so, since a positive label is always exact).
Training: the states the training puzzles' searches reached. Validation: the states the held-out
puzzles' searches reached, whether or not a training search reached them too, as at test time
(Game of 24 puzzles share many states); the AUC on the validation states no training search
reached is reported beside it. Each candidate (layers, pooling, hidden units) is trained on the
training states, stopped early at its best validation AUC and judged by its AUC at each search
depth; the best mean wins.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tot.bench.harness import NoProgress, Progress
from tot.errors import InputError
from tot.learn.head import Head, fit

Key = tuple[str, str]  # (prefix, text) of a state's prompt
EPOCHS = 80  # at most, per candidate (each stops early at its best held-out score)


@dataclass
class Example:
    """One distinct state prompt with its label, the depth it was first seen at and the puzzles that reached it."""

    key: Key
    depth: int
    label: bool
    puzzles: set[str]
    reasons: set[str]


@dataclass(frozen=True)
class Candidate:
    """One head to try: which stored layers and poolings it reads, and its size."""

    layers: tuple[int, ...]
    pooling: str  # mean, last or mean+last
    hidden: int
    decay: float

    def describe(self) -> str:
        size = "logistic" if not self.hidden else f"MLP {self.hidden}"
        return f"layers {','.join(map(str, self.layers))} {self.pooling}, {size}, decay {self.decay:g}"


def merge(states: Iterable[Mapping[str, Any]], prefixes: Sequence[str]) -> dict[Key, Example]:
    """The labelled states of search lines (`states` entries: prefix index, text, depth, label, reason, puzzle)."""
    examples: dict[Key, Example] = {}
    for state in states:
        label = state.get("label")
        if label is None:
            continue
        key = (prefixes[int(state["prefix"])], str(state["text"]))
        example = examples.get(key)
        if example is None:
            examples[key] = Example(key, int(state["depth"]), bool(label), {str(state["puzzle"])}, {str(state["reason"])})
        else:
            example.label = example.label or bool(label)
            example.depth = min(example.depth, int(state["depth"]))
            example.puzzles.add(str(state["puzzle"]))
            example.reasons.add(str(state["reason"]))
    return examples


def split(examples: Mapping[Key, Example], validation: set[str]) -> tuple[list[Example], list[Example]]:
    """(training, validation) examples: those reached by a training puzzle, and those reached by a
    validation puzzle (a state reached by both is in both)."""
    train = [e for e in examples.values() if e.puzzles - validation]
    held = [e for e in examples.values() if e.puzzles & validation]
    return train, held


def mean_auc(scores: np.ndarray[Any, Any], examples: Sequence[Example]) -> float:
    """`score` of the depth AUCs, or the AUC over all depths where no depth has enough of both labels."""
    by_depth = depth_aucs(scores, examples)
    if by_depth:
        return score(by_depth)
    overall = auc(scores, [e.label for e in examples])
    return -math.inf if overall is None else overall


def columns(stored_layers: Sequence[int], width: int, layers: Sequence[int], pooling: str) -> np.ndarray[Any, Any]:
    """The columns of stored `mean+last` features (per layer: mean, then last) that a candidate reads."""
    picked = []
    for layer in layers:
        base = stored_layers.index(layer) * 2 * width
        if pooling in ("mean", "mean+last"):
            picked.append(np.arange(base, base + width))
        if pooling in ("last", "mean+last"):
            picked.append(np.arange(base + width, base + 2 * width))
    return np.concatenate(picked)


def auc(scores: Sequence[float] | np.ndarray[Any, Any], labels: Sequence[bool] | np.ndarray[Any, Any]) -> float | None:
    """ROC AUC (see `tot.bench.auc.roc_auc`)."""
    from tot.bench.auc import roc_auc

    return roc_auc([float(s) for s in scores], [bool(v) for v in labels])


def depth_aucs(scores: np.ndarray[Any, Any], examples: Sequence[Example], *, least: int = 10) -> dict[int, float]:
    """AUC at each depth that has at least `least` states of each label."""
    result = {}
    for depth in sorted({e.depth for e in examples}):
        rows = [i for i, e in enumerate(examples) if e.depth == depth]
        labels = [examples[i].label for i in rows]
        if sum(labels) >= least and len(labels) - sum(labels) >= least:
            value = auc(scores[rows], labels)
            if value is not None:
                result[depth] = value
    return result


def score(aucs: Mapping[int, float]) -> float:
    """What selection maximises: the mean AUC over depths (-inf without any)."""
    return sum(aucs.values()) / len(aucs) if aucs else -math.inf


@dataclass(frozen=True)
class Trained:
    """The chosen head, what it reads, and every candidate's validation numbers."""

    head: Head
    candidate: Candidate
    validation: dict[str, Any]
    table: list[dict[str, Any]]


def choose(
    train: Sequence[Example],
    held: Sequence[Example],
    feature_of: Mapping[Key, np.ndarray[Any, Any]],
    stored_layers: Sequence[int],
    width: int,
    candidates: Sequence[Candidate],
    *,
    seed: int = 0,
    progress: Progress | None = None,
) -> Trained:
    """Fit every candidate on `train`, judge it on `held`, keep the best (by `score`); `progress` counts epochs
    (a candidate stopped early counts its remaining epochs at once)."""
    if not train or not held:
        raise InputError(f"too few labelled states to learn from ({len(train)} to train on, {len(held)} to validate on)")
    for part, name in ((train, "training"), (held, "validation")):
        labels = {e.label for e in part}
        if len(labels) < 2:
            raise InputError(f"the {name} states are all {'solvable' if True in labels else 'unsolvable'}: "
                             "learn from more puzzles (or other searches)")
    x_all = np.stack([feature_of[e.key] for e in train]).astype(np.float32)
    v_all = np.stack([feature_of[e.key] for e in held]).astype(np.float32)
    y = np.array([e.label for e in train], dtype=np.float64)
    yv = np.array([e.label for e in held], dtype=np.float64)
    weights = _balance(train)
    seen = {e.key for e in train}
    best: Trained | None = None
    table = []
    bar = progress or NoProgress()
    bar.start(len(candidates) * EPOCHS, [])
    try:  # a Ctrl-C mid-training stops the bar, so the CLI's one line shows
        for candidate in candidates:
            cols = columns(stored_layers, width, candidate.layers, candidate.pooling)
            done = [0]

            def epoch() -> None:
                done[0] += 1
                bar.advance({})

            head = fit(x_all[:, cols], y, v_all[:, cols], yv, hidden=candidate.hidden, decay=candidate.decay, epochs=EPOCHS,
                       weights=weights, seed=seed, score=lambda logits: mean_auc(logits, held), on_epoch=epoch)
            for _ in range(EPOCHS - done[0]):
                bar.advance({})
            predicted = head.predict(v_all[:, cols])
            aucs = depth_aucs(predicted, held)
            overall = auc(predicted, yv)
            unseen = [i for i, e in enumerate(held) if e.key not in seen]
            row = {
                "candidate": candidate.describe(),
                "auc": None if overall is None else round(overall, 4),
                "auc_by_depth": {str(d): round(v, 4) for d, v in aucs.items()},
                "unseen_auc_by_depth": {str(d): round(v, 4) for d, v in
                                        depth_aucs(predicted[unseen], [held[i] for i in unseen]).items()},
                "score": round(mean_auc(predicted, held), 4),
                "brier": round(float(np.mean((predicted - yv) ** 2)), 4),
                "epochs": head.info.get("epochs"),
            }
            table.append(row)
            if best is None or row["score"] > best.validation["score"]:
                best = Trained(head, candidate, row, table)
    finally:
        bar.stop()
    assert best is not None
    return Trained(best.head, best.candidate, best.validation, table)


def _balance(examples: Sequence[Example]) -> np.ndarray[Any, Any]:
    """Row weights that give each (depth, label) group the same total weight within its depth, and each depth
    its share of states: a rare class (a solvable state deep in the tree) is not drowned."""
    counts: dict[tuple[int, bool], int] = {}
    for e in examples:
        counts[(e.depth, e.label)] = counts.get((e.depth, e.label), 0) + 1
    weights = []
    for e in examples:
        depth_total = counts.get((e.depth, True), 0) + counts.get((e.depth, False), 0)
        classes = sum(1 for label in (True, False) if counts.get((e.depth, label), 0))
        weights.append(depth_total / (classes * counts[(e.depth, e.label)]))
    return np.asarray(weights, dtype=np.float64)
