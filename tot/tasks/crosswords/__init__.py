"""Mini crosswords (5x5): every row (h1-h5) and column (v1-v5) of the grid is a five-letter word.

Read it one part at a time:

- `board`: the grid and its rules (`Board`, `Fill`), nothing else.
- `puzzles`: the 156 puzzles, their gold grids and the grading (the evaluation and training sets).
- `dictionary`: the 42,479 words a grid may use, and where each comes from.
- `scoring`: the model's clue scores and the learned re-ranker: log P(word | clue) for every word.
- `reverse`: the closer look, log P(clue | word), asked lazily about the words a search needs; `probe` adds a
  correction read from the model's hidden states; `letters` scores how word-like a word outside the dictionary is.
- `propagation`: arc consistency and belief propagation over the grid's crossings (numpy, no model).
- `search`: the evaluator a search uses: thoughts in belief order, values that bound grids.
- `task`: `MiniCrossword`, the task (actions, goals, answers graded against gold after a search), `metrics`.
"""

from tot.tasks.crosswords.board import BLANK, CELLS, SIZE, SLOTS, Board, Fill, fits, parse_grid, spaced
from tot.tasks.crosswords.dictionary import WordList, dictionary, english_words, word_frequencies
from tot.tasks.crosswords.puzzles import (
    PAPER_PUZZLES,
    SECOND_PUZZLES,
    TRAINING_PUZZLES,
    gold,
    grade,
    load_clues,
    puzzle_count,
    puzzle_index,
)
from tot.tasks.crosswords.scoring import ANSWER_PROMPT, CLUE_LIST_PROMPT, PROMPTS, ClueScorer, Ranker
from tot.tasks.crosswords.task import MiniCrossword, final_cells, metrics

__all__ = [
    "ANSWER_PROMPT", "BLANK", "CELLS", "CLUE_LIST_PROMPT", "PAPER_PUZZLES", "PROMPTS", "SECOND_PUZZLES", "SIZE",
    "SLOTS", "TRAINING_PUZZLES", "Board", "ClueScorer", "Fill", "MiniCrossword", "Ranker", "WordList", "dictionary",
    "english_words", "final_cells", "fits", "gold", "grade", "load_clues", "metrics", "parse_grid", "puzzle_count",
    "puzzle_index", "spaced", "word_frequencies",
]
