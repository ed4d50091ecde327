"""Fit the crossword clue re-ranker on the gold grids of the 60 training puzzles (and nothing else).

    flock /tmp/tot-cpu.lock .venv/bin/python tools/crossword_cache.py --puzzles 0:100   # the model's scores, once
    .venv/bin/python tools/crossword_ranker.py --out tot/data/crossword-ranker.json    # numpy, a minute or two

A conditional logit over the dictionary: for each training clue whose gold word is in the dictionary,
maximise log softmax(features . w)[gold word] over all 42,479 words, less l2/2 |w|^2, by damped Newton
steps. The features are `tot.tasks.crosswords.scoring.features`, from the scores cached by
tools/crossword_cache.py (the same `score_many` calls the solver makes). Prints the mean log-likelihood
and median rank of the gold word in k-fold cross-validation over the training puzzles, then fits on all 60.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

import numpy as np

from tot.tasks.crosswords import TRAINING_PUZZLES, load_clues, gold
from tot.tasks.crosswords.board import Board
from tot.tasks.crosswords.dictionary import dictionary
from tot.tasks.crosswords.propagation import Lexicon
from tot.tasks.crosswords.scoring import FEATURES, Ranker, features, prompts_used

Rows = list[tuple[Any, int]]


def cached_scores(cache: Path, puzzle: int, prompts: tuple[str, ...]) -> dict[str, Any]:
    """The model's scores of every dictionary word for each clue of `puzzle`, per prompt: (10, V) arrays."""
    return {name: np.load(cache / name / f"{puzzle}.npy").astype(float) for name in prompts}


def empty_scores(cache: Path, prompts: tuple[str, ...]) -> dict[str, Any]:
    return {name: np.load(cache / f"null_{name}.npy").astype(float) for name in prompts}


def training_rows(cache: Path, lexicon: Lexicon, names: tuple[str, ...], puzzles: list[int]) -> dict[int, Rows]:
    """Per training puzzle, (features, gold word index) of each clue whose gold word is in the dictionary."""
    prompts = prompts_used(names)
    empty = empty_scores(cache, prompts)
    rows: dict[int, Rows] = {}
    for puzzle in puzzles:
        if puzzle not in TRAINING_PUZZLES:
            raise SystemExit(f"puzzle {puzzle} is not a training puzzle: the ranker learns from the 60 training puzzles only")
        clues, scores = load_clues(str(puzzle)), cached_scores(cache, puzzle, prompts)
        words = Board(clues, gold(str(puzzle))).words()
        rows[puzzle] = []
        for s, (clue, word) in enumerate(zip(clues, words)):
            position = lexicon.position(word)
            if position is not None:
                matrix = features(names, lexicon, clue, {n: a[s] for n, a in scores.items()}, empty)
                rows[puzzle].append((matrix.astype(np.float32), position))
    return rows


def penalised_loglik(rows: Rows, weights: Any, l2: float, derivatives: bool) -> tuple[float, Any, Any]:
    """The conditional log-likelihood of the gold words minus l2/2 |weights|^2; its gradient and Hessian if asked."""
    k = len(weights)
    ll, grad, hess = -0.5 * l2 * float(weights @ weights), -l2 * weights, -l2 * np.eye(k)
    w32 = weights.astype(np.float32)
    for matrix, gold_index in rows:
        z = matrix @ w32
        top = float(z.max())
        e = np.exp(z - top)
        total = float(e.sum())
        ll += float(z[gold_index]) - top - float(np.log(total))
        if derivatives:
            p = e / total
            mean = p @ matrix
            grad += matrix[gold_index] - mean
            hess -= (matrix * p[:, None]).T @ matrix - np.outer(mean, mean)
    return ll, grad, hess


def fit(rows: Rows, *, l2: float = 1.0, iterations: int = 30) -> Any:
    """Damped Newton steps on the penalised conditional log-likelihood (concave: one optimum)."""
    weights = np.zeros(rows[0][0].shape[1])
    ll, grad, hess = penalised_loglik(rows, weights, l2, True)
    for _ in range(iterations):
        step = -np.linalg.solve(hess, grad)
        t, trial, new = 1.0, weights, ll
        while t > 1e-4:
            trial = weights + t * step
            new, _, _ = penalised_loglik(rows, trial, l2, False)
            if new >= ll:
                break
            t /= 2
        if new < ll:
            break
        weights, gained = trial, new - ll
        ll, grad, hess = penalised_loglik(rows, weights, l2, True)
        if gained < 1e-4:
            break
    return weights


def evaluate(rows: Rows, weights: Any) -> tuple[float, float]:
    """Mean log P(gold word | clue) and the gold word's median rank."""
    lls, ranks = [], []
    for matrix, gold_index in rows:
        z = matrix @ weights.astype(np.float32)
        top = float(z.max())
        lls.append(float(z[gold_index]) - top - float(np.log(np.exp(z - top).sum())))
        ranks.append(int((z > z[gold_index]).sum()))
    return float(np.mean(lls)), float(statistics.median(ranks))


def cross_validate(rows: dict[int, Rows], *, l2: float, folds: int) -> tuple[float, float, dict[int, Any]]:
    """k-fold by puzzle: held-out mean log-likelihood, median rank, and each puzzle's held-out weights."""
    puzzles = sorted(rows)
    held: Rows = []
    weights_of: dict[int, Any] = {}
    for k in range(folds):
        test = puzzles[k::folds]
        train = [r for p in puzzles if p not in test for r in rows[p]]
        weights = fit(train, l2=l2)
        for p in test:
            weights_of[p] = weights
        held.extend(r for p in test for r in rows[p])
    lls, ranks = [], []
    for p in puzzles:
        for matrix, g in rows[p]:
            ll, rank = evaluate([(matrix, g)], weights_of[p])
            lls.append(ll)
            ranks.append(rank)
    return float(np.mean(lls)), float(statistics.median(ranks)), weights_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", default=".cache/crosswords")
    parser.add_argument("--features", default=",".join(FEATURES))
    parser.add_argument("--l2", type=float, default=1.0)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--out", help="write the fitted weights here (JSON)")
    args = parser.parse_args()
    names = tuple(args.features.split(","))
    lexicon = Lexicon(dictionary().words)
    rows = training_rows(Path(args.cache), lexicon, names, list(TRAINING_PUZZLES))
    count = sum(len(r) for r in rows.values())
    print(f"{count} training clues (gold word in the dictionary) from {len(rows)} puzzles; {len(names)} features")
    ll, rank, _ = cross_validate(rows, l2=args.l2, folds=args.folds)
    print(f"{args.folds}-fold cross-validation: mean log P(gold) {ll:.3f}, median rank {rank:.0f}")
    weights = fit([r for p in sorted(rows) for r in rows[p]], l2=args.l2)
    ranker = Ranker(names, tuple(round(float(w), 6) for w in weights))
    for name, w in zip(ranker.names, ranker.weights):
        print(f"  {name:12s} {w:+.4f}")
    if args.out:
        data = {**ranker.as_dict(), "trained_on": "the 60 training puzzles (0-99 but 0, 5, ..., 95 and 2, 7, ..., 97)",
                "l2": args.l2, "clues": count, "cross_validated": {"log_likelihood": round(ll, 4), "median_rank": rank}}
        Path(args.out).write_text(json.dumps(data, indent=1) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
