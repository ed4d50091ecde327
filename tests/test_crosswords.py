"""Mini crosswords without the real model: board logic, the dictionary, grading, the objective, the anytime search."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.scripted import ScriptedModel
from tot import api
from tot.cli import app
from tot.core import Answer, Budget
from tot.errors import InputError
from tot.strategies.dfs import dfs
from tot.tasks import crosswords as cw
from tot.tasks.crosswords import Board, Fill, MiniCrossword, Ranker, WordList, reverse
from tot.tasks.crosswords.propagation import Lexicon, beliefs
from tot.tasks.crosswords.letters import LetterModel
from tot.tasks.crosswords.scoring import UNLISTED_LETTERS, UNLISTED_PENALTY, ClueScorer, default_ranker, load_ranker, prompts_used
from tot.tasks.crosswords.search import Grid, GridBound

# A 5x5 word square (rows = columns), and clues that are just the slot names.
SQUARE = ("HEART", "EMBER", "ABUSE", "RESIN", "TREND")
CLUES = " | ".join(f"clue {name}" for name in cw.SLOTS)
WORDS = WordList([*SQUARE, "HEARS", "EMBED", "APPLE", "ANGLE", "AMBLE", "ZEBRA", "ab", "toolong", "caf\u00e9s"])
PLAIN = Ranker(("answer", "clues"), (0.5, 0.5))  # the mean of the two prompts' log-probabilities, no learned weights


def test_word_list_filters_patterns_exactly() -> None:
    assert len(WORDS) == 11 and "ZEBRA" in WORDS  # only five ASCII letters, upper-cased
    assert WORDS.matches("A__LE") == ("AMBLE", "ANGLE", "APPLE")
    assert WORDS.matches("HEAR_") == ("HEARS", "HEART")
    assert WORDS.matches("Q____") == ()
    assert len(WORDS.matches("_____")) == len(WORDS)
    assert cw.fits("HEART", "H_A_T") and not cw.fits("HEART", "H_A_S")


def test_the_dictionary_is_real_word_lists() -> None:
    words = cw.english_words()
    assert len(words) > 10_000  # not built from the puzzles' answers
    assert {"MOTOR", "ERROR", "BEING"} <= words.words and "MOTOR" in words.matches("M_T_R")
    assert len(cw.english_words(("gcide",))) < len(words)
    assert len(cw.dictionary()) == 42_479


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


def test_a_complete_grid_of_words_is_consistent_not_verified() -> None:
    task = MiniCrossword(WORDS)
    board = task.initial(CLUES)
    for row, word in enumerate(SQUARE):
        board = task.result(board, Fill(row, word))
    assert task.is_terminal(board) and task.is_goal(board)
    answer = task.answer(task.initial(CLUES), [Fill(row, word) for row, word in enumerate(SQUARE)])
    assert not answer.verified and answer.text == " ".join(SQUARE)
    assert "complete and consistent" in answer.detail and "no gold grid" in answer.detail
    wrong = task.check(task.initial(CLUES), "HEART EMBER ABUSE RESIN TRENX")
    assert not wrong.verified and "h5 TRENX" in wrong.detail and "v5 TRENX" in wrong.detail
    assert not task.check(task.initial(CLUES), "HEART EMBER ____E RESIN TREND").verified


GOLD0 = "AGENDMOTORARTSYSALLESLEER"


def test_a_numbered_puzzle_is_verified_only_by_its_gold_grid() -> None:
    task = MiniCrossword()
    start = task.initial("0")
    right = task.check(start, "AGEND MOTOR ARTSY SALLE SLEER")
    assert right.verified and right.detail == "the gold grid"
    wrong = task.check(start, "AWARD MOTOR AMOBI SALLE SNEER")  # every row and column a dictionary word
    assert task.is_goal(Board(start.clues, cw.parse_grid(wrong.text)))
    assert not wrong.verified and "not the gold grid" in wrong.detail and "consistent" in wrong.detail
    # Puzzle 89's gold v5 (NERTS) is not in the dictionary (but for the memory of a training puzzle's answer): its
    # gold grid is still right.
    plain = MiniCrossword(recall=0)
    assert "NERTS" not in plain.words and "NERTS" in task.words
    gold89 = plain.check(plain.initial("89"), "PENAN UNODE LUTER ERUPT RESTS")
    assert gold89.verified and gold89.detail == "the gold grid"


@pytest.mark.parametrize("puzzle", ["156", "a | b", "", "-1"])
def test_bad_puzzles_are_input_errors(puzzle: str) -> None:
    with pytest.raises(InputError):
        MiniCrossword(WORDS).initial(puzzle)


def test_puzzle_number_gives_clues_only() -> None:
    board = MiniCrossword(WORDS).initial("0")
    assert board.clues[1] == "An engine" and board.cells == "_" * 25 and board.number == 0
    assert [f.name for f in board.__dataclass_fields__.values()] == ["clues", "cells", "chosen", "number", "free"]


def test_the_sets_are_disjoint_and_below_100() -> None:
    paper, second, train = set(cw.PAPER_PUZZLES), set(cw.SECOND_PUZZLES), set(cw.TRAINING_PUZZLES)
    assert len(paper) == len(second) == 20 and len(train) == 60
    assert not (paper & second or paper & train or second & train) and max(paper | second | train) < 100


# ---- metrics --------------------------------------------------------------------------------


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


# ---- clue scores and the re-ranker ----------------------------------------------------------


def scripted(good: set[str]) -> ScriptedModel:
    """Words in `good` score -1, others -9, after any prompt."""
    return ScriptedModel(score=lambda prompt, text: -1.0 if text.strip().upper() in good else -9.0)


def test_clue_scores_are_log_probabilities_one_call_per_clue_and_prompt() -> None:
    model = scripted({"HEART"})
    scorer = ClueScorer(model, Lexicon(WORDS.words), ranker=PLAIN)
    scores = scorer("clue h1")
    assert math.isclose(float(np.exp(scores).sum()), 1.0)
    assert scorer.lexicon.vocab[int(scores.argmax())] == "HEART"
    assert model.meter.calls == 2  # the whole dictionary, once per prompt
    scorer("clue h1")
    assert model.meter.calls == 2  # cached


def test_the_ranker_weighs_what_the_clue_adds_and_penalises_echoes() -> None:
    words = WordList(["SALON", "SALLE", "HEART"])

    def score(prompt: str, text: str) -> float:
        with_clue = "Clue: \n" not in prompt and "Clue: \nAnswer" not in prompt
        if text.strip() == "heart":  # likely with or without the clue: a merely common word
            return -1.0
        return -2.0 if with_clue else -8.0

    model = ScriptedModel(score=score)
    ranker = Ranker(("answer_gain", "echo"), (1.0, -6.0))
    scorer = ClueScorer(model, Lexicon(words.words), ranker=ranker)
    scores = dict(zip(scorer.lexicon.vocab, scorer("A salon; a hall").tolist()))
    assert scores["SALLE"] > scores["HEART"]  # the clue raised SALLE by 6 nats, HEART by nothing
    assert math.isclose(scores["SALLE"] - scores["SALON"], 6.0)  # SALON is a word of the clue
    assert model.meter.calls == 1 + 1  # the one prompt the ranker reads: with no clue (once), then with the clue
    assert prompts_used(("answer_gain", "echo")) == ("answer",)
    assert prompts_used(("clues", "quiz_rank", "definition_gain", "zipf")) == ("clues", "definition", "quiz")


def test_the_shipped_ranker_loads_and_bad_files_are_input_errors() -> None:
    ranker = default_ranker()
    assert ranker.names and len(ranker.names) == len(ranker.weights)
    assert all(math.isfinite(w) for w in ranker.weights)
    for text in ("", "[]", '{"features": ["answer"], "weights": []}', '{"features": ["nope"], "weights": [1]}',
                 '{"features": ["answer"], "weights": [NaN]}', '{"features": ["answer"], "weights": ["x"]}'):
        with pytest.raises(InputError):
            load_ranker(text)
    assert load_ranker(json.dumps(PLAIN.as_dict())) == PLAIN


# ---- arc consistency, belief propagation, the objective -------------------------------------


def test_arc_consistency_keeps_only_words_that_cross_some_word() -> None:
    lexicon = Lexicon(WORDS.words)
    words = lambda domain: sorted(lexicon.vocab[i] for i in domain)  # noqa: E731
    task = MiniCrossword(WORDS)
    empty = lexicon.domains(task.initial(CLUES))
    assert empty is not None and all(len(d) for d in empty)
    domains = lexicon.domains(task.result(task.initial(CLUES), Fill(0, "HEART")))
    assert domains is not None
    assert words(domains[0]) == ["HEART"] and words(domains[9]) == ["TREND"]  # v5 starts with T: TREND alone
    for slot, answer in enumerate(SQUARE + SQUARE):
        assert answer in words(domains[slot])
    assert "ZEBRA" not in words(domains[1])  # h2 starts with E
    assert lexicon.domains(task.result(task.initial(CLUES), Fill(0, "APPLE"))) is None  # v2 would start with P


SATOR = ("SATOR", "AREPO", "TENET", "OPERA", "ROTAS")


def sator_score(prompt: str, text: str) -> float:
    """h1's clue alone prefers SATOR (-0.5 against HEART's -1); every other clue prefers the HEART square's words."""
    word = text.strip().upper()
    if "Clue: clue h1\n" in prompt and word == "SATOR":
        return -0.5
    return -1.0 if word in SQUARE else -9.0


