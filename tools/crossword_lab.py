"""Experiments on cached clue scores (tools/crossword_cache.py): numpy time, no model.

Never reads puzzles 100-155.
"""

from __future__ import annotations

import math
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from tot.core import Budget, Meter
from tot.strategies.dfs import dfs
from tot.tasks import crosswords as cw

from crossword_ranker import penalised_loglik  # tools/ is on the path when a tool runs

CACHE = Path(".cache/crosswords")
PAPER = list(range(0, 100, 5))
SECOND = list(range(2, 100, 5))
TRAIN = [p for p in range(100) if p % 5 not in (0, 2)]


@lru_cache(maxsize=1)
def vocab() -> list[str]:
    return (CACHE / "vocab.txt").read_text().split()


@lru_cache(maxsize=1)
def tokens() -> Any:
    return np.load(CACHE / "tokens.npy")


@lru_cache(maxsize=1)
def position() -> dict[str, int]:
    return {w: i for i, w in enumerate(vocab())}


@lru_cache(maxsize=4096)
def raw(prompt: str, puzzle: int) -> Any:
    assert puzzle < 100
    return np.load(CACHE / prompt / f"{puzzle}.npy").astype(np.float64)


def gold_words(puzzle: int) -> list[str]:
    assert puzzle < 100
    g = cw.gold(str(puzzle))
    return ["".join(g[c] for c in cw.CELLS[s]) for s in range(10)]


def gold_index(puzzle: int) -> list[int | None]:
    pos = position()
    return [pos.get(w) for w in gold_words(puzzle)]


def echo_mask(clue: str) -> Any:
    mask = np.zeros(len(vocab()))
    import re

    for word in set(re.findall(r"[A-Z]+", clue.upper())):
        i = position().get(word)
        if i is not None:
            mask[i] = 1.0
    return mask


class CachedScorer:
    """A ClueScorer stand-in: the clue scores of one puzzle, given as an array (10, V)."""

    def __init__(self, unaries: Any, puzzle: int) -> None:
        self.lexicon = lexicon()
        self.meter = Meter()
        self.by_clue = dict(zip(cw.load_clues(str(puzzle)), unaries))

    def __call__(self, clue: str) -> Any:
        return self.by_clue[clue]


def solve_dfs(unaries: Any, puzzle: int, width: int = 8, max_steps: int | None = 100, anytime: bool = False,
              seconds: float | None = None, nodes: int | None = None, temperature: float = 1.0, full: bool = False) -> Any:
    from tot.tasks.crosswords.search import make_evaluator

    task = cw.MiniCrossword()
    task._lexicon = lexicon()
    ev = make_evaluator(task, CachedScorer(unaries, puzzle), generator="task", valuer="task", width=width, scale=8.0,
                        temperature=temperature)  # type: ignore[arg-type]
    result = dfs(task, ev, task.initial(str(puzzle)), budget=Budget(max_seconds=seconds, max_nodes=nodes),
                 max_steps=max_steps, anytime=anytime)
    return result if full else task.final_board(str(puzzle), result).cells


def objective(unaries: Any, puzzle: int, cells: str) -> float | None:
    """Sum over clues of the unary of the grid's word (None: a word outside the dictionary or blank)."""
    pos = position()
    total = 0.0
    for s in range(10):
        w = "".join(cells[c] for c in cw.CELLS[s])
        i = pos.get(w)
        if i is None:
            return None
        total += float(unaries[s][i])
    return total


def grade(puzzle: int, cells: str) -> dict[str, float]:
    return cw.metrics(str(puzzle), cells)


def baseline_unaries(puzzle: int, temperature: float = 0.75) -> Any:
    """The clue scores of the bp method before this issue: the two prompts' mean, 6 nats off echoes, / 0.75."""
    clues = cw.load_clues(str(puzzle))
    u = (raw("answer", puzzle) + raw("clues", puzzle)) / 2
    for s, clue in enumerate(clues):
        u[s] -= 6.0 * echo_mask(clue)
    return u / temperature


