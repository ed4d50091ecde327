"""Letters, words and games against seconds, from `tot bench crossword` lines of an anytime search.

    .venv/bin/python tools/crossword_curve.py benchmarks/results/crosswords-anytime.jsonl \
        --seconds 10,15,20,30,40,60,90,120 --plot benchmarks/figures/crossword-anytime

Each line's `found` lists every better grid the search found, with the seconds spent by then, graded.
The search is deterministic, so a budget of t seconds returns the last grid found within t: the curve
for every budget up to the run's own comes from one run. A puzzle with no grid within t counts 0.
Prints a Markdown table per set of rows (the paper's 20, the second set, any others) and, with
--plot, writes PNG and SVG (needs matplotlib).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

SETS = {"paper's 20 (0, 5, ..., 95)": range(0, 100, 5), "second set (2, 7, ..., 97)": range(2, 100, 5)}


def at(record: dict[str, Any], seconds: float) -> dict[str, float]:
    """The metrics of the last grid the search had found within `seconds` (zeros when none)."""
    within = [f for f in record.get("found", []) if f["seconds"] <= seconds]
    if not within:
        return {"letters": 0.0, "words": 0.0, "game": 0.0}
    return {k: float(within[-1]["metrics"][k]) for k in ("letters", "words", "game")}


def curve(records: list[dict[str, Any]], budgets: list[float]) -> list[dict[str, float]]:
    rows = []
    for t in budgets:
        graded = [at(r, t) for r in records]
        n = len(graded)
        rows.append({"seconds": t, "letters": sum(g["letters"] for g in graded) / n,
                     "words": sum(g["words"] for g in graded) / n, "games": sum(g["game"] for g in graded)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+")
    parser.add_argument("--seconds", default="10,15,20,30,40,60,90,120")
    parser.add_argument("--plot", help="write PLOT.png and PLOT.svg")
    args = parser.parse_args()
    budgets = [float(s) for s in args.seconds.split(",")]
    by_set: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for file in args.files:
        for line in Path(file).read_text().splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            row = record.get("row")
            name = next((n for n, rows in SETS.items() if row in rows), "other puzzles")
            by_set[name].append(record)
    curves = {}
    for name, records in by_set.items():
        curves[name] = curve(records, budgets)
        print(f"\n{name}, {len(records)} puzzles\n")
        print("| seconds | letters | words | games |\n|---|---|---|---|")
        for row in curves[name]:
            print(f"| {row['seconds']:g} | {row['letters']:.1%} | {row['words']:.1%} | {row['games']:.0f} |")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axes = plt.subplots(1, 2, figsize=(10, 4))
        for name, rows in curves.items():
            for axis, key in zip(axes, ("letters", "words")):
                axis.plot([r["seconds"] for r in rows], [100 * r[key] for r in rows], marker="o", label=name)
        for axis, key, gpt4 in zip(axes, ("letters", "words"), (78, 60)):
            axis.axhline(gpt4, color="grey", linestyle="--", label="GPT-4 ToT (paper's 20)")
            axis.set_xlabel("seconds per puzzle (budget)")
            axis.set_ylabel(f"{key} right (%)")
            axis.set_ylim(0, 100)
            axis.grid(alpha=0.3)
        axes[0].legend(fontsize=8)
        figure.suptitle("Mini crosswords, anytime search: accuracy against the time budget (Gemma 3 270M, 2-core CPU)")
        figure.tight_layout()
        for suffix in ("png", "svg"):
            figure.savefig(f"{args.plot}.{suffix}", dpi=120)
        print(f"\nwrote {args.plot}.png and .svg")


if __name__ == "__main__":
    main()
