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
        Optional[str],
        typer.Option(help="Check an OpenAI-compatible server instead: what it can do (generation, log-probabilities, "
                     "scoring, embeddings, grammar) and which presets run on it."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="With --server: print the report as JSON.")] = False,
) -> None:
    """Load the model and run one forward pass: checks the llama.cpp build and the model file (or a server)."""
    import platform
    import subprocess

    if server is not None:
        _check_server(server, json_out)
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


def _check_server(url: str, json_out: bool) -> None:
    """`doctor --server`: the server's capabilities and the presets that run on it, or the one-line error."""
    import json

    from tot.models.capabilities import probe
    from tot.models.server import ServerModel

    try:
        served = api.connect(url)
        if not isinstance(served, ServerModel):
            raise TypeError("api.connect returned a model that is not a server's")
        report = probe(served)
    except TotError as error:
        fail(error)
    if json_out:
        console.print_json(json.dumps(report.as_dict()))
        return
    console.print(f"[green]ok[/]: {escape(report.model)} at {escape(url)} answers ({report.seconds:.2f} s)",
                  highlight=False, soft_wrap=True)
    width = max(len(c.name) for c in report.capabilities)
    for capability in report.capabilities:
        mark = "[green]yes[/]" if capability.available else "[yellow]no[/] "
        console.print(f"  {capability.name:<{width}}  {mark}  {escape(capability.detail)}", highlight=False, soft_wrap=True)
    console.print("presets:", highlight=False)
    width = max(len(p.name) for p in report.presets)
    for preset in report.presets:
        mark = "[green]runs[/]   " if preset.runs else "[yellow]does not[/]"
        console.print(f"  {preset.name:<{width}}  {mark}  {escape(preset.detail)}", highlight=False, soft_wrap=True)


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
