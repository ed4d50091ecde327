"""Mini crosswords (5x5): the board, a word list as a tool, the model's judgements, and the metrics.

Every row (h1-h5) and column (v1-v5) of the grid is a five-letter word. A thought fills
one clue with a word that fits the letters already on the board. Three evaluators
(`MiniCrossword(method=...)`): "bp", the default, scores every dictionary word for every
clue and runs belief propagation over the grid's crossing letters (`GridBeliefs`); "grid"
uses the same scores under arc consistency alone (`GridScores`); "rank" takes candidates
from the model's answers and the `english-words` list, ranked per board (`ClueJudge`).

The task and its evaluator see only the clues. The gold grid is read by `gold` alone,
which only `metrics` and the final report call, after a search. Drawing is `tot.render_crossword`'s.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib.resources import files
from typing import Any

from tot.core import Answer, Candidate, Meter
from tot.errors import InputError
from tot.models import Model, normalise

SIZE = 5
SLOTS = tuple(f"h{i}" for i in range(1, SIZE + 1)) + tuple(f"v{i}" for i in range(1, SIZE + 1))
BLANK = "_"
CELLS = tuple(
    tuple(range(s * SIZE, s * SIZE + SIZE)) if s < SIZE else tuple(r * SIZE + s - SIZE for r in range(SIZE))
    for s in range(2 * SIZE)
)
PAPER_PUZZLES = tuple(range(0, 100, 5))  # the 20 puzzles the paper evaluates


# ---- the board ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fill:
    """Write `word` (five upper-case letters) into clue `slot` (0-4: h1-h5, 5-9: v1-v5)."""

    slot: int
    word: str

    def __str__(self) -> str:
        return f"{SLOTS[self.slot]}. {self.word}"


@dataclass(frozen=True)
class Board:
    """The clues, the 25 cells row by row (`_` for blank), and the clues filled by choice."""

    clues: tuple[str, ...]
    cells: str = BLANK * SIZE * SIZE
    chosen: frozenset[int] = field(default_factory=frozenset)

    def pattern(self, slot: int) -> str:
        """The letters of clue `slot`, `_` for blanks, e.g. `M_T_R`."""
        return "".join(self.cells[i] for i in CELLS[slot])

    def open_slots(self) -> list[int]:
        """The clues with at least one blank cell."""
        return [s for s in range(2 * SIZE) if BLANK in self.pattern(s)]

    def rows(self) -> list[str]:
        return [self.cells[r * SIZE : r * SIZE + SIZE] for r in range(SIZE)]


def fits(word: str, pattern: str) -> bool:
    """Whether `word` agrees with every letter of `pattern`."""
    return len(word) == len(pattern) and all(p == BLANK or p == w for w, p in zip(word, pattern))


def parse_grid(text: str) -> str:
    """25 cells from a grid written as letters and `_` (any separators); raises InputError otherwise."""
    cells = re.sub(r"[^A-Za-z_]", "", text).upper()
    if len(cells) != SIZE * SIZE:
        raise InputError(f"a 5x5 grid has 25 letters or _, got {len(cells)} in {text!r}")
    return cells


# ---- the word list --------------------------------------------------------------------------


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


@lru_cache(maxsize=1)
def english_words() -> WordList:
    """The five-letter words of Webster's 2nd and GCIDE, from the `english-words` package."""
    try:
        from english_words import get_english_words_set
    except ImportError as error:
        raise InputError("the crossword word list needs the english-words package: pip install english-words") from error
    return WordList(get_english_words_set(["web2", "gcide"], alpha=True, lower=True))


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


# ---- puzzles and the gold grid (read only by `gold`) ----------------------------------------


@lru_cache(maxsize=1)
def _data() -> list[Any]:
    data: list[Any] = json.loads(files("tot.data").joinpath("mini0505.json").read_text(encoding="utf-8"))
    return data


def puzzle_count() -> int:
    return len(_data())


def _index(puzzle: str) -> int | None:
    text = puzzle.strip()
    if not (text.isascii() and text.isdigit()):  # int() refuses some digits isdigit() accepts: '²', '①'
        return None
    count = len(_data())
    if len(text.lstrip("0")) > len(str(count)) or int(text) >= count:
        raise InputError(f"there are {count} crosswords, numbered 0 to {count - 1}; got {text[:20]}")
    return int(text)


def load_clues(puzzle: str) -> tuple[str, ...]:
    """The 10 clues (h1-h5, v1-v5) of puzzle `puzzle`: an index into mini0505.json, or 10 clues separated by |."""
    index = _index(puzzle)
    if index is not None:
        return tuple(str(clue) for clue in _data()[index][0])
    clues = tuple(part.strip() for part in puzzle.split("|"))
    if len(clues) != 2 * SIZE or not all(clues):
        raise InputError(
            f"a crossword is a puzzle number (0-{len(_data()) - 1}) or 10 clues h1..h5, v1..v5 separated by |;"
            f" got {puzzle!r}"
        )
    return clues


def gold(puzzle: str) -> str:
    """The gold grid (25 letters, row by row) of puzzle number `puzzle`. For metrics and display only."""
    index = _index(puzzle)
    if index is None:
        raise InputError(f"only the numbered crosswords have a gold grid; got {puzzle!r}")
    return "".join(_data()[index][1]).upper()


