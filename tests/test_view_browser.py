"""The HTML page in a real browser: headless Chromium loads the file tot wrote, runs its script, and the test reads
the resulting DOM (node count, the highlighted path, replay, boards, no script error) and takes screenshots.

Skipped, saying why, when no Chromium is installed (`.ci/run` installs Debian's `chromium`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import tot
from tot import export
from tot.core import Answer

from tests import browser
from tests.toy import Spell

pytestmark = pytest.mark.skipif(
    browser.find() is None,
    reason="no Chromium to test the HTML page in: apt-get install chromium (.ci/run does), or set TOT_CHROMIUM",
)


def write_page(result: tot.Result, path: Path, **changes: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(export.result_data(result, None, "")))
    data.update(changes)
    path.write_text(json.dumps(data))
    export.write_html(export.load(path), path.with_suffix(".html"))
    return data


def solution_path(data: dict[str, Any]) -> list[str]:
    nodes = data["tree"]["nodes"]
    node = next(n for n in nodes if n["status"] == "solution")
    ids = [node["id"]]
    while nodes[ids[-1]]["parent"] is not None:
        ids.append(nodes[ids[-1]]["parent"])
    return [str(i) for i in reversed(ids)]


def loaded(dom: str) -> dict[str, str]:
    marks = browser.marks(dom)
    assert "error" not in marks and 'id="tot-error"' not in dom, marks.get("error")
    assert marks.get("ready") == "1", marks
    return marks


def test_a_game24_search_in_the_browser(tmp_path: Path) -> None:
    result = tot.solve("game24", "4 9 10 13", generator="all", valuer="uniform")
    data = write_page(result, tmp_path / "game24.json")
    page = tmp_path / "game24.html"
    dom = browser.dump_dom(page)
    marks = loaded(dom)
    assert marks["nodes"] == str(len(result.tree))
    path = solution_path(data)
    assert marks["path"] == ",".join(path)
    assert browser.rows(dom, "on-path") == path  # opened and highlighted, start to goal
    assert "solved: " in dom and result.answer is not None and result.answer.text in dom
    shown = [i for i in browser.rows(dom) if i]
    assert 1 < len(shown) <= 400 and marks["rows"] == str(len(browser.rows(dom)))
    assert "same state as" in dom  # a transposition, linked to the node it shares
    shot = browser.screenshot(page, tmp_path / "game24.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_ten_thousand_nodes_open_at_once_and_replay(tmp_path: Path) -> None:
    result = tot.solve(Spell("jjjj", "abcdefghij"), "", strategy="bfs", generator="all", valuer="uniform",
                       breadth=100_000, budget=tot.Budget())
    assert len(result.tree) > 10_000 and result.solved
    data = write_page(result, tmp_path / "big.json")
    page = tmp_path / "big.html"
    marks = loaded(dom := browser.dump_dom(page))
    assert marks["nodes"] == str(len(result.tree))
    assert len(browser.rows(dom)) <= 300  # collapsed below a depth: only what fits is in the page
    assert browser.rows(dom, "on-path") == solution_path(data)
    assert int(marks["ms"]) < 5_000
    whole = loaded(browser.dump_dom(page, "depth=4"))  # every node open, as the depth menu allows
    assert whole["rows"] == str(len(result.tree))
    order = data["tree"]["expansion_order"]
    first = loaded(step := browser.dump_dom(page, "step=1"))  # only the start expanded: it and its children
    assert first["step"] == "1" and len(browser.rows(step)) == 1 + 10
    middle = browser.dump_dom(page, "step=500")
    assert loaded(middle)["step"] == "500"
    assert browser.rows(middle, "current") == [str(order[499])]
    expanded_by_then = set(order[:500])
    nodes = data["tree"]["nodes"]
    assert all(nodes[int(i)]["parent"] in expanded_by_then for i in browser.rows(middle) if i and i != "0")


def test_text_from_a_result_is_only_text_in_the_page(tmp_path: Path) -> None:
    result = tot.solve("game24", "4 9 10 13", generator="all", valuer="uniform")
    hostile = '</script><img src=x onerror="document.documentElement.setAttribute(\'data-pwned\',1)"><b id="injected">'
    data = json.loads(json.dumps(export.result_data(result, None, "")))
    for node in data["tree"]["nodes"]:
        node["thought"] = hostile + node["thought"]
    data["answer"] = hostile
    (tmp_path / "hostile.json").write_text(json.dumps(data))
    export.write_html(export.load(tmp_path / "hostile.json"), tmp_path / "hostile.html")
    dom = browser.dump_dom(tmp_path / "hostile.html")
    loaded(dom)
    assert "data-pwned" not in dom.split("<head>")[0] and '<b id="injected"' not in dom  # nothing ran, no element made
    assert "&lt;/script&gt;&lt;img src=x" in dom  # shown as the text it is


class Boards:
    """Fill a 3x3 board cell by cell with A or B; drawn as rows joined by '/' (as the crossword draws its grid)."""

    name = "boards"

    def initial(self, puzzle: str) -> str:
        return "_" * 9

    def actions(self, state: str) -> list[str]:
        return [] if "_" not in state else ["A", "B"]

    def result(self, state: str, action: str) -> str:
        return state.replace("_", action, 1)

    def is_goal(self, state: str) -> bool:
        return state == "ABABABABA"

    def is_terminal(self, state: str) -> bool:
        return "_" not in state

    def key(self, state: str) -> str:
        return state

    def describe(self, state: str, action: str) -> str:
        return f"cell {state.index('_') + 1}: {action}"

    def render(self, state: str) -> str:
        return "/".join(state[i:i + 3] for i in range(0, 9, 3))

    def answer(self, start: str, actions: Sequence[str]) -> Answer:
        board = start
        for action in actions:
            board = self.result(board, action)
        return Answer(board, self.is_goal(board))


def test_a_board_is_drawn_at_each_node(tmp_path: Path) -> None:
    result = tot.solve(Boards(), "", strategy="dfs", generator="all", valuer="uniform")
    assert result.solved
    write_page(result, tmp_path / "boards.json", grid="ABA BAB ABA", metrics={"letters": 1.0})
    page = tmp_path / "boards.html"
    node = next(n for n in result.tree if n.depth == 4)
    dom = browser.dump_dom(page, f"node={node.id}")
    loaded(dom)
    details = dom.split('id="details"')[1].split("</section>")[0]
    assert details.count('<table class="board">') == 1
    board = details.split('<table class="board">')[1].split("</table>")[0]
    assert board.count("<tr>") == 3 and board.count("<td") == 9
    assert board.count('<td class="blank">') == node.label.count("_") == 5
    assert "task report" in dom and "letters 1" in dom  # the task's own report, beside usage and config
    inline = browser.dump_dom(page, "states=1")
    loaded(inline)
    tree_part = inline.split('id="tree"')[1].split("</section>")[0]
    assert tree_part.count('<table class="board">') == len([i for i in browser.rows(inline) if i])
    browser.screenshot(page, tmp_path / "boards.png", fragment=f"node={node.id}&states=1")