def diagnose(make: Any, puzzles: list[int], label: str, solver: Any = solve_dfs, verbose: bool = False) -> dict[str, float]:
    """Solve each puzzle with `solver` on `make(puzzle)` unaries; letters, words, games and gold-vs-found."""
    letters = words = games = 0.0
    gold_wins = found_wins = ties = missing = 0
    start = time.perf_counter()
    for p in puzzles:
        u = make(p)
        cells = solver(u, p)
        m = grade(p, cells)
        letters += m["letters"]
        words += m["words"]
        games += m["game"]
        g = objective(u, p, cw.gold(str(p)))
        f = objective(u, p, cells)
        if g is None:
            missing += 1
        elif f is None or g > f + 1e-9:
            gold_wins += 1
        elif abs(g - f) <= 1e-9:
            ties += 1
        else:
            found_wins += 1
        if verbose:
            print(f"  {p}: letters {m['letters']:.0%} words {m['words']:.0%} gold {g} found {f}")
    n = len(puzzles)
    out = {"letters": letters / n, "words": words / n, "games": games, "gold>found": gold_wins,
           "found>gold": found_wins, "tie": ties, "gold missing": missing}
    print(f"{label}: letters {out['letters']:.1%} words {out['words']:.1%} games {games:.0f} | gold>found {gold_wins}"
          f" found>gold {found_wins} tie {ties} missing {missing} ({time.perf_counter() - start:.0f} s)", flush=True)
    return out


if __name__ == "__main__":
    import sys

    sets = {"paper": PAPER, "second": SECOND, "train": TRAIN}
    for name in sys.argv[1:] or ["paper"]:
        ready = [p for p in sets[name] if (CACHE / "clues" / f"{p}.npy").exists()]
        diagnose(baseline_unaries, ready, f"baseline {name} ({len(ready)})")


# ---- exact MAP by depth-first branch and bound over the rows ---------------------------------


class RowBnB:
    """The grid of most total unary score: rows h1..h5 in order, columns bounded by prefix maxima."""

    def __init__(self, unaries: Any) -> None:
        v = vocab()
        self.u = unaries
        codes = np.frombuffer("".join(v).encode(), dtype=np.uint8).reshape(-1, 5).astype(np.int64) - 65
        self.codes = codes
        self.keys, self.uniq, self.colmax = [], [], []
        key = np.zeros(len(v), dtype=np.int64)
        for k in range(1, 6):
            key = key * 26 + codes[:, k - 1]
            uniq, start = np.unique(key, return_index=True)
            self.uniq.append(uniq)
            self.colmax.append([np.maximum.reduceat(unaries[5 + j], start) for j in range(5)])
        self.rowmax = [float(unaries[r].max()) for r in range(5)]
        self.nodes = 0

    def table(self, j: int, level: int, prefix: int) -> Any:
        """max unary of column j's words that start with prefix + L, for each letter L (level = len + 1)."""
        uniq = self.uniq[level - 1]
        x = prefix * 26 + np.arange(26)
        i = np.minimum(np.searchsorted(uniq, x), len(uniq) - 1)
        return np.where(uniq[i] == x, self.colmax[level - 1][j][i], -np.inf)

    def solve(self, seconds: float = 30.0, best: float = -np.inf) -> tuple[float, list[int] | None, bool]:
        self.best, self.best_rows, self.deadline = best, None, time.perf_counter() + seconds
        self.complete = True
        self._dfs(0, [0] * 5, [], 0.0)
        return self.best, self.best_rows, self.complete

    def _dfs(self, r: int, prefixes: list[int], rows: list[int], score: float) -> None:
        if time.perf_counter() > self.deadline:
            self.complete = False
            return
        self.nodes += 1
        col = np.zeros(len(self.codes))
        for j in range(5):
            col = col + self.table(j, r + 1, prefixes[j])[self.codes[:, j]]
        rest = sum(self.rowmax[r + 1 :])
        bound = score + self.u[r] + col + rest
        if r == 4:
            i = int(np.argmax(bound))
            if bound[i] > self.best:
                self.best, self.best_rows = float(bound[i]), rows + [i]
            return
        order = np.flatnonzero(bound > self.best)
        order = order[np.argsort(-bound[order], kind="stable")]
        for i in order.tolist():
            if bound[i] <= self.best:
                break
            self._dfs(r + 1, [p * 26 + int(self.codes[i, j]) for j, p in enumerate(prefixes)], rows + [i], score + float(self.u[r][i]))
            if not self.complete:
                return

    def cells(self) -> str:
        assert self.best_rows is not None
        return "".join(vocab()[i] for i in self.best_rows)


