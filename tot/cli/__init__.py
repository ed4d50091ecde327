"""The `tot` command: thin Typer commands over the library, one module per group of commands.
Errors print one line and exit non-zero (`tot.cli.common.fail`)."""

from __future__ import annotations

import sys

# Each module registers its commands on `app`; `tot --help` lists them in this order.
from tot.cli import solve  # noqa: F401  (solve, check)
from tot.cli import doctor  # noqa: F401
from tot.cli import bench  # noqa: F401  (bench, auc, report)
from tot.cli import view  # noqa: F401
from tot.cli.common import EXIT_INTERRUPTED, app, errors

__all__ = ["app", "main"]


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        errors.print("interrupted")
        sys.exit(EXIT_INTERRUPTED)