def test_belief_propagation_prefers_the_words_that_cross_well() -> None:
    lexicon = Lexicon(set(SQUARE) | set(SATOR))
    scorer = ClueScorer(ScriptedModel(score=sator_score), lexicon, ranker=PLAIN)
    board = MiniCrossword(WordList(lexicon.vocab)).initial(CLUES)
    domains = lexicon.domains(board)
    assert domains is not None and "SATOR" in [lexicon.vocab[int(i)] for i in domains[0]]  # both squares fit
    h1 = dict(zip(lexicon.vocab, scorer("clue h1").tolist()))
    assert h1["SATOR"] > h1["HEART"]
    logbeliefs = beliefs(lexicon, domains, [scorer(board.clues[s])[d] for s, d in enumerate(domains)])
    for slot, logb in enumerate(logbeliefs):
        assert math.isclose(sum(math.exp(v) for v in logb), 1.0)
        assert lexicon.vocab[int(domains[slot][logb.argmax()])] == (SQUARE + SQUARE)[slot]


def test_a_boards_value_bounds_every_grid_below_it_and_a_grid_is_valued_by_its_total() -> None:
    words = WordList([*SQUARE, *SATOR, "HEARS", "EMBED"])
    task = MiniCrossword(words)
    scorer = ClueScorer(ScriptedModel(score=sator_score), task.lexicon, ranker=PLAIN)
    grid, value = Grid(scorer), GridBound(Grid(scorer))

    def total(board: Board) -> float:
        return sum(float(scorer(board.clues[s])[task.lexicon.position(board.pattern(s))]) for s in range(10))

    start = task.initial(CLUES)
    heart = start
    for row, word in enumerate(SQUARE):
        heart = task.result(heart, Fill(row, word))
    sator = start
    for row, word in enumerate(SATOR):
        sator = task.result(sator, Fill(row, word))
    assert grid.total(heart) == pytest.approx(total(heart)) and grid.total(sator) == pytest.approx(total(sator))
    assert total(heart) > total(sator) and value(heart) > value(sator)  # the objective prefers the HEART square
    for partial in (start, task.result(start, Fill(0, "HEART")), task.result(start, Fill(0, "SATOR"))):
        assert value(partial) >= max(value(heart) if cw.fits("HEART", partial.pattern(0)) else 0.0,
                                     value(sator) if cw.fits("SATOR", partial.pattern(0)) else 0.0)
    assert value(task.result(start, Fill(0, "HEARS"))) == 0.0  # no grid completes it: dead


