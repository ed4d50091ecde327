"""A custom tot task in one class: 4x4 Sudoku (each row, column and 2x2 box holds 1-4 once).

Run it without a model:
    tot solve examples/sudoku4.py:Sudoku4 "1.3. .... .... .2.4" --generator all --evaluator uniform
or from Python:
    import tot; from sudoku4 import Sudoku4
    tot.solve(Sudoku4(), "1.3. .... .... .2.4", generator="all", valuer="uniform")
"""

from __future__ import annotations

from collections.abc import Sequence

from tot.core import Answer
from tot.errors import InputError

State = str  # 16 cells row by row, "." for empty
Move = tuple[int, str]  # (cell, digit)
UNITS = (
    [[r * 4 + c for c in range(4)] for r in range(4)]
    + [[r * 4 + c for r in range(4)] for c in range(4)]
    + [[(br + r) * 4 + bc + c for r in range(2) for c in range(2)] for br in (0, 2) for bc in (0, 2)]
)


def allowed(state: State, cell: int) -> list[str]:
    """The digits that no unit of `cell` holds yet."""
    taken = {state[i] for unit in UNITS if cell in unit for i in unit}
    return [d for d in "1234" if d not in taken]


class Sudoku4:
    name = "sudoku4"

    def initial(self, puzzle: str) -> State:
        cells = "".join(ch for ch in puzzle if ch in "1234.")
        if len(cells) != 16 or len(cells) != len(puzzle.replace(" ", "").replace("/", "")):
            raise InputError(f"a 4x4 Sudoku is 16 cells of 1-4 or '.', got {puzzle!r}")
        if any(cells[i] != "." and cells[i] not in allowed(cells[:i] + "." + cells[i + 1 :], i) for i in range(16)):
            raise InputError(f"{puzzle!r} repeats a digit in a row, column or box")
        return cells

    def actions(self, state: State) -> list[Move]:
        """Every digit for the empty cell with the fewest options (one cell at a time loses no solution)."""
        empty = [i for i, ch in enumerate(state) if ch == "."]
        if not empty:
            return []
        cell = min(empty, key=lambda i: len(allowed(state, i)))
        return [(cell, digit) for digit in allowed(state, cell)]

    def result(self, state: State, action: Move) -> State:
        cell, digit = action
        return state[:cell] + digit + state[cell + 1 :]

    def is_goal(self, state: State) -> bool:
        return "." not in state  # every move was legal, so a full grid is solved

    def is_terminal(self, state: State) -> bool:
        return "." not in state or not self.actions(state)

    def key(self, state: State) -> State:
        return state

    def describe(self, state: State, action: Move) -> str:
        return f"row {action[0] // 4 + 1} column {action[0] % 4 + 1} = {action[1]}"

    def render(self, state: State) -> str:
        return " ".join(state[r * 4 : r * 4 + 4] for r in range(4))

    def answer(self, start: State, actions: Sequence[Move]) -> Answer:
        state = start
        for action in actions:
            state = self.result(state, action)
        return Answer(self.render(state), self.is_goal(state))
