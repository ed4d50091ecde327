"""`tot learn` without a model: labels from searches, the head, the value file, the learned valuer (scripted features)."""

from __future__ import annotations

import base64
import builtins
import json
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tot
from tests.scripted import ScriptedModel
from tests.toy import RandomTree, Spell
from tot.core import Answer, Budget, Candidate
from tot.errors import InputError
from tot.learn import train, valuefile
from tot.learn.features import FeaturePrompt, FeatureSpec
from tot.learn.head import fit, platt
from tot.learn.labels import goal_check, label_tree
from tot.learn.valuer import LearnedValuer, model_identity
from tot.tasks.game24 import Game24

# ---- labels --------------------------------------------------------------------------------------


def labelled(task: Any, result: Any, rollouts: int = 0, puzzle: str = "") -> list[Any]:
    root = result.tree.root
    return label_tree(task, result.tree, goal_check(task, puzzle, root), rollouts=rollouts)


@pytest.mark.parametrize("strategy", ["mcts", "dfs", "bfs", "best-first"])
def test_every_search_label_is_true_and_positives_lead_to_a_found_goal(strategy: str) -> None:
    decided = 0
    for seed in range(40):
        task = RandomTree(seed, depth=4, branching=3, merge=seed % 2 == 1)
        result = tot.solve(task, "", strategy=strategy, generator="all", valuer="uniform", budget=Budget(max_nodes=12),
                           seed=seed)
        goals = {n.id for n in result.tree if n.goal}
        for item in labelled(task, result):
            assert item.label in (True, False, None)
            if item.label is None:
                continue
            decided += 1
            assert item.label == task.solvable(item.node.state), (seed, item)  # the toy's exact answer: tests only
            if item.label:  # a goal the search found lies below it
                below, todo = set(), [item.node]
                while todo:
                    node = todo.pop()
                    if node.id not in below:
                        below.add(node.id)
                        todo.extend(node.children)
                assert below & goals
    assert decided > 100


class HalfProposals:
    """An evaluator that proposes only the first action of each state: subtrees are never exhausted."""

    def __init__(self, task: Any) -> None:
        self.task = task

    def prior(self, state: Any) -> list[Candidate[Any]]:
        actions = list(self.task.actions(state))[:1]
        return [Candidate(a, self.task.describe(state, a), 1.0, "half") for a in actions]

    def evaluate(self, state: Any) -> float:
        return 0.5


def test_a_subtree_searched_with_some_actions_only_is_never_negative() -> None:
    from tot.strategies.dfs import dfs

    task = Spell("cab")
    result = dfs(task, HalfProposals(task), "")
    items = labelled(task, result)
    assert not result.solved
    assert [(i.node.state, i.label) for i in items] == [("", None), ("a", None), ("aa", None)]


def test_rollouts_label_undecided_states_and_a_positive_rollout_is_exact() -> None:
    task = Spell("cab")
    result = tot.solve(task, "", strategy="mcts", generator="all", valuer="uniform", budget=Budget(max_nodes=2))
    plain = labelled(task, result)
    assert any(i.label is None for i in plain)
    rolled = labelled(task, result, rollouts=200)
    assert all(i.label is not None for i in rolled)
    for item in rolled:
        if item.reason == "rollout-goal":
            assert task.solvable(item.node.state)
    assert {i.reason for i in rolled} >= {"rollout-goal", "rollout-none"}


class Graded(Spell):
    """A goal is any full word, but only the hidden answer counts (as crosswords are graded against the gold grid)."""

    def is_goal(self, state: str) -> bool:
        return len(state) == self.length

    def answer(self, start: str, actions: Sequence[str]) -> Answer:
        return Answer(start + "".join(actions), True)


def metrics(puzzle: str, state: Any) -> dict[str, float]:
    return {"game": float(state == puzzle)}


def test_a_task_graded_against_a_hidden_answer_counts_only_matching_goals(monkeypatch: pytest.MonkeyPatch) -> None:
    task = Graded("cab")
    monkeypatch.setattr(Graded, "metrics", staticmethod(metrics), raising=False)
    result = tot.solve(task, "", strategy="dfs", generator="all", valuer="uniform", budget=Budget(max_nodes=50))
    assert result.solved and result.answer is not None and result.answer.text == "aaa"  # the first full word
    items = labelled(task, result, puzzle="cab")
    assert all(i.label is not True for i in items)  # "aaa" is a goal but not the answer
    assert ("aa", False) in [(i.node.state, i.label) for i in items]


