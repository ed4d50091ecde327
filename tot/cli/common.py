"""What every `tot` command shares: the Typer app, the consoles, one-line errors, exit codes and common options."""

from __future__ import annotations

import re
from typing import Annotated, Any, NoReturn, Optional

import typer
from rich.markup import escape

from tot import render
from tot.errors import InputError, TotError, clip

app = typer.Typer(
    help="Tree of Thoughts search on a local GGUF model.\n\n"
    "Example: tot solve game24 4 9 10 13",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = render.console()
errors = render.console(stderr=True)

EXIT_SOLVED, EXIT_UNSOLVED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def fail(error: TotError) -> NoReturn:
    errors.print(f"[bold red]error:[/] {escape(clip(error.message, 500))}", highlight=False)  # one line, however long the cause
    raise typer.Exit(error.exit_code)


def _puzzle(words: list[str]) -> str:
    """The puzzle words as one text. Negative numbers pass (`4 9 10 -13`); a word like an option is refused."""
    for word in words:
        if word.startswith("-") and not re.fullmatch(r"-[\d.].*", word):
            raise InputError(f"no such option: {clip(word)} (see tot solve --help; a negative number may be a puzzle word)")
    return " ".join(words)


ModelOpt = Annotated[
    Optional[str], typer.Option("--model", help="Path to a GGUF model file. Default: Gemma 3 270M (Q4_K_M).")
]
ThreadsOpt = Annotated[Optional[int], typer.Option(help="CPU threads for llama.cpp. Default: all cores.")]
GpuOpt = Annotated[
    Optional[int], typer.Option("--n-gpu-layers", help="Layers offloaded to the GPU (-1 all). Default: all on Metal, 0 elsewhere.")
]
SeedOpt = Annotated[int, typer.Option(help="Seed for sampling and tie-breaking; the same seed repeats a run.")]
ChatOpt = Annotated[
    bool, typer.Option("--chat/--no-chat", help="Send prompts as a user message in the model's chat template (from the "
                       "GGUF's metadata; with --server, from --model's, which should be the served model).")
]


HtmlOpt = Annotated[
    Optional[str], typer.Option("--html", metavar="FILE", help="Also write the search as one self-contained HTML page "
                                "(a collapsible tree, the chosen path, a replay slider; opens offline).")
]
GraphOpt = Annotated[
    Optional[str], typer.Option("--graph", metavar="FILE", help="Also write the search tree as a graph for Gephi, yEd or "
                                "networkx: FILE.graphml, FILE.gexf or FILE.json (node-link).")
]


def check_outputs(html: str | None, graph: str | None) -> None:
    """Raise a one-line InputError unless the --html and --graph files can be written."""
    from tot import export

    if html:
        export.check_writable(html, "HTML")
    if graph:
        export.check_writable(graph, "graph", suffixes=export.GRAPH_FORMATS)


def write_outputs(data: dict[str, Any], html: str | None, graph: str | None) -> None:
    """Write the --html and --graph files of a saved result and say where (on stderr); a failure is one line."""
    from tot import export

    try:
        if html:
            export.write_html(data, html)
            errors.print(f"wrote {html}", highlight=False, markup=False)
        if graph:
            export.write_graph(data, graph)
            errors.print(f"wrote {graph}", highlight=False, markup=False)
    except TotError as error:
        fail(error)


# Unknown options become arguments, so that a puzzle may hold negative numbers; `_puzzle` refuses the rest.


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
