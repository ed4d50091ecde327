"""The crossword's hidden-state probe: its file, its arithmetic in the objective, and where it turns itself off."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from tests.scripted import ScriptedModel
from tot.errors import InputError
from tot.models import default_model_path
from tot.tasks.crosswords import MiniCrossword, Ranker, WordList, reverse
from tot.tasks.crosswords.probe import PROBE_WEIGHT, Probe, default_probe, load_probe
from tot.tasks.crosswords.scoring import ClueScorer

WORDS = WordList(["CRATE", "TILDE", "ETHER", "AGORA"])
PLAIN = Ranker(("answer", "clues"), (0.5, 0.5))


def script(prompt: str, text: str) -> float:
    """The reverse channel likes every word alike (-1); the forward prompts prefer CRATE."""
    word, _, clue = text.partition("\nDefinition:")
    if prompt.startswith(reverse.DEFINE_PROMPT):
        return 0.0 if not clue else -1.0
    return -1.0 if "CRATE" in text.upper() else -3.0


class Hidden(ScriptedModel):
    """A scripted model with one layer's hidden states: [1, 0] for TILDE's pairs, [0, 1] for the rest."""

    def __init__(self) -> None:
        super().__init__(score=script)
        self.embedded: list[tuple[str, int]] = []

    def embed(self, prefix: str, texts: Sequence[str], *, layers: Sequence[int], pooling: str) -> Any:
        self._count(prefix)
        self.embedded += [(t, layers[0]) for t in texts]
        assert pooling == "mean" and prefix == reverse.DEFINE_PROMPT
        return np.asarray([[1.0, 0.0] if t.startswith(" tilde\n") else [0.0, 1.0] for t in texts], dtype=np.float32)


PROBE = Probe("scripted", 9, (2.0, -1.0), 0.5)  # TILDE's pairs 2.5, the rest -0.5


def test_the_probe_adds_its_weighted_logit_to_each_asked_word_in_one_call_beside_the_reverse_channel() -> None:
    model = Hidden()
    lexicon = MiniCrossword(WORDS).lexicon
    checked = reverse.CheckedScorer(ClueScorer(model, lexicon, ranker=PLAIN), model, top=1, probe=PROBE, probe_weight=2.0)
    forward = checked.forward("clue h1")
    calls = model.meter.calls
    assert checked.look(["clue h1"], ["TILDE"])
    assert model.meter.calls == calls + 2  # the reverse channel's call and the probe's
    assert sorted(model.embedded) == [(" crate\nDefinition: clue h1\n", 9), (" tilde\nDefinition: clue h1\n", 9)]
    asked = {lexicon.vocab[i]: v for i, v in checked.asked["clue h1"].items()}
    assert asked == {"CRATE": pytest.approx(-1.0 + 2.0 * -0.5), "TILDE": pytest.approx(-1.0 + 2.0 * 2.5)}
    scores = checked("clue h1")
    tilde, crate = lexicon.position("TILDE"), lexicon.position("CRATE")
    assert forward[crate] > forward[tilde] and scores[tilde] > scores[crate]  # the probe turned the order
    assert checked.unlisted_asked == {} and checked.total(["clue h1"], ["ZZZZZ"]) is not None
    assert checked.unlisted_asked[("clue h1", "ZZZZZ")] == pytest.approx(-1.0 + 2.0 * -0.5)  # outside too


def test_a_backend_without_hidden_states_turns_the_probe_off_before_any_score_and_says_why() -> None:
    model = ScriptedModel(score=script)  # no embed
    lexicon = MiniCrossword(WORDS).lexicon
    checked = reverse.CheckedScorer(ClueScorer(model, lexicon, ranker=PLAIN), model, top=1, probe=PROBE, probe_weight=2.0)
    checked.forward("clue h1")
    assert checked.look(["clue h1"], ["TILDE"])
    assert checked.probe is None and "hidden states" in checked.probe_off
    assert set(checked.asked["clue h1"].values()) == {-1.0}  # the reverse channel alone


def test_the_probe_is_used_only_on_the_model_it_was_fitted_on() -> None:
    task = MiniCrossword(WORDS, ranker=PLAIN)
    task.model_evaluator(Hidden())  # a scripted model is not the default model
    assert task._scorer.probe is None and task._scorer.probe_weight == 0.0
    assert task.probe_off() == f"the probe was fitted on {default_model_path().name}, not on scripted"
    assert task.report("clue 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10", None)["probe_off"] == task.probe_off()
    task.forget_evaluator()
    assert task.probe_off() == "" and "probe_off" not in task.report("0", None)
    off = MiniCrossword(WORDS, ranker=PLAIN, probe=0)
    off.model_evaluator(Hidden())
    assert off.probe_off() == ""  # not asked for
    shipped = default_probe()
    assert shipped.model == default_model_path().name and shipped.layer == 9 and len(shipped.weights) == 640
    assert task.options["probe"] == PROBE_WEIGHT > 0
    with pytest.raises(InputError, match="probe must be >= 0"):
        MiniCrossword(probe=-1.0)


@pytest.mark.parametrize("text, message", [
    ("not json", "is not a crossword probe file"),
    ('{"layer": 9, "weights": [1.0], "bias": 0.0}', "is not a crossword probe file"),
    ('{"model": "m", "layer": 9, "weights": [], "bias": 0.0}', "non-empty and finite"),
    ('{"model": "m", "layer": 9, "weights": [1.0], "bias": NaN}', "non-empty and finite"),
])
def test_a_malformed_probe_file_is_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_probe(text, "p.json")


def test_a_probe_fitted_on_other_hidden_states_is_refused() -> None:
    with pytest.raises(InputError, match="fitted on another model"):
        Probe("scripted", 9, (1.0, 2.0, 3.0), 0.0).scores(Hidden(), reverse.DEFINE_PROMPT, [" crate\nDefinition: x\n"])
