"""Make the crossword's clue memory (`tot.tasks.crosswords.memory`) from the 60 training puzzles, and try it on them.

    .venv/bin/python tools/crossword_memory.py --out tot/data/crossword-memory.json
    flock /tmp/tot-cpu.lock .venv/bin/python tools/crossword_memory.py --lab 0.5 --puzzles 1:100:2 --out lab.jsonl

`--lab RECALL` solves training puzzles with the default preset, each with the memory of the other four
folds' puzzles only (5 folds by position in TRAINING_PUZZLES), so no puzzle remembers its own answers, and
writes one JSON line a puzzle (letters, words, game, seconds). `--lab 0` is the same search without a
memory. `--probe 0` turns the hidden-state probe off (it was fitted on every training puzzle, so on them it
already remembers their answers). Never reads an evaluation puzzle or puzzles 100-155.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tot.tasks.crosswords import TRAINING_PUZZLES, gold, load_clues
from tot.tasks.crosswords.board import Board
from tot.tasks.crosswords.memory import ClueMemory


def memory_of(puzzles: list[int]) -> ClueMemory:
    """The memory of `puzzles`' clues and gold answers (training puzzles only)."""
    assert all(p in TRAINING_PUZZLES for p in puzzles)
    return ClueMemory.of(pair for p in puzzles for pair in zip(load_clues(str(p)), Board((), gold(str(p))).words()))


def lab(recall: float, probe: float, puzzles: list[int], out: Path, threads: int | None) -> None:
    import tot
    from tot.tasks.crosswords import MiniCrossword, metrics

    model = tot.load_model(threads=threads)
    folds = {p: i % 5 for i, p in enumerate(TRAINING_PUZZLES)}
    with out.open("a", encoding="utf-8") as lines:
        for puzzle in puzzles:
            assert puzzle in TRAINING_PUZZLES, f"{puzzle} is not a training puzzle"
            memory = memory_of([p for p in TRAINING_PUZZLES if folds[p] != folds[puzzle]])
            task = MiniCrossword(memory=memory, recall=recall, probe=probe)
            start = time.perf_counter()
            result = tot.solve(task, str(puzzle), model=model)
            graded = metrics(str(puzzle), result)
            record = {"puzzle": puzzle, "recall": recall, "probe": probe, **graded,
                      "seconds": round(time.perf_counter() - start, 1)}
            lines.write(json.dumps(record) + "\n")
            lines.flush()
            print(json.dumps(record), file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="the memory file, or (--lab) the JSON lines")
    parser.add_argument("--lab", type=float, default=None, metavar="RECALL", help="solve training puzzles instead")
    parser.add_argument("--probe", type=float, default=None, help="the probe's weight in the lab (default: shipped)")
    parser.add_argument("--puzzles", default="0:100", help="start:stop[:step] over puzzle numbers (training only)")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.lab is None:
        memory = memory_of(list(TRAINING_PUZZLES))
        args.out.write_text(json.dumps(memory.as_dict(), indent=0, sort_keys=True) + "\n", encoding="utf-8")
        print(f"{len(memory)} clues from {len(TRAINING_PUZZLES)} training puzzles -> {args.out}")
        return
    from tot.tasks.crosswords.probe import PROBE_WEIGHT

    start, stop, *step = (int(x) for x in args.puzzles.split(":"))
    chosen = [p for p in range(start, stop, step[0] if step else 1) if p in TRAINING_PUZZLES]
    lab(args.lab, PROBE_WEIGHT if args.probe is None else args.probe, chosen, args.out, args.threads)


if __name__ == "__main__":
    main()