def solve_map(unaries: Any, puzzle: int, seconds: float = 30.0) -> str:
    bnb = RowBnB(unaries)
    first = solve_dfs(unaries, puzzle)
    start = objective(unaries, puzzle, first)
    score, rows, complete = bnb.solve(seconds, best=(start - 1e-9) if start is not None else -np.inf)
    if rows is None:
        return first
    print(f"    map {puzzle}: {score:.2f} vs bp {start}, nodes {bnb.nodes}, complete {complete}", flush=True)
    return bnb.cells()


# ---- a learned re-ranker: conditional logit over the dictionary --------------------------------


@lru_cache(maxsize=1)
def word_table() -> dict[str, Any]:
    """Per-word features that do not depend on the clue."""
    from english_words import get_english_words_set

    five = lambda s: {w.upper() for w in s if len(w) == 5 and w.isascii() and w.isalpha()}  # noqa: E731
    gc = five(get_english_words_set(["gcide"], alpha=True, lower=True))
    w2 = five(get_english_words_set(["web2"], alpha=True, lower=True))
    freq = cw.word_frequencies()
    v = vocab()
    return {
        "gcide": np.array([w in gc for w in v], dtype=float),
        "web2": np.array([w in w2 for w in v], dtype=float),
        "wordfreq": np.array([w in freq for w in v], dtype=float),
        "zipf": np.array([freq.get(w, 0.0) for w in v]),
        "tokens": tokens().astype(float),
        "endS": np.array([w.endswith("S") and not w.endswith("SS") for w in v], dtype=float),
        "endED": np.array([w.endswith("ED") for w in v], dtype=float),
        "endER": np.array([w.endswith("ER") for w in v], dtype=float),
        "endY": np.array([w.endswith("Y") for w in v], dtype=float),
        "null_answer": np.load(CACHE / "null_answer.npy").astype(float),
        "null_clues": np.load(CACHE / "null_clues.npy").astype(float),
    }


def clue_kind(clue: str) -> dict[str, float]:
    words = clue.replace(";", " ").replace(",", " ").split()
    first = words[0].lower() if words else ""
    last = words[-1].lower() if words else ""
    head = clue.split(";")[0].split()
    return {
        "verb": float(first == "to"),
        "plural": float(last.endswith("s") and not last.endswith("ss") and first not in ("to", "a", "an", "one")),
        "one": float(first in ("one", "a", "an")),
        "more": float(any(x.lower() in ("more", "-er") for x in head)),
    }


def rank_of(x: Any) -> Any:
    order = np.argsort(-x, kind="stable")
    r = np.empty(len(x))
    r[order] = np.arange(len(x))
    return r


FEATURES = ["a", "c", "loga", "logc", "pmi_a", "pmi_c", "gcide", "web2", "wordfreq", "zipf", "gw", "tok1", "tok3",
            "echo", "S*plural", "S*verb", "S*one", "ED*verb", "ER*one", "ER*more", "Y", "S"]


def features(puzzle: int, s: int, names: list[str] = FEATURES) -> Any:
    """(V, len(names)) features of every dictionary word for clue s of `puzzle`."""
    t = word_table()
    clue = cw.load_clues(str(puzzle))[s]
    kind = clue_kind(clue)
    a, c = raw("answer", puzzle)[s], raw("clues", puzzle)[s]
    cols = {
        "a": a, "c": c,
        "loga": np.log1p(rank_of(a)), "logc": np.log1p(rank_of(c)),
        "pmi_a": a - t["null_answer"], "pmi_c": c - t["null_clues"],
        "gcide": t["gcide"], "web2": t["web2"], "wordfreq": t["wordfreq"], "zipf": t["zipf"],
        "gw": t["gcide"] * t["web2"],
        "tok1": (t["tokens"] == 1).astype(float), "tok3": (t["tokens"] >= 3).astype(float),
        "echo": echo_mask(clue),
        "S*plural": t["endS"] * kind["plural"], "S*verb": t["endS"] * kind["verb"], "S*one": t["endS"] * kind["one"],
        "ED*verb": t["endED"] * kind["verb"], "ER*one": t["endER"] * kind["one"], "ER*more": t["endER"] * kind["more"],
        "Y": t["endY"], "S": t["endS"],
    }
    return np.stack([cols[n] for n in names], axis=1)


