"""The `tot` command: thin Typer commands over the library. Errors print one line and exit non-zero."""

from __future__ import annotations

import json
import re
import sys
from typing import Annotated, Any, NoReturn, Optional

import typer
from rich.markup import escape

from tot import api, render, strategies, tasks
from tot.core import Budget
from tot.errors import InputError, TotError

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
    errors.print(f"[bold red]error:[/] {escape(error.message)}", highlight=False)
    raise typer.Exit(error.exit_code)


def _puzzle(words: list[str]) -> str:
    """The puzzle words as one text. Negative numbers pass (`4 9 10 -13`); a word like an option is refused."""
    for word in words:
        if word.startswith("-") and not re.fullmatch(r"-[\d.].*", word):
            raise InputError(f"no such option: {word} (see tot solve --help; a negative number may be a puzzle word)")
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


# Unknown options become arguments, so that a puzzle may hold negative numbers; `_puzzle` refuses the rest.
@app.command(context_settings={"ignore_unknown_options": True})
def solve(
    task: Annotated[str, typer.Argument(help="Task name (game24) or module:Class for your own task.")],
    puzzle: Annotated[list[str], typer.Argument(help="The puzzle, e.g. 4 9 10 13.")],
    preset: Annotated[
        Optional[str], typer.Option(help="fast: MCTS over every legal step, the model's likelihood of each as its prior, one-pass values. "
                                    "paper: the paper's ToT-BFS (propose, 3 sampled values, beam 5). crossword: the paper's "
                                    "crossword DFS. Default: the task's own (crossword for crossword), else fast.")
    ] = None,
    strategy: Annotated[
        Optional[str],
        typer.Option(help="Search strategy (default from the preset): bfs, dfs, best-first, mcts, or the baselines "
                     "io, cot, cot-sc (no search: the model answers directly, with one or several chains of thought)."),
    ] = None,
    generator: Annotated[
        Optional[str], typer.Option(help="Thoughts: enumerate (legal steps ranked by the model), values (legal steps ranked by the "
                                    "values of the states they lead to, one batched call), propose (the paper's prompt), "
                                    "grammar (propose, constrained to legal lines), all (no model), task (the task's own; "
                                    "crosswords).")
    ] = None,
    evaluator: Annotated[
        Optional[str], typer.Option(help="State values: labels (one pass), sample (paper, 3 samples), oracle (exact solver), "
                                    "uniform (all equal), task (the task's own; crosswords).")
    ] = None,
    breadth: Annotated[Optional[int], typer.Option(help="BFS beam width b.")] = None,
    backtrack: Annotated[
        Optional[bool], typer.Option("--backtrack/--no-backtrack", help="BFS: search the pruned thoughts when the beam fails.")
    ] = None,
    threshold: Annotated[Optional[float], typer.Option(help="DFS: prune children valued below this (default 0.01).")] = None,
    simulations: Annotated[Optional[int], typer.Option(help="MCTS: simulations (default 1000).")] = None,
    c_puct: Annotated[Optional[float], typer.Option(help="MCTS: exploration constant of PUCT (default 1.0).")] = None,
    samples: Annotated[Optional[int], typer.Option(help="CoT-SC: chains of thought to vote over (default 10).")] = None,
    set_options: Annotated[
        Optional[list[str]],
        typer.Option("--set", help="Any strategy option, KEY=VALUE (repeatable), e.g. --set max_steps=100 --set rollouts=4."),
    ] = None,
    max_calls: Annotated[Optional[int], typer.Option(help="Budget: model calls.")] = api.DEFAULT_BUDGET.max_calls,
    max_tokens: Annotated[Optional[int], typer.Option(help="Budget: evaluated + generated tokens.")] = None,
    max_seconds: Annotated[Optional[float], typer.Option(help="Budget: wall seconds.")] = None,
    max_nodes: Annotated[Optional[int], typer.Option(help="Budget: nodes expanded.")] = None,
    model: ModelOpt = None,
    threads: ThreadsOpt = None,
    n_gpu_layers: GpuOpt = None,
    seed: SeedOpt = 0,
    server: Annotated[
        Optional[str], typer.Option(help="URL of an OpenAI-compatible server (vLLM, llama.cpp) to use instead of a local model.")
    ] = None,
    chat: ChatOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON result (with the whole tree) instead.")] = False,
    show_tree: Annotated[bool, typer.Option("--tree/--no-tree", help="Draw the search tree.")] = True,
) -> None:
    """Search for a solution and print the verified answer, the path, the tree and the usage.

    Exit codes: 0 solved, 1 no solution within budget, 2 bad input, 130 interrupted.
    """
    try:
        budget = Budget(max_calls=max_calls, max_tokens=max_tokens, max_seconds=max_seconds, max_nodes=max_nodes)
        options: dict[str, Any] = {}
        if breadth is not None:
            options["breadth"] = breadth
        if backtrack is not None:
            options["backtrack"] = backtrack
        named = {"threshold": threshold, "simulations": simulations, "c_puct": c_puct, "samples": samples}
        options.update({name: value for name, value in named.items() if value is not None})
        options.update(strategies.parse_options(set_options or []))
        loaded = None
        text = _puzzle(puzzle)
        task_obj = tasks.get(task)
        tasks.start(task_obj, text)  # a malformed puzzle fails before the model loads
        chosen = api.PRESETS.get(preset or str(getattr(task_obj, "preset", "fast")))
        needs_model = chosen is None or (generator or chosen.generator) != "all" or (
            evaluator or chosen.valuer
        ) in ("labels", "sample", "task") or strategies.takes_model(strategies.get(strategy or chosen.strategy))
        if needs_model:
            with console.status("loading model…", spinner="dots") if not as_json else _nothing():
                loaded = api.load_model(
                    model, threads=threads, n_gpu_layers=n_gpu_layers, seed=seed, chat=chat, server=server
                )
        with console.status("searching…", spinner="dots") if not as_json else _nothing() as status:
            watch = getattr(task_obj, "watching", None)  # tasks that can draw the state being expanded
            if status is not None and watch is not None:
                watch(lambda state: status.update(render.live_view(task_obj, state)))
            result = api.solve(
                task_obj,
                text,
                preset=preset,
                strategy=strategy,
                generator=generator,
                valuer=evaluator,
                budget=budget,
                model=loaded,
                seed=seed,
                **options,
            )
    except TotError as error:
        fail(error)
    except KeyboardInterrupt:
        errors.print("interrupted")
        raise typer.Exit(EXIT_INTERRUPTED)
    if as_json:
        report = getattr(task_obj, "report", None)  # a task's own account of its result (crossword: grid, metrics)
        print(json.dumps({**result.as_dict(), **(report(text, result) if report is not None else {})}))
    else:
        console.print(render.summary(result, show_tree=show_tree))
        view = render.final_view(task_obj, text, result)
        if view is not None:
            console.print(view)
    if result.stop_reason == "interrupted":
        raise typer.Exit(EXIT_INTERRUPTED)
    raise typer.Exit(EXIT_SOLVED if result.solved else EXIT_UNSOLVED)


