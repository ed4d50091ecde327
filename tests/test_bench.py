"""`tot bench`: the grid, resumable JSON lines, reproducibility, bad arguments. Model-free except the last test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tot.bench import config as bench_config
from tot.bench import harness
from tot.bench.config import Grid, build, expand, parse_rows
from tests.toy import Spell
from tot.cli import app
from tot.errors import InputError

runner = CliRunner()
TIMING = ("seconds", "finished", "machine", "tot_version")


def decisions(record: dict[str, Any]) -> dict[str, Any]:
    """A line without its timings: what must repeat exactly."""
    usage = {k: v for k, v in record["usage"].items() if "seconds" not in k}
    return {k: v for k, v in record.items() if k not in TIMING} | {"usage": usage}


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def spec(out: Path, **flags: Any) -> bench_config.BenchSpec:
    base = {"task": "game24", "rows": "900:906", "evaluator": "uniform,oracle", "preset": "fast,paper", "out": str(out)}
    return build(base | flags)


# ---- the config parser ---------------------------------------------------------------------


def test_rows() -> None:
    assert parse_rows("900:905", 1362) == [900, 901, 902, 903, 904]
    assert parse_rows("0:100:5", 156)[:3] == [0, 5, 10] and len(parse_rows("0:100:5", 156)) == 20
    assert parse_rows("7", 10) == [7]
    assert parse_rows("1:3,2:4", 10) == [1, 2, 3]
    assert parse_rows(":2", 10) == [0, 1]
    for bad in ("5:5", "9:2", "x", "1:2:0", "0:11", "-1:3", ""):
        with pytest.raises(InputError):
            parse_rows(bad, 10)


def test_evaluator_names_map_to_generators_and_valuers() -> None:
    configs = expand(Grid(presets=("fast", "paper"), evaluators=("model", "uniform", "oracle", "sample")))
    parts = [(c.preset, c.evaluator, c.generator, c.valuer) for c in configs]
    assert parts == [
        ("fast", "model", "enumerate", "labels"),
        ("fast", "uniform", "all", "uniform"),
        ("fast", "oracle", "all", "oracle"),
        ("fast", "sample", "enumerate", "sample"),
        ("paper", "model", "propose", "sample"),
        ("paper", "uniform", "all", "uniform"),
        ("paper", "oracle", "all", "oracle"),
        # paper + sample is paper + model: the same search, kept once
    ]
    assert [c.needs_model for c in configs] == [True, False, False, True, True, False, False]
    assert dict(configs[4].options) == {"breadth": 5, "backtrack": False}


def test_grid_is_the_product_of_budgets_and_options_and_drops_options_a_strategy_lacks() -> None:
    grid = Grid(
        presets=("paper",),
        strategies=("bfs", "best-first"),
        evaluators=("oracle",),
        budgets=(("nodes", (20, 50)), ("calls", (None, 100))),
        options=(("breadth", (1, 5)),),
    )
    configs = expand(grid)
    bfs = [c for c in configs if c.strategy == "bfs"]
    best = [c for c in configs if c.strategy == "best-first"]
    assert len(bfs) == 2 * 2 * 2 and len(best) == 2 * 2  # best-first takes no breadth: one config per budget
    assert {dict(c.options)["breadth"] for c in bfs} == {1, 5}
    assert all(dict(c.options) == {} for c in best)
    assert {(c.budget.max_nodes, c.budget.max_calls) for c in best} == {(20, None), (20, 100), (50, None), (50, 100)}


def test_baselines_run_once_without_an_evaluator() -> None:
    configs = expand(Grid(presets=("fast", "paper"), strategies=("io", "bfs"), evaluators=("model", "uniform")))
    io = [c for c in configs if c.strategy == "io"]
    assert len(io) == 1 and io[0].evaluator == "none" and io[0].needs_model
    assert len([c for c in configs if c.strategy == "bfs"]) == 4


def test_default_budget_and_preset() -> None:
    (config,) = expand(Grid())
    assert config.preset == "fast" and config.budget.max_calls == 300 and config.strategy == "mcts"


def test_flags_override_a_json_config_file(tmp_path: Path) -> None:
    file = tmp_path / "grid.json"
    file.write_text(json.dumps({"task": "game24", "rows": "900:903", "presets": ["paper"], "evaluator": "oracle",
                                "budget": {"nodes": [10, 20]}, "seed": 3, "out": str(tmp_path / "a.jsonl")}))
    run = build({"rows": "900:902", "out": None}, file)
    assert [p.row for p in run.puzzles] == [900, 901] and run.seed == 3
    assert [(c.preset, c.valuer, c.budget.max_nodes) for c in run.configs] == [("paper", "oracle", 10), ("paper", "oracle", 20)]
    assert run.out == tmp_path / "a.jsonl"


def test_toml_config_with_runs(tmp_path: Path) -> None:
    pytest.importorskip("tomllib")
    file = tmp_path / "grid.toml"
    file.write_text(
        'task = "game24"\nrows = "900:901"\nevaluators = ["oracle"]\n'
        "[[run]]\npreset = \"paper\"\n[run.options]\nbreadth = [1, 5]\n"
        "[[run]]\nstrategy = \"best-first\"\nevaluator = \"uniform,oracle\"\n"
    )
    run = build({}, file)
    assert [(c.strategy, c.valuer, dict(c.options).get("breadth")) for c in run.configs] == [
        ("bfs", "oracle", 1),
        ("bfs", "oracle", 5),
        ("best-first", "uniform", None),
        ("best-first", "oracle", None),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"task": "game24", "colour": "red"}', "unknown setting 'colour'"),
        ('{"task": "game24", "budget": {"hours": 1}}', "unknown budget 'hours'"),
        ('{"task": "game24", "run": [{"rows": "1:2"}]}', "grid axes only"),
        ("{not json", "not valid JSON"),
        ('["a list"]', "top level"),
    ],
)
def test_bad_config_files(tmp_path: Path, content: str, message: str) -> None:
    file = tmp_path / "grid.json"
    file.write_text(content)
    with pytest.raises(InputError, match=message):
        build({}, file)


def test_puzzles_instead_of_rows_and_task_aliases() -> None:
    run = build({"task": "game24", "puzzle": ["4 9 10 13", "4,9,10,13"], "evaluator": "oracle"})
    assert [p.text for p in run.puzzles] == ["4 9 10 13", "4,9,10,13"] and run.puzzles[0].row is None
    assert bench_config.task_name("crosswords") == "crossword"


# ---- running, resuming, reproducing --------------------------------------------------------


def test_a_run_writes_one_line_per_puzzle_and_configuration(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    summary = harness.run(spec(out))
    records = lines(out)
    assert summary.written == len(records) == 6 * 4 and summary.skipped == 0
    assert len({r["key"] for r in records}) == len(records)
    first = records[0]
    assert first["kind"] == "search" and first["task"] == "game24" and first["row"] == 900 and first["seed"] == 0
    assert first["model"] is None and first["machine"]["cpu"] and first["machine"]["cpu_threads"]
    for field in ("calls", "prompt_tokens", "prompt_tokens_evaluated", "generated_tokens", "nodes_expanded", "cache_hits"):
        assert field in first["usage"]
    assert {"solved", "solved_any", "verified", "answer", "candidates", "metrics", "stop_reason", "seconds"} <= set(first)
    oracle = [r for r in records if r["config"]["valuer"] == "oracle"]
    assert all(r["solved"] and r["solved_any"] for r in oracle)  # the oracle solves every solvable puzzle


def test_resume_after_a_crash_redoes_the_torn_line_and_nothing_else(tmp_path: Path) -> None:
    full, crashed = tmp_path / "full.jsonl", tmp_path / "crashed.jsonl"
    harness.run(spec(full))
    reference = lines(full)
    text = full.read_text()
    cut = text.index("\n", len(text) // 2) + 1
    crashed.write_text(text[:cut] + text[cut : cut + 57])  # a kill -9 in the middle of writing a line
    kept = text[:cut].count("\n")
    summary = harness.run(spec(crashed))
    assert summary.redone_partial_line and summary.skipped == kept and summary.written == len(reference) - kept
    again = lines(crashed)
    assert [r["key"] for r in again] == [r["key"] for r in reference]
    assert [decisions(r) for r in again] == [decisions(r) for r in reference]
    assert harness.run(spec(crashed)).written == 0  # a finished run is a no-op


class StopAfter:
    """A progress display that presses Ctrl-C after `n` lines."""

    def __init__(self, n: int) -> None:
        self.n, self.seen = n, 0

    def start(self, total: int, finished: Any) -> None: ...

    def stop(self) -> None: ...

    def advance(self, record: dict[str, Any]) -> None:
        self.seen += 1
        if self.seen == self.n:
            raise KeyboardInterrupt


def test_ctrl_c_keeps_every_finished_line(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    with pytest.raises(harness.Interrupted, match="5 of 24 lines"):
        harness.run(spec(out), progress=StopAfter(5))
    assert len(lines(out)) == 5
    summary = harness.run(spec(out))
    assert summary.skipped == 5 and summary.written == 19 and len({r["key"] for r in lines(out)}) == 24


def test_same_seed_same_decisions_and_workers_change_nothing(tmp_path: Path) -> None:
    one, two, parallel = (tmp_path / name for name in ("1.jsonl", "2.jsonl", "p.jsonl"))
    harness.run(spec(one, strategy="bfs,best-first", **{"budget-nodes": "8,none"}))
    harness.run(spec(two, strategy="bfs,best-first", **{"budget-nodes": "8,none"}))
    harness.run(spec(parallel, strategy="bfs,best-first", **{"budget-nodes": "8,none"}, workers=2))
    by_key = {r["key"]: decisions(r) for r in lines(parallel)}
    assert [decisions(r) for r in lines(one)] == [decisions(r) for r in lines(two)]
    assert {r["key"]: decisions(r) for r in lines(one)} == by_key


def test_a_second_run_on_the_same_file_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    with harness.ResultsFile(out):
        with pytest.raises(InputError, match="another run"):
            harness.ResultsFile(out).open()


def test_a_corrupt_line_before_the_end_is_an_error(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    harness.run(spec(out, rows="900:902"))
    text = out.read_text().splitlines(keepends=True)
    out.write_text(text[0] + "garbage\n" + "".join(text[1:]))
    with pytest.raises(InputError, match="line 2 is not valid JSON"):
        harness.run(spec(out, rows="900:902"))


class GradedSpell(Spell):
    """The toy task with gold-graded metrics, like the crosswords: success is `game`, judged on the final state."""

    def metrics(self, puzzle: str, final: Any) -> dict[str, float]:
        text = getattr(final, "text", final)
        return {"letters": sum(a == b for a, b in zip(text, self.word)) / len(self.word), "game": float(text == self.word)}


def test_task_metrics_decide_success_when_the_task_has_a_game_metric(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    run = build({"task": "tests.test_bench:GradedSpell", "puzzle": ["x"], "evaluator": "oracle,uniform",
                 "strategy": "bfs", "budget-nodes": "2,none", "out": str(out)})
    harness.run(run)
    records = {(r["config"]["valuer"], r["config"]["budget"].get("nodes")): r for r in lines(out)}
    solved = records[("oracle", None)]
    assert solved["metrics"] == {"letters": 1.0, "game": 1.0} and solved["solved"]
    cut = records[("uniform", 2)]  # two nodes: the search ends with a partial word
    assert not cut["solved"] and cut["metrics"]["game"] == 0.0 and 0.0 <= cut["metrics"]["letters"] < 1.0


# ---- the command line ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "nope"], "unknown strategy 'nope'"),
        (["--rows", "5:5"], "select no puzzles"),
        (["--rows", "900:2000"], "past the last row"),
        (["--evaluator", "psychic"], "unknown evaluator"),
        (["--preset", "slow"], "unknown preset"),
        (["--budget-nodes", "0"], "must be positive"),
        (["--budget-calls", "ten"], "must be a number"),
        (["--set", "breadth"], "KEY=VALUE"),
        (["--set", "colour=red"], "takes the option 'colour'"),
        (["--task-set", "colour=red"], "task 'game24' has no option colour"),
        (["--task-set", "colour"], "task options take KEY=VALUE"),
        (["--puzzle", "1 2 3"], "exactly 4 numbers"),
        (["--puzzle", "1 2 3 4", "--rows", "1:2"], "either --rows or --puzzle"),
        (["--workers", "0"], "workers must be positive"),
        (["--config", "/nonexistent/grid.toml"], "cannot read config file"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["bench", "game24", "--evaluator", "oracle", "--out", str(tmp_path / "o.jsonl"), *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_unknown_task_and_unwritable_output(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    for args, message in (
        (["bench", "nosuchtask"], "unknown task"),
        (["bench"], "no task"),
        (["bench", "game24", "--rows", "900:901", "--evaluator", "oracle", "--out", str(blocker / "r.jsonl")],
         "cannot write results"),
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_cli_json_summary(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    args = ["bench", "game24", "--rows", "900:903", "--evaluator", "oracle", "--out", str(out), "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert json.loads(first.output) == {"out": str(out), "lines": 3, "new": 3, "already_done": 0, "solved": 3}
    assert json.loads(runner.invoke(app, args).output)["already_done"] == 3


def _bench_process(out: Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tot", "bench", "game24", "--rows", "0:300", "--evaluator", "uniform",
               "--out", str(out), "--json"]
    # Default Ctrl-C handling even when the tests run as a background job (which inherits SIGINT ignored).
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for_lines(out: Path, count: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if out.exists() and out.read_bytes().count(b"\n") >= count:
            return
        time.sleep(0.05)
    raise AssertionError("the benchmark wrote nothing")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_a_killed_process_resumes_without_duplicates(tmp_path: Path, sig: int) -> None:
    out = tmp_path / "r.jsonl"
    process = _bench_process(out)
    _wait_for_lines(out, 20)
    os.kill(process.pid, sig)
    _, stderr = process.communicate(timeout=60)
    if sig == signal.SIGINT:
        assert process.returncode == 130 and "run the same command again to resume" in stderr
    else:
        assert process.returncode == -signal.SIGKILL
    written = harness.read_records([out])  # without a line torn by kill -9
    if sig == signal.SIGINT:
        assert out.read_bytes().endswith(b"\n")
    process = _bench_process(out)
    stdout, _ = process.communicate(timeout=300)
    assert process.returncode == 0
    summary = json.loads(stdout)
    assert summary["lines"] == 300 and summary["already_done"] >= len(written) - 1
    keys = [r["key"] for r in lines(out)]
    assert len(keys) == len(set(keys)) == 300


# ---- the real model ------------------------------------------------------------------------


@pytest.mark.model
def test_same_seed_repeats_a_real_model_run(tmp_path: Path, model: Any) -> None:
    flags = {"task": "game24", "rows": "900:901", "preset": "fast,paper", "budget-calls": "1", "seed": 1}
    first = harness.run(build(flags | {"out": str(tmp_path / "1.jsonl")}))
    second = harness.run(build(flags | {"out": str(tmp_path / "2.jsonl")}))
    assert [decisions(r) for r in first.records] == [decisions(r) for r in second.records]
    record = first.records[1]
    assert record["model"]["file"].endswith(".gguf") and len(record["model"]["sha256"]) == 64
    assert record["usage"]["calls"] > 0 and record["machine"]["threads"]