def training_rows(puzzles: list[int], names: list[str] = FEATURES) -> list[tuple[Any, int]]:
    rows = []
    for p in puzzles:
        gi = gold_index(p)
        for s in range(10):
            if gi[s] is not None:
                rows.append((features(p, s, names).astype(np.float32), int(gi[s])))
    return rows


def fit(rows: list[tuple[Any, int]], l2: float = 1.0, iterations: int = 25, start: Any = None) -> Any:
    """Damped Newton on the conditional logit: maximise sum log softmax(F theta)[gold] - l2/2 |theta|^2."""
    k = rows[0][0].shape[1]
    theta = np.zeros(k) if start is None else np.array(start, dtype=float)
    ll, grad, hess = penalised_loglik(rows, theta, l2, True)
    for it in range(iterations):
        step = -np.linalg.solve(hess, grad)
        t = 1.0
        while t > 1e-4:
            trial = theta + t * step
            new, _, _ = penalised_loglik(rows, trial, l2, False)
            if new >= ll:
                break
            t /= 2
        theta = trial
        improved = new - ll
        ll, grad, hess = penalised_loglik(rows, theta, l2, True)
        if improved < 1e-4:
            break
    return theta


def loglik(rows: list[tuple[Any, int]], theta: Any) -> tuple[float, float]:
    """Mean log-likelihood of gold and median gold rank."""
    lls, ranks = [], []
    for F, g in rows:
        z = F @ theta
        lse = z.max() + np.log(np.exp(z - z.max()).sum())
        lls.append(z[g] - lse)
        ranks.append(int((z > z[g]).sum()))
    return float(np.mean(lls)), float(np.median(ranks))


def learned_unaries(theta: Any, names: list[str] = FEATURES) -> Any:
    def make(puzzle: int) -> Any:
        out = np.empty((10, len(vocab())))
        for s in range(10):
            z = features(puzzle, s, names) @ theta
            out[s] = z - (z.max() + np.log(np.exp(z - z.max()).sum()))
        return out

    return make


# ---- anytime depth-first branch and bound, ordered by beliefs ---------------------------------

from tot.tasks.crosswords.propagation import Lexicon, beliefs as bp_beliefs  # noqa: E402


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    lex = Lexicon(set(vocab()))
    assert lex.vocab == vocab()
    return lex


def anytime_dfs(unaries: Any, puzzle: int, *, width: int = 8, expansions: int = 200, order: str = "belief",
                temperature: float = 1.0, log: list[tuple[int, float, str]] | None = None) -> str:
    """Depth-first over fills (the clue whose best word is most believed; its `width` most believed words),
    keeping on after each complete grid and pruning boards whose bound (sum of best unaries over the
    arc-consistent domains) is no better than the best grid's total. Returns the best grid's cells."""
    lex = lexicon()
    from tot.tasks.crosswords.board import Board as NewBoard

    board0 = NewBoard(cw.load_clues(str(puzzle)))
    best = [-np.inf, ""]
    count = [0]

    def bound(board: Any) -> float | None:
        d = lex.domains(board)
        if d is None:
            return None
        return float(sum(unaries[s][d[s]].max() for s in range(10)))

    def visit(board: Any) -> bool:
        if count[0] >= expansions:
            return False
        if "_" not in board.cells:
            total = objective(unaries, puzzle, board.cells)
            if total is not None and total > best[0]:
                best[0], best[1] = total, board.cells
                if log is not None:
                    log.append((count[0], total, board.cells))
            return True
        count[0] += 1
        d = lex.domains(board)
        if d is None:
            return True
        open_slots = board.open_slots()
        lb = bp_beliefs(lex, d, [unaries[s][d[s]] / temperature for s in range(10)])
        slot = max(open_slots, key=lambda s: (float(lb[s].max()), -len(d[s]), -s))
        top = np.argsort(-lb[slot], kind="stable")[:width]
        children = []
        for i in top:
            child = board.fill(slot, lex.vocab[int(d[slot][i])])
            b = bound(child)
            if b is not None:
                children.append((b, float(lb[slot][i]), child))
        if order == "bound":
            children.sort(key=lambda c: -c[0])
        for b, _, child in children:
            if b <= best[0] + 1e-9:
                continue
            if not visit(child):
                return False
        return True

    visit(board0)
    return best[1]
