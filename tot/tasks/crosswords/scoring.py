"""Clue scoring: how likely each dictionary word is to answer a clue, from the model and a small learned re-ranker.

1. The model scores every dictionary word after each answer prompt the ranker reads (`PROMPTS`: an
   answer list, a clue list, a definition list, a quiz), in one `score_many` call per clue and prompt,
   and once per prompt with no clue at all (what the prompt alone makes likely).
2. A re-ranker turns those numbers into log P(word | clue): a weighted sum of features (`FEATURES`:
   the log-probabilities, their ranks within the clue, how much the clue raised them above the no-clue
   prompt, which word lists hold the word, its frequency, its ending against the clue's form), normalised
   over the dictionary (a conditional logit). Its weights (tot/data/crossword-ranker.json) were fitted by
   tools/crossword_ranker.py on the gold grids of the 60 training puzzles alone.

In 5-fold cross-validation over the training puzzles the re-ranker puts the gold word at a median rank of
445 of 42,479 with all four prompts (515 with the first two; their raw mean: 1,261-2,619 on the evaluation
sets); what it buys in grids is measured in benchmarks/RESULTS.md ("Crosswords: issue 17").
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Any

import numpy as np

from tot.core import Meter
from tot.errors import InputError
from tot.models import Model, score_many
from tot.tasks.crosswords.dictionary import english_words, word_frequencies
from tot.tasks.crosswords.letters import LetterModel
from tot.tasks.crosswords.memory import ClueMemory, check_recall
from tot.tasks.crosswords.propagation import Array, Lexicon

ANSWER_PROMPT = """Crossword answers: each clue is answered by one five-letter English word.
Clue: A large body of salt water
Answer: ocean
Clue: Not dead; living
Answer: alive
Clue: A tree's outer layer; a dog's sounds
Answer: barks
Clue: To cut into small cubes
Answer: dices
Clue: {clue}
Answer:"""

CLUE_LIST_PROMPT = """Below are crossword clues, each with its five-letter answer.

Clue: Frozen rain
Answer: sleet
Clue: A piece of furniture to sit on
Answer: chair
Clue: Opposite of early
Answer: later
Clue: Not loud; silent
Answer: quiet
Clue: Musical instrument with keys
Answer: piano
Clue: {clue}
Answer:"""

DEFINITION_PROMPT = """A dictionary of five-letter English words: each definition is followed by the word it defines.

