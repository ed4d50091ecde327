"""The puzzles (`mini0505.json`, 156 mini crosswords), their gold grids, and the metrics against them.

The gold grid is read by `gold` alone, which only grading calls (`metrics`, and the task's final
answer after a search); the search and the evaluator see the clues only.

Three sets of puzzles below 100 (puzzles 100-155 are kept for checking results no one tuned on):
`PAPER_PUZZLES` (0, 5, ..., 95, the paper's 20) and `SECOND_PUZZLES` (2, 7, ..., 97) are for
evaluation only; `TRAINING_PUZZLES`, the other 60, are the only ones anything is learned from.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib.resources import files
from typing import Any

from tot.errors import InputError
from tot.tasks.crosswords.board import BLANK, CELLS, SIZE

PAPER_PUZZLES = tuple(range(0, 100, 5))  # the 20 puzzles the paper evaluates
SECOND_PUZZLES = tuple(range(2, 100, 5))  # a second evaluation set
TRAINING_PUZZLES = tuple(p for p in range(100) if p % 5 not in (0, 2))  # the 60 others below 100


@lru_cache(maxsize=1)
def _data() -> list[Any]:
    data: list[Any] = json.loads(files("tot.data").joinpath("mini0505.json").read_text(encoding="utf-8"))
    return data


def puzzle_count() -> int:
    return len(_data())


def puzzle_index(puzzle: str) -> int | None:
    """The puzzle's number, or None for a puzzle given as clues; InputError for a number out of range."""
    text = puzzle.strip()
    if not (text.isascii() and text.isdigit()):  # int() refuses some digits isdigit() accepts: '²', '①'
        return None
    count = len(_data())
    if len(text.lstrip("0")) > len(str(count)) or int(text) >= count:
        raise InputError(f"there are {count} crosswords, numbered 0 to {count - 1}; got {text[:20]}")
    return int(text)


def load_clues(puzzle: str) -> tuple[str, ...]:
    """The 10 clues (h1-h5, v1-v5) of puzzle `puzzle`: an index into mini0505.json, or 10 clues separated by |."""
    index = puzzle_index(puzzle)
    if index is not None:
        return tuple(str(clue) for clue in _data()[index][0])
    clues = tuple(part.strip() for part in puzzle.split("|"))
    if len(clues) != 2 * SIZE or not all(clues):
        raise InputError(
            f"a crossword is a puzzle number (0-{len(_data()) - 1}) or 10 clues h1..h5, v1..v5 separated by |;"
            f" got {puzzle[:200]!r}"
        )
    return clues


def gold(puzzle: str) -> str:
    """The gold grid (25 letters, row by row) of puzzle number `puzzle`. For grading only."""
    index = puzzle_index(puzzle)
    if index is None:
        raise InputError(f"only the numbered crosswords have a gold grid; got {puzzle[:200]!r}")
    return "".join(_data()[index][1]).upper()


def grade(cells: str, truth: str) -> dict[str, float]:
    """Letters, words and whole-game success of the 25 `cells` against the gold grid `truth`."""
    letters = sum(a == b for a, b in zip(cells, truth))
    words = sum(all(cells[i] == truth[i] for i in CELLS[s]) for s in range(2 * SIZE))
    return {"letters": letters / (SIZE * SIZE), "words": words / (2 * SIZE), "game": float(cells == truth)}


def empty() -> str:
    return BLANK * SIZE * SIZE
