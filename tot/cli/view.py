"""`tot view`: the HTML page (and graph file) of a search saved with `tot solve --json`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tot import export
from tot.cli.common import GraphOpt, app, check_outputs, fail, write_outputs
from tot.errors import TotError


@app.command()
def view(
    result: Annotated[str, typer.Argument(help="A result saved by `tot solve ... --json > FILE`; - reads standard input.")],
    html: Annotated[
        Optional[str], typer.Option("--html", metavar="FILE", help="The page to write. Default: RESULT's name with .html "
                                    "(result.html from standard input); none when only --graph is given.")
    ] = None,
    graph: GraphOpt = None,
) -> None:
    """Write one self-contained HTML page of a saved search: a collapsible tree with each node's thought, value,
    visits, prior and status, the chosen path highlighted, a slider that replays the search, usage and config.

    Example: tot solve game24 4 9 10 13 --json > run.json && tot view run.json   (writes run.html)
    """
    if html is None and graph is None:
        html = "result.html" if result == "-" else str(Path(result).with_suffix(".html"))
    try:
        check_outputs(html, graph)
        data = export.load(result)
    except TotError as error:
        fail(error)
    write_outputs(data, html, graph)
