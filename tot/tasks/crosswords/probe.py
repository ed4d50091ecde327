"""A probe on the model's hidden states: how much does the model's reading of a (word, clue) pair add to the objective?

The model reads a pair as the reverse channel does (`reverse.DEFINE_PROMPT`, then the word and its
definition), and a linear probe on its hidden states at one layer (the mean over the pair's own tokens) gives
a correction to the objective (forward + reverse) in its own units. The weights (tot/data/crossword-probe.json)
were fitted on the 60 training puzzles alone (a conditional logit over each clue's asked words, beside the
objective, whose weight is then divided out): each training clue's gold word against the other words the
default search asked the reverse channel about for it (30,629 pairs). `PROBE_WEIGHT` x the correction joins
the reverse score of every word the reverse channel is asked about (benchmarks/RESULTS.md).

The computation stops at the probe's layer (`tot.models.llama_embed`), so a pair costs about half a reverse
scoring. It needs a backend that gives one layer's hidden states (the local llama.cpp model) and the model it
was fitted on; elsewhere the crossword's evaluator goes on without it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Any

import numpy as np

from tot.errors import InputError
from tot.models import Model, embed

PROBE_FILE = "crossword-probe.json"
PROBE_WEIGHT = 0.5  # of the probe's correction: chosen on the training puzzles (0.5 and 1 tried)


@dataclass(frozen=True)
class Probe:
    """A linear probe: `weights` . (the mean hidden state at `layer` of a pair's tokens) + `bias`, fitted on
    the hidden states of `model` (a GGUF file's name)."""

    model: str
    layer: int
    weights: tuple[float, ...]
    bias: float

    def scores(self, model: Model, prefix: str, texts: Sequence[str]) -> list[float]:
        """The probe's score of each text read after `prefix`, in one model call."""
        if not texts:
            return []
        features = np.asarray(embed(model, prefix, texts, layers=(self.layer,), pooling="mean"), dtype=np.float64)
        if features.shape[1] != len(self.weights):
            raise InputError(f"the crossword probe reads {len(self.weights)} numbers a pair, the model gives "
                             f"{features.shape[1]}: it was fitted on another model")
        return [float(z) for z in features @ np.asarray(self.weights) + self.bias]


@lru_cache(maxsize=1)
def default_probe() -> Probe:
    """The shipped weights (tot/data/crossword-probe.json), fitted for the default model."""
    return load_probe(files("tot.data").joinpath(PROBE_FILE).read_text(encoding="utf-8"), PROBE_FILE)


def load_probe(text: str, source: str = "probe") -> Probe:
    """A Probe from its JSON (`{"model": name, "layer": 9, "weights": [...], "bias": b}`); InputError when
    malformed."""
    try:
        data: Any = json.loads(text)
        model = str(data["model"])
        layer = int(data["layer"])
        weights = tuple(float(w) for w in data["weights"])
        bias = float(data["bias"])
    except (ValueError, KeyError, TypeError) as error:
        raise InputError(f"{source} is not a crossword probe file: {error}") from error
    if not weights or not all(math.isfinite(w) for w in (*weights, bias)):
        raise InputError(f"{source}: the weights must be non-empty and finite")
    return Probe(model, layer, weights, bias)
