"""tot: Tree of Thoughts search on local GGUF models."""

from tot.api import PRESETS, check, connect, load_model, make_evaluator, solve
from tot.core import Answer, Budget, Candidate, Evaluator, Result, Task, Usage
from tot.errors import InputError, ModelError, TotError

__all__ = [
    "PRESETS",
    "Answer",
    "Budget",
    "Candidate",
    "Evaluator",
    "InputError",
    "ModelError",
    "Result",
    "Task",
    "TotError",
    "Usage",
    "check",
    "connect",
    "load_model",
    "make_evaluator",
    "solve",
]
