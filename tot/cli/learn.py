"""`tot learn`: a value learned from the engine's own verified searches (see `tot.learn.run`)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Optional

import typer

from tot import strategies
from tot.cli.common import EXIT_INTERRUPTED, ModelOpt, ThreadsOpt, app, console, errors, fail
from tot.errors import InputError, TotError


@app.command()
def learn(
    task: Annotated[str, typer.Argument(help="Task: game24, or module:Class / path.py:Class for your own (with a verifier).")],
    rows: Annotated[Optional[str], typer.Option(help="Training rows of the task's puzzle file, START:STOP[:STEP], stop "
                                                "exclusive. Default for game24: 0:900 (rows 900-999 are the test set).")] = None,
    puzzle: Annotated[Optional[list[str]], typer.Option(help="A training puzzle (repeatable), instead of --rows.")] = None,
    out: Annotated[str, typer.Option(help="The value file to write (use it with --value on solve and bench).")] = "value.tot",
    generations: Annotated[int, typer.Option(help="Rounds of expert iteration: generation k+1 learns from searches guided "
                                             "by generation k's value. Stops early when one no longer improves.")] = 1,
    strategy: Annotated[str, typer.Option(help="The learning searches' strategy.")] = "mcts",
    generator: Annotated[str, typer.Option(help="Their thought generator (all: every legal step, no model).")] = "all",
    evaluator: Annotated[str, typer.Option(help="Generation 1's valuer (later ones use the learned value): uniform "
                                           "(no judgement), labels, sample.")] = "uniform",
    budget_nodes: Annotated[Optional[int], typer.Option(help="Nodes each learning search may expand.")] = 2000,
    budget_calls: Annotated[Optional[int], typer.Option(help="Model calls each learning search may make.")] = None,
    set_options: Annotated[Optional[list[str]], typer.Option("--set", help="Strategy options, KEY=VALUE (repeatable).")] = None,
    rollouts: Annotated[int, typer.Option(help="Random playouts that label a state the search left undecided (positive if "
                                          "one reaches a verified goal, else negative); 0 drops such states.")] = 256,
    layers: Annotated[str, typer.Option(help="Hidden layers to try, comma-separated (1..n, -1 the last): each alone, "
                                        "its tokens' mean into an MLP (and a logistic regression on the deepest).")] = "9,12",
    work: Annotated[Optional[str], typer.Option(help="Folder of the resumable work (searches, features, one value file per "
                                                "generation). Default: OUT.d")] = None,
    model: ModelOpt = None,
    threads: ThreadsOpt = None,
    seed: Annotated[int, typer.Option(help="Seed of the searches and the training.")] = 0,
    workers: Annotated[int, typer.Option(help="Processes, each with its own model.")] = 1,
    server: Annotated[Optional[str], typer.Option(help="OpenAI-compatible servers, comma-separated, for the searches and "
                                                  "the features (/v1/embeddings); worker k uses server k mod their number.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="No progress bars; print a JSON summary.")] = False,
) -> None:
    """Learn a state value from the engine's own searches on training puzzles: labels from the searches and the
    task's verifier only, features from the model's hidden states, a small calibrated head.

    Resumable: run the same command again after Ctrl-C or a crash. Example: tot learn game24 --rows 0:900
    """
    from tot.bench import config as bench_config
    from tot.bench import harness
    from tot.core import Budget
    from tot.learn import run

    try:
        name = bench_config.task_name(task)
        if not rows and not puzzle and name == "game24":
            rows = "0:900"
        task_obj = harness.task_object(name)  # an unknown task fails first
        puzzles = bench_config.select_puzzles(name, rows, puzzle or [])
        for one in puzzles:
            task_obj.initial(one.text)  # a malformed puzzle fails before anything runs
        options = strategies.parse_options(set_options or [])
        strategies.check_options(strategy, options)
        settings = run.SearchSettings(
            strategy=strategy, generator=generator, valuer=evaluator,
            budget=Budget(max_nodes=budget_nodes, max_calls=budget_calls), options=tuple(sorted(options.items())),
            rollouts=rollouts,
        )
        if rollouts < 0:
            raise InputError(f"rollouts must not be negative, got {rollouts}")
        try:
            chosen_layers = tuple(int(part) for part in layers.split(",") if part.strip())
        except ValueError:
            raise InputError(f"layers must be whole numbers, comma-separated, got {layers!r}") from None
        if not chosen_layers:
            raise InputError("give at least one layer")
        servers = tuple(part.strip() for part in (server or "").split(",") if part.strip())

        def progress(stage: str) -> Any:
            return None if as_json else harness.ProgressBar(stage)

        def report(generation: run.Generation) -> None:
            if as_json:
                return
            held = generation.validation
            depths = ", ".join(f"depth {d} {v:.3f}" for d, v in held["auc_by_depth"].items())
            depths = f" ({depths})" if depths else ""
            console.print(
                f"generation {generation.number}: {generation.solved}/{generation.searches} searches solved, "
                f"{generation.labelled['positive']} positive / {generation.labelled['negative']} negative / "
                f"{generation.labelled['dropped']} dropped states, {generation.examples} distinct states learned from; "
                f"held-out AUC {held['auc']}{depths} with {held['candidate']}; {generation.seconds:.0f} s -> "
                f"{generation.value}", highlight=False, markup=False, soft_wrap=True,
            )

        summary = run.learn(name, puzzles, out, settings=settings, generations=generations, layers=chosen_layers,
                            work=work, model=model, threads=threads, servers=servers, workers=workers, seed=seed,
                            progress=progress, report=report)
    except harness.Interrupted as stopped:
        errors.print(stopped.message + " (tot learn resumes the same way)", highlight=False, markup=False)
        raise typer.Exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:  # while training: the searches and features are on disk, the head is refitted
        errors.print("interrupted while training; the searches and features are kept: run the same command to resume",
                     highlight=False, markup=False)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except TotError as error:
        fail(error)
    if as_json:
        print(json.dumps({"out": str(summary.out), "work": str(summary.work), "best": summary.best,
                          "stopped": summary.stopped, "generations": [g.as_dict() for g in summary.generations]}))
        return
    if summary.stopped:
        console.print(summary.stopped, highlight=False, markup=False)
    console.print(f"wrote {summary.out} (generation {summary.best}); use it with `tot solve ... --value {summary.out}`",
                  highlight=False, markup=False)