# ---- the task -------------------------------------------------------------------------------


class MiniCrossword:
    """5x5 mini crosswords. The puzzle is a number into mini0505.json (or 10 clues separated by |)."""

    name = "crossword"
    preset = "crossword"  # the default configuration: the paper's DFS on this task's own evaluator

    def __init__(
        self,
        words: WordList | None = None,
        *,
        width: int = 8,
        cap: int = 300,
        propose: str = "sample",
        samples: int = 8,
        judge: bool = False,
        scale: float = 8.0,
        method: str = "bp",
        prior: float | None = None,
        rescore: float = 0.0,
        letters: int = 2,
    ) -> None:
        """`words`: the word list (default: `english_words()` for `method` "rank", else `dictionary()`).
        The rest configure `model_evaluator`: `method` "bp" (every dictionary word scored per clue,
        belief propagation over the crossings; `rescore` weighs the scores of a clue with at least
        `letters` known letters shown, 0 to skip them), "grid" (the same scores, arc consistency
        alone) or "rank" (the model's answers and the word list ranked per board); `prior` weighs
        word frequency (bp, grid; default 0 for bp, 0.5 for grid);
        `width` fills offered per board, `cap` the most word-list candidates scored per clue,
        `propose` (sample, paper, none) and `samples` the model's own answers, `judge` the
        sure/maybe/impossible pruning, `scale` how fast a board's value falls with its words' likelihood.
        """
        self._words = words
        self._show: Callable[[Any], None] | None = None
        if method not in ("bp", "grid", "rank"):
            raise InputError(f"the crossword method is bp, grid or rank, got {method!r}")
        self.options: dict[str, Any] = {"width": width, "cap": cap, "propose": propose, "samples": samples,
                                        "judge": judge, "scale": scale, "method": method, "prior": prior,
                                        "rescore": rescore, "letters": letters}

    @property
    def words(self) -> WordList:
        """The word list (loaded on first use)."""
        if self._words is None:
            self._words = english_words() if self.options["method"] == "rank" else dictionary()
        return self._words

    def initial(self, puzzle: str) -> Board:
        return Board(load_clues(puzzle))

    def watching(self, show: Callable[[Any], None] | None) -> None:
        """Call `show` with each board the search expands (the CLI draws it live); None stops."""
        self._show = show

    def expanding(self, board: Board) -> None:
        """Tell the watcher, if any, that `board` is being expanded."""
        if self._show is not None:
            self._show(board)

    def candidates(self, board: Board, slot: int) -> tuple[str, ...]:
        """The word-list words that fit clue `slot` on `board`."""
        return self.words.matches(board.pattern(slot))

    def actions(self, board: Board) -> list[Fill]:
        """The word-list fills of the most constrained open clue (fewest fitting words; ties: first clue).

        Branching on one clue at a time loses no grid: every complete grid fills that clue
        somehow. `result` also takes fits of words outside the list (the model's own).
        """
        self.expanding(board)
        open_slots = board.open_slots()
        if not open_slots:
            return []
        slot = min(open_slots, key=lambda s: (len(self.candidates(board, s)), s))
        return [Fill(slot, word) for word in self.candidates(board, slot)]

    def result(self, board: Board, action: Fill) -> Board:
        word = action.word.upper()
        if not (len(word) == SIZE and word.isascii() and word.isalpha()):
            raise ValueError(f"{action.word!r} is not a five-letter word")
        pattern = board.pattern(action.slot)
        if BLANK not in pattern or not fits(word, pattern):
            raise ValueError(f"{word} does not fit {SLOTS[action.slot]} = {pattern}")
        cells = list(board.cells)
        for cell, letter in zip(CELLS[action.slot], word):
            cells[cell] = letter
        return replace(board, cells="".join(cells), chosen=board.chosen | {action.slot})

    def unknown_words(self, board: Board) -> list[int]:
        """Complete clues whose word was not chosen and is not in the word list."""
        return [
            s
            for s in range(2 * SIZE)
            if s not in board.chosen and BLANK not in board.pattern(s) and board.pattern(s) not in self.words
        ]

    def is_goal(self, board: Board) -> bool:
        """A full grid whose every row and column is a chosen word or a word of the list (not checked against gold)."""
        return BLANK not in board.cells and not self.unknown_words(board)

    def is_terminal(self, board: Board) -> bool:
        return BLANK not in board.cells

    def key(self, board: Board) -> tuple[str, frozenset[int]]:
        return board.cells, board.chosen

    def describe(self, board: Board, action: Fill) -> str:
        return str(action)

    def render(self, board: Board) -> str:
        return "/".join(board.rows())

    def answer(self, start: Board, actions: Sequence[Fill]) -> Answer:
        board = start
        for action in actions:
            board = self.result(board, action)
        return self._verdict(board)

    def check(self, board: Board, text: str) -> Answer:
        """Whether a grid (25 letters, e.g. `AGEND MOTOR ...`) is made of words of the list (not graded)."""
        return self._verdict(replace(board, cells=parse_grid(text), chosen=frozenset()))

    def _verdict(self, board: Board) -> Answer:
        text = " ".join(board.rows())
        if BLANK in board.cells:
            return Answer(text, False, f"{board.cells.count(BLANK)} of 25 cells still blank")
        unknown = self.unknown_words(board)
        if unknown:
            names = ", ".join(f"{SLOTS[s]} {board.pattern(s)}" for s in unknown)
            return Answer(text, False, f"not in the word list: {names}")
        return Answer(text, True, "every row and column is a word (graded against the gold grid by metrics)")

    def final_board(self, puzzle: str, result: Any) -> Board:
        """The board a search ended on: its solution, else the end of its best path."""
        board = self.initial(puzzle)
        for thought in getattr(result, "path", ()):
            slot, _, word = thought.partition(". ")
            if slot in SLOTS and BLANK in board.pattern(SLOTS.index(slot)):
                board = self.result(board, Fill(SLOTS.index(slot), word))
        return board

    def metrics(self, puzzle: str, final: Any) -> dict[str, float]:
        return metrics(puzzle, final)

    def report(self, puzzle: str, result: Any) -> dict[str, Any]:
        """After a search: the grid it ended on (its solution, else its best board so far, `_` for blanks)
        and, for a numbered puzzle, the metrics against the gold grid."""
        board = self.final_board(puzzle, result)
        grid = " ".join(board.rows())
        return {"grid": grid} if _index(puzzle) is None else {"grid": grid, "metrics": metrics(puzzle, board)}

    def model_evaluator(self, model: Model | None, *, generator: str = "task", valuer: str = "task") -> Any:
        """This task's own evaluator (`generator`/`valuer` "task"), optionally mixed with `all` and `uniform`."""
        from tot.evaluators import AllActions, ThoughtEvaluator, UniformValuer

        if generator not in ("task", "all") or valuer not in ("task", "uniform"):
            raise InputError(
                f"the crossword takes --generator task or all and --evaluator task or uniform, got {generator} and {valuer}"
            )
        if model is None:
            raise InputError("the crossword evaluator needs a model")
        o = self.options
        if o["method"] != "rank":
            grid = (
                GridBeliefs(self, model, prior=o["prior"] or 0.0, rescore=o["rescore"], letters=o["letters"])
                if o["method"] == "bp"
                else GridScores(self, model, prior=0.5 if o["prior"] is None else o["prior"])
            )
            gen_grid: Any = GridThoughts(grid, width=o["width"]) if generator == "task" else AllActions(self)
            val_grid: Any = GridValue(grid, scale=o["scale"]) if valuer == "task" else UniformValuer()
            return ThoughtEvaluator(self, gen_grid, val_grid, model.meter)
        judge = ClueJudge(self, model, cap=o["cap"], propose=o["propose"], samples=o["samples"], judge=o["judge"])
        gen: Any = CrosswordThoughts(judge, width=o["width"]) if generator == "task" else AllActions(self)
        val: Any = CrosswordValue(judge, scale=o["scale"]) if valuer == "task" else UniformValuer()
        return ThoughtEvaluator(self, gen, val, model.meter)


