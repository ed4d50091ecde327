"""Reading the files a user gives: a Python file of their own code, and TOML settings (data, never run)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tot.errors import InputError


def load_python_file(path: str, *, what: str = "task file") -> Any:
    """The module in the Python file `path` (the user's own code, e.g. a task file)."""
    from importlib.util import module_from_spec, spec_from_file_location

    file = Path(path)
    spec = spec_from_file_location(file.stem, file) if file.is_file() else None
    if spec is None or spec.loader is None:
        raise InputError(f"{what} not found: {path}")
    module = module_from_spec(spec)
    sys.modules[file.stem] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        raise InputError(f"cannot load {what} {path}: {type(error).__name__}: {error}") from error
    return module


def parse_toml(text: str, file: Path, *, what: str = "TOML config files") -> Any:
    """The TOML `text` of `file` (stdlib `tomllib`, Python 3.11+); a syntax error is one InputError line."""
    if sys.version_info >= (3, 11):
        import tomllib

        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise InputError(f"{file}: {error}") from None
    raise InputError(f"{what} need Python 3.11 or later" + ("; use a .json file" if "config" in what else ""))
