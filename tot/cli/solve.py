"""`tot solve` and `tot check`: search for a solution, verify an answer."""

from __future__ import annotations

import json
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape

from tot import api, export, render, strategies, tasks
from tot.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_SOLVED,
    EXIT_UNSOLVED,
    ChatOpt,
    GpuOpt,
    GraphOpt,
    HtmlOpt,
    ModelOpt,
    SeedOpt,
    ThreadsOpt,
    _nothing,
    _puzzle,
    app,
    check_outputs,
    console,
    errors,
    fail,
    write_outputs,
)
from tot.core import Budget
from tot.errors import InputError, TotError, clip


@app.command(context_settings={"ignore_unknown_options": True})
def solve(
    task: Annotated[str, typer.Argument(help="Task name (game24, crossword, text), a task written as prompts in a TOML "
                                        "file (my-task.toml), or module:Class for your own task.")],
    puzzle: Annotated[list[str], typer.Argument(help="The puzzle, e.g. 4 9 10 13, or the input of a text or TOML task (quoted).")],
    preset: Annotated[
        Optional[str], typer.Option(help="fast: MCTS over every legal step, the model's likelihood of each as its prior, one-pass values. "
                                    "paper: the paper's ToT-BFS (propose, 3 sampled values, beam 5). crossword: rounds of "
                                    "depth-first search in belief order to a complete grid, the reverse channel asked about each "
                                    "grid's words in between, until a round finds nothing new. crossword-anytime: the same, "
                                    "looking at more words per clue until the budget (default 60 s). vote: the paper's creative "
                                    "writing (the model writes 5 thoughts per step, 5 sampled votes keep one). value: model-written thoughts valued in one "
                                    "pass, beam 5. Default: the task's own (crossword for crossword, vote for text), else fast.")
    ] = None,
    strategy: Annotated[
        Optional[str],
        typer.Option(help="Search strategy (default from the preset): bfs, dfs, best-first, mcts, refine (rounds of "
                     "another search, each after the evaluator looked closer at the last answer: the crossword's), or "
                     "the baselines io, cot, cot-sc (no search: the model answers directly, with one or several chains "
                     "of thought)."),
    ] = None,
    generator: Annotated[
        Optional[str], typer.Option(help="Thoughts: enumerate (legal steps ranked by the model), values (legal steps ranked by the "
                                    "values of the states they lead to, one batched call), propose (the paper's prompt), "
                                    "grammar (propose, constrained to legal lines), all (no model), task (the task's own; "
                                    "crosswords), sample (the model writes k thoughts from the task's thought prompt; text, "
                                    "TOML tasks).")
    ] = None,
    evaluator: Annotated[
        Optional[str], typer.Option(help="State values: labels (one pass), sample (paper, 3 samples), oracle (exact solver), "
                                    "uniform (all equal), task (the task's own; crosswords), vote (the paper's: 5 sampled "
                                    "votes among the candidates), vote-conclude (the same, a voter naming no choice asked to "
                                    "conclude), vote-pass (the vote read from one forward pass), vote-rotate (one pass per cyclic "
                                    "order of the choices, averaged: no position bias), learned "
                                    "(a --value file), lookahead (the best learned value one step on), mixed (learned and "
                                    "labels averaged).")
    ] = None,
    value: Annotated[
        Optional[str], typer.Option("--value", help="A value file made by `tot learn`: state values from the model's "
                                    "hidden states (the evaluator becomes learned unless --evaluator says otherwise; with the fast "
                                    "preset and no --generator, the steps are ranked by the learned values too: --generator values).")
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
    task_options: Annotated[
        Optional[list[str]],
        typer.Option("--task-set", help="A task option, KEY=VALUE (repeatable), given to the task's constructor, e.g. "
                     "crossword: --task-set recall=0 (no clue memory), --task-set probe=0 (no hidden-state probe)."),
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
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON result (with the whole tree) instead; "
                                          "`tot view FILE` makes a page of it later.")] = False,
    show_tree: Annotated[bool, typer.Option("--tree/--no-tree", help="Draw the whole search tree (default: a summary).")] = False,
    html: HtmlOpt = None,
    graph: GraphOpt = None,
) -> None:
    """Search for a solution and print the verified answer, the path, a summary of the tree and the usage.

    Exit codes: 0 solved, 1 no solution found (or none exists), 2 bad input, 130 interrupted.
    """
    try:
        check_outputs(html, graph)  # before the search: a typo in a file name costs nothing
        if threads is not None and threads < 1:  # refused even when this search needs no model
            raise InputError(f"threads must be positive, got {threads}")
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
        task_obj = tasks.get(task, **strategies.parse_options(task_options or [], "task options"))
        tasks.start(task_obj, text)  # a malformed puzzle fails before the model loads
        learned = None
        if value is not None:
            from tot.learn import valuefile

            learned = valuefile.load(value)  # a missing or corrupt file fails before the model loads
        chosen = api.PRESETS.get(preset or str(getattr(task_obj, "preset", "fast")))
        needs_model = chosen is None or (generator or chosen.generator) != "all" or (
            evaluator or chosen.valuer
        ) in api.MODEL_VALUERS or value is not None or strategies.takes_model(strategies.get(strategy or chosen.strategy))
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
                value=learned,
                **options,
            )
    except TotError as error:
        fail(error)
    except KeyboardInterrupt:
        errors.print("interrupted")
        raise typer.Exit(EXIT_INTERRUPTED)
    if as_json:
        print(json.dumps(export.result_data(result, task_obj, text)))
    else:
        console.print(render.summary(result, tree=show_tree))
        view = render.final_view(task_obj, text, result)
        if view is not None:
            console.print(view)
    if html or graph:
        write_outputs(export.result_data(result, task_obj, text), html, graph)
    if result.stop_reason == "interrupted":
        raise typer.Exit(EXIT_INTERRUPTED)
    written = result.config.get("open_ended") and result.answer is not None  # an open-ended task's answer
    raise typer.Exit(EXIT_SOLVED if result.solved or written else EXIT_UNSOLVED)


@app.command(context_settings={"ignore_unknown_options": True})  # an answer may start with '-'
def check(
    task: Annotated[str, typer.Argument(help="Task name, e.g. game24.")],
    words: Annotated[
        list[str], typer.Argument(metavar="PUZZLE... ANSWER", help='The puzzle (quoted or not), then your answer, quoted: '
                                  '4 9 10 13 "(13-9)*(10-4)". A trailing "= 24" is fine.')
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object instead.")] = False,
) -> None:
    """Verify an answer exactly with the task's own rules (exit 0 if correct, 1 if not).

    Example: tot check game24 4 9 10 13 "(13 - 9) * (10 - 4) = 24"
    """
    try:
        if len(words) < 2:
            raise InputError('give the puzzle and then the answer, e.g. tot check game24 4 9 10 13 "(13-9)*(10-4)"')
        verdict = api.check(task, " ".join(words[:-1]), words[-1])
    except TotError as error:
        fail(error)
    if as_json:
        print(json.dumps({"answer": verdict.text, "correct": verdict.verified, "detail": verdict.detail}))
        raise typer.Exit(EXIT_SOLVED if verdict.verified else EXIT_UNSOLVED)
    shown = f"{escape(clip(verdict.text))} {escape(clip(verdict.detail, 200))}"  # never the whole of a huge input
    if verdict.verified:
        console.print(f"[bold green]correct[/]: {shown}", highlight=False)
    else:
        console.print(f"[bold red]wrong[/]: {shown}", highlight=False)
    raise typer.Exit(EXIT_SOLVED if verdict.verified else EXIT_UNSOLVED)
