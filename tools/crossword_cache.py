"""Cache whole-dictionary clue scores to disk, so crossword settings can be tried in numpy time.

    flock /tmp/tot-cpu.lock .venv/bin/python tools/crossword_cache.py --puzzles 1,3,4 --prompts answer,clues

Writes CACHE/PROMPT/PUZZLE.npy: a (10, V) float32 array, `score_many` of every dictionary word
(sorted, V words) after the prompt for each of the puzzle's clues h1..h5, v1..v5. Resumable:
existing files are skipped. Also writes CACHE/vocab.txt and CACHE/tokens.npy (each word's token count).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import tot
from tot.models import score_many
from tot.tasks import crosswords as cw

PROMPTS = cw.PROMPTS  # the answer prompts the solver scores with (tot.tasks.crosswords.scoring)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--puzzles", required=True, help="comma list or START:STOP[:STEP]")
    parser.add_argument("--prompts", default="answer,clues")
    parser.add_argument("--cache", default=".cache/crosswords")
    parser.add_argument("--null", action="store_true", help="also score each prompt with no clue (once)")
    args = parser.parse_args()
    if ":" in args.puzzles:
        parts = [int(p) for p in args.puzzles.split(":")]
        puzzles = list(range(*parts))
    else:
        puzzles = [int(p) for p in args.puzzles.split(",")]
    assert all(p < 100 for p in puzzles), "puzzles 100-155 are never scored"
    if args.null:
        model = tot.load_model()
        vocab = sorted(cw.dictionary().words)
        for name in args.prompts.split(","):
            out = Path(args.cache) / f"null_{name}.npy"
            if not out.exists():
                np.save(out, np.array(score_many(model, PROMPTS[name].format(clue=""), [" " + w.lower() for w in vocab]), dtype=np.float32))
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    vocab = sorted(cw.dictionary().words)
    conts = [" " + w.lower() for w in vocab]
    model = tot.load_model()
    if not (cache / "vocab.txt").exists():
        (cache / "vocab.txt").write_text("\n".join(vocab) + "\n")
        np.save(cache / "tokens.npy", np.array([len(model.tokenize(c, bos=False)) for c in conts], dtype=np.int8))  # type: ignore[attr-defined]
    for name in args.prompts.split(","):
        template = PROMPTS[name]
        (cache / name).mkdir(exist_ok=True)
        for puzzle in puzzles:
            out = cache / name / f"{puzzle}.npy"
            if out.exists():
                continue
            start = time.perf_counter()
            clues = cw.load_clues(str(puzzle))
            rows = np.array([score_many(model, template.format(clue=clue), conts) for clue in clues], dtype=np.float32)
            np.save(out, rows)
            print(f"{name} {puzzle}: {time.perf_counter() - start:.1f} s", flush=True)


if __name__ == "__main__":
    main()
