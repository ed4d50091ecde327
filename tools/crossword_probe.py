"""Fit the crossword probe (`tot.tasks.crosswords.probe`) on the 60 training puzzles (and nothing else).

    flock /tmp/tot-cpu.lock .venv/bin/python tools/crossword_cache.py --puzzles 0:100   # forward scores, once
    flock /tmp/tot-cpu.lock .venv/bin/python tools/crossword_probe.py --out tot/data/crossword-probe.json

The pairs (tools/crossword-probe-pairs.json.gz: puzzle, slot, word) are each training clue's gold word and
every other word the default search asked the reverse channel about for that clue (a lab run of the shipped
rounds, 2026-12-05). For each pair: the objective the solver had (the re-ranker's forward score from the
cache of tools/crossword_cache.py, plus the reverse channel, scored here), and the model's mean hidden state
over the pair's tokens at one layer (read as the reverse channel reads it). A conditional logit over each
clue's pairs, `a` x objective + w . hidden state (standardised; L2 penalty on w), the gold word against the
rest; the probe is w / a, a correction in the objective's units, written with the standardisation folded in.
Prints, held out by puzzle (5 folds), how often the gold word outscores another of its clue's words on the
objective alone and with the correction. About 40 minutes on 2 cores (the reverse scores take most).
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np

from crossword_ranker import cached_scores, empty_scores  # tools/ is on the path when a tool runs
from tot.models.llama import load
from tot.tasks.crosswords import TRAINING_PUZZLES, gold, load_clues
from tot.tasks.crosswords.board import CELLS
from tot.tasks.crosswords.dictionary import dictionary
from tot.tasks.crosswords.propagation import Lexicon
from tot.tasks.crosswords.reverse import DEFINE_PROMPT
from tot.tasks.crosswords.scoring import default_ranker, features, prompts_used

PAIRS = Path(__file__).with_name("crossword-probe-pairs.json.gz")
Groups = list[Any]  # each clue's row indices (the gold word's among them)


def forward_scores(cache: Path, lexicon: Lexicon, puzzle: int) -> Any:
    """The re-ranker's log P(word | clue) of every dictionary word, per clue of `puzzle`: a (10, V) array."""
    ranker = default_ranker()
    prompts = prompts_used(ranker.names)
    empty, scores = empty_scores(cache, prompts), cached_scores(cache, puzzle, prompts)
    clues = load_clues(str(puzzle))
    return np.stack([ranker.log_probs(features(ranker.names, lexicon, clues[s], {n: a[s] for n, a in scores.items()}, empty))
                     for s in range(10)])


def fit(z: Any, y: Any, groups: Groups, l2: float, steps: int = 15) -> Any:
    """Weights of the conditional logit over `groups` (column 0, the objective, unpenalised), damped Newton."""
    rows = np.concatenate(groups)
    lens = np.array([len(g) for g in groups])
    starts = np.r_[0, np.cumsum(lens)[:-1]]
    a = z[rows]
    golds = starts + np.array([int(np.flatnonzero(y[g] == 1)[0]) for g in groups])
    penalty = l2 * np.eye(a.shape[1])
    penalty[0, 0] = 1e-6

    def loss(w: Any) -> float:
        s = a @ w
        top = np.maximum.reduceat(s, starts)
        lse = np.log(np.add.reduceat(np.exp(s - np.repeat(top, lens)), starts)) + top
        return float((lse - s[golds]).sum() + 0.5 * w @ penalty @ w)

    w = np.zeros(a.shape[1])
    w[0] = 1.0
    current = loss(w)
    for _ in range(steps):
        s = a @ w
        e = np.exp(s - np.repeat(np.maximum.reduceat(s, starts), lens))
        p = e / np.repeat(np.add.reduceat(e, starts), lens)
        means = np.add.reduceat(a * p[:, None], starts)
        gradient = means.sum(0) - a[golds].sum(0) + penalty @ w
        hessian = (a * p[:, None]).T @ a - means.T @ means + penalty
        step, t = np.linalg.solve(hessian, gradient), 1.0
        while t > 1e-4 and loss(w - t * step) > current:
            t /= 2
        w = w - t * step
        current = loss(w)
    return w


