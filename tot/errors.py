"""The one exception type the library raises; the CLI renders it and exits non-zero."""

from __future__ import annotations


class TotError(Exception):
    """A failure with a message meant for the user and the exit code the CLI uses."""

    exit_code = 1

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code


class InputError(TotError):
    """Malformed puzzle, answer, option or budget (exit code 2)."""

    exit_code = 2


class ModelError(TotError):
    """Missing, corrupt or unusable model file (exit code 2)."""

    exit_code = 2


def clip(text: str, limit: int = 40) -> str:
    """`text` for a message: a user's input echoed whole could fill a screen, so a longer one is cut, visibly."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"
