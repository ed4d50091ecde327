"""The board and its rules: a 5x5 grid whose rows (h1-h5) and columns (v1-v5) are five-letter words.

A `Board` holds the ten clues and the 25 cells; a `Fill` writes one word into one clue. A board may
leave one clue `free`: no fill writes it, its crossings spell its word, and that word need not be in the
dictionary (the puzzles' answers sometimes are not). Nothing here knows about the model, the dictionary
or the gold grid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from tot.errors import InputError

SIZE = 5
SLOTS = tuple(f"h{i}" for i in range(1, SIZE + 1)) + tuple(f"v{i}" for i in range(1, SIZE + 1))
BLANK = "_"
# CELLS[slot]: the indices (row by row, 0-24) of the cells of clue `slot` (0-4: rows h1-h5, 5-9: columns v1-v5)
CELLS = tuple(
    tuple(range(s * SIZE, s * SIZE + SIZE)) if s < SIZE else tuple(r * SIZE + s - SIZE for r in range(SIZE))
    for s in range(2 * SIZE)
)


@dataclass(frozen=True)
class Fill:
    """Write `word` (five upper-case letters) into clue `slot` (0-4: h1-h5, 5-9: v1-v5)."""

    slot: int
    word: str

    def __str__(self) -> str:
        return f"{SLOTS[self.slot]}. {self.word}"


@dataclass(frozen=True)
class Board:
    """The clues, the 25 cells row by row (`_` for blank), the clues filled by choice, the puzzle's
    number in mini0505.json (None for clues given as text; only grading after a search reads it), and the
    clue left `free` to its crossings, if any."""

    clues: tuple[str, ...]
    cells: str = BLANK * SIZE * SIZE
    chosen: frozenset[int] = field(default_factory=frozenset)
    number: int | None = None
    free: int | None = None

    def pattern(self, slot: int) -> str:
        """The letters of clue `slot`, `_` for blanks, e.g. `M_T_R`."""
        return "".join(self.cells[i] for i in CELLS[slot])

    def open_slots(self) -> list[int]:
        """The clues with at least one blank cell, but the free one (its crossings fill it)."""
        return [s for s in range(2 * SIZE) if s != self.free and BLANK in self.pattern(s)]

    def rows(self) -> list[str]:
        return [self.cells[r * SIZE : r * SIZE + SIZE] for r in range(SIZE)]

    def words(self) -> list[str]:
        """The ten words h1..h5, v1..v5 as they stand (with `_` for blanks)."""
        return [self.pattern(s) for s in range(2 * SIZE)]

    def fill(self, slot: int, word: str) -> Board:
        """The board with `word` written into clue `slot`; ValueError unless it is five letters that fit."""
        word = word.upper()
        if not (len(word) == SIZE and word.isascii() and word.isalpha()):
            raise ValueError(f"{word!r} is not a five-letter word")
        if slot == self.free:
            raise ValueError(f"{SLOTS[slot]} is left to its crossings")
        pattern = self.pattern(slot)
        if BLANK not in pattern or not fits(word, pattern):
            raise ValueError(f"{word} does not fit {SLOTS[slot]} = {pattern}")
        cells = list(self.cells)
        for cell, letter in zip(CELLS[slot], word):
            cells[cell] = letter
        return replace(self, cells="".join(cells), chosen=self.chosen | {slot})


def fits(word: str, pattern: str) -> bool:
    """Whether `word` agrees with every letter of `pattern`."""
    return len(word) == len(pattern) and all(p == BLANK or p == w for w, p in zip(word, pattern))


def parse_grid(text: str) -> str:
    """25 cells from a grid written as letters and `_` (any separators); raises InputError otherwise."""
    cells = re.sub(r"[^A-Za-z_]", "", text).upper()
    if len(cells) != SIZE * SIZE:
        raise InputError(f"a 5x5 grid has 25 letters or _, got {len(cells)} in {text[:80]!r}")
    return cells


def spaced(pattern: str) -> str:
    """`M_T_R` as `M _ T _ R`, as the prompts show letters."""
    return " ".join(pattern)