def correction(x: Any, objective: Any, y: Any, groups: Groups, l2: float) -> tuple[Any, float]:
    """The probe's weights and bias on raw hidden states: the fitted w / a, standardisation folded in."""
    rows = np.concatenate(groups)
    mu, sd = x[rows].mean(0), x[rows].std(0) + 1e-6
    w = fit(np.hstack([objective[:, None], (x - mu) / sd]), y, groups, l2)
    weights = w[1:] / w[0] / sd
    return weights, float(-(weights @ mu))


def preferred(score: Any, y: Any, groups: Groups) -> float:
    """How often a clue's gold word outscores another of its words."""
    wins = total = 0
    for g in groups:
        gold_score, others = score[g][y[g] == 1][0], score[g][y[g] == 0]
        wins += int((gold_score > others).sum())
        total += len(others)
    return wins / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=Path, default=PAIRS)
    parser.add_argument("--cache", type=Path, default=Path(".cache/crosswords"))
    parser.add_argument("--layer", type=int, default=9)
    parser.add_argument("--l2", type=float, default=100.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    with gzip.open(args.pairs, "rt", encoding="utf-8") as handle:
        pairs: list[tuple[int, int, str]] = [(int(p), int(s), str(w)) for p, s, w in json.load(handle)]
    outside = sorted({p for p, _, _ in pairs} - set(TRAINING_PUZZLES))
    if outside:
        raise SystemExit(f"pairs from puzzles outside the training set: {outside}")
    lexicon = Lexicon(dictionary().words)
    forward = {p: forward_scores(args.cache, lexicon, p) for p in sorted({p for p, _, _ in pairs})}
    texts, labels, scores, members = [], [], [], {}
    for i, (puzzle, slot, word) in enumerate(pairs):
        clue = " ".join(load_clues(str(puzzle))[slot].split())
        texts.append(f" {word.lower()}\nDefinition: {clue}\n")
        labels.append(int(word == "".join(gold(str(puzzle))[c] for c in CELLS[slot])))
        position = lexicon.position(word)
        scores.append(np.nan if position is None else forward[puzzle][slot][position])
        members.setdefault((puzzle, slot), []).append(i)
    y = np.asarray(labels)
    model = load(None, threads=args.threads)
    x = np.concatenate([np.asarray(model.embed(DEFINE_PROMPT, texts[i:i + 512], layers=(args.layer,), pooling="mean"),
                                   dtype=np.float64) for i in range(0, len(texts), 512)])
    reverse = []
    for i in range(0, len(texts), 512):
        chunk = texts[i:i + 512]
        both = model.score_continuations(DEFINE_PROMPT, [c for t in chunk for c in (t.split("Definition:")[0] + "Definition:", t)])
        reverse += [both[2 * j + 1] - both[2 * j] for j in range(len(chunk))]
    objective = np.asarray(scores) + np.asarray(reverse)
    known = ~np.isnan(objective)
    groups = [np.asarray([i for i in g if known[i]]) for g in members.values()]
    groups = [g for g in groups if len(g) > 1 and y[g].sum() == 1]  # a gold word outside the dictionary: no row
    objective = np.nan_to_num(objective)
    puzzle_of = np.asarray([p for p, _, _ in pairs])
    order = sorted(set(puzzle_of.tolist()))
    held = np.zeros(len(y))
    for k in range(5):
        test = set(order[k::5])
        weights, bias = correction(x, objective, y, [g for g in groups if puzzle_of[g[0]] not in test], args.l2)
        rows = np.isin(puzzle_of, list(test))
        held[rows] = x[rows] @ weights + bias
    print(f"{len(pairs)} pairs, {len(groups)} clues; the gold word preferred, held out by puzzle: objective alone "
          f"{preferred(objective, y, groups):.3f}, with the correction {preferred(objective + held, y, groups):.3f}")
    weights, bias = correction(x, objective, y, groups, args.l2)
    args.out.write_text(json.dumps({
        "model": model.name, "layer": args.layer, "pooling": "mean", "l2": args.l2,
        "trained_on": "the 60 training puzzles (tot.tasks.crosswords.TRAINING_PUZZLES)",
        "fit": "conditional logit over each clue's asked words, beside the objective (forward + reverse)",
        "bias": bias, "weights": [round(float(w), 9) for w in weights]}) + "\n")


if __name__ == "__main__":
    main()