# ---- searches -------------------------------------------------------------------------------


def test_search_with_a_scripted_model_fills_the_square_and_reads_gold_only_to_grade(monkeypatch: pytest.MonkeyPatch) -> None:
    for strategy in ("dfs", "best-first", "bfs", "mcts"):
        task = MiniCrossword(WORDS, ranker=PLAIN)
        result = api.solve(task, CLUES, strategy=strategy, model=scripted(set(SQUARE)))  # clues: no gold grid at all
        assert result.answer is not None and result.answer.text == " ".join(SQUARE)
        assert not result.solved and "consistent" in result.answer.detail
    from tot.strategies.common import Search

    searching: list[bool] = []
    run = Search.run

    def flagged(self: Search, body: Any) -> str:
        searching.append(True)
        try:
            return run(self, body)
        finally:
            searching.pop()

    reads: list[str] = []
    real = cw.puzzles.gold

    def counted(puzzle: str) -> str:
        assert not searching, "the gold grid was read during the search"
        reads.append(puzzle)
        return real(puzzle)

    monkeypatch.setattr(Search, "run", flagged)
    monkeypatch.setattr(cw.task, "gold", counted)
    result = api.solve(MiniCrossword(WORDS, ranker=PLAIN), "0", model=scripted(set(SQUARE)))  # puzzle 0's clues
    assert result.answer is not None and result.answer.text == " ".join(SQUARE) and not result.solved
    assert reads and set(reads) == {"0"}  # graded against the gold grid, after the search