Definition: A narrow passage of water connecting two larger bodies; a channel
Word: sound
Definition: To soak in a liquid; to extract by soaking
Word: steep
Definition: An old English silver coin worth four pence
Word: groat
Definition: Pleasantly fragrant; mild and soothing
Word: balmy
Definition: One who rides; a horseman
Word: rider
Definition: {clue}
Word:"""

QUIZ_PROMPT = """Q: What five-letter word means "a large body of salt water"?
A: ocean
Q: What five-letter word means "to pull along behind; to drag"?
A: trail
Q: What five-letter word means "a sweet yellow fruit with a thick skin"?
A: mango
Q: What five-letter word means "{clue}"?
A:"""

PROMPTS = {"answer": ANSWER_PROMPT, "clues": CLUE_LIST_PROMPT, "definition": DEFINITION_PROMPT, "quiz": QUIZ_PROMPT}


# ---- what is known of each word before any clue ------------------------------------------------


@dataclass(frozen=True)
class WordFacts:
    """Per dictionary word (in `Lexicon.vocab` order): which lists hold it, its Zipf frequency, its ending."""

    gcide: Array
    web2: Array
    wordfreq: Array
    zipf: Array
    ends_s: Array
    ends_ed: Array
    ends_er: Array
    ends_y: Array


@lru_cache(maxsize=2)
def word_facts(vocab: tuple[str, ...]) -> WordFacts:
    gcide, web2 = english_words(("gcide",)).words, english_words(("web2",)).words
    frequencies = word_frequencies()

    def mark(test: Callable[[str], bool]) -> Array:
        return np.fromiter((test(w) for w in vocab), dtype=float, count=len(vocab))

    return WordFacts(
        gcide=mark(gcide.__contains__),
        web2=mark(web2.__contains__),
        wordfreq=mark(frequencies.__contains__),
        zipf=np.fromiter((frequencies.get(w, 0.0) for w in vocab), dtype=float, count=len(vocab)),
        ends_s=mark(lambda w: w.endswith("S") and not w.endswith("SS")),
        ends_ed=mark(lambda w: w.endswith("ED")),
        ends_er=mark(lambda w: w.endswith("ER")),
        ends_y=mark(lambda w: w.endswith("Y")),
    )


def clue_form(clue: str) -> dict[str, float]:
    """What a clue's wording says of its answer's form: a verb (`To ...`), a single thing (`A ...`, `One ...`),
    a plural (ends in s, not after `To`/`A`), a comparative (`more`)."""
    words = re.findall(r"[a-z]+", clue.lower())
    first = words[0] if words else ""
    last = words[-1] if words else ""
    head = clue.split(";")[0].lower().split()
    return {
        "verb": float(first == "to"),
        "one": float(first in ("one", "a", "an")),
        "plural": float(last.endswith("s") and not last.endswith("ss") and first not in ("to", "a", "an", "one")),
        "more": float("more" in head),
    }


def echoes(lexicon: Lexicon, clue: str) -> Array:
    """1 for each dictionary word that is a word of the clue itself (crossword answers do not echo their clues)."""
    mark = np.zeros(len(lexicon))
    for word in set(re.findall(r"[A-Z]+", clue.upper())):
        i = lexicon.position(word)
        if i is not None:
            mark[i] = 1.0
    return mark


def _rank(scores: Array) -> Array:
    """log(1 + rank) of each word by `scores`, best first (rank 0)."""
    order = np.argsort(-scores, kind="stable")
    rank = np.empty(len(scores))
    rank[order] = np.arange(len(scores))
    return np.log1p(rank)


def features(names: Sequence[str], lexicon: Lexicon, clue: str, scores: dict[str, Array],
             empty: dict[str, Array]) -> Array:
    """The (words x features) matrix of `names` for `clue`: `scores[prompt]` are the model's log-probabilities
    of every word after the prompt with the clue, `empty[prompt]` with no clue."""
    facts = word_facts(tuple(lexicon.vocab))
    form = clue_form(clue)
    column: dict[str, Callable[[], Array]] = {}
    for prompt, values in scores.items():  # each prompt's log-probabilities, their ranks, and what the clue added
        column |= _prompt_columns(prompt, values, empty.get(prompt))
    column |= {
        "gcide": lambda: facts.gcide,
        "web2": lambda: facts.web2,
        "wordfreq": lambda: facts.wordfreq,
        "gcide_web2": lambda: facts.gcide * facts.web2,
        "zipf": lambda: facts.zipf,
        "echo": lambda: echoes(lexicon, clue),
        "s_plural": lambda: facts.ends_s * form["plural"],
        "s_verb": lambda: facts.ends_s * form["verb"],
        "s_one": lambda: facts.ends_s * form["one"],
        "ed_verb": lambda: facts.ends_ed * form["verb"],
        "er_one": lambda: facts.ends_er * form["one"],
        "er_more": lambda: facts.ends_er * form["more"],
        "ends_s": lambda: facts.ends_s,
        "ends_y": lambda: facts.ends_y,
    }
    unknown = [n for n in names if n not in column]
    if unknown:
        raise InputError(f"unknown crossword ranker features: {', '.join(unknown)}")
    return np.stack([column[n]() for n in names], axis=1)


def _prompt_columns(prompt: str, values: Array, empty: Array | None) -> dict[str, Callable[[], Array]]:
    columns: dict[str, Callable[[], Array]] = {prompt: lambda: values, f"{prompt}_rank": lambda: _rank(values)}
    if empty is not None:
        columns[f"{prompt}_gain"] = lambda: values - empty
    return columns


FEATURES = ("answer", "clues", "answer_rank", "clues_rank", "answer_gain", "clues_gain", "gcide", "web2", "wordfreq",
            "gcide_web2", "zipf", "echo", "s_plural", "s_verb", "s_one", "ed_verb", "er_one", "er_more", "ends_s",
            "ends_y", "definition", "quiz", "definition_rank", "quiz_rank", "definition_gain", "quiz_gain")


def prompts_used(names: Sequence[str]) -> tuple[str, ...]:
    """The prompts (keys of PROMPTS) whose scores the features `names` read, in PROMPTS order."""
    return tuple(p for p in PROMPTS if any(n in (p, f"{p}_rank", f"{p}_gain") for n in names))


# ---- the re-ranker ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ranker:
    """A conditional logit over the dictionary: log P(word | clue) = w . features(word, clue) - log Z(clue)."""

    names: tuple[str, ...]
    weights: tuple[float, ...]

    def log_probs(self, matrix: Array) -> Array:
        z = matrix @ np.asarray(self.weights)
        top = float(z.max())
        return z - (top + math.log(float(np.exp(z - top).sum())))

    def as_dict(self) -> dict[str, Any]:
        return {"features": list(self.names), "weights": list(self.weights)}


RANKER_FILE = "crossword-ranker.json"


@lru_cache(maxsize=1)
def default_ranker() -> Ranker:
    """The shipped weights (tot/data/crossword-ranker.json)."""
    return load_ranker(files("tot.data").joinpath(RANKER_FILE).read_text(encoding="utf-8"), RANKER_FILE)


def load_ranker(text: str, source: str = "ranker") -> Ranker:
    """A Ranker from its JSON (`{"features": [...], "weights": [...]}`); InputError when malformed."""
    try:
        data = json.loads(text)
        names = tuple(str(n) for n in data["features"])
        weights = tuple(float(w) for w in data["weights"])
    except (ValueError, KeyError, TypeError) as error:
        raise InputError(f"{source} is not a crossword ranker file: {error}") from error
    if len(names) != len(weights) or not names or not all(math.isfinite(w) for w in weights):
        raise InputError(f"{source}: features and weights must be non-empty, as many, and finite")
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        raise InputError(f"{source}: unknown features {', '.join(unknown)}")
    return Ranker(names, weights)


# ---- the model's scores, cached -----------------------------------------------------------------


# A word the dictionary lacks (a free clue's, see `board.Board.free`) scores as the clue's UNLISTED_RANK-th best
# dictionary word less UNLISTED_PENALTY, less UNLISTED_LETTERS x how much less word-like its letters are than a
# typical dictionary word's (`letters.LetterModel`): chosen on the 60 training puzzles (benchmarks/RESULTS.md).
UNLISTED_RANK = 1000
UNLISTED_PENALTY = 7.0
UNLISTED_LETTERS = 2.0


class ClueScorer:
    """log P(word | clue) for every dictionary word: the model's scores through the re-ranker, cached per clue.

    Model calls: one `score_many` per clue and prompt the ranker reads (`prompts`), and, when it weighs
    what a clue adds (`*_gain` features), one per prompt with no clue (once). With a `memory` and `recall` > 0,
    a clue the memory holds mixes in its remembered answers (`remembered`).
    `expand` is `score_many`'s (how many first tokens are decoded again for their second).
    """

    def __init__(self, model: Model, lexicon: Lexicon, *, ranker: Ranker | None = None, expand: int = 62,
                 memory: ClueMemory | None = None, recall: float = 0.0) -> None:
        check_recall(recall)
        self.model, self.lexicon, self.expand = model, lexicon, expand
        self.memory: ClueMemory | None = memory if recall > 0 else None
        self.recall = recall if memory is not None else 0.0
        self.ranker = ranker or default_ranker()
        self.continuations = [" " + w.lower() for w in lexicon.vocab]  # what the model scores after a prompt
        self._empty: dict[str, Array] = {}
        self._scores: dict[str, Array] = {}
        self._levels: dict[str, float] = {}
        self._letters: LetterModel | None = None  # made on first use
        self.prompts = prompts_used(self.ranker.names)
        self.uses_empty = any(name.endswith("_gain") for name in self.ranker.names)

    @property
    def meter(self) -> Meter:
        return self.model.meter

    def model_scores(self, prompt: str, clue: str) -> Array:
        """The model's log-probability of every dictionary word after prompt `prompt` (a key of PROMPTS) and `clue`."""
        scores = score_many(self.model, PROMPTS[prompt].format(clue=clue), self.continuations, expand=self.expand)
        return np.asarray(scores, dtype=float)

    def empty(self) -> dict[str, Array]:
        if not self._empty:
            self._empty = {name: self.model_scores(name, "") for name in self.prompts}
        return self._empty

    def cached(self, clue: str) -> Array | None:
        """The scores of `clue` if they were computed (never calls the model)."""
        return self._scores.get(clue)

    def total(self, clues: Sequence[str], words: Sequence[str]) -> float | None:
        """The total score of `words` for `clues` from cached scores (a word the dictionary lacks: `unlisted`); None
        when a clue was not scored."""
        if any(clue not in self._scores for clue in clues):
            return None
        return float(sum(self.word_score(clue, word) for clue, word in zip(clues, words)))

    def word_score(self, clue: str, word: str) -> float:
        """The score of `word` for `clue`: log P(word | clue) for a dictionary word, `unlisted` for a word outside."""
        position = self.lexicon.position(word)
        return float(self(clue)[position]) if position is not None else self.unlisted(clue, word)

    def unlisted(self, clue: str, word: str | None = None) -> float:
        """The score of `word`, a word not in the dictionary, for `clue` (None: a word not known yet, scored as a
        typical one): the clue's UNLISTED_RANK-th best score less UNLISTED_PENALTY, less UNLISTED_LETTERS x how much
        less word-like its letters are than a typical dictionary word's."""
        level = self._levels.get(clue)
        if level is None:
            scores = self(clue)
            kth = len(scores) - 1 - min(UNLISTED_RANK, len(scores) - 1)  # the rank-th best, counted from the worst
            level = self._levels[clue] = float(np.partition(scores, kth)[kth])
        if word is None:
            return level - UNLISTED_PENALTY
        if self._letters is None:
            self._letters = LetterModel(self.lexicon.vocab)
        return level - UNLISTED_PENALTY + UNLISTED_LETTERS * min(0.0, self._letters.typicality(word))

    def __call__(self, clue: str) -> Array:
        """log P(word | clue) of every dictionary word (the model called the first time a clue is seen)."""
        found = self._scores.get(clue)
        if found is None:
            empty = self.empty() if self.uses_empty else {}
            scores = {name: self.model_scores(name, clue) for name in self.prompts}
            matrix = features(self.ranker.names, self.lexicon, clue, scores, empty)
            found = self._scores[clue] = self.remembered(clue, self.ranker.log_probs(matrix))
        return found

    def remembered(self, clue: str, log_probs: Array) -> Array:
        """`log_probs` (over the dictionary) mixed with the memory's answers to `clue` (`memory.ClueMemory`):
        log((1 - recall) P + recall x each remembered answer's share). Unchanged for a clue the memory lacks."""
        shares = self.memory.recall(clue) if self.memory is not None else {}
        places = {i: share for word, share in shares.items() if (i := self.lexicon.position(word)) is not None}
        if not places:
            return log_probs
        mixed = log_probs + math.log1p(-self.recall)
        for i, share in places.items():
            mixed[i] = np.logaddexp(mixed[i], math.log(self.recall * share))
        return mixed
