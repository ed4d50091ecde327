"""Tasks, found by name (`game24`), by entry point (`tot.tasks` group), as `module:Class`, `path/file.py:Class`,
or as a task written as prompts alone in a TOML file (`path/task.toml`, see `tot.tasks.prompted`)."""

from __future__ import annotations

import inspect
import traceback
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from tot.core import Answer
from tot.errors import InputError, TotError, clip
from tot.userfiles import load_python_file

BUILTIN = {
    "game24": "tot.tasks.game24:Game24",
    "crossword": "tot.tasks.crosswords:MiniCrossword",
    "text": "tot.tasks.text:CreativeWriting",
}
ALIASES = {"crosswords": "crossword", "mini-crosswords": "crossword", "creative-writing": "text", "creative_writing": "text"}

# The methods every task has, each with the parameters it is called with (after self).
CONTRACT = {
    "initial": ("puzzle",),
    "actions": ("state",),
    "result": ("state", "action"),
    "is_goal": ("state",),
    "is_terminal": ("state",),
    "key": ("state",),
    "describe": ("state", "action"),
    "render": ("state",),
    "answer": ("start", "actions"),
}


def names() -> list[str]:
    extra = sorted(ep.name for ep in entry_points(group="tot.tasks") if ep.name not in BUILTIN)
    return [*BUILTIN, *extra]


def _load(spec: str) -> Any:
    module_name, _, attr = spec.rpartition(":")
    try:
        module = load_python_file(module_name) if module_name.endswith(".py") else import_module(module_name)
    except ImportError as error:
        raise InputError(f"cannot import task module {module_name!r}: {error}") from error
    try:
        return getattr(module, attr)
    except AttributeError as error:
        raise InputError(f"module {module_name!r} has no {attr!r}") from error


def get(name: str, **options: Any) -> Any:
    """A task instance for `name`: a built-in name (or alias), an entry-point name, or `module:Class`; `options` go
    to its constructor as keywords (e.g. `get("crossword", recall=0)`)."""
    name = ALIASES.get(name, name)
    if name.lower().endswith(".toml"):
        from tot.tasks.prompted import load_task

        if options:
            raise InputError(f"a task written as prompts ({name}) takes no task options, got {', '.join(options)}")
        task = load_task(name)
        validate(task, name)
        return task
    if name in BUILTIN:
        factory = _load(BUILTIN[name])
    elif ":" in name:
        factory = _load(name)
    else:
        for ep in entry_points(group="tot.tasks"):
            if ep.name == name:
                factory = ep.load()
                break
        else:
            raise InputError(f"unknown task {name!r}; choose from {', '.join(names())} or give module:Class")
    if options:
        _check_options(name, factory, options)
    try:
        task = factory(**options) if isinstance(factory, type) or callable(factory) else factory
    except TotError:
        raise
    except Exception as error:
        raise InputError(f"task {name!r} could not be created: {type(error).__name__}: {error}") from error
    validate(task, name)
    return task


def option_names(factory: Any) -> list[str] | None:
    """The keyword options a task's constructor takes (None: any, or it cannot tell)."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return [p.name for p in parameters if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]


def _check_options(name: str, factory: Any, options: dict[str, Any]) -> None:
    if not callable(factory):
        raise InputError(f"task {name!r} is an instance: it takes no task options, got {', '.join(options)}")
    known = option_names(factory)
    unknown = [key for key in options if known is not None and key not in known]
    if unknown:
        takes = f"it takes {', '.join(known)}" if known else "it takes none"
        raise InputError(f"task {name!r} has no option {', '.join(unknown)}; {takes}")


def validate(task: Any, name: str | None = None) -> None:
    """Raise InputError unless `task` has a `name` and every method of CONTRACT, callable with its parameters."""
    label = name or type(task).__name__
    if not isinstance(getattr(task, "name", None), str):
        raise InputError(f"task {label!r} has no name (a str attribute); see examples/ for a complete task")
    for method, parameters in CONTRACT.items():
        bound = getattr(task, method, None)
        if not callable(bound):
            raise InputError(f"task {label!r} has no {method}() method; see examples/ for a complete task")
        try:
            signature = inspect.signature(bound)
        except (TypeError, ValueError):  # no signature to read (a builtin): trust it
            continue
        try:
            signature.bind(*parameters)
        except TypeError:
            raise InputError(
                f"task {label!r}: {method}{signature} must take ({', '.join(parameters)}); see examples/ for a complete task"
            ) from None


def start(task: Any, puzzle: str) -> Any:
    """`task.initial(puzzle)`, checked: a task's own exception, or an `answer` that returns no Answer, is an InputError."""
    try:
        state = task.initial(puzzle)
    except TotError:
        raise
    except Exception as error:
        raise InputError(f"task {task.name}: initial({clip(puzzle)!r}) failed: {type(error).__name__}: {clip(str(error), 200)}") from error
    try:
        empty = task.answer(state, [])  # the start as an answer; a task may refuse it, but may not return a non-Answer
    except Exception:
        return state
    if not isinstance(empty, Answer):
        raise InputError(f"task {task.name}: answer() must return tot.Answer, got {type(empty).__name__}")
    return state


def raised_by_user_task(task: Any, error: BaseException) -> bool:
    """Whether `error` came out of the code of a task that is not tot's own (a frame of its file is on the traceback)."""
    module = type(task).__module__
    if module == "tot" or module.startswith("tot."):
        return False
    try:
        source = inspect.getfile(type(task))
    except (TypeError, OSError):
        return False
    frames = traceback.extract_tb(error.__traceback__)
    return any(frame.filename == source for frame in frames)
