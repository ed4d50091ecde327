"""How word-like a string of letters is: a letter 4-gram model of the dictionary's words.

A free clue (`board.Board.free`) may hold a word the dictionary lacks; the model has no list to score it
against, and the reverse channel does not know a non-word when it sees one. This model does, roughly: trained
on the dictionary alone (add-0.1 smoothing, the word's start and end marked), it puts MOTOR 0.9 nats above a
typical dictionary word, the answers NERTS and SNERT 1.3 and 2.5 below, and the strings RESTZ and INAMW 6.3
and 8.9 below (but also the answer GIMIX 7.2 below).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

ORDER = 4
SMOOTHING = 0.1
START, END = "^", "$"


class LetterModel:
    """log P(word) under a letter `ORDER`-gram model of `words`, and its typicality against them."""

    def __init__(self, words: Iterable[str]) -> None:
        self._grams: Counter[str] = Counter()
        self._contexts: Counter[str] = Counter()
        vocabulary = [w.upper() for w in words]
        for word in vocabulary:
            for gram in _grams(word):
                self._grams[gram] += 1
                self._contexts[gram[:-1]] += 1
        scores = sorted(self.log_prob(w) for w in vocabulary)
        self.median = scores[len(scores) // 2] if scores else 0.0

    def log_prob(self, word: str) -> float:
        """log P(`word`, its end included)."""
        return sum(math.log((self._grams[g] + SMOOTHING) / (self._contexts[g[:-1]] + 27 * SMOOTHING))
                   for g in _grams(word.upper()))

    def typicality(self, word: str) -> float:
        """log P(`word`) less the median over the model's own words: 0 for a typical word, negative for less."""
        return self.log_prob(word) - self.median


def _grams(word: str) -> list[str]:
    padded = START * (ORDER - 1) + word + END
    return [padded[i - ORDER + 1 : i + 1] for i in range(ORDER - 1, len(padded))]