# ---- metrics (the only reader of the gold grid, with the final report) ----------------------


def metrics(puzzle: str, final: Any) -> dict[str, float]:
    """Letters, words and whole-game success of `final` against the gold grid of puzzle number `puzzle`.

    `final` is a Board, an Answer, a grid text (25 letters or `_`), a search Result, or None (an empty grid).
    """
    cells = final_cells(puzzle, final)
    truth = gold(puzzle)
    letters = sum(a == b for a, b in zip(cells, truth))
    words = sum(all(cells[i] == truth[i] for i in CELLS[s]) for s in range(2 * SIZE))
    return {"letters": letters / (SIZE * SIZE), "words": words / (2 * SIZE), "game": float(cells == truth)}


def final_cells(puzzle: str, final: Any) -> str:
    """The 25 cells of whatever a search ended with (see `metrics`)."""
    if final is None:
        return BLANK * SIZE * SIZE
    if isinstance(final, Board):
        return final.cells
    if isinstance(final, Answer):
        return parse_grid(final.text)
    if isinstance(final, str):
        return parse_grid(final) if final.strip() else BLANK * SIZE * SIZE
    if hasattr(final, "path"):
        return MiniCrossword().final_board(puzzle, final).cells
    raise InputError(f"cannot grade a {type(final).__name__} as a crossword grid")


# ---- prompts (ours, in the paper's formats) -------------------------------------------------

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

PROPOSE_PROMPT = """Fill a 5x5 mini crossword: rows h1-h5 and columns v1-v5 are five-letter words, _ is an empty square.
List answers for the unfilled clues that fit the letters shown, one per line with your confidence (certain, high, medium or low), like "h1. apple (medium)". Say certain only when you are sure. You may list more than one answer for a clue.

Board:
_ _ _ _ _
_ _ _ _ _
O C E A N
_ _ _ _ _
_ _ _ _ _

Unfilled:
h1. Rises from a fire: _ _ _ _ _
v3. A small bird's home: _ _ E _ _
v5. Flat grassland: _ _ N _ _

Filled:
h3. A large body of salt water: OCEAN

Answers:
h1. smoke (high)
v3. nests (medium)
v5. plain (low)

Board:
{board}

Unfilled:
{unfilled}

Filled:
{filled}

Answers:
"""