# Three word squares (rows = columns) that share h1. With these scores (the same for every clue), the bound
# of the REGET branch mixes the best words of the first and third squares, so the search fills it first
# and finds the first square (total 2 x -16); the second square (2 x -15) is found later.
CRATES = {"CRATE": -1.0, "REGET": -5.0, "AGORA": -4.0, "TERRA": -2.0, "ETAAC": -4.0, "RUTIN": -5.0, "ATILT": -5.0,
          "TILDE": -2.0, "ENTER": -2.0, "AGUSH": -5.0, "TESTE": -4.0, "ETHER": -1.0}


def test_the_anytime_search_replaces_its_first_grid_by_a_better_one_found_later() -> None:
    task = MiniCrossword(WordList(CRATES), ranker=PLAIN)

    def evaluator() -> object:
        return task.model_evaluator(ScriptedModel(score=lambda prompt, text: CRATES.get(text.strip().upper(), -20.0)))

    first = dfs(task, evaluator(), task.initial(CLUES))  # type: ignore[arg-type]
    assert first.answer is not None and first.answer.text == "CRATE REGET AGORA TERRA ETAAC" and not first.found
    result = dfs(task, evaluator(), task.initial(CLUES), anytime=True)  # type: ignore[arg-type]
    assert [f.answer.text for f in result.found] == ["CRATE REGET AGORA TERRA ETAAC", "CRATE RUTIN ATILT TILDE ENTER"]
    assert result.found[0].value < result.found[1].value
    assert result.answer is not None and result.answer.text == "CRATE RUTIN ATILT TILDE ENTER"
    assert result.path == result.found[-1].path
    assert result.stop_reason == "exhausted"  # the whole space searched: no grid of these words scores higher
    # A budget that ends the search before the better grid returns the first one.
    short = dfs(task, evaluator(), task.initial(CLUES), anytime=True,  # type: ignore[arg-type]
                budget=Budget(max_nodes=result.found[1].nodes_expanded - 1))
    assert short.answer is not None and short.answer.text == "CRATE REGET AGORA TERRA ETAAC"


# A grid whose h5 (UVWXY) the dictionary lacks: the only grid of dictionary words puts ZZZZZ there, and five
# weak columns through it. Rows 1-4 and the right columns score -1, the decoys -30.
ROWS = ("ABCDE", "FGHIJ", "KLMNO", "PQRST", "UVWXY")
COLUMNS = ("AFKPU", "BGLQV", "CHMRW", "DINSX", "EJOTY")
UNLISTED = {**{w: -1.0 for w in ROWS[:4] + COLUMNS}, "ZZZZZ": -30.0, **{c[:4] + "Z": -30.0 for c in COLUMNS}}


