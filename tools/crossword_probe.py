"""A lab: does a linear probe on the model's hidden states know a clue's answer? Fitted on the 60 training puzzles only.

    flock /tmp/tot-cpu.lock .venv/bin/python tools/crossword_probe.py --out /tmp/crossword-probe.json

The solver does not use it: beside the reverse channel in the objective it moved the training grids by
+0.3 points of letters (13 puzzles up, 11 down), so it was not adopted (benchmarks/RESULTS.md, "a probe on
the hidden states"; the solver's side is on the `probe` branch, commit 8b145b9).

The pairs (tools/crossword-probe-pairs.json.gz: puzzle, slot, word) are each training clue's gold word and
every other word the default search asked the reverse channel about for that clue (a lab run of the shipped
rounds, 2026-12-05). The model reads each pair as the reverse channel does; the probe is an L2-penalised
logistic regression (Newton steps) on the mean hidden state of the pair's tokens at one layer, standardised,
the gold word against the rest. Prints, held out by puzzle (5 folds), how often it prefers a clue's gold word
to another of its words, then fits on all 60 puzzles and writes the weights with the standardisation folded
in. About 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np

from tot.models.llama import load
from tot.tasks.crosswords import TRAINING_PUZZLES, gold, load_clues
from tot.tasks.crosswords.board import CELLS
from tot.tasks.crosswords.reverse import DEFINE_PROMPT

PAIRS = Path(__file__).with_name("crossword-probe-pairs.json.gz")


def fit(x: Any, y: Any, l2: float, steps: int = 25) -> Any:
    """Logistic regression weights (the last one the bias, not penalised) by Newton steps."""
    rows, width = x.shape
    a = np.hstack([x, np.ones((rows, 1))])
    w = np.zeros(width + 1)
    penalty = l2 * np.diag(np.r_[np.ones(width), 1e-6])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(a @ w)))
        gradient = a.T @ (p - y) + penalty @ w
        hessian = (a * (p * (1 - p))[:, None]).T @ a + penalty
        w -= np.linalg.solve(hessian, gradient)
    return w


def standardised_fit(x: Any, y: Any, l2: float) -> tuple[Any, float]:
    """Weights and bias on raw features, fitted on standardised ones."""
    mu, sd = x.mean(0), x.std(0) + 1e-6
    w = fit((x - mu) / sd, y, l2)
    weights = w[:-1] / sd
    return weights, float(w[-1] - weights @ mu)


def preferred(score: Any, groups: dict[tuple[int, int], list[int]], y: Any) -> float:
    """How often a clue's gold word outscores another of its words (ties count half)."""
    wins = total = 0.0
    for members in groups.values():
        index = np.asarray(members)
        gold_score = score[index[y[index] == 1]][0]
        others = score[index[y[index] == 0]]
        wins += float((gold_score > others).sum() + 0.5 * (gold_score == others).sum())
        total += len(others)
    return wins / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=Path, default=PAIRS)
    parser.add_argument("--layer", type=int, default=9)
    parser.add_argument("--l2", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    with gzip.open(args.pairs, "rt", encoding="utf-8") as handle:
        pairs: list[tuple[int, int, str]] = [(int(p), int(s), str(w)) for p, s, w in json.load(handle)]
    outside = sorted({p for p, _, _ in pairs} - set(TRAINING_PUZZLES))
    if outside:
        raise SystemExit(f"pairs from puzzles outside the training set: {outside}")
    texts, labels, groups = [], [], {}
    for i, (puzzle, slot, word) in enumerate(pairs):
        clue = " ".join(load_clues(str(puzzle))[slot].split())
        texts.append(f" {word.lower()}\nDefinition: {clue}\n")
        cells = gold(str(puzzle))
        labels.append(int(word == "".join(cells[c] for c in CELLS[slot])))
        groups.setdefault((puzzle, slot), []).append(i)
    y = np.asarray(labels, dtype=float)
    model = load(None, threads=args.threads)
    x = np.concatenate([np.asarray(model.embed(DEFINE_PROMPT, texts[i:i + 512], layers=(args.layer,), pooling="mean"),
                                   dtype=np.float64) for i in range(0, len(texts), 512)])
    puzzles = np.asarray([p for p, _, _ in pairs])
    order = sorted(set(puzzles.tolist()))
    held_out = np.zeros(len(y))
    for k in range(5):
        test = np.isin(puzzles, order[k::5])
        weights, bias = standardised_fit(x[~test], y[~test], args.l2)
        held_out[test] = x[test] @ weights + bias
    print(f"{len(pairs)} pairs, {int(y.sum())} gold; the gold word preferred, held out by puzzle: "
          f"{preferred(held_out, groups, y):.3f}")
    weights, bias = standardised_fit(x, y, args.l2)
    args.out.write_text(json.dumps({"model": model.name, "layer": args.layer, "pooling": "mean", "l2": args.l2,
                                    "trained_on": "the 60 training puzzles (tot.tasks.crosswords.TRAINING_PUZZLES)",
                                    "bias": bias, "weights": [round(float(w), 9) for w in weights]}) + "\n")


if __name__ == "__main__":
    main()
