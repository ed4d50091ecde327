"""Mini crosswords on the real default model: the model ranks answers, and a small DFS search runs."""

from __future__ import annotations

import pytest

import tot
from tot.core import Budget
from tot.models import Model
from tot.tasks import crosswords as cw

pytestmark = pytest.mark.model


def test_the_model_ranks_the_true_answer_first_among_fitting_words(model: Model) -> None:
    task = cw.MiniCrossword(cw.english_words())
    judge = cw.ClueJudge(task, model)
    for clue, pattern, answer in (("An engine", "M_T_R", "MOTOR"), ("A mistake", "E_R_R", "ERROR")):
        words = set(task.words.matches(pattern))
        assert answer in words and len(words) > 1
        judge.score({clue: words})
        ranked = sorted(words, key=lambda w: -judge.logprobs[clue][w])
        assert ranked[0] == answer, ranked[:5]


def test_a_small_dfs_search_fills_a_consistent_board(model: Model) -> None:
    task = cw.MiniCrossword(method="rank")
    result = tot.solve(task, "5", budget=Budget(max_calls=30), model=model)
    assert result.config["strategy"] == "dfs" and result.config["preset"] == "crossword"
    assert result.path, "no fill at all"
    board = task.final_board("5", result)
    assert len(board.chosen) == len(result.path)
    for slot in board.chosen:
        assert cw.BLANK not in board.pattern(slot)
    graded = cw.metrics("5", result)
    assert set(graded) == {"letters", "words", "game"} and all(0.0 <= v <= 1.0 for v in graded.values())
    # One prior() asks the model up to twice per open clue; the meter's guard stops it at the limit.
    assert result.usage.calls <= 30
    assert result.usage.proposal_lines > 0


def test_score_many_equals_score_continuations_where_it_decodes(model: Model) -> None:
    prompt = cw.ANSWER_PROMPT.format(clue="An engine")
    words = [w for w in (" motor", " meter", " mater", " motto", " rotor", " mitre") if len(model.tokenize(w, bos=False)) <= 2]  # type: ignore[attr-defined]
    assert len(words) >= 4 and words[0] == " motor"
    many = model.score_many(prompt, words, expand=62)  # type: ignore[attr-defined]
    assert many == model.score_continuations(prompt, words)  # at most two tokens each: exact, bit for bit
    assert max(many) == many[0]


def test_the_grid_method_fills_a_whole_grid_of_dictionary_words(model: Model) -> None:
    task = cw.MiniCrossword(method="grid")
    result = tot.solve(task, "0", model=model)
    board = task.final_board("0", result)
    assert result.usage.calls == 10  # the whole dictionary scored once per clue
    assert cw.BLANK not in board.cells and all(board.pattern(s) in task.words for s in range(10))


def test_belief_propagation_fills_most_of_puzzle_5(model: Model) -> None:
    task = cw.MiniCrossword()  # the default: bp, no re-scoring
    result = tot.solve(task, "5", model=model)
    board = task.final_board("5", result)
    assert result.usage.calls == 20  # the whole dictionary scored per clue and answer prompt, then no model at all
    assert cw.BLANK not in board.cells and all(board.pattern(s) in task.words for s in range(10))
    assert cw.metrics("5", result)["letters"] >= 0.8  # measured: the whole gold grid (benchmarks/RESULTS.md)
