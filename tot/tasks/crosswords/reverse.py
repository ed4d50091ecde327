"""The reverse channel: how likely each clue is as the definition of a word, log P(clue | word), from the model.

The forward scores (`scoring.ClueScorer`) rank every dictionary word after a clue, and favour words that
are merely likely: on the 60 training puzzles, in the 332 clues where the first grid's word is not the
gold one, they prefer the gold word in 38%. Asked the other way round (how likely is this clue as the
definition of this word?), the model prefers it in 68%. That question costs one scoring per word and clue,
too many for the whole dictionary, so it is asked lazily (each time about every clue's new words at once, in
one model call):

- for the words of each grid a search returns (`look`), so that a grid is never chosen on a guess, and, at
  the first look, for each clue's `top` best words: by the forward scores, or as the crossword's evaluator
  asks, by belief propagation's beliefs on the empty grid (the forward scores with the crossings: words a
  grid can hold);
- with more time, for each clue's next `top` words (`widen`).

Before the first look the objective is the forward scores alone, so the first grid is the one they give;
every later grid is compared with it on the objective with the reverse channel.

A word not asked yet gets its clue's `quantile` of the reverse scores asked so far. A word the dictionary
lacks (a free clue's, see `board.Board.free`) is asked like any other once a grid spells it, and scores as
the forward scores' `unlisted` word plus its reverse score. `CheckedScorer` adds
`weight` times the reverse score (or that default) to the forward score: the objective a search maximises
(`tot.strategies.refine` searches again until the grid it returns holds no word not yet asked). With a
`probe`, each asked word's reverse score gains `probe_weight` x the probe's correction (`probe.Probe`, read
in one more model call). The
defaults (weight 1, top 20, quantile 0.5) were chosen on the training puzzles alone (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import numpy as np

from tot.core import Meter
from tot.errors import InputError, ModelError
from tot.models import Model
from tot.tasks.crosswords.probe import Probe
from tot.tasks.crosswords.propagation import Array
from tot.tasks.crosswords.scoring import ClueScorer

CHUNK = 32  # words a model call when a look is short of time (`CheckedScorer.ask`)

DEFINE_PROMPT = """A dictionary of five-letter English words, each followed by its definition.