def test_a_free_clue_is_spelled_by_its_crossings_and_need_not_be_a_word() -> None:
    task = MiniCrossword(WordList(UNLISTED))
    start = task.initial(CLUES)
    free = Board(start.clues, free=4)
    assert free.open_slots() == list(range(4)) + list(range(5, 10))
    with pytest.raises(ValueError, match="left to its crossings"):
        free.fill(4, "UVWXY")
    board = free
    for slot, word in enumerate(COLUMNS):
        board = task.result(board, Fill(5 + slot, word))
    assert board.pattern(4) == "UVWXY" and not board.open_slots()
    assert task.is_goal(board) and not task.is_goal(replace(board, free=None))  # UVWXY is not in the dictionary
    lexicon = task.lexicon
    domains = lexicon.domains(free)
    assert domains is not None and len(domains[4]) == 0 and lexicon.domains(replace(free, free=None)) is not None
    # Without h5 the columns need not end in a word's letter: every column's right word stays possible.
    assert all(lexicon.position(c) in domains[5 + i] for i, c in enumerate(COLUMNS))
    assert lexicon.position("AFKPU") not in lexicon.domains(start)[5]  # type: ignore[index]
    scorer = ClueScorer(ScriptedModel(score=lambda prompt, text: UNLISTED.get(text.strip().upper(), -20.0)),
                        lexicon, ranker=PLAIN)
    logbeliefs = beliefs(lexicon, domains, [scorer(start.clues[s])[d] for s, d in enumerate(domains)], free=4)
    assert len(logbeliefs[4]) == 0 and lexicon.vocab[int(domains[5][logbeliefs[5].argmax()])] == "AFKPU"
    grid = Grid(scorer)
    last = float(np.sort(scorer("clue h5"))[0])  # the clue's 1000th word or, here, its last
    assert scorer.unlisted("clue h5") == pytest.approx(last - UNLISTED_PENALTY)  # a word not known yet: typical
    typicality = LetterModel(lexicon.vocab).typicality("UVWXY")
    assert typicality < 0 and scorer.unlisted("clue h5", "UVWXY") == pytest.approx(
        last - UNLISTED_PENALTY + UNLISTED_LETTERS * typicality)  # less word-like than these words: lower
    assert grid.total(board) == pytest.approx(9 * float(scorer("clue h1")[lexicon.position("ABCDE")])
                                              + scorer.unlisted("clue h5", "UVWXY"))


def test_the_letter_model_knows_a_word_like_string_from_a_jumble() -> None:
    letters = LetterModel(cw.dictionary().words)
    assert abs(letters.typicality("MOTOR")) < 2 and abs(letters.typicality("NERTS")) < 2  # NERTS: not in the dictionary
    assert letters.typicality("INAMW") < -8 and letters.typicality("RESTZ") < -6
    assert letters.log_prob("motor") == letters.log_prob("MOTOR")


def test_the_search_leaves_the_weakest_clues_free_and_keeps_a_grid_the_dictionary_cannot_spell() -> None:
    def model() -> ScriptedModel:
        return ScriptedModel(score=lambda prompt, text: UNLISTED.get(text.strip().upper(), -20.0))

    alone = api.solve(MiniCrossword(WordList(UNLISTED), ranker=PLAIN, reverse=0, free=0), CLUES, model=model())
    assert alone.answer is not None and alone.answer.text == " ".join(ROWS[:4] + ("ZZZZZ",))
    assert alone.config["roots"] == 1
    result = api.solve(MiniCrossword(WordList(UNLISTED), ranker=PLAIN, reverse=0, free=2), CLUES, model=model())
    # Its weakest clues are the decoys (rank 9 of 15, tied): h5 and v1, each searched again left free.
    assert result.config["roots"] == 3 and result.stop_reason == "converged"
    assert result.answer is not None and result.answer.text == " ".join(ROWS)
    assert "but h5 UVWXY, left to its crossings" in result.answer.detail
    assert [f.answer.text for f in result.found] == [alone.answer.text, result.answer.text]
    assert result.found[0].value < result.found[1].value
    # The anytime preset searches the variants before it widens (then from the root again: 4 roots).
    anytime = api.solve(MiniCrossword(WordList(UNLISTED), ranker=PLAIN, reverse=0, free=2), CLUES, model=model(),
                        preset="crossword-anytime")
    assert anytime.config["roots"] == 4 and anytime.answer is not None and anytime.answer.text == " ".join(ROWS)


# The reverse channel, scripted: log P(clue | word) is -1 for the words of the first square and for CRATE and
# ETHER (every clue's two best words by the forward scores), -10 for every other word.
LIKED = {"CRATE", "ETHER", "REGET", "AGORA", "TERRA", "ETAAC"}


def reverse_script(prompt: str, text: str) -> float:
    word, _, clue = text.partition("\nDefinition:")
    if prompt.startswith(reverse.DEFINE_PROMPT):
        return 0.0 if not clue else -1.0 if word.strip().upper() in LIKED else -10.0
    return CRATES.get(text.strip().upper(), -20.0)


