"""Mini crosswords without the real model: board logic, pattern filtering, pruning, ranking, metrics."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from tests.scripted import ScriptedModel
from tot import api
from tot.cli import app
from tot.core import Answer
from tot.errors import InputError
from tot.tasks import crosswords as cw
from tot.tasks.crosswords import Board, ClueJudge, CrosswordThoughts, CrosswordValue, Fill, MiniCrossword, WordList

# A 5x5 word square (rows = columns), and clues that are just the slot names.
SQUARE = ("HEART", "EMBER", "ABUSE", "RESIN", "TREND")
CLUES = " | ".join(f"clue {name}" for name in cw.SLOTS)
WORDS = WordList([*SQUARE, "HEARS", "EMBED", "APPLE", "ANGLE", "AMBLE", "ZEBRA", "ab", "toolong", "caf\u00e9s"])


def test_word_list_filters_patterns_exactly() -> None:
    assert len(WORDS) == 11 and "ZEBRA" in WORDS  # only five ASCII letters, upper-cased
    assert WORDS.matches("A__LE") == ("AMBLE", "ANGLE", "APPLE")
    assert WORDS.matches("HEAR_") == ("HEARS", "HEART")
    assert WORDS.matches("Q____") == ()
    assert len(WORDS.matches("_____")) == len(WORDS)
    assert cw.fits("HEART", "H_A_T") and not cw.fits("HEART", "H_A_S")


def test_english_word_list_is_a_real_dictionary() -> None:
    words = cw.english_words()
    assert len(words) > 10_000  # not built from the puzzles' 976 answers
    assert {"MOTOR", "ERROR", "BEING"} <= words.words
    assert "M_T_R" in {"M_T_R"} and "MOTOR" in words.matches("M_T_R")


def test_board_fills_and_transpositions_share_a_key() -> None:
    task = MiniCrossword(WORDS)
    board = task.initial(CLUES)
    assert board.cells == "_" * 25 and board.clues[0] == "clue h1"
    a = task.result(task.result(board, Fill(0, "HEART")), Fill(5, "HEART"))
    b = task.result(task.result(board, Fill(5, "HEART")), Fill(0, "HEART"))
    assert task.key(a) == task.key(b) and a == b
    assert a.pattern(1) == "E____" and a.pattern(6) == "E____"
    assert task.render(a).startswith("HEART/E____/")
    with pytest.raises(ValueError):
        task.result(a, Fill(1, "AMBLE"))  # does not fit E____
    with pytest.raises(ValueError):
        task.result(a, Fill(0, "HEARS"))  # h1 is complete
    with pytest.raises(ValueError):
        task.result(a, Fill(1, "EMB3R"))


def test_actions_branch_on_the_most_constrained_clue() -> None:
    task = MiniCrossword(WORDS)
    board = task.result(task.initial(CLUES), Fill(0, "HEART"))
    actions = task.actions(board)
    # v3 (A____) has 4 fitting words, v1 (H____) 2, v4 (R____) and v5 (T____) 1: v4 comes first.
    assert actions == [Fill(8, "RESIN")]


def test_goal_needs_a_full_grid_of_words() -> None:
    task = MiniCrossword(WORDS)
    board = task.initial(CLUES)
    for row, word in enumerate(SQUARE):
        board = task.result(board, Fill(row, word))
    assert task.is_terminal(board) and task.is_goal(board)
    answer = task.answer(task.initial(CLUES), [Fill(row, word) for row, word in enumerate(SQUARE)])
    assert answer.verified and answer.text == " ".join(SQUARE)
    wrong = task.check(task.initial(CLUES), "HEART EMBER ABUSE RESIN TRENX")
    assert not wrong.verified and "h5 TRENX" in wrong.detail and "v5 TRENX" in wrong.detail
    assert not task.check(task.initial(CLUES), "HEART EMBER ____E RESIN TREND").verified


@pytest.mark.parametrize("puzzle", ["156", "a | b", "", "-1"])
def test_bad_puzzles_are_input_errors(puzzle: str) -> None:
    with pytest.raises(InputError):
        MiniCrossword(WORDS).initial(puzzle)


def test_puzzle_number_gives_clues_only() -> None:
    board = MiniCrossword(WORDS).initial("0")
    assert board.clues[1] == "An engine" and board.cells == "_" * 25
    assert [f.name for f in board.__dataclass_fields__.values()] == ["clues", "cells", "chosen"]


# ---- metrics --------------------------------------------------------------------------------

GOLD0 = "AGENDMOTORARTSYSALLESLEER"


def test_metrics_of_hand_made_boards() -> None:
    assert cw.gold("0") == GOLD0
    assert cw.metrics("0", Board((), GOLD0)) == {"letters": 1.0, "words": 1.0, "game": 1.0}
    one_wrong = "X" + GOLD0[1:]
    assert cw.metrics("0", Board((), one_wrong)) == {"letters": 24 / 25, "words": 8 / 10, "game": 0.0}
    assert cw.metrics("0", None) == {"letters": 0.0, "words": 0.0, "game": 0.0}
    partial = GOLD0[:5] + "_" * 20  # h1 right; v1-v5 each have one right letter
    assert cw.metrics("0", partial) == {"letters": 5 / 25, "words": 1 / 10, "game": 0.0}
    assert cw.metrics("0", Answer("AGEND MOTOR ARTSY SALLE SLEER", False)) == {"letters": 1.0, "words": 1.0, "game": 1.0}
    with pytest.raises(InputError):
        cw.metrics("a|b|c|d|e|f|g|h|i|j", GOLD0)


def test_metrics_of_a_result_follow_its_path() -> None:
    class Ended:
        path = ("h2. MOTOR", "v1. AMASS")

    assert cw.final_cells("0", Ended()) == "A____MOTORA____S____S____"
    assert cw.metrics("0", Ended())["words"] == 2 / 10


# ---- the evaluator with a scripted model ----------------------------------------------------


def scripted(good: set[str], impossible: float = 0.0) -> ScriptedModel:
    """Words in `good` score -1, others -9; the judge says impossible with probability `impossible`."""

    def score(prompt: str, text: str) -> float:
        if text in (" sure", " maybe", " impossible"):
            return math.log(max(impossible, 1e-9)) if text == " impossible" else math.log(max((1 - impossible) / 2, 1e-9))
        return -1.0 if text.strip().upper() in good else -9.0

    return ScriptedModel(score=score)


def test_dead_when_a_clue_has_no_fitting_word() -> None:
    task = MiniCrossword(WORDS)
    value = CrosswordValue(ClueJudge(task, scripted(set(SQUARE)), cap=50))
    assert value(task.result(task.initial(CLUES), Fill(0, "HEART"))) > 0.05  # H____ E____ A____ R____ T____ all fit
    assert value(task.result(task.initial(CLUES), Fill(0, "ZEBRA"))) == 0.0  # v3 = B____: no word fits


def test_a_model_proposal_keeps_a_clue_alive() -> None:
    words = WordList(["HEART", "QUIRK"])
    task = MiniCrossword(words)
    judge = ClueJudge(task, scripted(set()), cap=50)
    board = task.result(task.initial(CLUES), Fill(0, "HEART"))
    assert CrosswordValue(judge)(board) == 0.0  # E____ (v2) has no word
    judge.proposed["clue v2"] = {"EMBER": 1.0}
    judge.proposed["clue v3"] = {"ABUSE": 1.0}
    judge.proposed["clue v4"] = {"RESIN": 1.0}
    judge.proposed["clue v5"] = {"TREND": 1.0}
    assert CrosswordValue(judge)(board) > 0.0


def test_the_model_judging_a_clue_impossible_prunes() -> None:
    task = MiniCrossword(WORDS)
    board = task.result(task.initial(CLUES), Fill(0, "HEART"))
    calm = ClueJudge(task, scripted(set(SQUARE), impossible=0.1), cap=50, judge=True)
    sure = ClueJudge(task, scripted(set(SQUARE), impossible=0.99), cap=50, judge=True)
    assert CrosswordValue(calm)(board) > 0.0
    assert CrosswordValue(sure)(board) == 0.0
    assert calm.verdicts[("clue v1", "H____")] == pytest.approx(0.1)


def test_values_prefer_boards_whose_words_the_model_likes() -> None:
    task = MiniCrossword(WORDS)
    value = CrosswordValue(ClueJudge(task, scripted(set(SQUARE)), cap=50))
    start = task.initial(CLUES)
    assert value(task.result(start, Fill(0, "HEART"))) > value(task.result(start, Fill(0, "HEARS")))


def test_thoughts_rank_fills_by_likelihood_and_batch_one_call_per_clue() -> None:
    task = MiniCrossword(WORDS)
    model = scripted({"HEART"})
    thoughts = CrosswordThoughts(ClueJudge(task, model, cap=50, propose="none"), width=3)
    candidates = thoughts(task.initial(CLUES))
    assert [c.thought for c in candidates] == ["h1. HEART", "h2. HEART", "h3. HEART"]
    assert sum(c.prior for c in candidates) == pytest.approx(1.0)
    assert model.meter.calls == 10  # one scoring call per clue
    thoughts(task.initial(CLUES))
    assert model.meter.calls == 10  # cached per (clue, word)
    # After HEART, v4 (R____) and v5 (T____) have one word each: sure moves come first.
    after = thoughts(task.result(task.initial(CLUES), Fill(0, "HEART")))
    assert [c.thought for c in after][:2] == ["v4. RESIN", "v5. TREND"]


def test_sampled_answers_are_the_candidates_of_open_clues() -> None:
    task = MiniCrossword(WORDS)
    model = ScriptedModel(completions=[" heart\n", " Hearts", " 12345", " ember"] + [""] * 100)
    judge = ClueJudge(task, model, cap=2, samples=4)
    candidates = CrosswordThoughts(judge)(task.initial(CLUES))
    assert judge.proposed["clue h1"] == {"HEART": 1.0, "EMBER": 1.0}
    assert {c.thought for c in candidates} == {"h1. HEART", "h1. EMBER"}
    assert all(c.source == "proposal" for c in candidates)
    # Answers that do not fit the letters yet are remembered, for branches with fewer letters.
    board = task.result(task.initial(CLUES), Fill(5, "HEART"))  # h1 = H____
    later = ClueJudge(task, ScriptedModel(completions=[" heart", " ember"] + [""] * 100), cap=1, samples=2)
    thoughts = {c.thought for c in CrosswordThoughts(later)(board)}
    assert later.proposed["clue h1"] == {"HEART": 1.0, "EMBER": 1.0}
    assert "h1. HEART" in thoughts and "h1. EMBER" not in thoughts


def test_paper_proposals_are_parsed_with_confidence() -> None:
    board = MiniCrossword(WORDS).result(MiniCrossword(WORDS).initial(CLUES), Fill(0, "HEART"))
    text = "h2. ember (high)\nv1: hears (certain)\nv2. zzzzz (low)\nh1. heart (high)\nnonsense\nv3. abuse"
    assert cw.parse_proposals(board, text) == [(1, "EMBER", "high"), (5, "HEARS", "certain"), (7, "ABUSE", "low")]
    prompt = cw.propose_prompt(board)
    assert "v2. clue v2: E _ _ _ _" in prompt and "h1. clue h1: HEART" in prompt


def test_search_with_a_scripted_model_fills_the_square_and_never_reads_gold(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_peeking(puzzle: str) -> str:
        raise AssertionError("the gold grid was read during the search")

    monkeypatch.setattr(cw, "gold", no_peeking)
    for method in ("bp", "grid", "rank"):
        task = MiniCrossword(WORDS, cap=50, propose="none", method=method)
        for strategy in ("dfs", "best-first", "bfs", "mcts"):
            result = api.solve(task, CLUES, strategy=strategy, model=scripted(set(SQUARE)))
            assert result.solved and result.answer is not None
            assert result.answer.text == " ".join(SQUARE)


def test_arc_consistency_keeps_only_words_that_cross_some_word() -> None:
    task = MiniCrossword(WORDS)
    grid = cw.GridScores(task, scripted(set(SQUARE)))
    words = lambda domain: sorted(grid.vocab[i] for i in domain)  # noqa: E731
    empty = grid.domains(task.initial(CLUES))
    assert empty is not None and all(len(d) for d in empty)
    board = task.result(task.initial(CLUES), Fill(0, "HEART"))
    domains = grid.domains(board)
    assert domains is not None
    assert words(domains[0]) == ["HEART"] and words(domains[9]) == ["TREND"]  # v5 starts with T: TREND alone
    for slot, answer in enumerate(SQUARE + SQUARE):
        assert answer in words(domains[slot])
    assert "ZEBRA" not in words(domains[1])  # h2 starts with E
    assert grid.domains(task.result(task.initial(CLUES), Fill(0, "APPLE"))) is None  # v2 would start with P


def test_the_grid_method_scores_each_clue_once_over_the_whole_dictionary() -> None:
    model = scripted(set(SQUARE))
    result = api.solve(MiniCrossword(WORDS, method="grid"), CLUES, model=model)
    assert result.solved and result.answer is not None and result.answer.text == " ".join(SQUARE)
    assert model.meter.calls == 10 and len(set(model.prompts)) == 10


def test_belief_propagation_prefers_the_words_that_cross_well() -> None:
    # Two word squares fit the grid. h1's clue alone prefers SATOR (-0.5 against HEART's -1), every other
    # clue prefers the HEART square's words (-1 against -9): the crossings carry that back to h1.
    sator = ("SATOR", "AREPO", "TENET", "OPERA", "ROTAS")
    words = WordList([*SQUARE, *sator])

    def score(prompt: str, text: str) -> float:
        word = text.strip().upper()
        if "Clue: clue h1\n" in prompt and word == "SATOR":
            return -0.5
        return -1.0 if word in SQUARE else -9.0

    grid = cw.GridBeliefs(MiniCrossword(words, method="bp"), ScriptedModel(score=score), prior=0.0, rescore=0.0)
    found = grid.beliefs(MiniCrossword(words).initial(CLUES))
    assert found is not None
    domains, logbeliefs, log_z = found
    assert "SATOR" in [grid.vocab[int(i)] for i in domains[0]]  # arc consistency alone keeps both squares
    assert grid.clue_scores("clue h1")[grid.vocab.index("SATOR")] > grid.clue_scores("clue h1")[grid.vocab.index("HEART")]
    for slot, logb in enumerate(logbeliefs):
        assert math.isclose(sum(math.exp(v) for v in logb), 1.0)
        assert grid.vocab[int(domains[slot][logb.argmax()])] == (SQUARE + SQUARE)[slot]
    # the Bethe estimate: the HEART square's total (10 x -1, at temperature 0.75), the others negligible
    assert abs(log_z - -10.0 / grid.temperature) < 1e-6


def test_bp_scores_a_clue_again_once_its_letters_show() -> None:
    model = scripted(set(SQUARE))
    task = MiniCrossword(WORDS, method="bp", rescore=0.5)
    grid = cw.GridBeliefs(task, model, prior=0.0, rescore=0.5, letters=2)
    board = task.initial(CLUES)
    assert grid.beliefs(board) is not None and model.meter.calls == 20  # empty board: the clues alone, 2 prompts
    board = task.result(task.result(board, Fill(0, "HEART")), Fill(1, "EMBER"))  # every column shows 2 letters
    assert grid.beliefs(board) is not None
    patterns = sorted(p for p in model.prompts if "Letters:" in p)
    assert len(patterns) == 5 and all("Letters: " in p for p in patterns)  # v1-v5, once each
    assert any("Clue: clue v1\nLetters: H E _ _ _" in p for p in patterns)
    grid.beliefs(board)
    assert model.meter.calls == 25  # cached


def test_score_many_falls_back_to_score_continuations() -> None:
    from tot.models import score_many

    class Plain:
        name, meter = "plain", ScriptedModel().meter

        def score_continuations(self, prompt: str, continuations: list[str]) -> list[float]:
            return [-float(len(c)) for c in continuations]

    assert score_many(Plain(), "p", [" ab", " abc"]) == [-3.0, -4.0]  # type: ignore[arg-type]


def test_cli_model_free_crossword_prints_metrics_json() -> None:
    out = CliRunner().invoke(
        app, ["solve", "crossword", "0", "--generator", "all", "--evaluator", "uniform", "--strategy", "best-first",
              "--max-nodes", "2", "--json"]
    )
    assert out.exit_code == 1, out.output
    data = json.loads(out.output)
    assert set(data["metrics"]) == {"letters", "words", "game"}
    assert data["config"]["task"] == "crossword"


@pytest.mark.parametrize("args", [["solve", "crossword", "999"], ["solve", "crossword", "a|b"],
                                  ["check", "crossword", "0", "ABC"]])
def test_cli_bad_crosswords_exit_2(args: list[str]) -> None:
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 2 and "error:" in out.output and "Traceback" not in out.output


def test_cli_check_crossword_grid() -> None:
    out = CliRunner().invoke(app, ["check", "crossword", "0", "QZXJV QZXJV QZXJV QZXJV QZXJV"])
    assert out.exit_code == 1 and "not in the word list" in out.output


def test_a_word_of_the_clue_itself_is_penalised() -> None:
    task = MiniCrossword(WordList(["SALON", "SALLE"]))
    judge = ClueJudge(task, ScriptedModel(score=lambda prompt, text: -2.0), cap=50)
    judge.score({"A salon; a hall": {"SALON", "SALLE"}})
    assert judge.lp("A salon; a hall", "SALLE") == -2.0
    assert judge.lp("A salon; a hall", "SALON") == -2.0 - cw.ECHO_PENALTY
