"""Rich view of a crossword after a search: the grid found beside the gold grid, what it is, the metrics,
what the model scored, and the clues."""

from __future__ import annotations

from typing import Any

from rich.columns import Columns
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

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


def status(task: MiniCrossword, board: Board) -> Text:
    """What the grid is: the gold grid, complete and consistent (not verified), or not yet a grid of words."""
    verdict = task.verdict(board, board.number)
    if verdict.verified:
        return Text("the gold grid", style="bold green")
    if BLANK in board.cells or task.unknown_words(board):
        return Text(f"incomplete: {verdict.detail}", style="bold red")
    if board.number is None:
        return Text("complete and consistent: every row and column is a dictionary word (not verified: no gold grid)",
                    style="bold yellow")
    return Text("complete and consistent: every row and column is a dictionary word, but not the gold grid",
                style="bold yellow")


def scored(task: MiniCrossword, result: Any) -> Text | None:
    """What the model scored: every dictionary word for each clue and prompt (plus once with no clue)."""
    usage = getattr(result, "usage", None)
    if usage is None or not usage.calls or result.config.get("generator") != "task" and result.config.get("evaluator") != "task":
        return None
    words = len(task.words)
    return Text(
        f"scored: {usage.calls} model calls, each scoring all {words:,} dictionary words after one prompt (a clue "
        f"in one of {len(task.prompts())} answer prompts), {usage.calls * words:,} word scores in "
        f"{usage.model_seconds:.1f} s; the search itself is numpy (belief propagation and bounds): "
        f"{usage.nodes_expanded} boards expanded, {usage.seconds:.1f} s in all",
        style="dim",
    )


def crossword_view(board: Board, truth: str | None, metrics: dict[str, float], task: MiniCrossword | None = None,
                   result: Any = None) -> RenderableType:
    """The final grid (beside the gold grid when known), what it is, the metrics, what was scored, the clues."""
    panels = [Panel(grid(board.cells, truth), title="found", expand=False)]
    if truth is not None:
        panels.append(Panel(grid(truth), title="gold", expand=False))
    clues = Table(show_header=False, box=None, padding=(0, 1))
    memory = task.memory if task is not None else None
    recalled = [memory.recall(clue) if memory is not None else {} for clue in board.clues]
    for slot, clue in enumerate(board.clues):
        pattern = board.pattern(slot)
        row: list[str | Text] = [SLOTS[slot], pattern.replace(BLANK, "·"), Text(clue, style="dim")]
        if recalled[slot]:
            said = "remembered" if pattern in recalled[slot] else f"remembered: {', '.join(recalled[slot])}"
            row.append(Text(said, style="cyan"))
        clues.add_row(*row)
    parts: list[RenderableType] = [Columns(panels)]
    if task is not None:
        parts.append(status(task, board))
    if metrics:
        parts.append(
            Text(
                f"letters {metrics['letters']:.0%}  words {metrics['words']:.0%}  game {'yes' if metrics['game'] else 'no'}",
                style="bold",
            )
        )
    found: tuple[Any, ...] = getattr(result, "found", ())
    if len(found) > 1:
        parts.append(Text(f"anytime: {len(found)} ever better grids found; the best at {found[-1].seconds:.1f} s, "
                          f"after {found[-1].nodes_expanded} boards expanded", style="dim"))
    remembered = sum(bool(r) for r in recalled)
    if remembered:
        parts.append(Text(f"clue memory: {remembered} of {len(board.clues)} clues were answered in solved puzzles; "
                          f"their answers come first (--task-set recall=0: no memory)", style="dim"))
    if task is not None and (off := task.probe_off()):
        parts.append(Text(f"hidden-state probe off: {off}; the objective goes on without it", style="dim"))
    line = scored(task, result) if task is not None and result is not None else None
    if line is not None:
        parts.append(line)
    parts.append(clues)
    return Group(*parts)


def report_view(task: MiniCrossword, puzzle: str, result: Any) -> RenderableType:
    """After a search: the board it ended on beside the gold grid (numbered puzzles), the metrics and the clues."""
    graded = task.report(puzzle, result).get("metrics", {})
    board = task.final_board(puzzle, result)
    return crossword_view(board, gold(puzzle) if graded else None, graded, task, result)
