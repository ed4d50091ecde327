"""`tot bench`, `tot auc` and `tot report`: benchmark grids, the value diagnostic, tables and plots."""

from __future__ import annotations

import json
from typing import Annotated, Any, Optional

import typer

from tot import strategies
from tot.cli.common import EXIT_INTERRUPTED, EXIT_USAGE, ModelOpt, SeedOpt, ThreadsOpt, app, console, errors, fail
from tot.errors import TotError


@app.command()
def bench(
    task: Annotated[Optional[str], typer.Argument(help="Task: game24, crossword, text, a TOML task file, or module:Class.")] = None,
    config: Annotated[Optional[str], typer.Option("--config", help="TOML or JSON file with the grid; flags override it.")] = None,
    preset: Annotated[Optional[str], typer.Option(help="Presets, comma-separated: fast,paper. Default: fast.")] = None,
    strategy: Annotated[Optional[str], typer.Option(help="Strategies, comma-separated. Default: the preset's.")] = None,
    evaluator: Annotated[
        Optional[str],
        typer.Option(help="Evaluators, comma-separated: model (the preset's model generator and valuer), labels, sample, "
                     "uniform, oracle (these two with the model-free `all` generator), learned, lookahead, mixed (with --value). "
                     "Default: model."),
    ] = None,
    value: Annotated[Optional[str], typer.Option("--value", help="A value file made by `tot learn`, for the evaluators "
                                                 "learned and mixed.")] = None,
    generator: Annotated[Optional[str], typer.Option(help="Generators, comma-separated, overriding the above.")] = None,
    budget_calls: Annotated[Optional[str], typer.Option(help="Model-call budgets, e.g. 100,300 ('none': no limit). "
                                                         "Default: 300 when no budget is given.")] = None,
    budget_tokens: Annotated[Optional[str], typer.Option(help="Token budgets (evaluated + generated).")] = None,
    budget_seconds: Annotated[Optional[str], typer.Option(help="Wall-second budgets.")] = None,
    budget_nodes: Annotated[Optional[str], typer.Option(help="Node budgets (nodes expanded), e.g. 20,50,200.")] = None,
    set_options: Annotated[
        Optional[list[str]], typer.Option("--set", help="Strategy option values, e.g. --set breadth=1,5 (repeatable).")
    ] = None,
    task_set: Annotated[
        Optional[list[str]], typer.Option("--task-set", help="Task option values, given to the task's constructor, e.g. "
                                          "crossword: --task-set recall=0,0.5 (without and with the clue memory).")
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
    judge_model: Annotated[Optional[str], typer.Option(help="Judged tasks (text): the judge's GGUF file. Default: the model "
                                                       "that wrote the answers.")] = None,
    judge_server: Annotated[Optional[str], typer.Option(help="Judged tasks: an OpenAI-compatible server as the judge.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="No progress bar; print a JSON summary.")] = False,
) -> None:
    """Run a grid of strategies x evaluators x budgets over puzzles; one JSON line per (puzzle, configuration).

    Example: tot bench game24 --rows 900:910 --preset fast,paper --evaluator model,uniform,oracle

    Judged tasks (text): every line's outputs are then scored 1-10 by a judge (judge lines in the same file);
    `tot bench text` alone runs the paper's protocol: ToT (vote preset), IO and CoT with 10 samples each.
    """
    from tot.bench import config as bench_config
    from tot.bench import harness

    try:
        flags: dict[str, Any] = {
            "task": task, "preset": preset, "strategy": strategy, "evaluator": evaluator, "generator": generator,
            "budget-calls": budget_calls, "budget-tokens": budget_tokens, "budget-seconds": budget_seconds,
            "budget-nodes": budget_nodes, "rows": rows, "puzzle": puzzle, "out": out, "model": model,
            "threads": threads, "seed": seed, "workers": workers, "server": server, "chat": chat, "value": value,
            "judge-model": judge_model, "judge-server": judge_server,
            "options": strategies.parse_options(set_options or []),  # values may be lists: breadth=1,5
            "task-options": strategies.parse_options(task_set or [], "task options"),
        }
        spec = bench_config.build(flags, config)
    except TotError as error:
        fail(error)
    from tot.bench import judging

    _benchmark(lambda: judging.run(spec, None if as_json else harness.ProgressBar(spec.task),
                                   None if as_json else harness.ProgressBar("judge")), as_json)


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
    valuer: Annotated[str, typer.Option(help="Valuers, comma-separated: labels, sample, oracle, uniform, learned, "
                                        "lookahead (with --value).")] = "labels,sample",
    value: Annotated[Optional[str], typer.Option("--value", help="A value file made by `tot learn` (valuer learned).")] = None,
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
        lambda: value_auc.run(rows=rows, valuers=valuer, per_depth=per_depth, out=out, model=model, threads=threads, value=value,
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
        if not any(record["kind"] in harness.REPORTED for record in records):
            raise TotError(f"no benchmark lines in {', '.join(files)} (tot report reads the lines of tot bench and tot auc)",
                           exit_code=EXIT_USAGE)
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