Word: sound
Definition: A narrow passage of water connecting two larger bodies; a channel
Word: steep
Definition: To soak in a liquid; to extract by soaking
Word: rider
Definition: One who rides; a horseman
Word: balmy
Definition: Pleasantly fragrant; mild and soothing
Word:"""


class CheckedScorer:
    """Forward clue scores plus `weight` x the reverse channel, asked lazily (see the module's docstring).

    Same interface as `ClueScorer` (`lexicon`, `meter`, calling it with a clue, `cached`, `total`), and `look`
    and `widen`. `total` asks the reverse channel about the words it is given: for the diagnostic after a search.
    """

    def __init__(self, forward: ClueScorer, model: Model, *, weight: float = 1.0, top: int = 20,
                 quantile: float = 0.5, probe: Probe | None = None, probe_weight: float = 0.0) -> None:
        if weight < 0 or top < 0 or probe_weight < 0 or not 0.0 <= quantile <= 1.0:
            raise InputError(f"reverse channel: weight, top and probe weight must be >= 0 and quantile in [0, 1], got "
                             f"{weight}, {top}, {probe_weight}, {quantile}")
        self.forward, self.model, self.lexicon = forward, model, forward.lexicon
        self.weight, self.top, self.quantile = weight, top, quantile
        self.probe = probe if probe_weight > 0 else None
        self.probe_weight = probe_weight
        self.probe_off = ""  # why the probe is off though asked for (another model; a backend without hidden states)
        self.asked: dict[str, dict[int, float]] = {}  # clue -> word index -> log P(clue | word) (+ the probe's part)
        self.unlisted_asked: dict[tuple[str, str], float] = {}  # (clue, word not in the dictionary) -> the same
        self._scores: dict[str, Array] = {}  # clue -> the objective's scores, until a new word is asked
        self._pace: float | None = None  # seconds a word took in the last call

    @property
    def meter(self) -> Meter:
        return self.forward.meter

    def ask(self, words: Mapping[str, Sequence[str]], *, seconds: float | None = None) -> bool | None:
        """Ask the reverse channel about each clue's `words` (five letters; in the dictionary or not) not asked yet,
        every clue in one model call; True when some was asked.

        With `seconds` (the time left) too short for every word at the pace of the last call, the words go in
        calls of `CHUNK`, every clue's first words first, and it stops before a call that would not end in
        time; None when that left every new word unasked."""
        fresh: list[tuple[str, int | None, str]] = []
        for clue, ws in words.items():
            bad = [w for w in ws if not (len(w) == 5 and w.isascii() and w.isalpha() and w.isupper())]
            if bad:
                raise InputError(f"not five upper-case letters: {', '.join(bad)}")
            asked = self.asked.get(clue, {})
            positioned = sorted(((self.lexicon.position(w), w) for w in set(ws)), key=lambda pw: (pw[0] is None, pw[1]))
            for p, word in positioned:
                if (p is not None and p not in asked) or (p is None and (clue, word) not in self.unlisted_asked):
                    fresh.append((clue, p, word))
        if not fresh:
            return False
        size = len(fresh)
        if seconds is not None and self._pace is not None and self._pace * size > seconds:  # short of time
            fresh.sort(key=lambda f: list(words[f[0]]).index(f[2]))  # every clue's first words first: a grid's own
            size = CHUNK
        started = time.perf_counter()
        for start in range(0, len(fresh), size):
            chunk = fresh[start : start + size]
            pace = self._pace
            if seconds is not None and pace is not None and time.perf_counter() - started + pace * len(chunk) > seconds:
                return True if start else None
            began = time.perf_counter()
            self._score(chunk)
            self._pace = (time.perf_counter() - began) / len(chunk)
        return True

    def _score(self, fresh: Sequence[tuple[str, int | None, str]]) -> None:
        """Ask the reverse channel about (clue, word's position or None, word) triples, in one model call."""
        continuations: list[str] = []
        for clue, _, word in fresh:
            text = " ".join(clue.split())  # the clue is data: one line, scored
            continuations += [f" {word.lower()}\nDefinition:", f" {word.lower()}\nDefinition: {text}\n"]
        scores = self.model.score_continuations(DEFINE_PROMPT, continuations)
        probed = self._probe(continuations[1::2])
        for j, (clue, p, word) in enumerate(fresh):
            closer = scores[2 * j + 1] - scores[2 * j] + self.probe_weight * probed[j]
            if p is None:
                self.unlisted_asked[(clue, word)] = closer
            else:
                self.asked.setdefault(clue, {})[p] = closer
                self._scores.pop(clue, None)

    def _probe(self, pairs: Sequence[str]) -> list[float]:
        """The probe's correction of each (word, clue) pair, in one model call; zeros without a probe. A backend that
        cannot give the probe's hidden states turns it off for good (`probe_off` says why) before any is used."""
        if self.probe is None:
            return [0.0] * len(pairs)
        try:
            return self.probe.scores(self.model, DEFINE_PROMPT, pairs)
        except (InputError, ModelError) as error:
            if any(self.asked.values()) or self.unlisted_asked:  # a probe in some scores cannot leave the others
                raise
            self.probe, self.probe_off = None, str(error)
            return [0.0] * len(pairs)

    def look(self, clues: Sequence[str], words: Sequence[str], *, best: Sequence[Array] | None = None,
             seconds: float | None = None) -> bool | None:
        """Ask the reverse channel about each clue's word of a grid (and, the first time, about the clue's `top`
        best words: the first of `best`, each clue's word indices best first, or by the forward scores), in one
        model call; True when some was not asked before (`seconds`: see `ask`)."""
        asks: dict[str, list[str]] = {}
        for s, (clue, word) in enumerate(zip(clues, words)):
            ask = asks.setdefault(clue, [])
            if "_" not in word:
                ask.append(word)
            if clue not in self.asked and self.top:
                order = best[s] if best is not None else np.argsort(-self.forward(clue), kind="stable")
                ask += [self.lexicon.vocab[int(i)] for i in order[: self.top]]
        return self.ask(asks, seconds=seconds)

    def first(self, clues: Sequence[str]) -> bool:
        """True when some of `clues` was never looked at (its next look asks about its `top` best words)."""
        return bool(self.top) and any(clue not in self.asked for clue in clues)

    def widen(self, *, seconds: float | None = None) -> bool | None:
        """Ask each clue scored so far about its next `top` words by the forward scores (those not asked yet), in
        one model call; True when some were asked (`seconds`: see `ask`)."""
        asks: dict[str, list[str]] = {}
        for clue, asked in self.asked.items():
            forward = self.forward.cached(clue)
            if forward is None or not self.top:
                continue
            order = np.argsort(-forward, kind="stable")
            fresh = [self.lexicon.vocab[int(i)] for i in order[: len(asked) + self.top] if int(i) not in asked]
            asks[clue] = fresh[: self.top]
        return self.ask(asks, seconds=seconds)

    def unlisted(self, clue: str, word: str | None = None) -> float:
        """The objective's score of `word`, not in the dictionary, for `clue` (None: a word not known yet): the
        forward scores' `unlisted` plus `weight` x its reverse score, or the clue's default until it is asked."""
        reverse = self.unlisted_asked.get((clue, word)) if word is not None else None
        if reverse is None:
            reverse = self._default(clue)
        return self.forward.unlisted(clue, word) + self.weight * reverse

    def cached(self, clue: str) -> Array | None:
        """The objective's scores of `clue` if its forward scores were computed (never calls the model)."""
        return None if self.forward.cached(clue) is None else self(clue)

    def total(self, clues: Sequence[str], words: Sequence[str]) -> float | None:
        """The objective of `words` for `clues` (a word the dictionary lacks: `unlisted`), each word asked first
        (one model call, about these words only); None when a clue was not scored."""
        if any(self.forward.cached(c) is None for c in clues):
            return None
        asks: dict[str, list[str]] = {}
        for clue, word in zip(clues, words):
            asks.setdefault(clue, []).append(word)
        self.ask(asks)
        return float(sum(self.word_score(c, w) for c, w in zip(clues, words)))

    def word_score(self, clue: str, word: str) -> float:
        """The objective's score of `word` for `clue`: its dictionary score, or `unlisted` for a word outside."""
        position = self.lexicon.position(word)
        return float(self(clue)[position]) if position is not None else self.unlisted(clue, word)

    def __call__(self, clue: str) -> Array:
        """The objective's score of every dictionary word for `clue` (forward plus weighted reverse)."""
        found = self._scores.get(clue)
        if found is None:
            found = self._scores[clue] = self.forward(clue) + self.weight * self.bonus(clue)
        return found

    def bonus(self, clue: str) -> Array:
        """Each word's reverse score, or for a word not asked yet its clue's default (the `quantile` of those
        asked; 0 before any)."""
        asked = self.asked.get(clue, {})
        bonus = np.full(len(self.lexicon.vocab), self._default(clue))
        if asked:
            bonus[np.fromiter(asked.keys(), dtype=np.intp, count=len(asked))] = list(asked.values())
        return bonus

    def _default(self, clue: str) -> float:
        """The reverse score of a word not asked yet: the clue's `quantile` of the dictionary words asked (0 before
        any)."""
        asked = self.asked.get(clue, {})
        return float(np.quantile(list(asked.values()), self.quantile)) if asked else 0.0
