"""Label values of Game of 24 states with the verdict prompt as shipped or a compact one: AUC and seconds per state.

    .venv/bin/python tools/verdict_prompt_experiment.py current|compact

600 states (5 at depths 1 and 2 below each of rows 900-959, as `tot auc` samples them), valued in batches
of 30 on the default model. `compact` replaces the module's VERDICT_PROMPT for this process only.
"""

from __future__ import annotations

import sys
import time

from tot import api
from tot.bench.auc import roc_auc, sample_states
from tot.evaluators import LabelValuer
from tot.tasks import game24


def main(mode: str) -> None:
    if mode == "compact":
        game24.VERDICT_PROMPT = (
            "Can the numbers reach 24 with + - * /, each used once? Judge: sure, likely or impossible.\n"
            + "".join(f"{numbers}: {label}\n" for numbers, _, label in game24._VALUE_EXAMPLES)
            + "{numbers}:"
        )
    elif mode != "current":
        raise SystemExit("usage: verdict_prompt_experiment.py current|compact")
    task = game24.Game24()
    puzzles = game24.load_puzzles()
    states = [state for row in range(900, 960) for _, state in sample_states(puzzles[row], 5, 0)]
    model = api.load_model(None)
    valuer = LabelValuer(task.prompts, model)
    valuer.many(states[:2])  # warm-up: the shared few-shot prefix cached
    start = time.perf_counter()
    values = [v for i in range(0, len(states), 30) for v in valuer.many(states[i : i + 30])]
    seconds = time.perf_counter() - start
    auc = roc_auc(values, [task.solvable(state) for state in states])
    tokens = len(model.tokenize(task.prompts.verdict_prompt(states[0]), bos=True))  # type: ignore[attr-defined]
    print(f"{mode}: {len(states)} states, AUC {auc:.3f}, {seconds / len(states):.4f} s/state, {tokens} prompt tokens")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
