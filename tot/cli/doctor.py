"""`tot doctor`: check the llama.cpp build and the model, or a server."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer
from rich.markup import escape

from tot import api
from tot.cli.common import EXIT_USAGE, GpuOpt, ModelOpt, ThreadsOpt, app, console, errors, fail
from tot.errors import TotError


@app.command()
def doctor(
    model: ModelOpt = None,
    threads: ThreadsOpt = None,
    n_gpu_layers: GpuOpt = None,
    server: Annotated[
        Optional[str], typer.Option(help="Check an OpenAI-compatible server instead: it answers, generates and scores.")
    ] = None,
) -> None:
    """Load the model and run one forward pass: checks the llama.cpp build and the model file."""
    import platform
    import subprocess

    if server is not None:
        _check_server(server)
        return
    code = f"from tot.cli.doctor import _probe; _probe({model!r}, {threads!r}, {n_gpu_layers!r})"
    # A child process, so that a crashing llama.cpp build (SIGILL) is reported instead of killing us.
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if run.returncode < 0:
        errors.print(
            f"[bold red]error:[/] llama.cpp crashed with signal {-run.returncode} on this CPU "
            f"({platform.machine()}). Rebuild it with ./install.sh (it disables AMX kernels on x86-64), "
            "or set TOT_CMAKE_ARGS for your hardware."
        )
        raise typer.Exit(EXIT_USAGE)
    if run.returncode != 0:
        message = (run.stderr.strip().splitlines() or ["unknown failure"])[-1]
        errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
        raise typer.Exit(EXIT_USAGE)
    name, seconds = run.stdout.split()[-2:]
    console.print(f"[green]ok[/]: {escape(name)} loaded and ran a forward pass in {seconds} s", highlight=False)


def _check_server(url: str) -> None:
    """`doctor --server`: one generation and one scoring call, or the one-line error saying what is missing."""
    import time

    started = time.perf_counter()
    try:
        served = api.connect(url)
        served.complete("The capital of France is", max_tokens=4, temperature=0.0)
        served.score_continuations("The capital of France is", [" Paris"])
    except TotError as error:
        fail(error)
    console.print(f"[green]ok[/]: {served.name} at {url} generates and scores continuations "
                  f"({getattr(served, 'scoring', '?')} log-probabilities) in {time.perf_counter() - started:.2f} s",
                  highlight=False, soft_wrap=True)


def _probe(model: str | None, threads: int | None, n_gpu_layers: int | None) -> None:
    """Run in a child process by `doctor`: load the model, score one continuation, print name and seconds."""
    import time

    started = time.perf_counter()
    try:
        loaded = api.load_model(model, threads=threads, n_gpu_layers=n_gpu_layers)
        loaded.score_continuations("The capital of France is", [" Paris"])
    except TotError as error:
        print(error.message, file=sys.stderr)
        sys.exit(error.exit_code)
    print(loaded.name, round(time.perf_counter() - started, 2))
