"""Votes: the parser, the sampled and one-pass voters, and votes as values in every strategy (scripted model)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pytest

import tot
from tests.scripted import BatchingModel, ScriptedModel
from tot.api import make_evaluator
from tot.errors import InputError
from tot.tasks.text import CreativeWriting, Draft, Thought, load_inputs
from tot.votes import OnePassVote, SampledVote, VoteEvaluator, count_votes, number_probabilities, parse_vote


@pytest.mark.parametrize(
    ("text", "choices", "expected"),
    [
        ("Choice 1 is dull. The best choice is 2", 5, 2),
        ("The best choice is 2.\nOn reflection, the best choice is 4.", 5, 4),  # the last statement counts
        ("best choice: 3", 5, 3),
        ("The Best Choice Is **12**", 15, 12),  # choices numbered 10 and above
        ("The best choice is 10", 12, 10),
        ("The best choice is choice 11.", 12, 11),
        ("the best choice is #3", 3, 3),
        ("The best choice is three.", 5, 3),
        ("The best choice is 7", 5, None),  # no such choice: dropped
        ("The best choice is 0", 5, None),
        ("I like the second one.", 5, None),  # no conclusion: an abstention
        ("", 5, None),
        ("The best choice is 99999999999999999999", 5, None),
    ],
)
def test_parse_vote(text: str, choices: int, expected: int | None) -> None:
    assert parse_vote(text, choices) == expected


def test_count_votes_keeps_abstentions_apart() -> None:
    votes = count_votes(["The best choice is 2", "no idea", "The best choice is 9", "The best choice is 2"], 3)
    assert votes.counts == (0, 2, 0)
    assert votes.abstentions == 2
    assert votes.shares() == [0.0, 1.0, 0.0]
    assert count_votes(["nothing", "still nothing"], 2).shares() == [0.5, 0.5]  # no vote cast: no preference


class Digits(BatchingModel):
    """Scores the next token from a table: P("1"), P("2"), ... and the second digit of "10", "11"."""

    def __init__(self, table: dict[str, float]) -> None:
        super().__init__()
        self.table = table

    def score_labels_many(self, prompts: Sequence[str], labels: Sequence[str]) -> list[list[float]]:
        self._count(prompts[0])
        raw = [self.table.get(label, 1e-12) for label in labels]
        total = sum(raw)
        return [[p / total for p in raw] for _ in prompts]


def test_number_probabilities_separates_one_from_ten() -> None:
    # P("1...") = 0.5 of which "10" takes 0.3: the choice 1 itself keeps 0.2.
    model = Digits({"1": 0.5, "2": 0.2, "10": 0.3})
    rows = number_probabilities(model, ["p1", "p2"], 10)
    assert len(rows) == 2 and model.meter.calls == 1  # batched: one call
    row = rows[0]
    assert math.isclose(sum(row), 1.0)
    assert math.isclose(row[0], 0.2 / 0.7) and math.isclose(row[1], 0.2 / 0.7) and math.isclose(row[9], 0.3 / 0.7)


def _drafts(n: int) -> tuple[CreativeWriting, list[Draft]]:
    task = CreativeWriting()
    root = task.initial(load_inputs()[0])
    return task, [task.result(root, Thought(f"plan {i}")) for i in range(n)]


def test_sampled_vote_counts_each_completion() -> None:
    task, drafts = _drafts(3)
    model = ScriptedModel(["The best choice is 3", "The best choice is 3", "x", "The best choice is 1", "best choice is 7"])
    voter = SampledVote(task, model)
    votes = voter.vote(drafts)
    assert votes.counts == (1, 0, 2) and votes.abstentions == 2
    assert model.meter.votes == 5 and model.meter.abstentions == 2 and model.meter.calls == 1
    assert "Choice 3:" in model.prompts[0] and "plan 2" in model.prompts[0]


def test_a_sampled_vote_can_give_its_voters_another_token_limit() -> None:
    class Limits(ScriptedModel):
        def __init__(self) -> None:
            super().__init__(["The best choice is 2"] * 10)
            self.limits: list[int] = []

        def sample(self, prompt: str, n: int, *, max_tokens: int, **options: Any) -> list[str]:
            self.limits.append(max_tokens)
            return super().sample(prompt, n, max_tokens=max_tokens, **options)

    task, drafts = _drafts(3)
    model = Limits()
    assert SampledVote(task, model).vote(drafts).counts == (0, 5, 0)
    assert SampledVote(task, model, max_tokens=400).vote(drafts).counts == (0, 5, 0)
    assert model.limits == [task.vote_tokens, 400]
    with pytest.raises(InputError, match="token limit must be positive"):
        SampledVote(task, model, max_tokens=0)


def test_vote_conclude_asks_each_abstaining_voter_to_conclude() -> None:
    task, drafts = _drafts(3)
    # The voter's own text decides: after "...choice two..." the number read is 2, after anything else 3.
    def score(prompt: str, label: str) -> float:
        own = prompt.rsplit("Choice 3:", 1)[1]
        return 0.0 if label == ("2" if "choice two" in own else "3") else -5.0

    voters = ["The best choice is 1", "I like choice two", "no idea", "The best choice is 9", "The best choice is 1"]
    model = BatchingModel(voters, score=score)
    votes = SampledVote(task, model, conclude=True).vote(drafts)
    assert votes.counts == (2, 1, 2) and votes.abstentions == 3 and votes.concluded == 3
    assert model.meter.calls == 2  # the sampled votes, then every abstaining voter's conclusion in one call
    assert all(p.endswith("\nThe best choice is ") for p in model.prompts[1:])
    assert model.meter.votes == 5 and model.meter.abstentions == 3 and model.meter.concluded == 3
    plain = SampledVote(task, BatchingModel(["I like choice two"] * 5, score=score)).vote(drafts)
    assert plain.counts == (0, 0, 0) and plain.concluded == 0  # the paper's vote leaves abstentions alone
    evaluator = make_evaluator(task, BatchingModel(), generator="sample", valuer="vote-conclude")
    assert isinstance(evaluator, VoteEvaluator) and evaluator.name == "sample+vote-conclude"


def test_one_pass_vote_reads_the_choice_numbers_after_the_conclusion() -> None:
    task, drafts = _drafts(3)
    model = BatchingModel(score=lambda prompt, label: {"1": -3.0, "2": -1.0, "3": -2.0}[label])
    voter = OnePassVote(task, model)
    values = voter.values(drafts)
    assert values.index(max(values)) == 1 and math.isclose(sum(values), 1.0)
    assert model.prompts[0].endswith("The best choice is ")
    groups = voter.values_many([drafts, drafts[:2], drafts[1:]])
    assert model.meter.calls == 3  # the first call, then one per group size (3, then 2 and 2 together)
    assert [len(g) for g in groups] == [3, 2, 2]


def test_rotated_vote_cancels_a_position_bias_and_keeps_a_preference() -> None:
    task, drafts = _drafts(3)
    seen: list[str] = []  # the distinct prompts scored

    def score(prompt: str, label: str) -> float:  # the first-listed choice is favoured most; "plan 2" too, anywhere
        if prompt not in seen:
            seen.append(prompt)
        listed = sorted(prompt.find(f"plan {i}") for i in range(3))
        return 0.0 if label == "1" else -0.5 if label == str(1 + listed.index(prompt.find("plan 2"))) else -2.0

    plain = OnePassVote(task, BatchingModel(score=score)).values(drafts)
    assert plain[0] > plain[2]  # listed first, "plan 0" outvotes the preferred "plan 2"
    model, seen[:] = BatchingModel(score=score), []
    voter = OnePassVote(task, model, rotate=True)
    values = voter.values(drafts)
    assert voter.name == "vote-rotate" and math.isclose(sum(values), 1.0)
    assert values[2] > values[0] and math.isclose(values[0], values[1])  # the position bias is spread evenly
    assert model.meter.calls == 1 and len(seen) == 3  # three orders, one call
    assert [p.index("plan 0") < p.index("plan 1") < p.index("plan 2") for p in seen] == [True, False, False]
    assert voter.values_many([drafts[:1], []]) == [[1.0], []]
    evaluator = make_evaluator(task, BatchingModel(), generator="sample", valuer="vote-rotate")
    assert isinstance(evaluator, VoteEvaluator) and evaluator.name == "sample+vote-rotate"


def test_vote_evaluator_votes_siblings_together_and_caches() -> None:
    task = CreativeWriting()
    root = task.initial(load_inputs()[0])
    model = ScriptedModel(["plan a", "plan b", "plan a", "plan c", ""] + ["The best choice is 2"] * 5)
    evaluator = make_evaluator(task, model, generator="sample", valuer="vote")
    assert isinstance(evaluator, VoteEvaluator)
    candidates = evaluator.prior(root)
    assert [c.thought for c in candidates] == ["plan: plan a", "plan: plan b", "plan: plan c"]  # duplicates merged
    assert [round(c.prior, 2) for c in candidates] == [0.4, 0.2, 0.2]  # the empty one is unusable
    assert model.meter.proposals_malformed == 1
    child = task.result(root, candidates[1].action)
    assert evaluator.evaluate(child) == 1.0  # voted among its siblings: all 5 votes for choice 2
    calls = model.meter.calls
    others = [task.result(root, c.action) for c in candidates]
    assert evaluator.evaluate_many(others) == [0.0, 1.0, 0.0]
    assert model.meter.calls == calls  # every sibling was valued by that one vote
    alone = Draft(root.sentences, (Thought("never generated"),))
    assert evaluator.evaluate(alone) == 1.0 and model.meter.calls == calls  # the only choice: no vote needed


def test_vote_needs_a_vote_prompt() -> None:
    with pytest.raises(InputError, match="no vote prompt"):
        make_evaluator(tot.api.tasks.get("game24"), ScriptedModel(), generator="all", valuer="vote")
    with pytest.raises(InputError, match="no thought prompt"):
        make_evaluator(tot.api.tasks.get("game24"), ScriptedModel(), generator="sample", valuer="labels")


def _tot_script(winner_plan: int = 2, winner_passage: int = 1) -> list[str]:
    sentences = list(CreativeWriting().initial(load_inputs()[0]).sentences)
    plans = [f"plan {i}" for i in range(5)]
    passages = ["\n\n".join(f"Story {i} part {j}. {s}" for j, s in enumerate(sentences)) for i in range(5)]
    return (
        plans
        + [f"The best choice is {winner_plan}"] * 5
        + passages
        + [f"Analysis. The best choice is {winner_passage}"] * 5
    )


def test_bfs_selects_by_votes_as_the_paper_does() -> None:
    model = ScriptedModel(_tot_script(winner_plan=3, winner_passage=4))
    result = tot.solve("text", load_inputs()[0], model=model)
    assert result.path[0] == "plan: plan 2"
    assert result.answer is not None and result.answer.text.startswith("Story 3 part 0.")
    assert result.answer.verified  # as written: every paragraph ends with its sentence
    assert result.usage.calls == 4 and result.usage.votes == 10 and result.usage.abstentions == 0
    assert result.config["open_ended"] is True and result.stop_reason == "exhausted"


@pytest.mark.parametrize("strategy", ["dfs", "best-first", "mcts"])
def test_votes_serve_as_values_for_the_other_strategies(strategy: str) -> None:
    model = ScriptedModel(_tot_script() * 6)
    options: dict[str, Any] = {"simulations": 6} if strategy == "mcts" else {}
    result = tot.solve("text", load_inputs()[0], model=model, strategy=strategy, budget=tot.Budget(max_calls=12), **options)
    assert result.answer is not None  # a finished passage, ranked by its votes, is an answer (not a dead end)
    assert result.usage.calls <= 12
    passages = [n for n in result.tree if n.depth == 2]
    assert passages and all(n.value is not None for n in passages if n.status != "frontier" or strategy != "mcts")


def test_a_model_that_never_votes_abstains_without_crashing() -> None:
    script = _tot_script()
    script = [("rambling" if "best choice" in text else text) for text in script]
    result = tot.solve("text", load_inputs()[0], model=ScriptedModel(script))
    assert result.answer is not None
    assert result.usage.votes == 10 and result.usage.abstentions == 10
