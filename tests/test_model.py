"""Integration tests: the real default model (Gemma 3 270M) through llama-cpp-python."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import tot
from tot.core import Budget
from tot.errors import ModelError
from tot.models import Model
from tot.tasks.game24 import Game24

pytestmark = pytest.mark.model
game = Game24()


def test_solve_returns_a_verified_answer_or_a_clean_not_found(model: Model) -> None:
    result = tot.solve("game24", "4 9 10 13", model=model, budget=Budget(max_calls=300))
    assert result.stop_reason in ("solved", "calls", "exhausted")
    if result.solved:
        assert result.answer is not None
        assert game.check(game.initial("4 9 10 13"), result.answer.text).verified
    assert result.usage.calls > 0 and result.usage.prompt_tokens_evaluated > 0
    assert result.usage.calls <= 301
    assert result.tree.to_networkx().number_of_nodes() == len(result.tree)


def test_same_seed_same_decisions(model: Model) -> None:
    budget = Budget(max_calls=40)
    a = tot.solve("game24", "4 5 6 10", model=model, budget=budget, seed=3)
    b = tot.solve("game24", "4 5 6 10", model=model, budget=budget, seed=3)
    assert a.tree.expansion_order == b.tree.expansion_order
    assert [n.key for n in a.tree] == [n.key for n in b.tree]


def test_paper_preset_parses_model_proposals(model: Model) -> None:
    result = tot.solve("game24", "4 9 10 13", model=model, preset="paper", budget=Budget(max_calls=4))
    assert result.usage.proposal_lines > 0
    assert result.usage.generated_tokens > 0
    for node in result.tree:  # every state in the tree was computed by the engine, not the model
        if node.parent is not None:
            assert node.key == game.result(node.parent.state, node.action)


def test_grammar_constrained_proposals_are_well_formed(model: Model) -> None:
    from tot.evaluators import ProposeGenerator

    state = game.initial("4 9 10 13")
    before = (model.meter.proposal_lines, model.meter.proposals_malformed, model.meter.proposals_illegal)
    candidates = ProposeGenerator(game, game.prompts, model, constrained=True, max_tokens=60)(state)
    lines = model.meter.proposal_lines - before[0]
    assert lines > 0
    assert model.meter.proposals_malformed == before[1]
    assert candidates and all(c.source == "grammar" for c in candidates)


def test_label_probabilities_sum_to_one(model: Model) -> None:
    probabilities = model.score_labels(game.prompts.verdict_prompt((4, 6)), [" sure", " likely", " impossible"])
    assert sum(probabilities) == pytest.approx(1.0)
    assert all(0 < p < 1 for p in probabilities)


def test_batched_scores_rank_like_one_by_one(model: Model) -> None:
    prompt = "The capital of France is"
    options = [" Paris", " London", " a city", " banana"]
    batched = model.score_continuations(prompt, options)
    single = [model.score_continuations(prompt, [o])[0] for o in options]
    assert batched.index(max(batched)) == single.index(max(single)) == 0
    assert max(abs(a - b) for a, b in zip(batched, single)) < 0.5


def test_cli_json(tmp_path: object) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "tot", "solve", "game24", "4", "9", "10", "13", "--json", "--max-calls", "60"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode in (0, 1), run.stderr
    data = json.loads(run.stdout)
    assert data["usage"]["calls"] <= 61
    assert data["config"]["model"] == "gemma-3-270m-q4_k_m.gguf"
    assert {"nodes", "edges", "expansion_order"} <= set(data["tree"])
    if data["solved"]:
        assert game.check(game.initial("4 9 10 13"), data["answer"]).verified


def test_bad_model_paths(tmp_path: "os.PathLike[str]") -> None:
    with pytest.raises(ModelError):
        tot.load_model(os.path.join(tmp_path, "missing.gguf"))
    fake = os.path.join(tmp_path, "fake.gguf")
    with open(fake, "wb") as handle:
        handle.write(b"GGUF" + b"\0" * 64)  # right magic, corrupt body
    with pytest.raises(ModelError):
        tot.load_model(fake)
    run = subprocess.run([sys.executable, "-m", "tot", "solve", "game24", "4", "9", "10", "13", "--model", fake], capture_output=True, text=True)
    assert run.returncode == 2
    assert "error:" in run.stderr and "Traceback" not in run.stderr