def test_the_reverse_channel_asked_about_each_grid_found_moves_the_search_to_a_grid_it_prefers() -> None:
    task = MiniCrossword(WordList(CRATES), ranker=PLAIN, reverse_top=3, free=0)
    result = api.solve(task, CLUES, model=ScriptedModel(score=reverse_script))  # the crossword preset: refine
    # Round 1 finds the second square, as the forward scores alone do; the reverse channel, asked about its
    # words and each clue's three most believed words on the empty grid, marks its words down (-10 against -1
    # for the first square's), and round 2 finds the first square, which it keeps.
    assert [f.answer.text for f in result.found][0] == "CRATE RUTIN ATILT TILDE ENTER"
    assert result.answer is not None and result.answer.text == "CRATE REGET AGORA TERRA ETAAC"
    assert result.found[-1].answer.text == result.answer.text and result.stop_reason == "converged"
    assert result.config["strategy"] == "refine" and result.config["rounds_run"] == 2
    without = api.solve(MiniCrossword(WordList(CRATES), ranker=PLAIN, reverse=0), CLUES,
                        model=ScriptedModel(score=reverse_script))
    assert without.answer is not None and without.answer.text == "CRATE RUTIN ATILT TILDE ENTER"


def test_the_reverse_channel_scores_words_lazily_and_defaults_the_rest() -> None:
    model = ScriptedModel(score=reverse_script)
    lexicon = MiniCrossword(WordList(CRATES)).lexicon
    checked = reverse.CheckedScorer(ClueScorer(model, lexicon, ranker=PLAIN), model, weight=2.0, top=2, quantile=1.0)
    forward = checked.forward("clue h1")
    assert np.array_equal(checked("clue h1"), forward) and not checked.asked  # before any look: forward alone
    calls = model.meter.calls
    assert checked.look(["clue h1"], ["TILDE"]) and not checked.look(["clue h1"], ["TILDE"])
    assert model.meter.calls == calls + 1  # one call for the word and the clue's two best words, none again
    asked = {lexicon.vocab[i]: v for i, v in checked.asked["clue h1"].items()}
    assert asked == {"CRATE": -1.0, "ETHER": -1.0, "TILDE": -10.0}  # the two best by the forward scores, and TILDE
    scores = checked("clue h1")
    for word, reverse_score in (("TILDE", -10.0), ("CRATE", -1.0), ("AGORA", -1.0)):  # quantile 1: not asked gets -1
        position = lexicon.position(word)
        assert scores[position] == pytest.approx(forward[position] + 2.0 * reverse_score)
    assert checked.widen() and {lexicon.vocab[i] for i in checked.asked["clue h1"]} >= {"TERRA", "TILDE", "ENTER"}
    checked.forward("clue h2"), checked.forward("clue v1")  # their forward scores first: calls of their own
    chosen = [np.array([lexicon.position("AGORA"), lexicon.position("TERRA"), lexicon.position("ETAAC")])] * 2
    calls = model.meter.calls
    assert checked.first(["clue h2", "clue v1"]) and checked.look(["clue h2", "clue v1"], ["AGUSH", "ZZZZZ"], best=chosen)
    assert model.meter.calls == calls + 1 and not checked.first(["clue h2", "clue v1"])  # every clue at once
    assert {lexicon.vocab[i] for i in checked.asked["clue h2"]} == {"AGUSH", "AGORA", "TERRA"}  # `best`'s first two
    assert {lexicon.vocab[i] for i in checked.asked["clue v1"]} == {"AGORA", "TERRA"}
    assert checked.unlisted_asked == {("clue v1", "ZZZZZ"): -10.0}  # a word outside the dictionary: asked apart
    assert checked.look(["clue h2", "clue v1"], ["CRATE", "TILDE"]) and model.meter.calls == calls + 2
    assert checked.asked["clue v1"][lexicon.position("TILDE")] == -10.0 and len(checked.asked["clue h2"]) == 4
    assert checked.widen() and model.meter.calls == calls + 3
    # A word the dictionary lacks: the forward scores' unlisted (from the clue's 1000th word or, here, its last)
    # plus its reverse score, asked like any other.
    assert checked.total(["clue h1"], ["ZZZZZ"]) == pytest.approx(checked.forward.unlisted("clue h1", "ZZZZZ") + 2.0 * -10.0)
    assert checked.unlisted("clue h1") == pytest.approx(float(forward.min()) - UNLISTED_PENALTY + 2.0 * -1.0)  # the default
    tilde, h3 = lexicon.position("TILDE"), checked.forward("clue h3")
    calls = model.meter.calls
    assert checked.total(["clue h3"], ["TILDE"]) == pytest.approx(h3[tilde] + 2.0 * -10.0)
    assert model.meter.calls == calls + 1 and list(checked.asked["clue h3"]) == [tilde]  # only the word given
    with pytest.raises(InputError, match="reverse channel"):
        reverse.CheckedScorer(checked.forward, model, quantile=1.5)


