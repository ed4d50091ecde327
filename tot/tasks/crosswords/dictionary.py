"""The crossword dictionary: every five-letter word a grid may use, where each comes from, and how common it is.

`dictionary()` is the union of three lists (42,479 words): GCIDE and Webster's 2nd (the
`english-words` package) and the five-letter words of wordfreq's English list (shipped as
tot/data/wordfreq5.csv with their Zipf frequencies). Which lists hold a word is itself evidence:
the puzzles' answers are mostly GCIDE words, and most wordfreq-only words are names and
abbreviations (see `tot.tasks.crosswords.scoring`).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from importlib.resources import files

from tot.errors import InputError
from tot.tasks.crosswords.board import BLANK, SIZE


class WordList:
    """Five-letter words, upper case, indexed by (position, letter) for fast pattern matching."""

    def __init__(self, words: Iterable[str]) -> None:
        self.words = frozenset(w.upper() for w in words if len(w) == SIZE and w.isascii() and w.isalpha())
        index: list[dict[str, set[str]]] = [{} for _ in range(SIZE)]
        for word in self.words:
            for position, letter in enumerate(word):
                index[position].setdefault(letter, set()).add(word)
        self.index = [{letter: frozenset(ws) for letter, ws in by_letter.items()} for by_letter in index]
        self._matches: dict[str, tuple[str, ...]] = {}

    def __contains__(self, word: object) -> bool:
        return word in self.words

    def __len__(self) -> int:
        return len(self.words)

    def matches(self, pattern: str) -> tuple[str, ...]:
        """Every word that fits `pattern`, sorted (cached)."""
        found = self._matches.get(pattern)
        if found is None:
            sets = sorted(
                (self.index[i].get(letter, frozenset()) for i, letter in enumerate(pattern) if letter != BLANK), key=len
            )
            if not sets:
                found = tuple(sorted(self.words))
            else:
                found = tuple(sorted(sets[0].intersection(*sets[1:])))
            if len(self._matches) < 200_000:
                self._matches[pattern] = found
        return found


@lru_cache(maxsize=4)
def english_words(lists: tuple[str, ...] = ("web2", "gcide")) -> WordList:
    """The five-letter words of the `english-words` package's `lists` (web2: Webster's 2nd; gcide: GCIDE)."""
    try:
        from english_words import get_english_words_set
    except ImportError as error:
        raise InputError("the crossword dictionary needs the english-words package: pip install english-words") from error
    return WordList(get_english_words_set(list(lists), alpha=True, lower=True))


@lru_cache(maxsize=1)
def word_frequencies() -> dict[str, float]:
    """Zipf frequency (log10 per billion words) of the five-letter words of wordfreq's English list.

    From tot/data/wordfreq5.csv (CC BY-SA 4.0, see tot/data/LICENSE-wordfreq; made by tools/make_wordfreq5.py).
    """
    lines = files("tot.data").joinpath("wordfreq5.csv").read_text(encoding="utf-8").splitlines()[1:]
    return {word: float(zipf) for word, _, zipf in (line.partition(",") for line in lines if line)}


@lru_cache(maxsize=1)
def dictionary() -> WordList:
    """The crossword dictionary: `english_words()` (Webster's 2nd, GCIDE) and wordfreq's five-letter words."""
    return WordList(english_words().words | word_frequencies().keys())


@lru_cache(maxsize=4)
def dictionary_with(extra: frozenset[str]) -> WordList:
    """`dictionary()` and the five-letter words `extra` (e.g. the answers a clue memory holds)."""
    base = dictionary()
    return base if extra <= base.words else WordList(base.words | extra)
