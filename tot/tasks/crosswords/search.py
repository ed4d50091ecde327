"""The crossword's own evaluator: thoughts in the order belief propagation ranks them, values that bound grids.

- Thoughts (`BeliefThoughts`): on a board, belief propagation over the arc-consistent domains (clue
  scores from `ClueScorer`) picks the open clue whose best word is most believed; its `width` most
  believed words are the thoughts, most believed first.
- Clue scores: forward (`scoring.ClueScorer`), or with the reverse channel (`reverse.CheckedScorer`), whose
  closer look at a complete grid `GradingEvaluator.refine` asks for.
- Values (`GridBound`): a board's bound is the best total score any grid completing it could have, the
  sum over clues of the best score in each clue's domain; for a complete grid, its own total (the sum of
  its ten words' scores). Mapped into (0.05, 1]; 0 for a dead board. So a search can compare complete
  grids (`tot.strategies.refine` keeps the best of its rounds), and an anytime depth-first search
  (`dfs(anytime=True)`) can prune every board that cannot beat the best grid found (branch and bound).
- Variants (`GradingEvaluator.variants`): once the rounds converge, the puzzle again with one of the grid's
  least likely clues left free to its crossings, for an answer the dictionary lacks (a free clue's word
  scores as `scoring.ClueScorer.unlisted` says).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from tot.core import Candidate
from tot.errors import InputError
from tot.evaluators import ThoughtEvaluator
from tot.models import normalise
from tot.tasks.crosswords.board import BLANK, SIZE, SLOTS, Board, Fill
from tot.tasks.crosswords.propagation import Array, Lexicon, beliefs
from tot.tasks.crosswords.reverse import CheckedScorer
from tot.tasks.crosswords.scoring import ClueScorer

Scorer = ClueScorer | CheckedScorer  # clue scores: forward only, or with the reverse channel


class Grid:
    """One puzzle's view of the dictionary: clue scores (`scorer`), domains and beliefs of boards (cached).

    A board's free clue (`board.Board.free`) scores the word its crossings spell: as a word the dictionary lacks
    (the scorer's `unlisted`) where it does."""

    def __init__(self, scorer: Scorer, *, iterations: int = 30, damping: float = 0.5, temperature: float = 1.0) -> None:
        if temperature <= 0:
            raise InputError(f"temperature must be positive, got {temperature}")
        if not 0.0 <= damping < 1.0:
            raise InputError(f"damping must be in [0, 1), got {damping}")
        if iterations < 0:
            raise InputError(f"iterations must be >= 0, got {iterations}")
        self.scorer, self.lexicon = scorer, scorer.lexicon
        self.iterations, self.damping, self.temperature = iterations, damping, temperature
        self._beliefs: dict[tuple[tuple[str, ...], str, int | None], list[Array] | None] = {}

    def domains(self, board: Board) -> list[Array] | None:
        return self.lexicon.domains(board)

    def forget(self) -> None:
        """Drop the beliefs computed so far (the clue scores changed)."""
        self._beliefs.clear()

    def total(self, board: Board) -> float | None:
        """The best total score of a grid completing `board` (a complete grid: its own); None when none can."""
        domains = self.domains(board)
        if domains is None:
            return None
        return float(sum(self.scorer(board.clues[s])[d].max() if s != board.free else self.free_score(board)
                         for s, d in enumerate(domains)))

    def free_score(self, board: Board) -> float:
        """The score of `board`'s free clue: its word's once its crossings spell it (as a word the dictionary lacks
        where it does), else a word not known yet's."""
        assert board.free is not None
        clue, word = board.clues[board.free], board.pattern(board.free)
        return self.scorer.unlisted(clue) if BLANK in word else self.scorer.word_score(clue, word)

    def beliefs(self, board: Board) -> tuple[list[Array], list[Array]] | None:
        """Per clue, its domain (word indices) and their log-beliefs; None when some clue has no word left."""
        key = (board.clues, board.cells, board.free)
        if key not in self._beliefs:
            domains = self.domains(board)
            found = None
            if domains is not None:
                unaries = [self.scorer(board.clues[s])[d] / self.temperature if s != board.free else d.astype(float)
                           for s, d in enumerate(domains)]
                found = beliefs(self.lexicon, domains, unaries, iterations=self.iterations, damping=self.damping,
                                free=board.free)
            if len(self._beliefs) < 100_000:
                self._beliefs[key] = found
        logbeliefs = self._beliefs[key]
        domains = self.domains(board)
        return None if logbeliefs is None or domains is None else (domains, logbeliefs)


class BeliefThoughts:
    """Fills for the open clue whose best word is most believed: its `width` most believed words."""

    name = "task"

    def __init__(self, grid: Grid, *, width: int = 8, watch: Any = None) -> None:
        if width <= 0:
            raise InputError(f"width must be positive, got {width}")
        self.grid, self.width, self.watch = grid, width, watch

    def __call__(self, board: Board) -> list[Candidate[Fill]]:
        if self.watch is not None:
            self.watch(board)
        found = self.grid.beliefs(board)
        open_slots = board.open_slots()
        if found is None or not open_slots:
            return []
        domains, logbeliefs = found
        slot = max(open_slots, key=lambda s: (float(logbeliefs[s].max()), -len(domains[s]), -s))
        order = np.argsort(-logbeliefs[slot], kind="stable")[: self.width]
        best = [(float(logbeliefs[slot][i]), self.grid.lexicon.vocab[int(domains[slot][i])]) for i in order]
        priors = normalise([score for score, _ in best])
        return [Candidate(Fill(slot, w), f"{SLOTS[slot]}. {w}", p, "dictionary") for (_, w), p in zip(best, priors)]


class GridBound:
    """A board's value: the best total of a grid completing it (`Grid.total`, its own for a complete grid),
    per clue, mapped into (0.05, 1] as 0.05 + 0.95 exp(total / 10 / scale); 0 for a dead board."""

    name = "task"

    def __init__(self, grid: Grid, *, scale: float = 8.0) -> None:
        if scale <= 0:
            raise InputError(f"scale must be positive, got {scale}")
        self.grid, self.scale = grid, scale

    def __call__(self, board: Board) -> float:
        total = self.grid.total(board)
        if total is None:
            return 0.0
        return 0.05 + 0.95 * math.exp(min(0.0, total / (2 * SIZE)) / self.scale)


class GradingEvaluator(ThoughtEvaluator):
    """A ThoughtEvaluator that values complete grids by its valuer too (by their total), not all at 1:
    every complete grid of dictionary words is a goal, and the search compares them.

    `refine` and `widen` (for `tot.strategies.refine`) have the grid's scorer look closer at a complete grid,
    or at more words of every clue, where it can (`reverse.CheckedScorer.look` and `widen`)."""

    grid: Grid | None = None
    free: int = 0  # how many of a grid's least likely clues `variants` leaves free

    def variants(self, root: Board, goal: Board) -> list[Board]:
        """For `tot.strategies.refine`, once its rounds converge on `goal`: `root` with one clue left free to its
        crossings (an answer the dictionary may lack), for each of the `free` clues whose word in `goal` ranks
        lowest among its clue's words on the objective, lowest first."""
        scorer = self._scorer()
        if scorer is None or self.free <= 0 or root.free is not None:
            return []

        def rank(slot: int) -> int:
            scores, position = scorer(goal.clues[slot]), scorer.lexicon.position(goal.pattern(slot))
            return len(scores) if position is None else int((scores > scores[position]).sum())

        weakest = sorted(range(2 * SIZE), key=lambda s: (-rank(s), s))[: self.free]
        return [replace(root, free=slot) for slot in weakest]

    def refine(self, board: Board, *, seconds: float | None = None) -> bool | None:
        """Ask the reverse channel about the words of the complete grid `board` (one model call; the first time,
        also about each clue's best words by the beliefs on the empty grid); True when that changed the
        objective (every value and belief computed so far is dropped). With `seconds` left, None when no
        call would fit (`reverse.CheckedScorer.ask`)."""
        scorer = self._scorer()
        if not isinstance(scorer, CheckedScorer) or not self.task.is_goal(board):
            return False
        best = self._believed(board.clues) if scorer.first(board.clues) else None
        return self._changed(scorer.look(board.clues, board.words(), best=best, seconds=seconds))

    def widen(self, *, seconds: float | None = None) -> bool | None:
        """Ask the reverse channel about more words of every clue (`reverse.CheckedScorer.widen`, one model
        call); True when that changed the objective (`seconds`: as for `refine`)."""
        scorer = self._scorer()
        return self._changed(scorer.widen(seconds=seconds)) if isinstance(scorer, CheckedScorer) else False

    def _scorer(self) -> Scorer | None:
        return self.grid.scorer if self.grid is not None else None

    def _believed(self, clues: tuple[str, ...]) -> list[Array] | None:
        """Each clue's domain on the empty grid, most believed first (None for a grid no fill completes)."""
        found = self.grid.beliefs(Board(clues)) if self.grid is not None else None
        if found is None:
            return None
        domains, logbeliefs = found
        return [d[np.argsort(-b, kind="stable")] for d, b in zip(domains, logbeliefs)]

    def _changed(self, asked: bool | None) -> bool | None:
        """Where a look `asked` something, drop every value and belief computed so far (the objective changed);
        `asked` itself."""
        if asked:
            assert self.grid is not None
            self.cache.clear()
            self.grid.forget()
        return asked

    def evaluate(self, state: Any) -> float:
        if self.task.is_goal(state):
            key = self.task.key(state)
            if key not in self.cache:
                self.cache[key] = self.valuer(state)
            return self.cache[key]
        return super().evaluate(state)


def make_evaluator(task: Any, scorer: Scorer | None, *, generator: str, valuer: str,
                   width: int, scale: float, temperature: float, free: int = 0) -> ThoughtEvaluator:
    """The crossword's evaluator: `generator` task (belief order) or all, `valuer` task (bounds) or uniform;
    `free` clues offered free as variants (see `GradingEvaluator.variants`)."""
    from tot.evaluators import AllActions, UniformValuer

    grid = Grid(scorer, temperature=temperature) if scorer is not None else None
    gen: Any = BeliefThoughts(grid, width=width, watch=task.expanding) if generator == "task" and grid else AllActions(task)
    val: Any = GridBound(grid, scale=scale) if valuer == "task" and grid else UniformValuer()
    meter = scorer.meter if scorer is not None else None
    if valuer == "task":
        evaluator = GradingEvaluator(task, gen, val, meter)
        evaluator.grid, evaluator.free = grid, free
        return evaluator
    return ThoughtEvaluator(task, gen, val, meter)
