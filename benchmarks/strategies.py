"""Issue 3's table: every strategy x evaluator on Game of 24, rows 900-909 of 24.csv, in one run.

    .venv/bin/python -m tot.bench.strategies                               # the whole table (loads the model)
    .venv/bin/python -m tot.bench.strategies --evaluators uniform,oracle   # the model-free rows only

Each run is `tot solve game24 PUZZLE --strategy S` with its default settings: evaluator
`model` is the fast preset's (every legal step ranked by the model, one-pass label values),
`uniform` and `oracle` use the model-free `all` generator; the baselines (io, cot, cot-sc)
use no evaluator and run with the model only. The budget is the CLI's default (300 model
calls) unless changed. Prints one Markdown table: solved count, median nodes expanded,
median model calls and median wall seconds of the search (model loading excluded).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from tot import strategies
from tot import api
from tot.core import Budget, Result
from tot.errors import TotError
from tot.tasks.game24 import load_puzzles

EVALUATORS = {"model": (None, None), "uniform": ("all", "uniform"), "oracle": ("all", "oracle")}
SEARCHES = ("bfs", "dfs", "best-first", "mcts")
BASELINES = ("io", "cot", "cot-sc")


@dataclass(frozen=True)
class Run:
    """One search's outcome, as the table needs it."""

    strategy: str
    evaluator: str
    puzzle: str
    solved: bool
    nodes: int
    calls: int
    seconds: float


def run_one(strategy: str, evaluator: str, puzzle: str, *, budget: Budget, seed: int, model_path: str | None) -> Run:
    """Solve `puzzle` with `strategy` and `evaluator` at their defaults."""
    generator, valuer = EVALUATORS[evaluator]
    model = None
    if evaluator == "model" or strategies.takes_model(strategies.get(strategy)):
        model = api.load_model(model_path, seed=seed)  # loaded once, reseeded for every run
    result: Result = api.solve(
        "game24", puzzle, strategy=strategy, generator=generator, valuer=valuer, budget=budget, model=model, seed=seed
    )
    usage = result.usage
    return Run(strategy, evaluator, puzzle, result.solved, usage.nodes_expanded, usage.calls, usage.seconds)


def table(runs: Sequence[Run], puzzles: int) -> str:
    """The Markdown table: one row per (strategy, evaluator), in the order first run."""
    lines = [
        f"| strategy | evaluator | solved (of {puzzles}) | median nodes expanded | median model calls | median seconds |",
        "|---|---|---|---|---|---|",
    ]
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.strategy, run.evaluator), []).append(run)
    for (strategy, evaluator), group in groups.items():
        solved = sum(run.solved for run in group)
        partial = "" if len(group) == puzzles else f" (ran {len(group)})"
        lines.append(
            f"| {strategy} | {evaluator} | {solved}{partial} | {statistics.median(r.nodes for r in group):g} "
            f"| {statistics.median(r.calls for r in group):g} | {statistics.median(r.seconds for r in group):.2f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tot.bench.strategies", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="900:910", help="rows of 24.csv, START:STOP (stop exclusive); default 900:910")
    parser.add_argument("--strategies", default=",".join(SEARCHES + BASELINES), help="comma-separated strategy names")
    parser.add_argument("--evaluators", default="model,uniform,oracle", help="comma-separated: model, uniform, oracle")
    parser.add_argument("--max-calls", type=int, default=api.DEFAULT_BUDGET.max_calls, help="model-call budget per run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=None, help="a GGUF file instead of the default model")
    parser.add_argument("--out", default=None, help="also append one JSON line per run to this file")
    args = parser.parse_args(argv)
    try:
        start, _, stop = args.rows.partition(":")
        every = load_puzzles()
        puzzles = every[int(start) : int(stop or int(start) + 1)]
        names = [n for n in args.strategies.split(",") if n]
        evaluators = [e for e in args.evaluators.split(",") if e]
        for name in names:
            strategies.get(name)
        for evaluator in evaluators:
            if evaluator not in EVALUATORS:
                raise TotError(f"unknown evaluator {evaluator!r}; choose from {', '.join(EVALUATORS)}")
        budget = Budget(max_calls=args.max_calls)
    except (ValueError, TotError) as error:
        print(f"error: {getattr(error, 'message', error)}", file=sys.stderr)
        return 2
    runs: list[Run] = []
    try:
        for evaluator in evaluators:
            for name in names:
                if name in BASELINES and evaluator != "model":
                    continue  # the baselines use no evaluator: one row, with the model
                for puzzle in puzzles:
                    run = run_one(name, evaluator, puzzle, budget=budget, seed=args.seed, model_path=args.model)
                    runs.append(run)
                    print(f"{name:10} {evaluator:8} {puzzle:12} solved={run.solved} calls={run.calls} "
                          f"{run.seconds:.1f}s", file=sys.stderr)
                    if args.out:
                        with open(args.out, "a", encoding="utf-8") as out:
                            out.write(json.dumps(vars(run)) + "\n")
    except KeyboardInterrupt:
        print("interrupted: the table below has the runs finished so far", file=sys.stderr)
    except TotError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 2
    print(table(runs, len(puzzles)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