# ---- the head and training -------------------------------------------------------------------------


def test_the_head_learns_a_separable_rule_and_is_calibrated() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 8))
    y = (x[:, 0] + 0.5 * x[:, 1] + 0.3 * rng.normal(size=3000)) > 0.4
    for hidden in (0, 16):
        head = fit(x[:2000], y[:2000], x[2000:], y[2000:], hidden=hidden, epochs=60, rate=1e-2)
        p = head.predict(x[2000:])
        assert train.auc(p, y[2000:]) > 0.95  # type: ignore[operator]
        assert abs(float(p.mean()) - float(y[2000:].mean())) < 0.03


def test_ctrl_c_while_training_stops_the_progress_bar() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    examples = [train.Example(("P", str(i)), 1 + i % 2, bool(x[i, 0] > 0), {str(i % 4)}, set()) for i in range(40)]
    feature_of = {e.key: x[i] for i, e in enumerate(examples)}
    events: list[str] = []

    class Bar:
        def start(self, total: int, finished: Sequence[Any]) -> None:
            events.append("start")

        def advance(self, record: Any) -> None:
            raise KeyboardInterrupt

        def stop(self) -> None:
            events.append("stop")

    with pytest.raises(KeyboardInterrupt):
        train.choose(examples[:30], examples[30:], feature_of, (1,), 2, [train.Candidate((1,), "mean", 0, 1e-4)],
                     progress=Bar())
    assert events == ["start", "stop"]


def test_platt_scaling_recovers_a_known_calibration() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(size=20000) * 2
    y = rng.random(20000) < 1 / (1 + np.exp(-(0.5 * z - 1.0)))
    a, b = platt(z, y)
    assert a == pytest.approx(0.5, abs=0.05) and b == pytest.approx(-1.0, abs=0.06)


def test_merge_keeps_one_example_per_prompt_and_a_positive_wins() -> None:
    states = [
        {"prefix": 0, "text": "x", "depth": 2, "label": False, "reason": "rollout-none", "puzzle": "p1"},
        {"prefix": 0, "text": "x", "depth": 1, "label": True, "reason": "goal-path", "puzzle": "p2"},
        {"prefix": 0, "text": "y", "depth": 1, "label": None, "reason": "undecided", "puzzle": "p2"},
    ]
    examples = train.merge(states, ["P"])
    assert list(examples) == [("P", "x")]
    only = examples[("P", "x")]
    assert only.label and only.depth == 1 and only.puzzles == {"p1", "p2"}
    fit_on, held = train.split(examples, {"p2"})
    assert fit_on == [only] and held == [only]  # reached by a training and a held-out puzzle: in both, as at test time
    assert train.split(examples, {"p1", "p2"}) == ([], [only])


# ---- the value file --------------------------------------------------------------------------------


def small_value(task: str = "spell", prompt: str | None = None) -> valuefile.ValueFile:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(400, 6))
    y = x[:, 0] > 0
    head = fit(x[:300], y[:300], x[300:], y[300:], hidden=4, epochs=5)
    spec = FeatureSpec(prompt or "generic-1", (3,), "mean")
    return valuefile.ValueFile({"file": "scripted", "sha256": "", "backend": "ScriptedFeatures"}, task, spec, head,
                               training={"rows": "0:3"}, metrics={"validation": {"auc": 0.9}})


