"""The task: a mini crossword as a search problem (fill one clue at a time), its answers, and its metrics.

A complete grid whose rows and columns are all dictionary words is a goal: it is complete and
consistent, not known to be right. `answer` grades the grid a search ends with against the gold
grid, where the puzzle has one (a numbered puzzle): it is verified, and the search solved, only
when it is the gold grid. The search and its evaluator never read the gold grid.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from tot.core import Answer
from tot.errors import InputError
from tot.models import Model
from tot.tasks.crosswords.board import BLANK, SIZE, SLOTS, Board, Fill, fits, parse_grid
from tot.tasks.crosswords.dictionary import WordList, dictionary, dictionary_with
from tot.tasks.crosswords.memory import RECALL, ClueMemory, check_recall, default_memory, read_memory
from tot.tasks.crosswords.probe import PROBE_WEIGHT
from tot.tasks.crosswords.puzzles import empty, gold, grade, load_clues, puzzle_index


class MiniCrossword:
    """5x5 mini crosswords. The puzzle is a number into mini0505.json (or 10 clues separated by |)."""

    name = "crossword"
    preset = "crossword"  # the default configuration: depth-first in belief order on this task's evaluator (tot.api.PRESETS)

    def __init__(
        self,
        words: WordList | None = None,
        *,
        width: int = 8,
        scale: float = 8.0,
        temperature: float = 1.0,
        ranker: Any = None,
        reverse: float = 1.0,
        reverse_top: int = 20,
        reverse_quantile: float = 0.5,
        probe: float = PROBE_WEIGHT,
        free: int = 0,
        memory: ClueMemory | str | os.PathLike[str] | None = None,
        recall: float = RECALL,
    ) -> None:
        """`words`: the dictionary (default `dictionary()` and the memory's answers). The rest configure
        `model_evaluator`: `width` fills offered per board, `scale` how a board's value falls with its bound (see
        `tot.tasks.crosswords.search.GridBound`), `temperature` what belief propagation divides clue
        scores by, `ranker` the clue re-ranker (a `scoring.Ranker`; default the shipped weights), `reverse` the
        weight of the reverse channel in the objective (0: forward scores only), `reverse_top` how many words per
        clue it is asked about first, `reverse_quantile` what the others get (see `reverse.CheckedScorer`), `probe` the
        weight of the hidden-state probe beside it (`probe.Probe`; used where the model is the one it was fitted on
        and gives hidden states; 0: off), `free` how
        many of the first grid's least likely clues are each left free to their crossings in a search of their own,
        for answers the dictionary lacks (see `search.GradingEvaluator.variants`; 0, the default: none; 2 gained
        on the training puzzles, not on the evaluation sets: benchmarks/RESULTS.md). `memory`: the answers of
        solved puzzles (a `memory.ClueMemory`, or a memory file's path; default the 60 training puzzles'), offered
        first for a clue it holds and mixed into the clue scores with weight `recall` (0: no memory at all)."""
        numbers = {"width": width, "scale": scale, "temperature": temperature, "reverse": reverse,
                   "reverse_top": reverse_top, "reverse_quantile": reverse_quantile, "probe": probe, "free": free,
                   "recall": recall}
        for key, value in numbers.items():  # options may come from the command line (`--task-set`) as any scalar
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError(f"crossword option {key} must be a number, got {value!r}")
        if words is not None and not isinstance(words, WordList):
            raise InputError(f"crossword option words must be a WordList, got {type(words).__name__}")
        if isinstance(memory, (str, os.PathLike)):
            memory = read_memory(memory)
        if memory is not None and not isinstance(memory, ClueMemory):
            raise InputError(f"crossword option memory must be a ClueMemory or a memory file, got {type(memory).__name__}")
        if width <= 0:
            raise InputError(f"width must be positive, got {width}")
        if probe < 0:
            raise InputError(f"probe must be >= 0, got {probe}")
        if free < 0:
            raise InputError(f"free must be >= 0, got {free}")
        check_recall(recall)
        self._words = words
        self._memory = memory
        self._recalled: dict[tuple[str, str], tuple[str, ...]] = {}
        self._lexicon: Any = None
        self._scorer: Any = None  # the clue scores of the last evaluator made (for the diagnostic in `metrics`)
        self._show: Callable[[Any], None] | None = None
        self.options: dict[str, Any] = {"width": width, "scale": scale, "temperature": temperature, "ranker": ranker,
                                        "reverse": reverse, "reverse_top": reverse_top,
                                        "reverse_quantile": reverse_quantile, "probe": probe, "free": free,
                                        "recall": recall}

    @property
    def words(self) -> WordList:
        """The dictionary (loaded on first use), with the memory's answers (`memory`)."""
        if self._words is None:
            memory = self.memory
            self._words = dictionary() if memory is None else dictionary_with(memory.words())
        return self._words

    @property
    def memory(self) -> ClueMemory | None:
        """The clue memory in use (loaded on first use); None when `recall` is 0."""
        if self.options["recall"] <= 0:
            return None
        if self._memory is None:
            self._memory = default_memory()
        return self._memory

    @property
    def lexicon(self) -> Any:
        """The dictionary as arrays (`tot.tasks.crosswords.propagation.Lexicon`), made on first use."""
        if self._lexicon is None:
            from tot.tasks.crosswords.propagation import Lexicon

            self._lexicon = Lexicon(self.words.words)
        return self._lexicon

    def initial(self, puzzle: str) -> Board:
        return Board(load_clues(puzzle), number=puzzle_index(puzzle))

    def watching(self, show: Callable[[Any], None] | None) -> None:
        """Call `show` with each board the search expands (the CLI draws it live); None stops."""
        self._show = show

    def expanding(self, board: Board) -> None:
        """Tell the watcher, if any, that `board` is being expanded."""
        if self._show is not None:
            self._show(board)

    def candidates(self, board: Board, slot: int) -> tuple[str, ...]:
        """The dictionary words that fit clue `slot` on `board`: the memory's answers to its clue first (most
        often given first), then the others in alphabetical order."""
        pattern = board.pattern(slot)
        memory = self.memory
        if memory is None:
            return self.words.matches(pattern)
        key = (board.clues[slot], pattern)
        found = self._recalled.get(key)
        if found is None:
            fitting = self.words.matches(pattern)
            first = [w for w in memory.recall(board.clues[slot]) if fits(w, pattern) and w in self.words]
            found = tuple(first) + tuple(w for w in fitting if w not in first) if first else fitting
            if len(self._recalled) < 20_000:
                self._recalled[key] = found
        return found

    def actions(self, board: Board) -> list[Fill]:
        """The dictionary fills of the most constrained open clue (fewest fitting words; ties: first clue).

        Branching on one clue at a time loses no grid: every complete grid fills that clue somehow.
        """
        self.expanding(board)
        open_slots = board.open_slots()
        if not open_slots:
            return []
        slot = min(open_slots, key=lambda s: (len(self.words.matches(board.pattern(s))), s))  # the memory's order later
        return [Fill(slot, word) for word in self.candidates(board, slot)]

    def result(self, board: Board, action: Fill) -> Board:
        return board.fill(action.slot, action.word)

    def unknown_words(self, board: Board) -> list[int]:
        """Complete clues whose word is not in the dictionary (but the free clue's)."""
        return [s for s in range(2 * SIZE)
                if s != board.free and BLANK not in board.pattern(s) and board.pattern(s) not in self.words]

    def is_goal(self, board: Board) -> bool:
        """A complete grid whose every row and column is a dictionary word, but the free clue's (consistent; not
        checked against gold)."""
        return BLANK not in board.cells and not self.unknown_words(board)

    def is_terminal(self, board: Board) -> bool:
        return BLANK not in board.cells

    def key(self, board: Board) -> tuple[str, frozenset[int], int | None]:
        return board.cells, board.chosen, board.free

    def describe(self, board: Board, action: Fill) -> str:
        return str(action)

    def render(self, board: Board) -> str:
        return "/".join(board.rows())

    def answer(self, start: Board, actions: Sequence[Fill]) -> Answer:
        """The grid `actions` fill, graded (after a search) against the gold grid when the puzzle has one."""
        board = start
        for action in actions:
            board = self.result(board, action)
        return self.verdict(board, start.number)

    def check(self, board: Board, text: str) -> Answer:
        """A grid (25 letters, e.g. `AGEND MOTOR ...`) graded: correct only when it is the gold grid."""
        return self.verdict(replace(board, cells=parse_grid(text), chosen=frozenset()), board.number)

    def verdict(self, board: Board, number: int | None) -> Answer:
        """Whether `board` is complete, made of dictionary words (but its free clue's), and (puzzle `number`) the
        gold grid: the gold grid is right even where a word of it is not in the dictionary."""
        text = " ".join(board.rows())
        if BLANK in board.cells:
            return Answer(text, False, f"{board.cells.count(BLANK)} of 25 cells still blank")
        graded = grade(board.cells, gold(str(number))) if number is not None else None
        if graded is not None and graded["game"]:
            return Answer(text, True, "the gold grid")
        unknown = self.unknown_words(board)
        if unknown:
            names = ", ".join(f"{SLOTS[s]} {board.pattern(s)}" for s in unknown)
            return Answer(text, False, f"not in the dictionary: {names}")
        consistent = "complete and consistent (every row and column is a dictionary word)"
        free = board.free
        if free is not None and board.pattern(free) not in self.words:
            consistent = (f"complete and consistent (every row and column is a dictionary word but {SLOTS[free]} "
                          f"{board.pattern(free)}, left to its crossings)")
        if graded is None:
            return Answer(text, False, f"{consistent}; not verified: a puzzle given as clues has no gold grid")
        return Answer(text, False, f"{consistent}, but not the gold grid: {graded['letters']:.0%} of letters and "
                                   f"{graded['words']:.0%} of words right")

    def final_board(self, puzzle: str, result: Any) -> Board:
        """The board a search ended on: its answer, else the end of its best path."""
        board = self.initial(puzzle)
        for thought in getattr(result, "path", ()):
            slot, _, word = thought.partition(". ")
            if slot in SLOTS and BLANK in board.pattern(SLOTS.index(slot)):
                board = self.result(board, Fill(SLOTS.index(slot), word))
        return board

    def metrics(self, puzzle: str, final: Any) -> dict[str, float]:
        """`metrics`; and, once this task's evaluator has scored the puzzle's clues, the objective's diagnostic:
        whether it ranks the gold grid above the grid graded (`gold_wins`: 1; also when that is incomplete), below it
        (`found_wins`), or a gold word is not in the dictionary (`gold_missing`); all 0 for the gold grid itself."""
        graded = metrics(puzzle, final)
        if self._scorer is not None:
            graded.update(self.diagnose(puzzle, final_cells(puzzle, final)))
        return graded

    def diagnose(self, puzzle: str, cells: str) -> dict[str, float]:
        """The objective's verdict on the gold grid of `puzzle` against the grid `cells` (see `metrics`); {} when
        the evaluator has not scored this puzzle's clues."""
        clues, truth = load_clues(puzzle), gold(puzzle)
        scorer = self._scorer
        if scorer is None or any(scorer.cached(clue) is None for clue in clues):
            return {}
        gold_words = Board(clues, truth).words()
        verdict = {"gold_wins": 0.0, "found_wins": 0.0, "gold_missing": 0.0}
        if cells == truth:
            return verdict
        if any(word not in self.words for word in gold_words):
            verdict["gold_missing"] = 1.0
            return verdict
        gold_total = scorer.total(clues, gold_words)
        found_total = scorer.total(clues, Board(clues, cells).words()) if BLANK not in cells else None
        if gold_total is None:
            return {}
        verdict["gold_wins" if found_total is None or gold_total > found_total else "found_wins"] = 1.0
        return verdict

    def report(self, puzzle: str, result: Any) -> dict[str, Any]:
        """After a search: the grid it ended on (its answer, else its best board so far, `_` for blanks),
        for a numbered puzzle the metrics against the gold grid, and why the probe was off (`probe_off`), if it was."""
        board = self.final_board(puzzle, result)
        found: dict[str, Any] = {"grid": " ".join(board.rows())}
        if puzzle_index(puzzle) is not None:
            found["metrics"] = metrics(puzzle, board)
        if off := self.probe_off():
            found["probe_off"] = off
        return found

    def forget_evaluator(self) -> None:
        """Forget the clue scores of the last evaluator made here (`tot.api.make_evaluator` calls this before it
        makes any evaluator), so a later search with another evaluator gets no diagnostic from them."""
        self._scorer = None

    def probe_off(self) -> str:
        """Why the last search ran without the hidden-state probe though it was asked for (another model, or a
        backend without hidden states, e.g. a server); "" when it ran with it or was not asked for."""
        return str(getattr(self._scorer, "probe_off", ""))

    def prompts(self) -> tuple[str, ...]:
        """The answer prompts whose scores the clue re-ranker reads (keys of `scoring.PROMPTS`)."""
        from tot.tasks.crosswords.scoring import default_ranker, prompts_used

        return prompts_used((self.options["ranker"] or default_ranker()).names)

    def model_evaluator(self, model: Model | None, *, generator: str = "task", valuer: str = "task") -> Any:
        """This task's own evaluator (`generator`/`valuer` "task"), optionally mixed with `all` and `uniform`:
        see `tot.tasks.crosswords.search`."""
        from tot.tasks.crosswords.probe import default_probe
        from tot.tasks.crosswords.reverse import CheckedScorer
        from tot.tasks.crosswords.scoring import ClueScorer
        from tot.tasks.crosswords.search import make_evaluator

        if generator not in ("task", "all") or valuer not in ("task", "uniform"):
            raise InputError(
                f"the crossword takes --generator task or all and --evaluator task or uniform, got {generator} and {valuer}"
            )
        needs_model = "task" in (generator, valuer)
        if needs_model and model is None:
            raise InputError("the crossword evaluator needs a model")
        o = self.options
        scorer: Any = None
        if needs_model and model is not None:
            scorer = ClueScorer(model, self.lexicon, ranker=o["ranker"], memory=self.memory, recall=o["recall"])
            if o["reverse"] > 0:
                probe = default_probe() if o["probe"] > 0 else None
                fitted = probe is not None and probe.model == model.name  # fitted on this model's hidden states
                scorer = CheckedScorer(scorer, model, weight=o["reverse"], top=o["reverse_top"],
                                       quantile=o["reverse_quantile"], probe=probe,
                                       probe_weight=o["probe"] if fitted else 0.0)
                if probe is not None and not fitted:
                    scorer.probe_off = f"the probe was fitted on {probe.model}, not on {model.name}"
        self._scorer = scorer
        return make_evaluator(self, scorer, generator=generator, valuer=valuer, width=o["width"], scale=o["scale"],
                              temperature=o["temperature"], free=o["free"])


def metrics(puzzle: str, final: Any) -> dict[str, float]:
    """Letters, words and whole-game success of `final` against the gold grid of puzzle number `puzzle`.

    `final` is a Board, an Answer, a grid text (25 letters or `_`), a search Result, or None (an empty grid).
    """
    return grade(final_cells(puzzle, final), gold(puzzle))


def final_cells(puzzle: str, final: Any) -> str:
    """The 25 cells of whatever a search ended with (see `metrics`)."""
    if final is None:
        return empty()
    if isinstance(final, Board):
        return final.cells
    if isinstance(final, Answer):
        return parse_grid(final.text)
    if isinstance(final, str):
        return parse_grid(final) if final.strip() else empty()
    if hasattr(final, "path"):
        return MiniCrossword().final_board(puzzle, final).cells
    raise InputError(f"cannot grade a {type(final).__name__} as a crossword grid")
