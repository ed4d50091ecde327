"""Seeing a search: the terminal summary, the saved result, the HTML page (its content; the browser tests are in
test_view_browser.py), graph files, `tot view`, and the one-line errors of bad files and paths."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import networkx
import pytest
from typer.testing import CliRunner

import tot
from tot import export, html
from tot.cli import app
from tot.tree import graph

from tests.toy import Spell

runner = CliRunner()
MODEL_FREE = ["--generator", "all", "--evaluator", "uniform"]


def one_line_error(result: Any, says: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error:") and result.output.count("\n") == 1, result.output
    assert says in result.output, result.output


def saved(tmp_path: Path, *puzzle: str, extra: tuple[str, ...] = ()) -> Path:
    result = runner.invoke(app, ["solve", "game24", *(puzzle or ("4", "9", "10", "13")), *MODEL_FREE, *extra, "--json"])
    assert result.exit_code in (0, 1), result.output
    path = tmp_path / "run.json"
    path.write_text(result.output)
    return path


# ---- the terminal ----------------------------------------------------------------------------------


def test_the_default_output_fits_on_a_screen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    result = runner.invoke(app, ["solve", "game24", "4", "9", "10", "13", *MODEL_FREE])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) <= 30, result.output  # it was 130 lines with the whole tree
    text = result.output
    assert "answer (verified)" in text and "path of thoughts" in text and "LLM calls" in text
    counts = re.search(r"tree +(\d+) nodes to depth (\d+): (\d+) expanded, (\d+) pruned, (\d+) dead, (\d+) transpositions", text)
    assert counts is not None, text
    data = json.loads(runner.invoke(app, ["solve", "game24", "4", "9", "10", "13", *MODEL_FREE, "--json"]).output)
    nodes, edges = data["tree"]["nodes"], data["tree"]["edges"]
    assert int(counts.group(1)) == len(nodes) and int(counts.group(3)) == len(data["tree"]["expansion_order"])
    assert int(counts.group(5)) == sum(n["status"] == "dead" for n in nodes)
    assert int(counts.group(6)) == len(edges) - (len(nodes) - 1)
    assert "best 3 of" in text and "--tree draws the whole tree" in text


def test_tree_draws_the_whole_tree_and_json_is_unchanged() -> None:
    whole = runner.invoke(app, ["solve", "game24", "4", "9", "10", "13", *MODEL_FREE, "--tree"])
    assert whole.exit_code == 0 and len(whole.output.splitlines()) > 100 and "↪" in whole.output
    data = json.loads(runner.invoke(app, ["solve", "game24", "4", "9", "10", "13", *MODEL_FREE, "--json"]).output)
    result = tot.solve("game24", "4 9 10 13", generator="all", valuer="uniform")
    assert set(data) == set(result.as_dict())  # game24 has no report of its own: exactly Result.as_dict()


def test_the_summary_names_the_best_branches_the_chosen_one_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    text = runner.invoke(app, ["solve", "game24", "4", "9", "10", "13", *MODEL_FREE]).output
    branches = text.split("branches from the start:")[1].splitlines()[1:4]
    path = text.split("path of thoughts")[1].splitlines()[1]
    assert "✓" in branches[0] and path.split("1. ")[1].split("│")[0].strip() in branches[0]
    assert all(re.search(r"\d+ below, \d+ expanded", line) for line in branches)


# ---- the saved result, the page and the graph files -----------------------------------------------------


def test_view_writes_a_self_contained_page_beside_the_result(tmp_path: Path) -> None:
    path = saved(tmp_path)
    result = runner.invoke(app, ["view", str(path)])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "run.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing fetched: no network, no CDN
    assert "default-src 'none'" in page
    data = json.loads(page.split('<script type="application/json" id="tot-data">')[1].split("</script>")[0])
    assert data == json.loads(path.read_text())


def test_solve_writes_the_page_and_the_graph(tmp_path: Path) -> None:
    result = runner.invoke(app, ["solve", "game24", "4", "9", "10", "13", *MODEL_FREE, "--html", str(tmp_path / "a.html"),
                                 "--graph", str(tmp_path / "a.graphml")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "a.html").stat().st_size > 10_000
    assert networkx.read_graphml(tmp_path / "a.graphml").number_of_nodes() > 100


def test_text_in_a_result_cannot_end_the_script() -> None:
    data = json.loads(json.dumps(tot.solve("game24", "4 9 10 13", generator="all", valuer="uniform").as_dict()))
    data["tree"]["nodes"][1]["thought"] = "</script><script>alert(1)</script><!-- &amp;"
    page = html.page(data)
    assert page.count("<script") == 2 and page.count("</script>") == 2  # ours only
    inside = page.split('id="tot-data">')[1].split("</script>")[0]
    assert json.loads(inside)["tree"]["nodes"][1]["thought"] == data["tree"]["nodes"][1]["thought"]


@pytest.mark.parametrize("suffix", [".graphml", ".gexf", ".json"])
def test_graph_files_read_back_with_every_attribute(tmp_path: Path, suffix: str) -> None:
    result = tot.solve("game24", "4 9 10 13", generator="all", valuer="uniform")
    data = export.result_data(result, None, "4 9 10 13")
    out = tmp_path / f"tree{suffix}"
    export.write_graph(data, out)
    if suffix == ".graphml":
        read = networkx.read_graphml(out, node_type=int)
    elif suffix == ".gexf":
        read = networkx.read_gexf(out, node_type=int)
    else:
        linked = json.loads(out.read_text())
        read = networkx.node_link_graph(linked, edges="edges") if "edges" in linked else networkx.node_link_graph(linked)
    tree = result.tree
    assert read.number_of_nodes() == len(tree) and read.number_of_edges() == len(tree.edges)
    solution = next(node for node in tree if node.status == "solution")
    attributes = read.nodes[solution.id]
    assert attributes["status"] == "solution" and attributes["goal"] in (True, "true")
    assert float(attributes["prior"]) == pytest.approx(solution.prior, abs=1e-6)
    assert attributes["thought"] == solution.thought and int(attributes["depth"]) == 3
    valued = next(node for node in tree if node.value is not None)
    assert float(read.nodes[valued.id]["value"]) == pytest.approx(valued.value, abs=1e-6)
    transpositions = [e for e in read.edges(data=True) if e[2]["transposition"] in (True, "true")]
    assert len(transpositions) == len(tree.edges) - (len(tree) - 1)


def test_to_networkx_is_the_same_graph_with_unset_values_as_none() -> None:
    result = tot.solve("game24", "4 9 10 13", generator="all", valuer="uniform")
    whole = result.tree.to_networkx()
    assert networkx.utils.graphs_equal(whole, graph(result.tree.as_dict()))
    assert any(data["value"] is None for _, data in whole.nodes(data=True))


def test_a_complete_search_is_known_as_one() -> None:
    everything = tot.solve(Spell("cab", "ab"), "", strategy="bfs", generator="all", valuer="uniform", breadth=100)
    assert not everything.solved and everything.tree.complete()
    beam = tot.solve(Spell("cab", "ab"), "", strategy="bfs", generator="all", valuer="uniform", breadth=1, backtrack=False)
    assert not beam.tree.complete()
    assert not everything.tree.complete(limit=3)  # too big to check: not claimed


# ---- bad files and paths: one line, exit 2 ------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("not json at all", "not JSON"),
        ('{"key": "a", "kind": "search"}\n{"key": "b", "kind": "search"}\n', "not JSON"),  # a tot bench file
        ("[1, 2, 3]", "not a JSON object"),
        ('{"strategy": "mcts"}', "no 'solved' field"),
    ],
)
def test_view_refuses_a_file_that_is_not_a_saved_result(tmp_path: Path, content: str, says: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    one_line_error(runner.invoke(app, ["view", str(bad)]), f"{bad} is not a result saved by `tot solve --json`: {says}")
    assert not (tmp_path / "bad.html").exists()


def test_view_refuses_a_result_with_a_broken_tree(tmp_path: Path) -> None:
    data = json.loads(saved(tmp_path).read_text())
    data["tree"]["nodes"][5]["parent"] = 10_000
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(data))
    one_line_error(runner.invoke(app, ["view", str(broken)]), "tree node 5 has no earlier parent")
    data["tree"]["nodes"][5]["parent"] = 0
    data["tree"]["nodes"][5]["depth"] = 10**9
    broken.write_text(json.dumps(data))
    one_line_error(runner.invoke(app, ["view", str(broken)]), "tree node 5 is not one deeper than its parent")
    data["tree"]["nodes"][5]["depth"] = 1
    data["tree"]["nodes"][7]["value"] = "high"
    broken.write_text(json.dumps(data))
    one_line_error(runner.invoke(app, ["view", str(broken)]), "tree node 7 has a 'value' of the wrong type")


def test_view_reads_standard_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = saved(tmp_path).read_text()
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["view", "-", "--html", "piped.html"], input=text)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "piped.html").is_file()


@pytest.mark.parametrize("command", ["view", "solve"])
def test_a_graph_file_of_another_kind_is_refused_before_any_work(tmp_path: Path, command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_model(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the model was loaded before the file name was checked")

    monkeypatch.setattr(tot.api, "load_model", no_model)
    target = [str(saved(tmp_path))] if command == "view" else ["game24", "4", "9", "10", "13"]
    one_line_error(runner.invoke(app, [command, *target, "--graph", str(tmp_path / "tree.png")]),
                   "must end in .graphml, .gexf or .json")


@pytest.mark.parametrize("where", ["file/inside.html", "missing/x.html", "."])
def test_an_unwritable_path_is_one_line(tmp_path: Path, where: str) -> None:
    path = saved(tmp_path)
    (tmp_path / "file").write_text("a file, not a folder")
    target = tmp_path / where
    one_line_error(runner.invoke(app, ["view", str(path), "--html", str(target)]), "cannot write the HTML file")
    one_line_error(runner.invoke(app, ["solve", "game24", "4", "9", "10", "13", *MODEL_FREE, "--graph",
                                       str(target.with_suffix(".gexf")) if where != "." else str(tmp_path)]),
                   "cannot write the graph file" if where != "." else "must end in")
