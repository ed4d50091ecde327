"""The CLI without a model: checking answers, bad input, model-free search."""

import json

import pytest
from typer.testing import CliRunner

from tot.cli import app

runner = CliRunner()


def test_check_correct_and_wrong() -> None:
    assert runner.invoke(app, ["check", "game24", "4 9 10 13", "(13-9)*(10-4)"]).exit_code == 0
    wrong = runner.invoke(app, ["check", "game24", "4 9 10 13", "13+9+10-4"])
    assert wrong.exit_code == 1 and "28" in wrong.output


def test_check_json() -> None:
    out = runner.invoke(app, ["check", "game24", "4 9 10 13", "(13-9)*(10-4)", "--json"])
    assert json.loads(out.output) == {"answer": "(13-9)*(10-4)", "correct": True, "detail": "equals 24 and uses each number once"}


@pytest.mark.parametrize(
    "args",
    [
        ["solve", "game24", "4", "9", "x", "13"],
        ["solve", "game24", "4", "9", "10"],
        ["solve", "game24", "--", "4", "9", "10", "-13"],
        ["solve", "game24", "4", "9", "10", "99999999999"],
        ["solve", "nosuchtask", "1"],
        ["solve", "game24", "4", "9", "10", "13", "--max-calls", "0"],
        ["solve", "game24", "4", "9", "10", "13", "--strategy", "nope", "--generator", "all", "--evaluator", "oracle"],
        ["solve", "game24", "4", "9", "10", "13", "--model", "/nonexistent/model.gguf"],
        ["check", "game24", "4 9 10", "1+2"],
        ["solve", "crossword", "0", "--task-set", "recall=lots", "--generator", "all", "--evaluator", "uniform"],
        ["solve", "crossword", "0", "--task-set", "recall=1", "--generator", "all", "--evaluator", "uniform"],
        ["solve", "crossword", "0", "--task-set", "colour=red", "--generator", "all", "--evaluator", "uniform"],
        ["solve", "examples/tasks/make24.toml", "4 9 10 13", "--task-set", "depth=2"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "error:" in result.output


def test_model_free_search_solves_with_oracle() -> None:
    result = runner.invoke(app, ["solve", "game24", "4", "5", "6", "10", "--generator", "all", "--evaluator", "oracle", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["solved"] and data["verified"]
    assert data["usage"]["calls"] == 0


def test_unsolvable_puzzle_exits_1() -> None:
    result = runner.invoke(app, ["solve", "game24", "1", "1", "1", "1", "--generator", "all", "--evaluator", "uniform"])
    assert result.exit_code == 1
    assert "no solution: the search tried every possible step" in result.output
