"""Rich view of a crossword after a search: the grid found beside the gold grid, the metrics and the clues."""

from __future__ import annotations

from rich.columns import Columns
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from typing import Any

from tot.tasks.crosswords import BLANK, SIZE, SLOTS, Board, MiniCrossword, gold


def grid(cells: str, truth: str | None = None) -> Text:
    """The 25 cells as a 5x5 grid; against `truth`, right letters green and wrong ones red."""
    text = Text()
    for r in range(SIZE):
        for c in range(SIZE):
            i = r * SIZE + c
            letter = cells[i]
            if letter == BLANK:
                style = "dim"
            elif truth is None:
                style = "bold"
            else:
                style = "bold green" if letter == truth[i] else "bold red"
            text.append(("·" if letter == BLANK else letter) + (" " if c < SIZE - 1 else ""), style=style)
        if r < SIZE - 1:
            text.append("\n")
    return text


def crossword_view(board: Board, truth: str | None, metrics: dict[str, float]) -> RenderableType:
    """The final grid (beside the gold grid when known), the metrics, and each clue with its word."""
    panels = [Panel(grid(board.cells, truth), title="found", expand=False)]
    if truth is not None:
        panels.append(Panel(grid(truth), title="gold", expand=False))
    clues = Table(show_header=False, box=None, padding=(0, 1))
    for slot, clue in enumerate(board.clues):
        pattern = board.pattern(slot)
        clues.add_row(SLOTS[slot], pattern.replace(BLANK, "·"), Text(clue, style="dim"))
    parts: list[RenderableType] = [Columns(panels)]
    if metrics:
        parts.append(
            Text(
                f"letters {metrics['letters']:.0%}  words {metrics['words']:.0%}  game {'yes' if metrics['game'] else 'no'}",
                style="bold",
            )
        )
    parts.append(clues)
    return Group(*parts)


def report_view(task: MiniCrossword, puzzle: str, result: Any) -> RenderableType:
    """After a search: the board it ended on beside the gold grid (numbered puzzles), the metrics and the clues."""
    graded = task.report(puzzle, result).get("metrics", {})
    return crossword_view(task.final_board(puzzle, result), gold(puzzle) if graded else None, graded)
