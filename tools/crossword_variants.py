"""Compare crossword method settings on the paper's 20 puzzles (or others), one model, one process.

    .venv/bin/python tools/crossword_variants.py bp bp:rescore=0 bp:prior=0 --puzzles 0,5,10

Each variant is `method[:option=value,...]` (options of `MiniCrossword`); prints letters, words,
games, median calls and median / max seconds per variant.
"""

from __future__ import annotations

import argparse
import statistics
import time

import tot
from tot.core import Budget
from tot.tasks import crosswords as cw


def parse(variant: str) -> tuple[str, dict[str, float]]:
    method, _, rest = variant.partition(":")
    options = {key: float(value) for key, _, value in (item.partition("=") for item in rest.split(",") if item)}
    return method, options


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("variants", nargs="+")
    parser.add_argument("--puzzles", default=",".join(str(p) for p in cw.PAPER_PUZZLES))
    args = parser.parse_args()
    model = tot.load_model()
    for variant in args.variants:
        method, options = parse(variant)
        ints = {"width", "letters"}
        kwargs = {k: int(v) if k in ints else v for k, v in options.items()}
        rows = []
        for puzzle in args.puzzles.split(","):
            task = cw.MiniCrossword(method=method, **kwargs)  # type: ignore[arg-type]
            start = time.perf_counter()
            result = tot.solve(task, puzzle, model=model, budget=Budget())
            seconds = time.perf_counter() - start
            m = cw.metrics(puzzle, result)
            rows.append((m["letters"], m["words"], m["game"], result.usage.calls, seconds))
            print(f"  {variant} {puzzle}: letters {m['letters']:.0%} words {m['words']:.0%} "
                  f"calls {result.usage.calls} {seconds:.1f} s", flush=True)
        n = len(rows)
        print(f"{variant}: letters {sum(r[0] for r in rows) / n:.1%} words {sum(r[1] for r in rows) / n:.1%} "
              f"games {sum(r[2] for r in rows):.0f} median calls {statistics.median(r[3] for r in rows)} "
              f"median s {statistics.median(r[4] for r in rows):.1f} max s {max(r[4] for r in rows):.1f}", flush=True)


if __name__ == "__main__":
    main()
