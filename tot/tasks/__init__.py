"""Tasks, found by name (`game24`), by entry point (`tot.tasks` group), as `module:Class` or `path/file.py:Class`."""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from tot.errors import InputError

BUILTIN = {
    "game24": "tot.tasks.game24:Game24",
    "crossword": "tot.tasks.crosswords:MiniCrossword",
}


def names() -> list[str]:
    extra = sorted(ep.name for ep in entry_points(group="tot.tasks") if ep.name not in BUILTIN)
    return [*BUILTIN, *extra]


def _load(spec: str) -> Any:
    module_name, _, attr = spec.rpartition(":")
    try:
        module = _load_file(module_name) if module_name.endswith(".py") else import_module(module_name)
    except ImportError as error:
        raise InputError(f"cannot import task module {module_name!r}: {error}") from error
    try:
        return getattr(module, attr)
    except AttributeError as error:
        raise InputError(f"module {module_name!r} has no {attr!r}") from error


def _load_file(path: str) -> Any:
    """The module in the Python file `path` (the user's own task file)."""
    import sys
    from importlib.util import module_from_spec, spec_from_file_location
    from pathlib import Path

    file = Path(path)
    spec = spec_from_file_location(file.stem, file) if file.is_file() else None
    if spec is None or spec.loader is None:
        raise InputError(f"task file not found: {path}")
    module = module_from_spec(spec)
    sys.modules[file.stem] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        raise InputError(f"cannot load task file {path}: {type(error).__name__}: {error}") from error
    return module


def get(name: str) -> Any:
    """A task instance for `name`: a built-in name, an entry-point name, or `module:Class`."""
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
    task = factory() if isinstance(factory, type) or callable(factory) else factory
    for method in ("initial", "actions", "result", "is_goal", "is_terminal", "key", "describe", "render", "answer"):
        if not callable(getattr(task, method, None)):
            raise InputError(f"task {name!r} has no {method}() method; see examples/ for a complete task")
    return task