JUDGE_PROMPT = """Can a five-letter word with these letters answer the clue? Judge: sure, maybe or impossible.
Clue: A large body of salt water
Letters: O _ E _ N
Verdict: sure
Clue: Not dead; living
Letters: Z _ _ Q _
Verdict: impossible
Clue: To cut into small cubes
Letters: _ I _ E _
Verdict: maybe
Clue: Rises from a fire
Letters: S M _ X _
Verdict: impossible
Clue: {clue}
Letters: {letters}
Verdict:"""

JUDGE_LABELS = (" sure", " maybe", " impossible")
CONFIDENCE = {"certain": 2.0, "high": 1.5, "medium": 1.0, "low": 0.5}  # log-likelihood bonus, in nats
ECHO_PENALTY = 6.0  # nats off a word of the clue itself (SALON for "A salon; a hall"): 1 of the 1560 answers is one
_PROPOSAL = re.compile(r"^\s*([hv][1-5])\s*[.:)]?\s*([A-Za-z]{5})\b[^(]*(?:\((certain|high|medium|low)\))?", re.I)


def spaced(pattern: str) -> str:
    return " ".join(pattern)


def propose_prompt(board: Board) -> str:
    """The paper's propose prompt: the board, the unfilled clues with their letters, the filled ones."""
    unfilled = [f"{SLOTS[s]}. {board.clues[s]}: {spaced(board.pattern(s))}" for s in board.open_slots()]
    filled = [f"{SLOTS[s]}. {board.clues[s]}: {board.pattern(s)}" for s in sorted(board.chosen)]
    return PROPOSE_PROMPT.format(
        board="\n".join(spaced(row) for row in board.rows()),
        unfilled="\n".join(unfilled) or "(none)",
        filled="\n".join(filled) or "(none)",
    )


def parse_proposals(board: Board, text: str) -> list[tuple[int, str, str]]:
    """(slot, word, confidence) for each line `h1. apple (medium)` that fits an open clue of `board`."""
    found: list[tuple[int, str, str]] = []
    for line in text.splitlines():
        match = _PROPOSAL.match(line)
        if match is None:
            continue
        slot, word = SLOTS.index(match.group(1).lower()), match.group(2).upper()
        confidence = (match.group(3) or "low").lower()
        pattern = board.pattern(slot)
        if BLANK in pattern and fits(word, pattern) and (slot, word, confidence) not in found:
            found.append((slot, word, confidence))
    return found


# ---- the model's judgements, cached ---------------------------------------------------------


class ClueJudge:
    """What the model says about clues: answer log-likelihoods, proposals, impossibility. All cached.

    `cap`: a clue's word-list candidates are scored only when at most `cap` words fit its
    letters (more, and only the model's proposals and words already scored compete).
    """

    def __init__(
        self,
        task: MiniCrossword,
        model: Model,
        *,
        cap: int = 300,
        propose: str = "sample",
        samples: int = 8,
        judge: bool = False,
        impossible: float = 0.9,
        propose_tokens: int = 96,
    ) -> None:
        if propose not in ("sample", "paper", "none"):
            raise InputError(f"propose must be sample, paper or none, got {propose!r}")
        if cap < 0 or samples <= 0:
            raise InputError(f"cap must be >= 0 and samples positive, got {cap} and {samples}")
        self.task, self.model, self.words = task, model, task.words
        self.cap, self.propose_mode, self.samples, self.judge_enabled = cap, propose, samples, judge
        self.impossible_threshold, self.propose_tokens = impossible, propose_tokens
        self.logprobs: dict[str, dict[str, float]] = {}  # clue -> word -> log P(word | clue)
        self.proposed: dict[str, dict[str, float]] = {}  # clue -> word -> confidence bonus
        self.asked: set[Any] = set()  # boards (paper prompt) or clues (samples) already asked
        self.verdicts: dict[tuple[str, str], float] = {}  # (clue, pattern) -> P(impossible)

    @property
    def meter(self) -> Meter:
        return self.model.meter

    def complete(self, board: Board, slot: int) -> bool:
        """Whether every word-list candidate of `slot` gets scored (few enough fit)."""
        return len(self.task.candidates(board, slot)) <= self.cap

    def candidates(self, board: Board, slot: int) -> set[str]:
        """The words that compete for `slot`: the model's fitting proposals, plus the word list when complete."""
        clue, pattern = board.clues[slot], board.pattern(slot)
        words = {w for w in self.proposed.get(clue, {}) if fits(w, pattern)}
        if self.complete(board, slot):
            words.update(self.task.candidates(board, slot))
        else:
            words.update(w for w in self.logprobs.get(clue, {}) if fits(w, pattern))
        return words

    def lp(self, clue: str, word: str) -> float:
        """log P(word | clue), less `ECHO_PENALTY` when the word is a word of the clue. The word must be scored."""
        echo = word in re.findall(r"[A-Z]+", clue.upper())
        return self.logprobs[clue][word] - (ECHO_PENALTY if echo else 0.0)

    def alive(self, board: Board, slot: int) -> bool:
        """Exact: some word of the list, or one the model proposed for this clue, fits `slot`."""
        pattern = board.pattern(slot)
        return bool(self.task.candidates(board, slot)) or any(
            fits(w, pattern) for w in self.proposed.get(board.clues[slot], {})
        )

    def score(self, wanted: dict[str, set[str]]) -> None:
        """Score every (clue, word) not scored yet: one batched call per clue."""
        for clue, words in wanted.items():
            known = self.logprobs.setdefault(clue, {})
            missing = sorted(w for w in words if w not in known)
            if missing:
                prompt = ANSWER_PROMPT.format(clue=clue)
                for word, lp in zip(missing, self.model.score_continuations(prompt, [" " + w.lower() for w in missing])):
                    known[word] = lp

    def score_slots(self, board: Board, pools: dict[int, set[str]]) -> None:
        """Score the candidate words `pools` of the clues of `board` (see `score`)."""
        wanted: dict[str, set[str]] = {}
        for slot, words in pools.items():
            wanted.setdefault(board.clues[slot], set()).update(words)
        self.score(wanted)

    def propose(self, board: Board, slots: Sequence[int]) -> None:
        """Ask the model for answers to the clues `slots` of `board`; remember them per clue.

        `sample`: `samples` completions of the answer prompt per clue (once per clue);
        `paper`: the paper's propose prompt, once per board, lines `h1. apple (medium)`.
        """
        if self.propose_mode == "sample":
            for slot in slots:
                clue = board.clues[slot]
                if clue in self.asked:
                    continue
                self.asked.add(clue)
                texts = self.model.sample(ANSWER_PROMPT.format(clue=clue), self.samples, max_tokens=4, temperature=1.0, stop=("\n",))
                # Kept whether or not they fit the letters now: a branch tried later may have fewer.
                self._count(texts, [(slot, w, "medium") for w in _sampled_words(texts, BLANK * SIZE)], board)
        elif self.propose_mode == "paper" and self.task.key(board) not in self.asked:
            self.asked.add(self.task.key(board))
            text = self.model.complete(propose_prompt(board), max_tokens=self.propose_tokens, temperature=0.0, stop=("\n\n",))
            self._count(text.splitlines(), parse_proposals(board, text), board)

    def _count(self, lines: Sequence[str], found: list[tuple[int, str, str]], board: Board) -> None:
        used = sum(1 for line in lines if line.strip())
        self.meter.proposal_lines += used
        self.meter.proposals_malformed += max(0, used - len(found))
        for slot, word, confidence in found:
            bonus = self.proposed.setdefault(board.clues[slot], {})
            bonus[word] = max(bonus.get(word, 0.0), CONFIDENCE[confidence])

    def p_impossible(self, clue: str, pattern: str) -> float:
        """The model's probability that no answer to `clue` fits `pattern` (the paper's sure/maybe/impossible)."""
        key = (clue, pattern)
        if key not in self.verdicts:
            prompt = JUDGE_PROMPT.format(clue=clue, letters=spaced(pattern))
            self.verdicts[key] = self.model.score_labels(prompt, list(JUDGE_LABELS))[2]
        return self.verdicts[key]