def test_the_crossword_presets_rounds_of_belief_order_dfs_to_convergence_or_the_budget() -> None:
    preset, anytime = api.PRESETS["crossword"], api.PRESETS["crossword-anytime"]
    assert preset.strategy == "refine" and dict(preset.options) == {"search": "dfs", "order": "prior", "max_steps": 100}
    assert anytime.strategy == "refine" and anytime.seconds == 60
    assert dict(anytime.options) == {**dict(preset.options), "rounds": 1000, "wider": True}
    assert MiniCrossword.preset == "crossword" and preset.seconds is None  # the same grid however busy the machine


def test_score_many_falls_back_to_score_continuations() -> None:
    from tot.models import score_many

    class Plain:
        name, meter = "plain", ScriptedModel().meter

        def score_continuations(self, prompt: str, continuations: list[str]) -> list[float]:
            return [-float(len(c)) for c in continuations]

    assert score_many(Plain(), "p", [" ab", " abc"]) == [-3.0, -4.0]  # type: ignore[arg-type]


# ---- the command line -----------------------------------------------------------------------


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
    assert out.exit_code == 1 and "not in the dictionary" in out.output
    out = CliRunner().invoke(app, ["check", "crossword", "0", "AWARD MOTOR AMOBI SALLE SNEER"])
    assert out.exit_code == 1 and "correct" not in out.output and "not the gold grid" in out.output
    out = CliRunner().invoke(app, ["check", "crossword", "0", "AGEND MOTOR ARTSY SALLE SLEER"])
    assert out.exit_code == 0 and "correct" in out.output


def test_the_metrics_say_whether_the_objective_ranks_the_gold_grid_above_the_grid_found() -> None:
    gold0 = ["AGEND", "MOTOR", "ARTSY", "SALLE", "SLEER", "AMASS", "GORAL", "ETTLE", "NOSLE", "DRYER"]
    wrong = ("AWARD", "MOTOR", "AMOBI", "SALLE", "SNEER")  # columns AMASS WOMAN ATOLE ROBLE DRIER: all words
    task = MiniCrossword()
    assert set(task.metrics("0", "AGEND MOTOR ARTSY SALLE SLEER")) == {"letters", "words", "game"}  # nothing scored yet

    def favouring(words: set[str]) -> ScriptedModel:
        return ScriptedModel(score=lambda prompt, text: -1.0 if text.strip().upper() in words else -9.0)

    for favoured, verdict in ((set(gold0), "gold_wins"), (set(wrong) | {"WOMAN", "ATOLE", "ROBLE", "DRIER"}, "found_wins")):
        task = MiniCrossword(ranker=PLAIN, recall=0)  # the scripted scores alone
        evaluator = task.model_evaluator(favouring(favoured))
        for clue in cw.load_clues("0"):
            evaluator.generator.grid.scorer(clue)  # type: ignore[attr-defined]
        graded = task.metrics("0", " ".join(wrong))
        assert graded["game"] == 0.0 and graded[verdict] == 1.0 and graded["gold_missing"] == 0.0
        assert task.metrics("0", " ".join(gold0[:5]))["gold_wins"] == 0.0  # the gold grid itself: no verdict
    # a search with another evaluator (here the model-free one) on the same task object: no verdict from old scores
    api.make_evaluator(task, None, generator="all", valuer="uniform")
    assert set(task.metrics("0", " ".join(wrong))) == {"letters", "words", "game"}


def test_the_terminal_says_a_grid_that_is_not_the_gold_grid_is_not_verified_and_what_was_scored() -> None:
    from rich.console import Console

    from tot import render
    from tot.render_crossword import report_view

    task = MiniCrossword(WORDS, ranker=PLAIN)
    result = api.solve(task, "0", model=scripted(set(SQUARE)))  # puzzle 0's clues, a grid of this word list
    console = Console(width=160, record=True)
    console.print(render.summary(result))
    console.print(report_view(task, "0", result))
    text = console.export_text()
    assert "answer (not verified)" in text and "answer (verified)" not in text
    assert "complete and consistent" in text and "not the gold grid" in text
    assert f"scored: {result.usage.calls} model calls, each scoring all {len(WORDS)} dictionary words" in text