@app.command(context_settings={"ignore_unknown_options": True})  # an answer may start with '-'
def check(
    task: Annotated[str, typer.Argument(help="Task name, e.g. game24.")],
    puzzle: Annotated[str, typer.Argument(help='The puzzle, quoted: "4 9 10 13".')],
    answer: Annotated[str, typer.Argument(help='Your answer, quoted: "(13-9)*(10-4)".')],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object instead.")] = False,
) -> None:
    """Verify an answer exactly with the task's own rules (exit 0 if correct, 1 if not)."""
    try:
        verdict = api.check(task, puzzle, answer)
    except TotError as error:
        fail(error)
    if as_json:
        print(json.dumps({"answer": verdict.text, "correct": verdict.verified, "detail": verdict.detail}))
    elif verdict.verified:
        console.print(f"[bold green]correct[/]: {escape(verdict.text)} {escape(verdict.detail)}", highlight=False)
    else:
        console.print(f"[bold red]wrong[/]: {escape(verdict.text)} {escape(verdict.detail)}", highlight=False)
    raise typer.Exit(EXIT_SOLVED if verdict.verified else EXIT_UNSOLVED)


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
    code = f"from tot.cli import _probe; _probe({model!r}, {threads!r}, {n_gpu_layers!r})"
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


@app.command()
def bench(
    task: Annotated[Optional[str], typer.Argument(help="Task: game24, crossword, or module:Class.")] = None,
    config: Annotated[Optional[str], typer.Option("--config", help="TOML or JSON file with the grid; flags override it.")] = None,
    preset: Annotated[Optional[str], typer.Option(help="Presets, comma-separated: fast,paper. Default: fast.")] = None,
    strategy: Annotated[Optional[str], typer.Option(help="Strategies, comma-separated. Default: the preset's.")] = None,
    evaluator: Annotated[
        Optional[str],
        typer.Option(help="Evaluators, comma-separated: model (the preset's model generator and valuer), labels, sample, "
                     "uniform, oracle (these two with the model-free `all` generator). Default: model."),
    ] = None,
    generator: Annotated[Optional[str], typer.Option(help="Generators, comma-separated, overriding the above.")] = None,
    budget_calls: Annotated[Optional[str], typer.Option(help="Model-call budgets, e.g. 100,300 ('none': no limit). "
                                                         "Default: 300 when no budget is given.")] = None,
    budget_tokens: Annotated[Optional[str], typer.Option(help="Token budgets (evaluated + generated).")] = None,
    budget_seconds: Annotated[Optional[str], typer.Option(help="Wall-second budgets.")] = None,
    budget_nodes: Annotated[Optional[str], typer.Option(help="Node budgets (nodes expanded), e.g. 20,50,200.")] = None,
    set_options: Annotated[
        Optional[list[str]], typer.Option("--set", help="Strategy option values, e.g. --set breadth=1,5 (repeatable).")
    ] = None,
    rows: Annotated[Optional[str], typer.Option(help="Rows of the task's puzzle file, START:STOP[:STEP], stop exclusive. "
                                                "Default: game24 900:1000 (the paper's test set), crossword 0,5,...,95.")] = None,
    puzzle: Annotated[Optional[list[str]], typer.Option(help="A puzzle (repeatable), instead of --rows.")] = None,
    out: Annotated[Optional[str], typer.Option(help="JSON-lines results file, appended; rerun to resume. "
                                               "Default: bench-TASK.jsonl.")] = None,
    model: ModelOpt = None,
    threads: ThreadsOpt = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed for every search (default 0); the same seed repeats a run.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Processes, each with its own model. Default: 1, or one per server.")] = None,
    server: Annotated[
        Optional[str], typer.Option(help="OpenAI-compatible servers, comma-separated, used instead of a local model; "
                                    "worker k uses server k mod their number.")
    ] = None,
    chat: Annotated[Optional[bool], typer.Option("--chat/--no-chat", help="Prompts in the model's chat template.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="No progress bar; print a JSON summary.")] = False,
) -> None:
    """Run a grid of strategies x evaluators x budgets over puzzles; one JSON line per (puzzle, configuration).

    Example: tot bench game24 --rows 900:910 --preset fast,paper --evaluator model,uniform,oracle
    """
    from tot.bench import config as bench_config
    from tot.bench import harness

    try:
        flags: dict[str, Any] = {
            "task": task, "preset": preset, "strategy": strategy, "evaluator": evaluator, "generator": generator,
            "budget-calls": budget_calls, "budget-tokens": budget_tokens, "budget-seconds": budget_seconds,
            "budget-nodes": budget_nodes, "rows": rows, "puzzle": puzzle, "out": out, "model": model,
            "threads": threads, "seed": seed, "workers": workers, "server": server, "chat": chat,
            "options": strategies.parse_options(set_options or []),  # values may be lists: breadth=1,5
        }
        spec = bench_config.build(flags, config)
    except TotError as error:
        fail(error)
    _benchmark(lambda: harness.run(spec, progress=None if as_json else harness.ProgressBar(spec.task)), as_json)


def _benchmark(run: Any, as_json: bool) -> None:
    """Run a bench or auc job list, then print what it did (a JSON object, or the report tables and a line)."""
    from tot.bench import harness, report

    try:
        summary = run()
    except harness.Interrupted as stopped:
        errors.print(stopped.message, highlight=False, markup=False)
        raise typer.Exit(EXIT_INTERRUPTED)
    except TotError as error:
        fail(error)
    if as_json:
        print(json.dumps({"out": str(summary.out), "lines": summary.total, "new": summary.written,
                          "already_done": summary.skipped, "solved": summary.solved}))
        return
    for table in report.rich_tables(summary.records):
        console.print(table)
    console.print(
        f"{summary.written} new lines in {summary.out} ({summary.skipped} were already there); "
        f"`tot report {summary.out}` for tables and plots", highlight=False, markup=False,
    )


@app.command()
def auc(
    rows: Annotated[str, typer.Option(help="Rows of 24.csv, START:STOP[:STEP], stop exclusive.")] = "900:1000",
    valuer: Annotated[str, typer.Option(help="Valuers, comma-separated: labels, sample, oracle, uniform.")] = "labels,sample",
    per_depth: Annotated[int, typer.Option(help="States per depth (1 and 2 steps from the start) per puzzle.")] = 10,
    out: Annotated[str, typer.Option(help="JSON-lines file, appended; rerun to resume.")] = "auc-game24.jsonl",
    model: ModelOpt = None,
    threads: ThreadsOpt = None,
    seed: SeedOpt = 0,
    workers: Annotated[int, typer.Option(help="Processes, each with its own model.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="No progress bar; print a JSON summary.")] = False,
) -> None:
    """Game of 24 value diagnostic: ROC AUC of state values, solvable vs unsolvable (exact solver)."""
    from tot.bench import auc as value_auc
    from tot.bench import harness

    _benchmark(
        lambda: value_auc.run(rows=rows, valuers=valuer, per_depth=per_depth, out=out, model=model, threads=threads,
                              seed=seed, workers=workers, progress=None if as_json else harness.ProgressBar("values")),
        as_json,
    )


@app.command()
def report(
    files: Annotated[list[str], typer.Argument(help="JSON-lines files from tot bench / tot auc.")],
    markdown: Annotated[bool, typer.Option("--markdown", help="Print Markdown instead of Rich tables.")] = False,
    update: Annotated[
        Optional[str], typer.Option(help="Write the Markdown into this file's 'Benchmark runs' section (e.g. benchmarks/RESULTS.md).")
    ] = None,
    plot: Annotated[
        Optional[str], typer.Option(help="Plot file prefix (PREFIX-TASK-vs-X.png/.svg). Default: DIR/success beside the first file.")
    ] = None,
    no_plot: Annotated[bool, typer.Option("--no-plot", help="Do not draw plots.")] = False,
    x: Annotated[str, typer.Option(help="Compute on the plot's x axis, comma-separated: nodes, calls, tokens, seconds.")] = "nodes",
    y: Annotated[str, typer.Option(help="Success on the y axis: solved, solved_any, or a task metric (e.g. words).")] = "solved",
) -> None:
    """Tables (success, median cost, the paper's GPT-4 figures) and success-versus-compute plots."""
    import shlex
    from pathlib import Path

    from tot.bench import harness
    from tot.bench import report as bench_report

    try:
        records = harness.read_records(files)
        xs = [part.strip() for part in x.split(",") if part.strip()]
        for name in xs:
            if name not in bench_report.COMPUTE:
                raise TotError(f"unknown --x {name!r}; choose from {', '.join(bench_report.COMPUTE)}", exit_code=EXIT_USAGE)
    except TotError as error:
        fail(error)
    images: list[Path] = []
    if not no_plot:
        prefix = plot or str(Path(files[0]).parent / "success")
        try:
            images = bench_report.plot(records, prefix, xs=xs, y=y)
        except ImportError:
            errors.print("no plot: matplotlib is not installed (pip install 'tot[plot]')", highlight=False, markup=False)
    if markdown or update:
        command = shlex.join(["tot", "report", *files, *(["--update", update] if update else []),
                              *(["--plot", plot] if plot else []), *(["--no-plot"] if no_plot else []),
                              *(["--x", x] if x != "nodes" else []), *(["--y", y] if y != "solved" else [])])
        text = bench_report.markdown(records, images=images, relative_to=Path(update).parent if update else None,
                                     command=command)
        if update:
            bench_report.update_markdown(update, text)
            errors.print(f"updated {update}", highlight=False, markup=False)
        else:
            print(text, end="")
    else:
        for table in bench_report.rich_tables(records):
            console.print(table)
    for image in images:
        errors.print(f"plot: {image}", highlight=False, markup=False)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        errors.print("interrupted")
        sys.exit(EXIT_INTERRUPTED)