class CrosswordThoughts:
    """Candidate fills across the open clues, best first: the model's proposals and the word list, ranked by the model.

    A fill's score is log P(word | clue) plus its proposal's confidence bonus, normalised over
    the clue's candidates when they are complete (so a clue with one fitting word is a sure
    move), raw otherwise. The `width` best fills are returned, priors by softmax of the scores.
    """

    name = "task"

    def __init__(self, judge: ClueJudge, *, width: int = 8) -> None:
        if width <= 0:
            raise InputError(f"width must be positive, got {width}")
        self.judge, self.width = judge, width

    def __call__(self, board: Board) -> list[Candidate[Fill]]:
        judge = self.judge
        judge.task.expanding(board)
        open_slots = board.open_slots()
        incomplete = [s for s in open_slots if not judge.complete(board, s)]
        if incomplete:
            judge.propose(board, incomplete)
        pools = {s: judge.candidates(board, s) for s in open_slots}
        judge.score_slots(board, pools)
        scored: list[tuple[float, int, str]] = []
        for s, words in pools.items():
            if not words:
                continue
            clue = board.clues[s]
            bonus = judge.proposed.get(clue, {})
            raw = {w: judge.lp(clue, w) + bonus.get(w, 0.0) for w in words}
            norm = _logsumexp(raw.values()) if judge.complete(board, s) else 0.0
            scored.extend((lp - norm, s, w) for w, lp in raw.items())
        scored.sort(key=lambda item: (-item[0], item[1], item[2]))
        best = scored[: self.width]
        if not best:
            return []
        priors = normalise([score for score, _, _ in best])
        return [
            Candidate(Fill(s, w), f"{SLOTS[s]}. {w}", prior, _source(judge, board.clues[s], w))
            for (_, s, w), prior in zip(best, priors)
        ]


