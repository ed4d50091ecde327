from fractions import Fraction

import pytest

from tests.scripted import BatchingModel, ScriptedModel
from tot.errors import InputError
from tot.evaluators import EnumerateGenerator, LabelValuer, ProposeGenerator, SampledValuer, ThoughtEvaluator
from tot.tasks.game24 import Game24, Step, expression_for, load_puzzles, parse_proposals, propose_grammar

game = Game24()
F = Fraction


def test_initial_is_sorted_fractions() -> None:
    assert game.initial("13 4 10 9") == (4, 9, 10, 13)
    assert game.initial("4,9,10,13") == (4, 9, 10, 13)


@pytest.mark.parametrize("puzzle", ["4 9 x 13", "4 9 10", "4 9 10 13 1", "-4 9 10 13", "4 9 10 100000", "", "4.5 9 10 13"])
def test_malformed_puzzles(puzzle: str) -> None:
    with pytest.raises(InputError):
        game.initial(puzzle)


def test_actions_are_legal_distinct_and_exclude_negatives() -> None:
    state = game.initial("4 9 10 13")
    steps = game.actions(state)
    assert len(steps) == len(set(steps)) == 30
    assert all(s.value >= 0 for s in steps)
    assert Step(F(13), "-", F(9)) in steps
    assert Step(F(4), "/", F(9)) in steps


def test_division_by_zero_is_not_an_action() -> None:
    steps = game.actions((F(0), F(3)))
    assert Step(F(3), "/", F(0)) not in steps
    assert Step(F(0), "/", F(3)) in steps


def test_result_recomputes_and_keeps_fractions() -> None:
    state = game.result((F(1), F(3), F(4), F(6)), Step(F(1), "/", F(4)))
    assert state == (F(1, 4), F(3), F(6))
    with pytest.raises(ValueError):
        game.result(state, Step(F(5), "+", F(3)))


def test_goal_and_terminal() -> None:
    assert game.is_goal((F(24),))
    assert not game.is_goal((F(23),))
    assert game.is_terminal((F(23),))
    assert not game.is_terminal((F(1), F(23)))


def test_transpositions_share_a_key() -> None:
    s = game.initial("4 9 10 13")
    a = game.result(game.result(s, Step(F(13), "-", F(9))), Step(F(10), "-", F(4)))
    b = game.result(game.result(s, Step(F(10), "-", F(4))), Step(F(13), "-", F(9)))
    assert game.key(a) == game.key(b) == (4, 6)


def test_answer_reconstructed_and_verified() -> None:
    start = game.initial("4 9 10 13")
    steps = [Step(F(13), "-", F(9)), Step(F(10), "-", F(4)), Step(F(6), "*", F(4))]
    assert expression_for(start, steps) == "(10 - 4) * (13 - 9)"
    answer = game.answer(start, steps)
    assert answer.verified, answer.detail


def test_fraction_solution() -> None:
    start = game.initial("1 3 4 6")
    steps = [Step(F(3), "/", F(4)), Step(F(1), "-", F(3, 4)), Step(F(6), "/", F(1, 4))]
    assert game.answer(start, steps).verified


def test_check_user_answers() -> None:
    start = game.initial("4 9 10 13")
    assert game.check(start, "(13-9)*(10-4)").verified
    assert not game.check(start, "(13-9)*(10-4)+0").verified  # uses a number not given
    assert not game.check(start, "13+9+10-4").verified  # equals 28
    assert not game.check(start, "(13-9)*6").verified  # 6 is not a given number
    assert not game.check(start, "exec('x')").verified


def test_solvable_matches_known_cases() -> None:
    assert game.solvable(game.initial("4 9 10 13"))
    assert not game.solvable(game.initial("1 1 1 1"))
    assert game.solvable((F(4), F(6)))
    assert not game.solvable((F(1), F(2)))


def test_dataset() -> None:
    puzzles = load_puzzles()
    assert len(puzzles) == 1362
    assert puzzles[900] == "4 5 6 10"