def test_a_value_file_round_trips(tmp_path: Path) -> None:
    value = small_value()
    path = tmp_path / "v.tot"
    value.save(path)
    loaded = valuefile.load(path)
    x = np.random.default_rng(3).normal(size=(20, 6))
    assert loaded.head.predict(x) == pytest.approx(value.head.predict(x), abs=1e-5)  # float32 storage
    assert loaded.task == "spell" and loaded.feature == value.feature and loaded.training == {"rows": "0:3"}
    assert loaded.source == str(path)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda text: text[: len(text) // 2], "not JSON: corrupt or truncated"),
        (lambda text: "", "not JSON"),
        (lambda text: text.replace('"task":"spell"', '"task":"spelk"'), "checksum"),
        (lambda text: json.dumps({"format": "tot-value", "version": 9}), "version 9"),
        (lambda text: json.dumps([1, 2]), "not a tot value file"),
        (lambda text: "\x80\x04\x95" + text, "not JSON"),
    ],
)
def test_a_damaged_value_file_is_one_clear_error(tmp_path: Path, damage: Any, message: str) -> None:
    path = tmp_path / "v.tot"
    small_value().save(path)
    path.write_text(damage(path.read_text()), encoding="utf-8", errors="surrogateescape")
    with pytest.raises(InputError, match=message):
        valuefile.load(path)


def test_a_missing_value_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read the value file"):
        valuefile.load(tmp_path / "nothing.tot")


class Boom:
    def __reduce__(self) -> Any:
        return (builtins.exec, ("raise SystemExit('code ran')",))