class CrosswordValue:
    """A board's value: 0 when a clue has no fitting word left (exact) or the model judges a clue impossible;
    else how likely the model finds the board's words, a geometric mean over clues mapped into (0.05, 1].

    Each chosen clue counts its word's log-likelihood; each other clue with few enough
    fitting words counts its best candidate's. `scale` (nats) sets how fast value falls.
    """

    name = "task"

    def __init__(self, judge: ClueJudge, *, scale: float = 8.0) -> None:
        self.judge, self.scale = judge, scale

    def __call__(self, board: Board) -> float:
        judge = self.judge
        for s in range(2 * SIZE):
            if s not in board.chosen and not judge.alive(board, s):
                return 0.0
        pools: dict[int, set[str]] = {}
        for s in range(2 * SIZE):
            pattern = board.pattern(s)
            if s in board.chosen or BLANK not in pattern:
                pools[s] = {pattern}
            elif pattern != BLANK * SIZE and judge.complete(board, s):
                pools[s] = judge.candidates(board, s)
        judge.score_slots(board, pools)
        logs = [max(judge.lp(board.clues[s], w) for w in words) for s, words in pools.items() if words]
        if judge.judge_enabled:
            for s in board.open_slots():
                pattern = board.pattern(s)
                if pattern != BLANK * SIZE and judge.p_impossible(board.clues[s], pattern) > judge.impossible_threshold:
                    return 0.0
        if not logs:
            return 0.5
        return 0.05 + 0.95 * math.exp(sum(logs) / len(logs) / self.scale)


def _source(judge: ClueJudge, clue: str, word: str) -> str:
    return "proposal" if word in judge.proposed.get(clue, {}) else "word list"


def _sampled_words(texts: Sequence[str], pattern: str) -> list[str]:
    """The distinct five-letter words that open sampled answers and fit `pattern`."""
    words: list[str] = []
    for text in texts:
        match = re.match(r"\s*([A-Za-z]{5})\b", text)
        if match is not None and fits(match.group(1).upper(), pattern) and match.group(1).upper() not in words:
            words.append(match.group(1).upper())
    return words


def _logsumexp(values: Iterable[float]) -> float:
    items = list(values)
    top = max(items)
    return top + math.log(sum(math.exp(v - top) for v in items))


# ---- the grid as a constraint problem over the whole dictionary -----------------------------

FREQUENCY_FLOOR = 1.0  # Zipf frequency of a dictionary word that wordfreq does not list
ZIPF_TOP = 8.0  # above every word's Zipf frequency, so the prior is never positive


class GridScores:
    """Every dictionary word scored for every clue, and the grid searched as a constraint problem.

    A word's score for a clue is log P(word | clue) after the answer prompts, averaged (the whole
    dictionary in one `score_many` call per clue and prompt, cached), plus `prior` times its Zipf
    frequency. A board's domains are, per clue, the dictionary words that fit its letters and,
    for every crossing clue, agree with some word of that clue's domain at the crossing cell
    (arc consistency, to a fixpoint). Its bound is the sum over clues of the best score in each domain.
    """

    def __init__(
        self,
        task: MiniCrossword,
        model: Model,
        *,
        prior: float = 0.5,
        expand: int = 62,
        prompts: Sequence[str] = (ANSWER_PROMPT,),
    ) -> None:
        import numpy as np

        if not prompts:
            raise InputError("the grid needs at least one answer prompt")
        self.np, self.task, self.model, self.prior, self.expand = np, task, model, prior, expand
        self.prompts = tuple(prompts)
        self.vocab = sorted(task.words.words)
        self.continuations = [" " + w.lower() for w in self.vocab]  # what the model scores after a prompt
        frequencies = word_frequencies()
        self.zipf = np.array([frequencies.get(w, FREQUENCY_FLOOR) for w in self.vocab])
        codes = np.frombuffer("".join(self.vocab).encode("ascii"), dtype=np.uint8).reshape(-1, SIZE) - ord("A")
        self.codes = codes.astype(np.intp)
        self.bits = (np.uint32(1) << codes.astype(np.uint32)).astype(np.uint32)
        self.scores: dict[str, Any] = {}  # clue -> score of every vocab word
        self._domains: dict[str, list[Any] | None] = {}  # board cells -> domains (None: dead)

    @property
    def meter(self) -> Meter:
        return self.model.meter

    def clue_scores(self, clue: str) -> Any:
        """The score of every dictionary word for `clue`: its mean log-probability over the answer
        prompts (one model call per prompt the first time)."""
        found = self.scores.get(clue)
        if found is None:
            from tot.models import score_many

            words = self.continuations
            lps: Any = self.np.mean(
                [score_many(self.model, prompt.format(clue=clue), words, expand=self.expand) for prompt in self.prompts],
                axis=0,
            )
            for word in set(re.findall(r"[A-Z]+", clue.upper())):
                position = self._position(word)
                if position is not None:
                    lps[position] -= ECHO_PENALTY
            found = lps + self.prior * (self.zipf - ZIPF_TOP)
            self.scores[clue] = found
        return found

    def _position(self, word: str) -> int | None:
        import bisect

        i = bisect.bisect_left(self.vocab, word)
        return i if i < len(self.vocab) and self.vocab[i] == word else None

    def _fitting(self, pattern: str) -> Any:
        np = self.np
        mask = np.ones(len(self.vocab), dtype=bool)
        for position, letter in enumerate(pattern):
            if letter != BLANK:
                mask &= self.codes[:, position] == ord(letter) - ord("A")
        return np.flatnonzero(mask)

    def domains(self, board: Board) -> list[Any] | None:
        """Each clue's arc-consistent dictionary words (index arrays), or None when some clue has none."""
        if board.cells in self._domains:
            return self._domains[board.cells]
        np = self.np
        domains = [self._fitting(board.pattern(s)) for s in range(2 * SIZE)]
        changed = True
        while changed and all(len(d) for d in domains):
            changed = False
            allowed = np.zeros((SIZE, SIZE), dtype=np.uint32)  # (row, column) -> letters both clues allow
            for r in range(SIZE):
                for c in range(SIZE):
                    allowed[r, c] = np.bitwise_or.reduce(self.bits[domains[r], c]) & np.bitwise_or.reduce(
                        self.bits[domains[SIZE + c], r]
                    )
            for s in range(2 * SIZE):
                cells = allowed[s] if s < SIZE else allowed[:, s - SIZE]
                keep = np.all(self.bits[domains[s]] & cells[None, :], axis=1)
                if not keep.all():
                    domains[s] = domains[s][keep]
                    changed = True
        result = domains if all(len(d) for d in domains) else None
        if len(self._domains) < 100_000:
            self._domains[board.cells] = result
        return result

    def total(self, board: Board) -> float | None:
        """The best total score any completion of `board` could have (None: no completion fits)."""
        domains = self.domains(board)
        if domains is None:
            return None
        return float(sum(self.clue_scores(board.clues[s])[d].max() for s, d in enumerate(domains)))

    def choice(self, board: Board) -> tuple[int, Any, Any] | None:
        """The open clue to branch on (fewest words left), its words (indices) and their scores; None: none."""
        domains = self.domains(board)
        open_slots = board.open_slots()
        if domains is None or not open_slots:
            return None
        slot = min(open_slots, key=lambda s: (len(domains[s]), s))
        return slot, domains[slot], self.clue_scores(board.clues[slot])[domains[slot]]


