"""What a new user tripped on (issue 19), one test or more per item; each failed before its fix."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import tot
from tot.bench import config, harness
from tot.cli import app
from tot.errors import ModelError, TotError
from tot.models.server import ServerModel

from tests.servers import FakeServer

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "bench-small.jsonl"
MODEL_FREE = ["--generator", "all", "--evaluator", "uniform"]


def one_line(result: Any, code: int = 2) -> str:
    output: str = result.output
    assert result.exit_code == code, output
    assert "Traceback" not in output and output.startswith("error:") and output.count("\n") == 1, output
    return output


# 1. tot report on lines that look like tot's but carry other types ------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        '{"key": "x", "kind": "search"}',
        FIXTURE.read_text().splitlines()[0].replace('"model":{', '"model":5,"was":{'),
        FIXTURE.read_text().splitlines()[0].replace('"usage":{"calls":10', '"usage":{"calls":"ten"'),
        FIXTURE.read_text().splitlines()[0].replace('"config":{', '"config":[],"was":{'),
    ],
)
def test_report_on_a_line_of_other_types_is_one_line(tmp_path: Path, line: str) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(FIXTURE.read_text() + line + "\n")
    count = len(FIXTURE.read_text().splitlines()) + 1
    output = one_line(runner.invoke(app, ["report", str(bad), "--no-plot"]))
    assert f"line {count} is not a tot benchmark line" in output


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path in a JSON value (into objects, and into the first item of lists)."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*prefix, key))
    elif isinstance(value, list) and value:
        found += _paths(value[0], (*prefix, 0))
    return found


def test_report_reads_any_field_of_any_type_or_names_the_line() -> None:
    """Every field of a search line and of a values line, set to each JSON type: a report, or 'not a tot benchmark line'."""
    from tot.bench import report

    lines = FIXTURE.read_text().splitlines()
    samples = [json.loads(next(line for line in lines if f'"kind":"{kind}"' in line)) for kind in ("search", "values")]
    for sample in samples:
        for path in _paths(sample):
            for wrong in (None, 5, -1.5, True, "x", [], {}, [1], {"a": 1}):
                record = json.loads(json.dumps(sample))
                holder = record
                for key in path[:-1]:
                    holder = holder[key]
                holder[path[-1]] = wrong
                try:
                    records, _ = harness.parse_lines((json.dumps(record) + "\n").encode(), "f.jsonl")
                except tot.InputError as error:
                    assert error.message == "f.jsonl: line 1 is not a tot benchmark line"
                    continue
                report.rich_tables(records)  # must not raise
                report.markdown(records)
                for x in report.COMPUTE:
                    report.curves(records, record.get("task", ""), x)


# 2. tot report on an empty file, or one without benchmark lines; its errors name no --out --------------------


@pytest.mark.parametrize("content", ["", '{"key": "j1", "kind": "job"}\n{"key": "j2", "kind": "job"}\n'])
def test_report_without_benchmark_lines_says_so(tmp_path: Path, content: str) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text(content)
    assert f"no benchmark lines in {empty}" in one_line(runner.invoke(app, ["report", str(empty), "--no-plot"]))


def test_report_errors_do_not_mention_out_but_bench_errors_do(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n" + FIXTURE.read_text())
    assert "--out" not in one_line(runner.invoke(app, ["report", str(bad), "--no-plot"]))
    bench = runner.invoke(app, ["bench", "game24", "--rows", "900:901", "--evaluator", "uniform", "--out", str(bad), "--json"])
    assert "remove it or write to another --out" in one_line(bench)


# 3. the README's library example when nothing is found -------------------------------------------------------


def test_the_readme_library_example_survives_an_unsolved_puzzle() -> None:
    readme = (ROOT / "README.md").read_text()
    code = readme.split("## Use it as a library", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    call = 'tot.solve("game24", "4 9 10 13")'
    assert call in code
    unsolved = code.replace(call, 'tot.solve("game24", "1 1 1 1", generator="all", valuer="uniform")')
    ran = subprocess.run([sys.executable, "-c", unsolved], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert "no solution" in ran.stdout


# 4. an exhausted search that tried everything proved there is no solution ---------------------------------------


def test_a_complete_search_says_there_is_no_solution() -> None:
    result = runner.invoke(app, ["solve", "game24", "1", "1", "1", "1", *MODEL_FREE])
    assert result.exit_code == 1
    assert "tried every possible step, so none exists" in result.output and "within budget" not in result.output


def test_a_search_that_did_not_try_everything_claims_no_proof() -> None:
    beam = runner.invoke(app, ["solve", "game24", "1", "1", "1", "1", *MODEL_FREE, "--strategy", "bfs", "--breadth", "1", "--no-backtrack"])
    assert beam.exit_code == 1 and "none exists" not in beam.output and "without trying every step" in beam.output
    budget = runner.invoke(app, ["solve", "game24", "1", "1", "1", "1", *MODEL_FREE, "--max-nodes", "2"])
    assert budget.exit_code == 1 and "the nodes budget ran out" in budget.output and "none exists" not in budget.output


# 5. one name for the evaluator; hints that offer only what works ---------------------------------------------


def test_python_takes_the_clis_name_evaluator() -> None:
    result = tot.solve("game24", "4 9 10 13", generator="all", evaluator="uniform")
    assert result.solved and result.config["evaluator"] == "uniform"
    with pytest.raises(tot.InputError, match="name the same setting"):
        tot.solve("game24", "4 9 10 13", generator="all", evaluator="uniform", valuer="oracle")


def test_a_task_without_a_solver_is_not_offered_the_oracle() -> None:
    output = one_line(runner.invoke(app, ["solve", f"{ROOT}/examples/sudoku4.py:Sudoku4", "1.3. .... .... .2.4"]))
    offered = output.split("--evaluator", 1)[1]
    assert "uniform" in offered and not re.search(r"\boracle or\b|oracle/", offered)


# 6. tot check cuts what it echoes, and marks the cut ---------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["4 9 10 13", "1+" * 50_000 + "1"],
        ["4 9 10 13", "x" * 100_000],
        ["x" * 100_000, "1"],
        ["4 9 10 " + "7" * 100_000, "1"],
    ],
)
def test_check_echoes_no_more_than_a_few_dozen_characters(args: list[str]) -> None:
    result = runner.invoke(app, ["check", "game24", *args])
    assert result.exit_code in (1, 2) and "Traceback" not in result.output
    assert len(result.output) < 300, result.output[:300]


def test_a_cut_number_is_marked() -> None:
    output = one_line(runner.invoke(app, ["check", "game24", f"4 9 10 {10**30}", "1"]))
    assert "…" in output and "31 digits" in output


# 7. tot check takes the paper's answer format and an unquoted puzzle --------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["4 9 10 13", "(13 - 9) * (10 - 4) = 24"],
        ["4 9 10 13", "(13-9)*(10-4)=24"],
        ["4", "9", "10", "13", "(13-9)*(10-4)"],
        ["4", "9", "10", "13", "(13 - 9) * (10 - 4) = 24"],
    ],
)
def test_check_accepts_what_solve_and_the_paper_accept(args: list[str]) -> None:
    result = runner.invoke(app, ["check", "game24", *args])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("correct")


def test_check_still_refuses_a_wrong_claim() -> None:
    result = runner.invoke(app, ["check", "game24", "4 9 10 13", "(13-9)*(10-4) = 25"])
    assert result.exit_code == 1 and result.output.startswith("wrong")


# 8. a server that dies mid-bench: the finished lines are kept, and rerunning resumes ---------------------------


def test_a_server_dying_mid_bench_says_the_lines_are_kept_and_how_to_resume(tmp_path: Path) -> None:
    def reply(path: str, body: dict[str, Any]) -> Any:
        return {"choices": [{"text": "4 + 9 = 13 (left: 10 13 13)\nimpossible\n"}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 12, "total_tokens": 112}}

    out = tmp_path / "bench.jsonl"
    with FakeServer(reply) as server:

        class DiesAfterOneLine(harness.NoProgress):
            def advance(self, record: harness.Record) -> None:
                server.http.shutdown()
                server.http.server_close()

        spec = config.build({"task": "game24", "rows": "900:903", "preset": "paper", "budget-calls": "2",
                             "server": server.url, "out": str(out)})
        with pytest.raises(TotError) as raised:
            harness.run(spec, progress=DiesAfterOneLine())
    assert raised.value.exit_code == 2
    message = raised.value.message
    assert "cannot reach the server" in message
    assert f"1 of 3 lines are in {out}" in message and "run the same command again to resume" in message
    assert len(out.read_text().splitlines()) == 1


# 9. --model DIR, --threads 0, an HTML page from a server -------------------------------------------------------


def test_a_model_folder_is_named_as_a_folder(tmp_path: Path) -> None:
    (tmp_path / "gemma.gguf").write_bytes(b"GGUF")
    output = one_line(runner.invoke(app, ["solve", "game24", "4", "9", "10", "13", "--model", str(tmp_path)]))
    assert "is a folder" in output and "gemma.gguf" in output and "not found" not in output


@pytest.mark.parametrize("extra", [[], MODEL_FREE])
def test_zero_threads_is_refused(extra: list[str]) -> None:
    output = one_line(runner.invoke(app, ["solve", "game24", "4", "9", "10", "13", "--threads", "0", *extra]))
    assert "threads must be positive" in output


PAGE = ("<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title><style>" + "body{}" * 400 + "</style></head>"
        "<body><h1>502 Bad Gateway</h1>" + "<p>lorem ipsum</p>" * 200 + "</body></html>")


@pytest.mark.parametrize("reply", [lambda path, body: (502, PAGE.encode()), lambda path, body: PAGE.encode()])
def test_an_html_page_from_a_server_is_named_not_pasted(reply: Any) -> None:
    with FakeServer(reply) as server:
        model = ServerModel(server.url, "m", timeout=5)
        with pytest.raises(ModelError) as raised:
            model.complete("Q:", max_tokens=4)
    message = raised.value.message
    assert "an HTML page (502 Bad Gateway)" in message and "<" not in message and len(message) < 200, message

