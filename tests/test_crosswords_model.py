"""Mini crosswords on the real default model: whole-dictionary scores, the re-ranker, and the anytime search."""

from __future__ import annotations

import numpy as np
import pytest

import tot
from tot.core import Budget
from tot.models import Model
from tot.tasks import crosswords as cw
from tot.tasks.crosswords.scoring import ClueScorer

pytestmark = pytest.mark.model

PUZZLE = "1"  # a training puzzle (the ranker was fitted on it; nothing is measured on it here)


def test_score_many_equals_score_continuations_where_it_decodes(model: Model) -> None:
    prompt = cw.ANSWER_PROMPT.format(clue="An engine")
    words = [w for w in (" motor", " meter", " mater", " motto", " rotor", " mitre") if len(model.tokenize(w, bos=False)) <= 2]  # type: ignore[attr-defined]
    assert len(words) >= 4 and words[0] == " motor"
    many = model.score_many(prompt, words, expand=62)  # type: ignore[attr-defined]
    assert many == model.score_continuations(prompt, words)  # at most two tokens each: exact, bit for bit
    assert max(many) == many[0]


def test_the_ranker_puts_easy_answers_near_the_top_of_the_dictionary(model: Model) -> None:
    task = cw.MiniCrossword()
    scorer = ClueScorer(model, task.lexicon)
    for clue, answer in (("An engine", "MOTOR"), ("A mistake", "ERROR")):
        scores = scorer(clue)
        assert np.isclose(np.exp(scores).sum(), 1.0)
        rank = int((scores > scores[task.lexicon.position(answer)]).sum())
        assert rank < 20, (clue, rank)


def test_a_longer_budget_never_returns_a_worse_grid(model: Model) -> None:
    task = cw.MiniCrossword()
    def solve(calls: int) -> tot.Result:  # calls bind, not the clock: the same rounds, cut later
        return tot.solve(task, PUZZLE, model=model, seed=0, budget=Budget(max_calls=calls, max_seconds=900),
                         preset="crossword-anytime")

    short, long = solve(48), solve(52)  # the clues take 44 calls, then one a round (its look or its widening)
    assert short.found and long.found and short.stop_reason == long.stop_reason == "calls"
    assert long.found[-1].value >= short.found[-1].value
    assert [f.answer.text for f in long.found][: len(short.found)] == [f.answer.text for f in short.found]  # the same search, cut later
    assert long.config["rounds_run"] > short.config["rounds_run"]
    board = task.final_board(PUZZLE, long)
    assert cw.BLANK not in board.cells and all(board.pattern(s) in task.words for s in range(10))


def test_the_probe_reads_the_default_models_hidden_states_beside_the_reverse_channel(model: Model) -> None:
    from tot.tasks.crosswords.probe import PROBE_WEIGHT
    from tot.tasks.crosswords.reverse import DEFINE_PROMPT, CheckedScorer

    task = cw.MiniCrossword()
    task.model_evaluator(model)
    scorer = task._scorer
    assert isinstance(scorer, CheckedScorer) and scorer.probe is not None and scorer.probe_weight == PROBE_WEIGHT
    words = {"An engine": ["MOTOR", "MOTTO", "ROTOR"]}
    assert scorer.ask(words) and not scorer.probe_off
    plain = CheckedScorer(scorer.forward, model)  # the reverse channel alone
    assert plain.ask(words)
    probed = scorer.probe.scores(model, DEFINE_PROMPT, [f" {w.lower()}\nDefinition: An engine\n" for w in words["An engine"]])
    for word, correction in zip(words["An engine"], probed):
        position = task.lexicon.position(word)
        both, alone = scorer.asked["An engine"][position], plain.asked["An engine"][position]
        assert np.isfinite(correction) and both == pytest.approx(alone + PROBE_WEIGHT * correction, abs=1e-6)