class GridThoughts:
    """Fills for the open clue that the grid (`GridScores` or `GridBeliefs`) branches on: its `width` best words."""

    name = "task"

    def __init__(self, grid: GridScores, *, width: int = 8) -> None:
        if width <= 0:
            raise InputError(f"width must be positive, got {width}")
        self.grid, self.width = grid, width

    def __call__(self, board: Board) -> list[Candidate[Fill]]:
        grid = self.grid
        grid.task.expanding(board)
        picked = grid.choice(board)
        if picked is None:
            return []
        slot, domain, scores = picked
        order = grid.np.argsort(-scores, kind="stable")[: self.width]
        best = [(float(scores[i]), grid.vocab[int(domain[i])]) for i in order]
        priors = normalise([score for score, _ in best])
        return [Candidate(Fill(slot, w), f"{SLOTS[slot]}. {w}", prior, "dictionary") for (_, w), prior in zip(best, priors)]


class GridValue:
    """A board's value: 0 when arc consistency empties a clue, else the grid's `total` (mean per clue) mapped into (0.05, 1]."""

    name = "task"

    def __init__(self, grid: GridScores, *, scale: float = 8.0) -> None:
        self.grid, self.scale = grid, scale

    def __call__(self, board: Board) -> float:
        total = self.grid.total(board)
        if total is None:
            return 0.0
        return 0.05 + 0.95 * math.exp(min(0.0, total / (2 * SIZE)) / self.scale)


# ---- belief propagation over the grid's letters, re-scoring with the letters shown -----------

PATTERN_PROMPT = """Crossword answers: each clue is answered by one five-letter English word that fits the letters shown (_ is a letter not known yet).
Clue: A large body of salt water
Letters: O _ E _ N
Answer: ocean
Clue: Not dead; living
Letters: _ L _ _ E
Answer: alive
Clue: A tree's outer layer; a dog's sounds
Letters: B _ R _ _
Answer: barks
Clue: To cut into small cubes
Letters: _ I _ E S
Answer: dices
Clue: {clue}
Letters: {letters}
Answer:"""