def test_loading_a_value_file_runs_no_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A pickle of something that runs code when unpickled, as a whole file and inside an array field.
    payload = pickle.dumps(Boom())
    (tmp_path / "pickle.tot").write_bytes(payload)
    with pytest.raises(InputError):
        valuefile.load(tmp_path / "pickle.tot")
    data = small_value().as_dict()
    data["head"]["arrays"]["mean"]["float32"] = base64.b64encode(payload).decode()
    body = {k: v for k, v in data.items() if k != "checksum"}
    data["checksum"] = valuefile._checksum(body)  # a careful attacker fixes the checksum too
    (tmp_path / "inside.tot").write_text(json.dumps(data))

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a value file ran code")

    for name in ("loads", "load"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(builtins, "exec", refuse)
    monkeypatch.setattr(builtins, "eval", refuse)
    with pytest.raises(InputError, match="not a valid tot value file"):
        valuefile.load(tmp_path / "inside.tot")
    small_value().save(tmp_path / "good.tot")
    assert valuefile.load(tmp_path / "good.tot").task == "spell"  # a sound file loads with all of them refused


# ---- the learned valuer on scripted features ----------------------------------------------------------


class ScriptedFeatures(ScriptedModel):
    """A scripted model whose `embed` gives fixed features of the text (one call per batch)."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def embed(self, prefix: str, texts: Sequence[str], *, layers: Sequence[int], pooling: str) -> Any:
        self._count(prefix)
        self.batches.append(len(texts))
        rows = []
        for text in texts:
            word = text.split()[0] if text.split() else ""
            rows.append([float(len(word)), float("c" in word), float(word.startswith("c")), float("a" in word), 0.0, 1.0])
        return np.asarray(rows, dtype=np.float32)


def test_the_learned_valuer_values_a_batch_in_one_call_and_guides_a_search(tmp_path: Path) -> None:
    task = Spell("cab")
    model = ScriptedFeatures()
    value = small_value()  # feature 0 > 0 is "solvable": the word's length, so longer is better
    path = tmp_path / "v.tot"
    value.save(path)
    valuer = LearnedValuer(task, model, path)
    values = valuer.many(["a", "ca", "cab"])
    assert model.batches == [3] and len(values) == 3 and values[2] > values[0]
    result = tot.solve(task, "", strategy="bfs", generator="all", model=model, value=path, breadth=3)
    assert result.solved and result.config["evaluator"] == "learned"
    assert max(model.batches) > 1  # BFS valued each beam's candidates together


def test_with_a_value_the_fast_preset_ranks_steps_by_it_unless_told_otherwise(tmp_path: Path) -> None:
    path = tmp_path / "v.tot"
    small_value().save(path)
    ranked = tot.solve(Spell("cab"), "", model=ScriptedFeatures(), value=path, budget=Budget(max_nodes=20))
    assert ranked.config["generator"] == "values" and ranked.config["evaluator"] == "learned"
    told = tot.solve(Spell("cab"), "", model=ScriptedFeatures(), value=path, generator="all", budget=Budget(max_nodes=20))
    assert told.config["generator"] == "all"
    paper = tot.solve(Spell("cab"), "", preset="paper", model=ScriptedFeatures(), value=path, generator="all",
                      budget=Budget(max_nodes=20))
    assert paper.config["generator"] == "all" and paper.config["evaluator"] == "learned"


def test_a_value_file_for_another_task_prompt_or_model_is_refused(tmp_path: Path) -> None:
    task, model = Spell("cab"), ScriptedFeatures()
    with pytest.raises(InputError, match="learned for task 'game24', not 'spell'"):
        LearnedValuer(task, model, small_value(task="game24"))
    with pytest.raises(InputError, match="learned on prompt 'game24-verdict-1'"):
        LearnedValuer(task, model, small_value(prompt="game24-verdict-1"))
    other = small_value()
    other.model.update(backend="llama", sha256="ab" * 32, file="other.gguf")
    with pytest.raises(InputError, match="learned on a llama model"):
        LearnedValuer(task, model, other)
    assert model_identity(model)["backend"] == "ScriptedFeatures"


def test_the_game24_feature_prompt_splits_the_verdict_prompt() -> None:
    game = Game24()
    prompt = FeaturePrompt(game)
    state = game.initial("4 9 10 13")
    prefix, text = prompt.split(state)
    assert prompt.version == "game24-verdict-1"
    assert prefix + text == game.prompts.verdict_prompt(state)
    assert text == "4 9 10 13\nVerdict:"
    generic = FeaturePrompt(Spell())
    assert generic.version == "generic-1" and generic.split("ca")[1] == " ca\nAnswer:"


def test_the_learned_evaluator_without_a_value_file_is_one_clear_error() -> None:
    with pytest.raises(InputError, match="needs a value file"):
        tot.solve(Spell(), "", generator="all", valuer="learned", model=ScriptedFeatures())


# ---- embeddings from a server ------------------------------------------------------------------------


def test_a_server_embeds_through_v1_embeddings_in_one_request() -> None:
    from tests.servers import FakeServer
    from tot.models import server

    def reply(path: str, body: dict[str, Any]) -> Any:
        assert path == "/v1/embeddings"
        return {"data": [{"index": i, "embedding": [float(len(t)), 1.0, 2.0]} for i, t in enumerate(body["input"])][::-1],
                "usage": {"prompt_tokens": 7}}

    with FakeServer(reply) as fake:
        served = server.connect(fake.url)
        rows = served.embed("P:", ["a", "bbb"], layers=(-1,), pooling="server")
        assert rows.tolist() == [[3.0, 1.0, 2.0], [5.0, 1.0, 2.0]]  # in input order, whatever order they came in
        assert len(fake.requests) == 1 and served.meter.calls == 1 and served.meter.prompt_tokens == 7
        with pytest.raises(InputError, match="needs a local GGUF model"):
            served.embed("P:", ["a"], layers=(9,), pooling="mean")


def test_a_server_without_embeddings_is_one_clear_error() -> None:
    from tests.servers import FakeServer
    from tot.errors import ModelError
    from tot.models import server

    with FakeServer(lambda path, body: (404, {"error": {"message": "Not Found"}})) as fake:
        with pytest.raises(ModelError, match=r"offers no embeddings \(/v1/embeddings: HTTP 404"):
            server.connect(fake.url).embed("P:", ["a"], layers=(-1,), pooling="server")


def test_lookahead_values_a_state_by_its_best_child_in_one_call_and_never_by_the_goal_test(tmp_path: Path) -> None:
    from tot.learn.valuer import LookaheadValuer

    task, model = Spell("cab"), ScriptedFeatures()
    learned = LearnedValuer(task, model, small_value())
    ahead = LookaheadValuer(learned)
    values = ahead.many(["", "c", "ca"])
    assert model.batches == [6]  # the children of "" and "c" (a, b, c; ca, cb, cc) and "ca" itself: 6 distinct
    assert values[0] == pytest.approx(max(learned.many(["a", "b", "c"])))
    assert values[1] == pytest.approx(max(learned.many(["ca", "cb", "cc"])))
    assert values[2] == pytest.approx(learned.many(["ca"])[0])  # its children are terminal: its own value
