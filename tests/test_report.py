"""`tot report` on a small fixed results file, and the value AUC arithmetic."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from tot.bench import auc, report
from tot.bench.harness import read_records
from tot.cli import app

FIXTURE = Path(__file__).parent / "fixtures" / "bench-small.jsonl"
runner = CliRunner()


def records() -> list[dict[str, object]]:
    return read_records([FIXTURE])


def test_summary_rows_count_success_and_take_medians() -> None:
    rows = report.summarize(records())
    assert [(r.task, r.config["strategy"], r.puzzles) for r in rows] == [
        ("game24", "bfs", 4),
        ("game24", "io", 4),
        ("game24", "bfs", 2),
        ("game24", "bfs", 2),
        ("crossword", "dfs", 2),
    ]
    paper = rows[0]
    assert (paper.solved, paper.solved_any) == (2, 3)
    assert (paper.median_calls, paper.median_tokens, paper.median_seconds, paper.median_nodes) == (25, 250, 2.5, 4.5)
    assert paper.paper == "74% (ToT, b=5)"
    assert rows[1].paper == "7.3% (IO)" and rows[1].solved == 1
    assert rows[2].paper == "" and rows[2].model == "-"
    crossword = rows[4]
    assert crossword.metrics == pytest.approx({"game": 0.0, "letters": 0.7, "words": 0.5})
    assert crossword.paper.startswith("78% letters, 60% words, 20% games")


def test_paper_figures_only_for_the_same_protocol() -> None:
    paper_bfs = {"strategy": "bfs", "generator": "propose", "valuer": "sample", "options": {"breadth": 1, "backtrack": False}}
    assert report.paper_figure("game24", paper_bfs) == "45% (ToT, b=1)"
    assert report.paper_figure("game24", paper_bfs | {"options": {"breadth": 1, "backtrack": True}}) == ""
    assert report.paper_figure("game24", paper_bfs | {"valuer": "labels"}) == ""
    assert report.paper_figure("game24", {"strategy": "cot-sc"}) == "9.0% (CoT-SC, k=100)"
    assert report.paper_figure("crossword", {"strategy": "cot"}).startswith("40.6% letters")
    assert report.paper_figure("crossword", {"strategy": "dfs", "valuer": "uniform"}) == ""


def test_markdown_tables() -> None:
    text = report.markdown(records(), command="tot report x.jsonl")
    assert "Regenerate with `tot report x.jsonl`." in text
    assert "| paper | bfs backtrack=no breadth=5 | model (propose+sample) | calls≤300 | 4 | 50% | 75% | 74% (ToT, b=5) | 25 | 250 | 2.50 | 4.50 |" in text
    assert "| - | io | - | calls≤300 | 4 | 25% | 25% | 7.3% (IO) |" in text
    assert "### crossword" in text and "| 0% | 70.0% | 50.0% |" in text
    assert "| gemma-3-270m-q4_k_m.gguf | labels | 2 | 4 | 2 (50%) | 0.750 ± 0.276 | 1.000 | 1.000 | 0.800 | 0.450 |" in text
    assert "Test CPU, 2 hardware threads" in text and "sha256 a5fd3b62230a" in text


def test_update_markdown_replaces_only_its_own_section(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text("# Results\n\n## Inference\n\nfast.\n")
    report.update_markdown(results, "first\n")
    report.update_markdown(results, "second\n")
    text = results.read_text()
    assert text.startswith("# Results\n\n## Inference\n\nfast.\n\n## Benchmark runs\n\n")
    assert "second" in text and "first" not in text and text.count(report.BEGIN) == 1
    results.write_text(text + "\n## Later section\n\nkept\n")
    report.update_markdown(results, "third\n")
    assert results.read_text().endswith("third\n" + report.END + "\n\n## Later section\n\nkept\n")


def test_update_markdown_fills_an_existing_section_without_markers(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text("# Results\n\n## Benchmark runs\n\nHow to run.\n\n## Inference\n\nfast.\n")
    report.update_markdown(results, "table\n")
    assert results.read_text() == (
        f"# Results\n\n## Benchmark runs\n\nHow to run.\n\n{report.BEGIN}\ntable\n{report.END}\n\n## Inference\n\nfast.\n"
    )
    results.write_text("# Results\n\n## Benchmark runs\n\nHow to run.\n")
    report.update_markdown(results, "table\n")
    assert results.read_text() == f"# Results\n\n## Benchmark runs\n\nHow to run.\n\n{report.BEGIN}\ntable\n{report.END}\n"


def test_curves_count_puzzles_solved_within_each_amount_of_compute() -> None:
    lines = report.curves(records(), "game24", "calls")
    assert lines["paper · bfs backtrack=no breadth=5 · model (propose+sample) · calls≤300"] == [
        (0.0, 0.0), (10.0, 0.25), (20.0, 0.25), (30.0, 0.25), (40.0, 0.5)]
    assert lines["io · calls≤300"] == [(0.0, 0.0), (1.0, 0.25)]
    by_nodes = report.curves(records(), "game24", "nodes")  # of two budgets, the run with more compute is drawn
    assert by_nodes["fast · bfs backtrack=yes breadth=5 · uniform (all+uniform) · nodes≤50"] == [(0.0, 0.0), (50.0, 1.0)]


def test_plots_are_png_and_reproducible_svg(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    first = report.plot(records(), tmp_path / "a" / "success", xs=("nodes", "calls"))
    assert sorted(p.name for p in first) == [
        "success-crossword-vs-calls.png", "success-crossword-vs-calls.svg", "success-crossword-vs-nodes.png",
        "success-crossword-vs-nodes.svg", "success-game24-vs-calls.png", "success-game24-vs-calls.svg",
        "success-game24-vs-nodes.png", "success-game24-vs-nodes.svg",
    ]
    assert all(p.stat().st_size > 1000 for p in first)
    second = report.plot(records(), tmp_path / "b" / "success", xs=("nodes",))
    svg = [p for p in second if p.name == "success-game24-vs-nodes.svg"][0]
    assert svg.read_bytes() == (tmp_path / "a" / "success-game24-vs-nodes.svg").read_bytes()


def test_cli_report(tmp_path: Path) -> None:
    copy = tmp_path / "r.jsonl"
    shutil.copy(FIXTURE, copy)
    with copy.open("a") as handle:
        handle.write('{"key": "torn", "kind": "sea')  # a run killed mid-line: ignored, not an error
    table = runner.invoke(app, ["report", str(copy), "--no-plot"])
    assert table.exit_code == 0, table.output
    assert "74% (ToT" in table.output and "value AUC" in table.output  # narrow terminal: cells wrap
    results = tmp_path / "RESULTS.md"
    updated = runner.invoke(app, ["report", str(copy), "--update", str(results), "--plot", str(tmp_path / "fig" / "s")])
    assert updated.exit_code == 0, updated.output
    text = results.read_text()
    assert "## Benchmark runs" in text and f"`tot report {copy} --update {results} --plot {tmp_path / 'fig' / 's'}`" in text
    if (tmp_path / "fig" / "s-game24-vs-nodes.png").exists():
        assert "](fig/s-game24-vs-nodes.png)" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [(["/nonexistent.jsonl"], "cannot read"), ([str(FIXTURE), "--x", "watts"], "unknown --x 'watts'")],
)
def test_cli_report_bad_input(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["report", *args, "--no-plot"])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_a_corrupt_middle_line_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    text = FIXTURE.read_text().splitlines(keepends=True)
    bad.write_text(text[0] + "{oops\n" + "".join(text[1:]))
    result = runner.invoke(app, ["report", str(bad), "--no-plot"])
    assert result.exit_code == 2 and "line 2 is not valid JSON" in result.output


# ---- AUC -----------------------------------------------------------------------------------


def test_auc_known_values() -> None:
    assert auc.roc_auc([0.9, 0.8, 0.7, 0.1], [True, False, True, False]) == 0.75
    assert auc.roc_auc([1, 2, 3], [False, False, True]) == 1.0
    assert auc.roc_auc([1, 2, 3], [True, True, False]) == 0.0
    assert auc.roc_auc([0.5] * 4, [True, False, True, False]) == 0.5
    assert auc.roc_auc([1, 2], [True, True]) is None


@given(st.lists(st.tuples(st.integers(0, 5), st.booleans()), min_size=2, max_size=40))
def test_auc_is_the_share_of_correctly_ordered_pairs(pairs: list[tuple[int, bool]]) -> None:
    positives = [s for s, ok in pairs if ok]
    negatives = [s for s, ok in pairs if not ok]
    expected = None
    if positives and negatives:
        wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(positives, negatives))
        expected = wins / (len(positives) * len(negatives))
    result = auc.roc_auc([float(s) for s, _ in pairs], [ok for _, ok in pairs])
    assert result == pytest.approx(expected) if expected is not None else result is None


def test_sampled_states_are_real_children_and_seeded() -> None:
    from tot.tasks.game24 import Game24

    states = auc.sample_states("4 9 10 13", 5, seed=0)
    assert [d for d, _ in states] == [1] * 5 + [2] * 5
    assert states == auc.sample_states("4 9 10 13", 5, seed=0) != auc.sample_states("4 9 10 13", 5, seed=1)
    assert all(len(state) == 4 - depth for depth, state in states)
    game = Game24()
    assert {d for d, s in states if game.solvable(s)} <= {1, 2}


def test_oracle_and_uniform_value_runs(tmp_path: Path) -> None:
    out = tmp_path / "auc.jsonl"
    summary = auc.run(rows="900:903", valuers="oracle,uniform", per_depth=6, out=str(out))
    assert summary.written == 6 and all(len(r["states"]) == 12 for r in summary.records)
    rows = {row.valuer: row for row in auc.summarize(summary.records)}
    assert rows["oracle"].auc == 1.0 and rows["uniform"].auc == 0.5
    assert auc.run(rows="900:903", valuers="oracle,uniform", per_depth=6, out=str(out)).written == 0
    line = json.loads(out.read_text().splitlines()[0])
    assert line["kind"] == "values" and line["model"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--valuer", "psychic"], "unknown valuer"), (["--rows", "3:3"], "select no puzzles"), (["--per-depth", "0"], "must be positive")],
)
def test_cli_auc_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["auc", "--out", str(tmp_path / "a.jsonl"), *args])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


@pytest.mark.model
def test_model_values_of_one_puzzle(tmp_path: Path, model: object) -> None:
    summary = auc.run(rows="900:901", valuers="labels", per_depth=3, out=str(tmp_path / "auc.jsonl"))
    (line,) = summary.records
    assert len(line["states"]) == 6 and line["usage"]["calls"] == 1  # the six states valued in one batched call
    assert all(0.0 <= s["value"] <= 1.0 for s in line["states"]) and line["model"]["sha256"]