class GridBeliefs(GridScores):
    """The grid's words under loopy belief propagation, with clues re-scored once letters are known.

    Clue scores are averaged over two answer prompts and divided by `temperature` (both measured
    better than one prompt at 1, on the paper's 20 puzzles and on 20 others: benchmarks/RESULTS.md).
    A clue whose pattern shows at least `letters` known letters is scored again over the words
    that fit it, after a prompt that shows the pattern (one `score_many` call per clue and
    pattern, cached); its words' scores become the clue-only score plus `rescore` times that
    one. Belief propagation then passes, at every cell, the letter distribution of one
    crossing clue's words to the other (`iterations` rounds, damped by `damping`), over the
    arc-consistent domains of `GridScores.domains`. A board's beliefs are each clue's
    distribution over its domain; its `log_z` is the Bethe estimate of the log of the summed
    exp(total score) of the grids that complete it.
    """

    def __init__(
        self,
        task: MiniCrossword,
        model: Model,
        *,
        prior: float = 0.0,
        rescore: float = 0.0,
        letters: int = 2,
        iterations: int = 30,
        damping: float = 0.5,
        temperature: float = 0.75,
        expand: int = 62,
        prompts: Sequence[str] = (ANSWER_PROMPT, CLUE_LIST_PROMPT),
    ) -> None:
        super().__init__(task, model, prior=prior, expand=expand, prompts=prompts)
        if temperature <= 0:
            raise InputError(f"temperature must be positive, got {temperature}")
        self.temperature = temperature
        if not 0.0 <= damping < 1.0:
            raise InputError(f"damping must be in [0, 1), got {damping}")
        if iterations < 0 or letters < 1:
            raise InputError(f"iterations must be >= 0 and letters >= 1, got {iterations} and {letters}")
        self.rescore, self.letters, self.iterations, self.damping = rescore, letters, iterations, damping
        self.pattern_scores: dict[tuple[str, str], dict[int, float]] = {}
        self._beliefs: dict[tuple[tuple[str, ...], str], tuple[list[Any], list[Any], float] | None] = {}

    def unary(self, board: Board, slot: int, domain: Any) -> Any:
        """Scores of the words `domain` (indices) for clue `slot` of `board`, re-scored for its pattern."""
        clue, pattern = board.clues[slot], board.pattern(slot)
        base = self.clue_scores(clue)[domain] / self.temperature
        known = SIZE - pattern.count(BLANK)
        if self.rescore == 0.0 or known < self.letters or known == SIZE:
            return base
        scored = self.pattern_scores.get((clue, pattern))
        if scored is None:
            from tot.models import score_many

            fitting = self._fitting(pattern)
            prompt = PATTERN_PROMPT.format(clue=clue, letters=spaced(pattern))
            lps = score_many(self.model, prompt, [self.continuations[i] for i in fitting], expand=self.expand)
            scored = dict(zip(fitting.tolist(), lps))
            self.pattern_scores[(clue, pattern)] = scored
        extra = self.np.array([scored[i] for i in domain.tolist()])
        return base + self.rescore * extra / self.temperature

    def beliefs(self, board: Board) -> tuple[list[Any], list[Any], float] | None:
        """Per clue, its domain (word indices) and their log-beliefs; and `log_z`. None: a clue has no word left."""
        key = (board.clues, board.cells)
        if key in self._beliefs:
            return self._beliefs[key]
        domains = self.domains(board)
        if domains is None:
            return None
        np = self.np
        unaries = [self.unary(board, s, d) for s, d in enumerate(domains)]
        codes = [self.codes[d] for d in domains]
        # inbox[s, p]: the log-distribution over 26 letters that the clue crossing s at its position p sends
        inbox = np.zeros((2 * SIZE, SIZE, 26))
        for _ in range(self.iterations):
            _, outbox = _send(np, unaries, codes, inbox)
            inbox = self.damping * inbox + (1.0 - self.damping) * np.maximum(_crossed(np, outbox), -50.0)
        logbeliefs, outbox = _send(np, unaries, codes, inbox)
        # Bethe estimate of log Z, the log of the summed exp(total score) of the grids that complete the
        # board: each clue's normaliser, less each cell's (the agreement of its two clues' messages)
        log_z = sum(_log_total(np, lb) for lb in logbeliefs)
        logbeliefs = [lb - _log_total(np, lb) for lb in logbeliefs]
        crossed = _crossed(np, outbox)
        for r in range(SIZE):
            for c in range(SIZE):
                log_z -= _log_total(np, outbox[r, c] + crossed[r, c])
        found = (domains, logbeliefs, float(log_z))
        if len(self._beliefs) < 100_000:
            self._beliefs[key] = found
        return found

    def total(self, board: Board) -> float | None:
        """0 for a board that arc consistency keeps alive, None for a dead one: the beliefs alone order
        the fills (ranking them by `log_z` instead measured worse, benchmarks/RESULTS.md), so a child
        is valued without running belief propagation on it."""
        return None if self.domains(board) is None else 0.0

    def choice(self, board: Board) -> tuple[int, Any, Any] | None:
        """The open clue whose best word is most believed, its words (indices) and their log-beliefs; None: none."""
        found = self.beliefs(board)
        open_slots = board.open_slots()
        if found is None or not open_slots:
            return None
        domains, logbeliefs, _ = found
        slot = max(open_slots, key=lambda s: (float(logbeliefs[s].max()), -len(domains[s]), -s))
        return slot, domains[slot], logbeliefs[slot]


def _send(np: Any, unaries: list[Any], codes: list[Any], inbox: Any) -> tuple[list[Any], Any]:
    """One round of belief propagation: each clue's unnormalised log-beliefs and, per position, the
    log-distribution of its letters there without what the crossing clue sent (normalised)."""
    logbeliefs, outbox = [], np.empty_like(inbox)
    for s, (unary, code) in enumerate(zip(unaries, codes)):
        logb = unary + inbox[s][np.arange(SIZE), code].sum(axis=1)
        weights = np.exp(logb - logb.max())
        for p in range(SIZE):
            mass = np.bincount(code[:, p], weights=weights, minlength=26)
            with np.errstate(divide="ignore"):
                out = np.where(mass > 0, np.log(mass) - inbox[s, p], -np.inf)
            outbox[s, p] = out - _log_total(np, out)
        logbeliefs.append(logb)
    return logbeliefs, outbox


def _crossed(np: Any, outbox: Any) -> Any:
    """What each clue position hears: row r's position c is column c's position r, and back."""
    crossed = np.empty_like(outbox)
    crossed[:SIZE] = outbox[SIZE:].transpose(1, 0, 2)
    crossed[SIZE:] = outbox[:SIZE].transpose(1, 0, 2)
    return crossed


def _log_total(np: Any, values: Any) -> float:
    top = float(values.max())
    return top + float(np.log(np.exp(values - top).sum()))