def test_parse_proposals_repairs_and_drops() -> None:
    state = game.initial("4 9 10 13")
    text = "\n".join(
        [
            "9 / 4 = 13 (left: 10 13 13)",  # wrong result: repaired to 9/4
            "13 - 9 = 4 (left: 4 4 10)",  # correct
            "7 + 3 = 10 (left: 4 9 13)",  # 7 and 3 are not there: illegal
            "10 / 0 = 5",  # division by zero: illegal
            "Let me think about this",  # malformed
            "13 - 9 = 4 (left: 4 4 10)",  # duplicate
            "4 * 4 = 16",  # only one 4: illegal
        ]
    )
    parsed = parse_proposals(state, text)
    assert parsed.steps == (Step(F(9), "/", F(4)), Step(F(13), "-", F(9)))
    assert (parsed.lines, parsed.malformed, parsed.illegal, parsed.repaired) == (7, 1, 3, 1)
    assert game.result(state, parsed.steps[0]) == (F(9, 4), F(10), F(13))


def test_grammar_pairs_two_of_the_numbers_left() -> None:
    grammar = propose_grammar((F(1, 2), F(3), F(3)))
    assert 'step ::= "1/2 " op " 3" | "3 " op " 1/2" | "3 " op " 3"\n' in grammar  # 3 op 3: there are two 3s
    assert '"3 " op " 3"' not in propose_grammar((F(1, 2), F(3), F(4)))  # one 3 cannot be used twice
    assert '"-1 " op " 4"' in propose_grammar((F(-1), F(4)))


def test_negative_and_fraction_operands_parse() -> None:
    text = "-1 + 4 = 3 (left: 3 6)\n4 - -1 = 5 (left: 5 6)\n1/2 * 4 = 2 (left: -1 2 6)\n"
    parsed = parse_proposals((F(-1), F(1, 2), F(4), F(6)), text)
    assert parsed.steps == (Step(F(-1), "+", F(4)), Step(F(4), "-", F(-1)), Step(F(1, 2), "*", F(4)))
    assert (parsed.malformed, parsed.illegal, parsed.repaired) == (0, 0, 0)


def test_propose_generator_with_scripted_model() -> None:
    state = game.initial("4 9 10 13")
    model = ScriptedModel(["9 / 4 = 13 (left: 10 13 13)\n13 - 9 = 4 (left: 4 4 10)\nnonsense\n"])
    candidates = ProposeGenerator(game, game.prompts, model)(state)
    assert [c.thought for c in candidates] == ["9 / 4 = 9/4 (left: 9/4 10 13)", "13 - 9 = 4 (left: 4 4 10)"]
    assert candidates[0].prior > candidates[1].prior
    assert (model.meter.proposal_lines, model.meter.proposals_repaired, model.meter.proposals_malformed) == (3, 1, 1)
    assert "Input: 4 9 10 13" in model.prompts[0]


def test_enumerate_generator_ranks_by_model_score() -> None:
    state = game.initial("4 9 10 13")
    model = ScriptedModel(score=lambda prompt, text: 0.0 if text.startswith("13 - 9") else -5.0)
    candidates = EnumerateGenerator(game, game.prompts, model)(state)
    assert candidates[0].thought.startswith("13 - 9 = 4")
    assert len(candidates) == 30
    assert abs(sum(c.prior for c in candidates) - 1) < 1e-9


def test_enumerate_scores_only_the_start_of_each_propose_line() -> None:
    state = game.initial("4 9 10 13")
    scored: list[str] = []

    def score(prompt: str, text: str) -> float:
        scored.append(text)
        return 0.0

    candidates = EnumerateGenerator(game, game.prompts, ScriptedModel(score=score))(state)
    assert sorted(scored) == sorted(c.thought.split(" = ")[0] for c in candidates)
    assert "13 - 9" in scored and all("=" not in text and "left" not in text for text in scored)
    for candidate in candidates:  # each scored text starts the line the paper's propose prompt would show
        assert candidate.thought.startswith(game.prompts.action_text(state, candidate.action) + " = ")


def test_enumerate_skips_the_model_when_every_child_is_terminal() -> None:
    model = ScriptedModel()
    candidates = EnumerateGenerator(game, game.prompts, model)((F(4), F(6)))
    assert len(candidates) == 5 and model.meter.calls == 0


