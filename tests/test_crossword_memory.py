"""The crossword's clue memory: its file, how it mixes into the clue scores, and the order it gives a model-free search."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import tot
from tests.scripted import ScriptedModel
from tot.cli import app
from tot.errors import InputError
from tot.tasks.crosswords import MiniCrossword, Ranker, WordList
from tot.tasks.crosswords.board import Board
from tot.tasks.crosswords.memory import ClueMemory, default_memory, load_memory, normalise_clue
from tot.tasks.crosswords.puzzles import PAPER_PUZZLES, SECOND_PUZZLES, TRAINING_PUZZLES, gold, load_clues
from tot.tasks.crosswords.scoring import ClueScorer

WORDS = WordList(["CRATE", "TILDE", "ETHER", "AGORA"])
PLAIN = Ranker(("answer", "clues"), (0.5, 0.5))


def test_clues_are_remembered_by_their_text_whatever_the_case_spacing_or_final_full_stop() -> None:
    assert normalise_clue("  A  wooden Box. ") == normalise_clue("a wooden box") == "a wooden box"
    memory = ClueMemory.of([("A wooden box", "crate"), ("a wooden box.", "CRATE"), ("A wooden box", "chest"),
                            ("Wavy mark", "tilde")])
    assert memory.recall("A WOODEN BOX") == {"CRATE": pytest.approx(2 / 3), "CHEST": pytest.approx(1 / 3)}
    assert list(memory.recall("a wooden box")) == ["CRATE", "CHEST"]  # most often given first
    assert memory.recall("Never seen") == {} and len(memory) == 2
    assert load_memory(json.dumps(memory.as_dict())) == memory


@pytest.mark.parametrize("text", ["", "[]", '{"clues": 3}', '{"clues": {"a box": {"CRATE": 0}}}',
                                  '{"clues": {"a box": {"CRAT": 1}}}', '{"clues": {"a box": {}}}', '{"words": {}}'])
def test_a_malformed_memory_file_is_one_clear_error(text: str) -> None:
    with pytest.raises(InputError, match="memory"):
        load_memory(text, "memory.json")


def test_the_shipped_memory_is_the_training_puzzles_and_nothing_else() -> None:
    pairs = [pair for p in TRAINING_PUZZLES for pair in zip(load_clues(str(p)), Board((), gold(str(p))).words())]
    assert default_memory() == ClueMemory.of(pairs)
    evaluation = {(normalise_clue(c), w) for p in PAPER_PUZZLES + SECOND_PUZZLES
                  for c, w in zip(load_clues(str(p)), Board((), gold(str(p))).words())}
    remembered = {(c, w) for c, counts in default_memory().answers.items() for w in counts}
    assert remembered - {(normalise_clue(c), w) for c, w in pairs} == set()
    assert evaluation - {(normalise_clue(c), w) for c, w in pairs} != set()  # evaluation answers not all in it


def test_the_memory_mixes_into_the_clue_scores_and_they_stay_a_distribution() -> None:
    model = ScriptedModel(score=lambda prompt, text: -1.0 if "crate" in text else -3.0)
    lexicon = MiniCrossword(WORDS).lexicon
    memory = ClueMemory.of([("Wavy mark", "TILDE"), ("Wavy mark", "TILDE"), ("Wavy mark", "ETHER")])
    plain = ClueScorer(model, lexicon, ranker=PLAIN)("Wavy mark")
    mixed = ClueScorer(model, lexicon, ranker=PLAIN, memory=memory, recall=0.5)("Wavy mark")
    assert math.isclose(float(np.logaddexp.reduce(mixed)), 0.0, abs_tol=1e-9)
    tilde, ether, crate = (lexicon.position(w) for w in ("TILDE", "ETHER", "CRATE"))
    assert mixed[tilde] == pytest.approx(math.log(0.5 * math.exp(plain[tilde]) + 0.5 * 2 / 3))
    assert mixed[ether] == pytest.approx(math.log(0.5 * math.exp(plain[ether]) + 0.5 * 1 / 3))
    assert mixed[crate] == pytest.approx(plain[crate] + math.log(0.5))
    assert mixed[tilde] > mixed[ether] > plain[tilde] and mixed[crate] < plain[crate]
    other = ClueScorer(model, lexicon, ranker=PLAIN, memory=memory, recall=0.5)("A wooden box")
    assert np.array_equal(other, ClueScorer(model, lexicon, ranker=PLAIN)("A wooden box"))  # a clue it lacks
    with pytest.raises(InputError, match="recall"):
        MiniCrossword(WORDS, recall=1.0)


def test_the_task_offers_remembered_answers_first_and_only_where_they_fit() -> None:
    memory = ClueMemory.of([("Wavy mark", "TILDE"), ("Wavy mark", "ZZZZZ"), ("Wavy mark", "ETHER")])
    clues = ("Wavy mark",) + tuple(f"clue {i}" for i in range(9))
    board = Board(clues)
    assert MiniCrossword(WORDS, memory=memory).candidates(board, 0) == ("ETHER", "TILDE", "AGORA", "CRATE")
    assert MiniCrossword(WORDS, memory=memory, recall=0).candidates(board, 0) == ("AGORA", "CRATE", "ETHER", "TILDE")
    pinned = board.fill(5, "TILDE")  # v1 fixes h1's first letter to T
    assert MiniCrossword(WORDS, memory=memory).candidates(pinned, 0) == ("TILDE",)
    assert MiniCrossword(WORDS, memory=memory).candidates(board, 1) == ("AGORA", "CRATE", "ETHER", "TILDE")


def test_a_model_free_search_with_the_memory_of_a_puzzle_solves_it_and_without_it_does_not() -> None:
    puzzle = str(TRAINING_PUZZLES[0])
    memory = ClueMemory.of(zip(load_clues(puzzle), Board((), gold(puzzle)).words()))
    budget = tot.Budget(max_nodes=2000)
    found = tot.solve(MiniCrossword(memory=memory), puzzle, generator="all", valuer="uniform", strategy="dfs",
                      budget=budget)
    assert found.answer is not None and found.answer.verified and found.answer.text == " ".join(Board((), gold(puzzle)).rows())
    plain = tot.solve(MiniCrossword(recall=0), puzzle, generator="all", valuer="uniform", strategy="dfs", budget=budget)
    assert plain.answer is None or not plain.answer.verified


def test_a_bench_compares_task_options_side_by_side_and_labels_them(tmp_path: Path) -> None:
    out = tmp_path / "b.jsonl"
    result = CliRunner().invoke(app, ["bench", "crossword", "--rows", "1", "--evaluator", "uniform", "--task-set",
                                      "recall=0,0.5", "--budget-nodes", "300", "--out", str(out)])
    assert result.exit_code in (0, 1), result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    by_recall = {line["config"]["task_options"]["recall"]: line for line in lines}
    assert set(by_recall) == {0, 0.5}
    assert by_recall[0.5]["metrics"]["letters"] > by_recall[0]["metrics"]["letters"]  # puzzle 1 is remembered
    assert "crossword recall=0.5" in result.output and "crossword recall=0 " in result.output


def test_the_grid_view_says_which_clues_were_remembered_and_how_to_turn_the_memory_off() -> None:
    from rich.console import Console

    from tot.render_crossword import report_view

    for task, shown in ((MiniCrossword(), True), (MiniCrossword(recall=0), False)):
        result = tot.solve(task, "0", generator="all", valuer="uniform", budget=tot.Budget(max_nodes=50))
        console = Console(width=200, record=True)
        console.print(report_view(task, "0", result))
        text = console.export_text()
        remembered = sum(bool(default_memory().recall(clue)) for clue in load_clues("0"))
        assert (f"clue memory: {remembered} of 10 clues" in text) == shown and ("remembered" in text) == shown
        assert shown == (remembered > 0 and "--task-set recall=0" in text)


def test_a_memory_file_of_your_own_is_read_and_a_missing_or_corrupt_one_is_one_line_and_exit_2(tmp_path: Path) -> None:
    own = tmp_path / "mine.json"
    own.write_text(json.dumps(ClueMemory.of([("An engine", "MOTOR")]).as_dict()))
    assert MiniCrossword(memory=str(own)).memory == ClueMemory.of([("An engine", "MOTOR")])
    broken = tmp_path / "broken.json"
    broken.write_text('{"clues": {"An engine": {"MOTOR": "many"}}')
    for path, message in ((tmp_path / "none.json", "cannot read the crossword memory file"),
                          (broken, "is not a crossword memory file")):
        result = CliRunner().invoke(app, ["solve", "crossword", "0", "--task-set", f"memory={path}", "--generator",
                                          "all", "--evaluator", "uniform"])
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1
    remembered = CliRunner().invoke(app, ["solve", "crossword", "0", "--task-set", f"memory={own}", "--generator", "all",
                                          "--evaluator", "uniform", "--max-nodes", "30"])
    assert "clue memory: 1 of 10 clues" in remembered.output
