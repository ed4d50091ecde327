"""A clue memory: the answers of solved puzzles, recalled when a clue comes again.

Mini crosswords reuse clues: of the 200 clues of each evaluation set, 93 and 86 appear (same text) in the
60 training puzzles. The Berkeley Crossword Solver starts from such a retrieval; here it is a table of
clue texts (normalised: case, spacing, a final full stop) to the answers the solved puzzles gave them, with
how often. The shipped memory (tot/data/crossword-memory.json, made by tools/crossword_memory.py) holds the
gold grids of the 60 training puzzles alone, never an evaluation puzzle's.

It enters the crossword two ways, so that the model-free search gets the same memory as the model's:
- the clue scores mix it in (`recall`): P(word | clue) = (1 - recall) P_model(word | clue) + recall x the
  share of the clue's remembered answers that are `word` (`ClueScorer`);
- the task offers a clue's remembered answers before the other words (`MiniCrossword.candidates`), which
  is the order a model-free search (`--generator all`) tries them in.
Your own solved puzzles: a JSON file `{"clues": {clue: {answer: count}}}` (`ClueMemory.of(pairs).as_dict()`),
given as `MiniCrossword(memory=path)` or `--task-set memory=path`.
A remembered answer the dictionary lacks (11 of the shipped memory's, e.g. NERTS) joins the task's dictionary.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from tot.errors import InputError
from tot.tasks.crosswords.board import SIZE

MEMORY_FILE = "crossword-memory.json"
RECALL = 0.9  # the memory's share of a remembered clue's probability: chosen on the training puzzles (0.5 and 0.9 tried)


def check_recall(recall: float) -> None:
    """Raise InputError unless `recall` (the memory's weight) is in [0, 1)."""
    if not 0.0 <= recall < 1.0:
        raise InputError(f"recall must be in [0, 1), got {recall}")


def normalise_clue(clue: str) -> str:
    """A clue's text as the memory keys it: lower case, single spaces, no final full stop."""
    return re.sub(r"\s+", " ", clue).strip().lower().removesuffix(".").strip()


@dataclass(frozen=True)
class ClueMemory:
    """Normalised clue text -> each answer (upper case, five letters) -> how many solved puzzles gave it."""

    answers: Mapping[str, Mapping[str, int]]

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, str]]) -> ClueMemory:
        """The memory of (clue, answer) pairs."""
        answers: dict[str, dict[str, int]] = {}
        for clue, word in pairs:
            counts = answers.setdefault(normalise_clue(clue), {})
            counts[word.upper()] = counts.get(word.upper(), 0) + 1
        return cls(answers)

    def recall(self, clue: str) -> dict[str, float]:
        """The share of each answer `clue` was given, most often first ({} for a clue never seen)."""
        counts = self.answers.get(normalise_clue(clue), {})
        total = sum(counts.values())
        return {w: n / total for w, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))}

    def words(self) -> frozenset[str]:
        """Every answer remembered."""
        return frozenset(w for counts in self.answers.values() for w in counts)

    def __len__(self) -> int:
        return len(self.answers)

    def as_dict(self) -> dict[str, Any]:
        return {"clues": {clue: dict(sorted(counts.items())) for clue, counts in sorted(self.answers.items())}}


@lru_cache(maxsize=1)
def default_memory() -> ClueMemory:
    """The shipped memory: the 60 training puzzles' clues and answers (tot/data/crossword-memory.json)."""
    return load_memory(files("tot.data").joinpath(MEMORY_FILE).read_text(encoding="utf-8"), MEMORY_FILE)


def read_memory(path: str | os.PathLike[str]) -> ClueMemory:
    """The memory file at `path` (as `load_memory` reads it); InputError when missing, unreadable or malformed."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read the crossword memory file {path}: {getattr(error, 'strerror', None) or error}") from None
    return load_memory(text, str(path))


def load_memory(text: str, source: str = "memory") -> ClueMemory:
    """A ClueMemory from its JSON (`{"clues": {clue: {answer: count}}}`); InputError when malformed."""
    try:
        data: Any = json.loads(text)
        clues = data["clues"]
        answers = {normalise_clue(str(clue)): {str(w).upper(): int(n) for w, n in counts.items()}
                   for clue, counts in clues.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise InputError(f"{source} is not a crossword memory file: {error}") from error
    for clue, counts in answers.items():
        bad = [w for w, n in counts.items() if n <= 0 or len(w) != SIZE or not (w.isascii() and w.isalpha())]
        if not counts or bad:
            raise InputError(f"{source}: clue {clue[:60]!r} needs five-letter answers with positive counts")
    return ClueMemory(answers)