def test_label_values_and_cache() -> None:
    model = ScriptedModel(score=lambda prompt, label: {" sure": 0.0, " likely": -50.0, " impossible": -50.0}[label])
    evaluator = ThoughtEvaluator(game, EnumerateGenerator(game, game.prompts, model), LabelValuer(game.prompts, model), model.meter)
    state = game.initial("4 9 10 13")
    assert evaluator.evaluate(state) == pytest.approx(1.0)
    assert evaluator.evaluate(state) == pytest.approx(1.0)
    assert model.meter.calls == 1 and model.meter.cache_hits == 1
    assert evaluator.evaluate((F(24),)) == 1.0 and evaluator.evaluate((F(23),)) == 0.0
    assert model.meter.calls == 1  # terminal states never reach the model


def test_sampled_values_average_label_weights() -> None:
    model = ScriptedModel(["4 * 6 = 24\nVerdict: sure", "hmm\nVerdict: impossible", "no verdict"])
    value = SampledValuer(game.prompts, model, n=3)((F(4), F(6)))
    assert value == pytest.approx((20 + 0.001) / 3 / 20)


def test_zero_denominators_and_huge_numbers_from_a_model_do_not_crash_parsing() -> None:
    state = game.initial("4 9 10 13")
    text = "\n".join(
        [
            "13 - 9 = 4/0 (left: 4 4 10)",  # a claimed x/0: repaired to 4
            "4/0 + 9 = 1",  # an operand x/0: malformed
            "4 + " + "9" * 5000 + " = 1",  # digits past int()'s limit: malformed
            "10 - 4 = " + "6" * 5000,  # a claimed result too long to be one: repaired
        ]
    )
    parsed = parse_proposals(state, text)
    assert parsed.steps == (Step(F(13), "-", F(9)), Step(F(10), "-", F(4)))
    assert (parsed.lines, parsed.malformed, parsed.illegal, parsed.repaired) == (4, 2, 0, 2)


def verdict_score(prompt: str, label: str) -> float:
    """A made-up but prompt-dependent label score: the numbers in the last line pick the verdict."""
    last = prompt.splitlines()[-2]
    return -float((sum(map(ord, last)) + len(label)) % 5)


@pytest.mark.parametrize("model", [ScriptedModel(score=verdict_score), BatchingModel(score=verdict_score)])
def test_evaluate_many_equals_evaluate_one_by_one(model: ScriptedModel) -> None:
    def evaluator(m: ScriptedModel) -> ThoughtEvaluator:
        return ThoughtEvaluator(game, EnumerateGenerator(game, game.prompts, m), LabelValuer(game.prompts, m), m.meter)

    root = game.initial("4 9 10 13")
    children = [game.result(root, a) for a in game.actions(root)][:8]
    states = [*children, children[0], (F(24),), (F(23),), root]
    single, batched = evaluator(ScriptedModel(score=verdict_score)), evaluator(model)
    single.evaluate(root)
    batched.evaluate(root)  # cached before the batch
    calls = model.meter.calls
    expected = [single.evaluate(s) for s in states]
    assert batched.evaluate_many(states) == expected and len(set(expected)) > 2
    assert batched.meter.cache_hits == single.meter.cache_hits == 2  # the duplicate and the cached root
    fresh = len(set(children))
    assert model.meter.calls - calls == (1 if isinstance(model, BatchingModel) else fresh)
    assert batched.cache == single.cache


def test_values_generator_ranks_children_by_their_batched_values() -> None:
    from tot import api

    model = BatchingModel(score=verdict_score)
    evaluator = api.make_evaluator(game, model, generator="values")
    root = game.initial("4 9 10 13")
    candidates = evaluator.prior(root)
    assert model.meter.calls == 1 and len(candidates) == 30 and abs(sum(c.prior for c in candidates) - 1) < 1e-9
    values = [evaluator.evaluate(game.result(root, c.action)) for c in candidates]  # cached by the prior's call
    assert model.meter.calls == 1 and values == sorted(values, reverse=True) and values[0] > values[-1]
    assert [c.prior for c in candidates] == sorted((c.prior for c in candidates), reverse=True)
    assert evaluator.name == "values+labels"
