"""The custom-task example (examples/sudoku4.py): as a file, a module, an entry point, and in the library."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import tot
from tot import tasks
from tot.cli import app

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PUZZLE = "1.3. .... .... .2.4"
SOLUTION = "1432 2341 4123 3214"


def is_sudoku(text: str) -> bool:
    rows = text.split()
    units = [set(r) for r in rows] + [set(col) for col in zip(*rows)]
    units += [{rows[r + i][c + j] for i in (0, 1) for j in (0, 1)} for r in (0, 2) for c in (0, 2)]
    return all(unit == set("1234") for unit in units)


def test_library_solves_the_example_task_without_a_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    from sudoku4 import Sudoku4

    for strategy in ("bfs", "best-first"):
        result = tot.solve(Sudoku4(), PUZZLE, strategy=strategy, generator="all", valuer="uniform")
        assert result.solved and result.answer is not None and result.usage.calls == 0
        assert result.answer.text == SOLUTION and is_sudoku(SOLUTION)
        givens, filled = PUZZLE.replace(" ", ""), SOLUTION.replace(" ", "")
        assert all(g in (".", f) for g, f in zip(givens, filled))


@pytest.mark.parametrize("spec", [f"{EXAMPLES}/sudoku4.py:Sudoku4", "sudoku4:Sudoku4"])
def test_cli_runs_the_example_from_a_file_or_a_module(spec: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    out = CliRunner().invoke(app, ["solve", spec, PUZZLE, "--generator", "all", "--evaluator", "uniform", "--no-tree"])
    assert out.exit_code == 0, out.output
    assert SOLUTION in out.output


@pytest.mark.parametrize(
    "args",
    [
        ["solve", f"{EXAMPLES}/sudoku4.py:Sudoku4", "11.. .... .... ....", "--generator", "all", "--evaluator", "uniform"],
        ["solve", f"{EXAMPLES}/sudoku4.py:Sudoku4", "1.3.", "--generator", "all", "--evaluator", "uniform"],
        ["solve", f"{EXAMPLES}/missing.py:Sudoku4", PUZZLE],
        ["solve", f"{EXAMPLES}/sudoku4.py:NoSuchClass", PUZZLE],
    ],
)
def test_bad_example_input_exits_2(args: list[str]) -> None:
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 2, out.output
    assert "error:" in out.output and "Traceback" not in out.output


def test_tasks_are_discovered_through_entry_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tiny installed distribution declaring `sudoku = sudoku4:Sudoku4` in the `tot.tasks` group."""
    dist = tmp_path / "tot_sudoku_example-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tot-sudoku-example\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[tot.tasks]\nsudoku = sudoku4:Sudoku4\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(EXAMPLES))
    assert "sudoku" in tasks.names()
    task = tasks.get("sudoku")
    assert type(task).__name__ == "Sudoku4"
    result = tot.solve("sudoku", PUZZLE, generator="all", valuer="uniform")
    assert result.solved and result.config["task"] == "sudoku4"
