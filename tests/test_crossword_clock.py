"""The crossword's closer looks on a clock: calls of `reverse.CHUNK` words, none begun that would end too late."""

from __future__ import annotations

import pytest

from tests.scripted import ScriptedModel
from tot.tasks.crosswords import MiniCrossword, Ranker, WordList, reverse
from tot.tasks.crosswords.scoring import ClueScorer

WORDS = ["CRATE", "REGET", "AGORA", "TERRA", "ETAAC", "RUTIN", "ATILT", "TILDE", "ENTER", "AGUSH", "TESTE", "ETHER"]
PLAIN = Ranker(("answer", "clues"), (0.5, 0.5))


def scorer() -> tuple[ScriptedModel, reverse.CheckedScorer]:
    model = ScriptedModel(score=lambda prompt, text: -float(len(text)))
    lexicon = MiniCrossword(WordList(WORDS)).lexicon
    return model, reverse.CheckedScorer(ClueScorer(model, lexicon, ranker=PLAIN), model, top=0)


def test_without_a_clock_a_look_is_one_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reverse, "CHUNK", 2)
    model, checked = scorer()
    calls = model.meter.calls
    assert checked.ask({"clue h1": WORDS[:5]}) is True and model.meter.calls == calls + 1
    assert len(checked.asked["clue h1"]) == 5


def test_on_a_clock_a_look_short_of_time_asks_in_chunks_and_stops_before_one_that_would_end_too_late(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reverse, "CHUNK", 2)
    model, checked = scorer()
    calls = model.meter.calls
    assert checked.ask({"clue h1": WORDS[:5]}, seconds=1e-9) is True  # no pace known yet: one call, whole
    assert model.meter.calls == calls + 1 and len(checked.asked["clue h1"]) == 5 and checked._pace is not None
    checked._pace = 1.0  # as if the last call took 1 s a word
    assert checked.ask({"clue h2": WORDS[:5]}, seconds=600.0) is True  # time for all: still one call
    assert model.meter.calls == calls + 2 and len(checked.asked["clue h2"]) == 5
    checked._pace = 100.0
    assert checked.ask({"clue h3": WORDS[:5]}, seconds=150.0) is None  # not even a chunk of 2 fits: nothing asked
    assert "clue h3" not in checked.asked and model.meter.calls == calls + 2  # its next look still asks its best words
    assert checked.ask({"clue h1": WORDS[:5]}, seconds=0.0) is False  # nothing new to ask is not lateness


def test_a_look_cut_by_the_clock_asks_every_clues_first_word_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reverse, "CHUNK", 3)
    clock = [0.0]  # a fake clock: each continuation the model scores takes 0.2 s (a word, two: 0.4 s)

    def score(prompt: str, text: str) -> float:
        clock[0] += 0.2
        return -float(len(text))

    monkeypatch.setattr(reverse.time, "perf_counter", lambda: clock[0])
    model = ScriptedModel(score=score)
    checked = reverse.CheckedScorer(ClueScorer(model, MiniCrossword(WordList(WORDS)).lexicon, ranker=PLAIN), model, top=0)
    assert checked.ask({"clue v1": ["CRATE"]}, seconds=1.0) and checked._pace == pytest.approx(0.4)
    asks = {"clue h1": ["TILDE", "CRATE", "REGET"], "clue h2": ["ENTER", "AGORA"], "clue h3": ["ETHER", "TERRA"]}
    assert checked.ask(asks, seconds=1.3) is True  # a chunk of 3 takes 1.2 s: one fits in 1.3 s, not two
    asked = {clue: {checked.lexicon.vocab[i] for i in got} for clue, got in checked.asked.items() if clue in asks}
    assert asked == {"clue h1": {"TILDE"}, "clue h2": {"ENTER"}, "clue h3": {"ETHER"}}
