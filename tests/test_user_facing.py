"""What a new user meets: odd digits, piped output, their own tasks, negative numbers, crossword JSON, the
drawn tree (each edge with its own thought)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import tot
from tot.cli import app
from tot.render import tree_view

runner = CliRunner()
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "bench-small.jsonl"
TOT = [sys.executable, "-m", "tot"]


def one_line_error(result: object, code: int = 2) -> str:
    output: str = result.output  # type: ignore[attr-defined]
    assert result.exit_code == code, output  # type: ignore[attr-defined]
    assert "Traceback" not in output and output.startswith("error:") and output.count("\n") == 1, output
    return output


# ---- digits that isdigit() accepts and int() refuses -------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["solve", "game24", "4", "9", "10", "1²"],
        ["solve", "game24", "4", "9", "10", "①"],
        ["solve", "crossword", "²", "--generator", "all", "--evaluator", "uniform"],
        ["solve", "crossword", "①", "--generator", "all", "--evaluator", "uniform"],
        ["check", "game24", "4 9 10 ①", "1+2"],
        ["bench", "crossword", "--puzzle", "²", "--evaluator", "uniform", "--out", os.devnull],
    ],
)
def test_unicode_digits_are_a_one_line_input_error(args: list[str]) -> None:
    one_line_error(runner.invoke(app, args))


def test_brackets_in_user_input_are_text_not_markup() -> None:
    assert "[/x]" in one_line_error(runner.invoke(app, ["solve", "game24", "[/x]", "1", "2", "3"]))
    wrong = runner.invoke(app, ["check", "game24", "1 2 3 4", "[/red]"])
    assert wrong.exit_code == 1 and "[/red]" in wrong.output and "Traceback" not in wrong.output


# ---- output into a pipe loses nothing -------------------------------------------------------------


def test_report_into_a_pipe_keeps_whole_tables_and_the_plot_hint(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    done = subprocess.run(
        [*TOT, "report", str(FIXTURE), "--plot", str(tmp_path / "plot")],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    if "matplotlib is not installed" in done.stderr:
        assert "pip install 'tot[plot]'" in done.stderr
    assert "…" not in done.stdout  # no cell or line cut short
    assert "74% (ToT, b=5)" in done.stdout  # the paper column, on one line
    assert max(len(line) for line in done.stdout.splitlines()) > 80


# ---- the user's own tasks -------------------------------------------------------------------------

TASKS = '''
from tot.core import Answer


class Count:
    """Reach the puzzle's number by adding 1s."""
    name = "count"

    def initial(self, puzzle):
        return (0, int(puzzle))

    def actions(self, state):
        return [] if state[0] >= state[1] else [1]

    def result(self, state, action):
        return (state[0] + action, state[1])

    def is_goal(self, state):
        return state[0] == state[1]

    def is_terminal(self, state):
        return state[0] >= state[1]

    def key(self, state):
        return state

    def describe(self, state, action):
        return f"+{action}"

    def render(self, state):
        return str(state[0])

    def answer(self, start, actions):
        return Answer(str(len(actions)), True)


class BadSignature(Count):
    def result(self, state):
        return state


class Crashes(Count):
    def initial(self, puzzle):
        raise ZeroDivisionError("my own bug")


class TextAnswer(Count):
    def answer(self, start, actions):
        return "done"


class CrashesLater(Count):
    def actions(self, state):
        raise KeyError("lost a key")
'''


@pytest.fixture()
def user_tasks(tmp_path: Path) -> str:
    (tmp_path / "mytasks.py").write_text(TASKS)
    return str(tmp_path / "mytasks.py")


def test_a_well_formed_user_task_solves(user_tasks: str) -> None:
    result = runner.invoke(app, ["solve", f"{user_tasks}:Count", "3", "--generator", "all", "--evaluator", "uniform", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["answer"] == "3"


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("BadSignature", "result"),
        ("Crashes", "ZeroDivisionError: my own bug"),
        ("TextAnswer", "must return tot.Answer"),
        ("CrashesLater", "KeyError"),
    ],
)
def test_a_broken_user_task_is_a_one_line_error(user_tasks: str, name: str, says: str) -> None:
    result = runner.invoke(app, ["solve", f"{user_tasks}:{name}", "3", "--generator", "all", "--evaluator", "uniform"])
    assert says in one_line_error(result)


def test_the_library_checks_a_task_object_too(user_tasks: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(Path(user_tasks).parent))
    import mytasks  # type: ignore[import-not-found]

    with pytest.raises(tot.InputError, match="must take"):
        tot.solve(mytasks.BadSignature(), "3", generator="all", valuer="uniform")
    with pytest.raises(tot.InputError, match="my own bug"):
        tot.solve(mytasks.Crashes(), "3", generator="all", valuer="uniform")


def test_solve_takes_the_crosswords_alias_as_bench_does() -> None:
    result = runner.invoke(app, ["solve", "crosswords", "5", "--generator", "all", "--evaluator", "uniform", "--max-nodes", "2", "--json"])
    assert result.exit_code in (0, 1), result.output
    assert json.loads(result.output)["config"]["task"] == "crossword"


def test_a_negative_number_reaches_the_task_instead_of_click() -> None:
    output = one_line_error(runner.invoke(app, ["solve", "game24", "4", "9", "10", "-13"]))
    assert "-13" in output and "no such option" not in output.lower()
    assert "no such option" in one_line_error(runner.invoke(app, ["solve", "game24", "4", "9", "10", "13", "--max-call", "5"]))


# ---- crossword JSON carries the board it ended on -----------------------------------------------------


def test_unsolved_crossword_json_has_the_best_board_found() -> None:
    result = runner.invoke(app, ["solve", "crossword", "5", "--generator", "all", "--evaluator", "uniform", "--max-nodes", "3", "--json"])
    assert result.exit_code == 1, result.output
    data = json.loads(result.output)
    rows = data["grid"].split()
    assert len(rows) == 5 and all(len(row) == 5 for row in rows)
    assert any(ch != "_" for ch in data["grid"].replace(" ", ""))  # words were written
    assert set(data["metrics"]) == {"letters", "words", "game"}


# ---- the drawn tree: transpositions under each parent with that edge's thought -------------------------


def test_each_edge_is_drawn_with_its_own_thought() -> None:
    result = tot.solve("game24", "4 9 10 13", strategy="bfs", generator="all", valuer="uniform", breadth=3, budget=tot.Budget(max_nodes=8))
    tree = result.tree
    nodes = {node.id: node for node in tree}
    second = [(p, c, t) for p, c, t in tree.edges if nodes[c].parent is not None and nodes[c].parent.id != p]
    assert second, "this search reaches some state from two parents"
    console = Console(width=300, record=True, file=open(os.devnull, "w"))
    console.print(tree_view(result, max_children=1000))
    text = console.export_text()
    assert "reached before as node" not in text
    for _, child, thought in second:
        if thought != nodes[child].thought:
            assert thought in text
        assert f"#{child} " in text  # the mark the other parents' lines refer to
