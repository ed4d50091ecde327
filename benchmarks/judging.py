"""Judge a benchmark's answers, for tasks no program can verify (creative writing, judged TOML tasks).

`tot bench` on a judged task runs its searches, then one `judge` line per search line: every output
of that line (ToT's passage; each of IO's and CoT's samples) scored from 1 to 10 by the judge
(`tot.judge`: by default the model that wrote them, `--judge-model PATH` or `--judge-server URL` for
another). Judge lines are keyed by the search line, the texts, the judge prompt and the judge model,
so a run resumes, and judging the same lines with a bigger judge adds lines beside the first judge's.

`rows` summarises them: per configuration and judge, the mean score over inputs (an input's score is
the mean over its outputs, as the paper averages its samples) with its standard error, the outputs
that met the task's constraint as written and after repair, and the cost per input.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tot.bench import harness
from tot.bench.config import BenchSpec, Puzzle, describe, parse_rows
from tot.bench.harness import Job, ModelSpec, Progress, Record, Summary
from tot.errors import TotError
from tot.models import Model

METHOD = "expected score 1-10, one forward pass"
# The paper's creative-writing scores (GPT-4 judged coherency 1-10, 5 samples averaged; Yao et al. 2023, figure 5a).
PAPER = {"io": "6.19 / 4.47", "cot": "6.93 / 5.16", "tot": "7.56 / 6.62"}
PAPER_SOURCE = "Yao et al. 2023 (GPT-4 / GPT-3.5 writing, GPT-4 judging)"


@dataclass(frozen=True)
class JudgeConfig:
    """One judge job: the outputs of one search line, and what judges them."""

    of: str  # the search line's key
    texts: tuple[str, ...]
    prompt_sha: str  # the judge prompt's template (for this input), so a changed prompt is judged again
    method: str = METHOD

    @property
    def needs_model(self) -> bool:
        return True

    def as_dict(self) -> dict[str, Any]:
        digest = hashlib.sha256(json.dumps(self.texts).encode()).hexdigest()[:16]
        return {"of": self.of, "judge": self.method, "outputs": len(self.texts), "texts_sha": digest,
                "prompt_sha": self.prompt_sha}


def judged(task_name: str) -> bool:
    """Whether the task's answers are judged (it has a judge prompt)."""
    from tot.judge import is_judged

    return is_judged(harness.task_object(task_name))


def outputs(record: Record) -> tuple[str, ...]:
    """The outputs of a search line to judge: every candidate (a baseline's samples), else the answer."""
    texts = tuple(str(c["answer"]) for c in record.get("candidates") or [])
    if not texts and record.get("answer") is not None:
        texts = (str(record["answer"]),)
    return texts


def judge_spec(spec: BenchSpec) -> ModelSpec:
    """The judge model: `--judge-server`, else `--judge-model`, else the model that wrote the answers."""
    if spec.judge_server:
        return harness.model_spec(spec.judge_model, spec.threads, (spec.judge_server,))
    if spec.judge_model:
        return harness.model_spec(spec.judge_model, spec.threads)
    return harness.model_spec(spec.model, spec.threads, spec.servers, spec.chat)


def jobs(records: Sequence[Record], judge: ModelSpec, seed: int) -> list[Job]:
    """One judge job per search line of a judged task."""
    found = []
    for record in records:
        if record.get("kind") != "search" or not judged(record["task"]):
            continue
        task = harness.task_object(record["task"])
        prompt = task.judge_prompt(task.initial(record["puzzle"]), "")
        config = JudgeConfig(str(record["key"]), outputs(record), hashlib.sha256(prompt.encode()).hexdigest()[:16])
        puzzle = Puzzle(record["puzzle"], record.get("row"))
        key = harness.job_key("judge", record["task"], record["puzzle"], config.as_dict(), seed, judge.identity())
        found.append(Job(run_judge, "judge", record["task"], puzzle, config, seed, key))
    return found


def run_judge(job: Job, model: Model | None) -> Record:
    """Score every output of one search line; also the task's metrics of each (text: the constraint, copying)."""
    from tot.judge import Judge

    assert model is not None
    config: JudgeConfig = job.config
    task = harness.task_object(job.task)
    state = task.initial(job.puzzle.text)
    scores = Judge(task, model).scores(state, config.texts) if config.texts else []
    measure = harness.metrics_function(task)
    return {
        "scores": [round(s, 4) for s in scores],
        "score": round(statistics.fmean(scores), 4) if scores else None,
        "metrics": [measure(job.puzzle.text, text) for text in config.texts] if measure else [],
    }


def run(spec: BenchSpec, progress: Progress | None = None, judge_progress: Progress | None = None) -> Summary:
    """`harness.run(spec)`, then the judge lines of its search lines when the task is judged."""
    summary = harness.run(spec, progress)
    if not judged(spec.task):
        return summary
    judge = judge_spec(spec)
    judging = harness.execute(jobs(summary.records, judge, spec.seed), spec.out, judge, seed=spec.seed,
                              progress=judge_progress)
    return Summary(summary.out, [*summary.records, *judging.records], summary.skipped + judging.skipped,
                   summary.written + judging.written, summary.redone_partial_line)


@dataclass(frozen=True)
class JudgedRow:
    """One configuration's judged results on one task, with one judge."""

    task: str
    judge: str
    config: dict[str, Any]
    inputs: int
    outputs: int
    missing: int  # inputs with no output at all
    mean: float | None
    se: float | None
    as_written: float  # share of outputs that met the constraint as the model wrote them
    constraint: float | None  # share of outputs that meet it as judged (after any repair)
    copied: float | None  # mean share of an output's word 6-grams found in the prompt's worked example
    calls: float
    tokens: float
    seconds: float
    judge_seconds: float
    paper: str


def rows(records: Sequence[Record]) -> list[JudgedRow]:
    """One row per (task, judge model, configuration) of the judge lines, in order of first appearance."""
    searches = {str(r["key"]): r for r in records if r.get("kind") == "search"}
    groups: dict[tuple[str, str, str], list[tuple[Record, Record]]] = {}
    for record in records:
        if record.get("kind") != "judge":
            continue
        search = searches.get(str(record["config"]["of"]))
        if search is None:
            continue
        key = (record["task"], harness.model_name(record), json.dumps(search["config"], sort_keys=True))
        groups.setdefault(key, []).append((search, record))
    found = []
    for (task, judge, config_text), pairs in groups.items():
        config = json.loads(config_text)
        scores = [float(j["score"]) for _, j in pairs if j.get("score") is not None]
        outputs_seen = sum(len(j.get("scores") or []) for _, j in pairs)
        written = [bool(c.get("verified")) for s, _ in pairs for c in (s.get("candidates") or [])]
        measured = [m for _, j in pairs for m in (j.get("metrics") or [])]
        held = [float(m["constraint"]) for m in measured if "constraint" in m]
        copied = [float(m["copied"]) for m in measured if "copied" in m]
        found.append(
            JudgedRow(
                task=task,
                judge=judge,
                config=config,
                inputs=len(pairs),
                outputs=outputs_seen,
                missing=sum(1 for _, j in pairs if not j.get("scores")),
                mean=statistics.fmean(scores) if scores else None,
                se=statistics.stdev(scores) / math.sqrt(len(scores)) if len(scores) > 1 else None,
                as_written=sum(written) / len(written) if written else 0.0,
                constraint=statistics.fmean(held) if held else None,
                copied=statistics.fmean(copied) if copied else None,
                calls=statistics.fmean(float(s["usage"]["calls"]) for s, _ in pairs),
                tokens=statistics.fmean(
                    float(s["usage"]["prompt_tokens_evaluated"] + s["usage"]["generated_tokens"]) for s, _ in pairs
                ),
                seconds=statistics.fmean(float(s["seconds"]) for s, _ in pairs),
                judge_seconds=statistics.fmean(float(j["seconds"]) for _, j in pairs),
                paper=paper_figure(task, config),
            )
        )
    return found


def paper_figure(task: str, config: dict[str, Any]) -> str:
    """The paper's creative-writing score for the same method (GPT-4 / GPT-3.5), or ""."""
    if task != "text":
        return ""
    strategy = config.get("strategy")
    if strategy in ("io", "cot"):
        return PAPER[str(strategy)]
    if strategy == "bfs" and config.get("valuer") in ("vote", "vote-pass"):
        return PAPER["tot"]
    return ""


def table(found: Sequence[JudgedRow]) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the judged table."""
    header = ["task", "judge", "method", "evaluator", "inputs", "outputs", "mean score ± s.e.", "paper (GPT-4 / 3.5)",
              "as written", "constraint", "copied", "calls / input", "tokens / input", "seconds / input", "judge s / input"]
    body = []
    for row in found:
        cells = describe(row.config)
        method = " · ".join(part for part in (cells["protocol"], cells["strategy"]) if part != "-")
        score = "-" if row.mean is None else f"{row.mean:.2f}" + ("" if row.se is None else f" ± {row.se:.2f}")
        body.append([
            row.task, row.judge, method, cells["evaluator"], str(row.inputs),
            str(row.outputs) + (f" ({row.missing} inputs without one)" if row.missing else ""),
            score, row.paper or "-", f"{100 * row.as_written:.0f}%",
            "-" if row.constraint is None else f"{100 * row.constraint:.0f}%",
            "-" if row.copied is None else f"{100 * row.copied:.0f}%",
            f"{row.calls:.1f}", f"{row.tokens:,.0f}", f"{row.seconds:.1f}", f"{row.judge_seconds:.1f}",
        ])
    return header, body


def probe_main(
    argv: Sequence[str] | None,
    prog: str,
    doc: str,
    out: str,
    make_jobs: Callable[[list[Record], list[int] | None, argparse.Namespace, ModelSpec], list[Job]],
    summarise: Callable[[Sequence[Record]], dict[str, Any]],
    extra: Callable[[argparse.ArgumentParser], None] = lambda parser: None,
) -> int:
    """The command line of a probe over a `tot bench text` results file (`votes`, `judge_checks`): run its jobs
    (resumable, in `--out`), then print its summary as JSON."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    parser.add_argument("results", help="a `tot bench text` results file")
    parser.add_argument("--out", default=out, help="JSON-lines file, appended; rerun to resume")
    parser.add_argument("--rows", default=None, help="inputs (rows of the data file), START:STOP")
    parser.add_argument("--model", default=None, help="GGUF model (default: the default model)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    extra(parser)
    args = parser.parse_args(argv)
    try:
        records = harness.read_records([args.results])
        spec = harness.model_spec(args.model, args.threads)
        rows = parse_rows(args.rows, 100) if args.rows else None
        done = harness.execute(make_jobs(records, rows, args, spec), args.out, spec, seed=args.seed,
                               progress=harness.ProgressBar(prog.rpartition(".")[2]))
    except TotError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return error.exit_code
    print(json.dumps(summarise(done.records), indent=1))
    return 0


NOTE = (
    "Scores: the judge's expected coherency score (1-10) from one forward pass, the mean over an input's outputs "
    "(ToT: its one passage; IO and CoT: all 10 samples), then over inputs, ± its standard error. `as written`: "
    "outputs whose paragraphs ended with their sentences before any repair; `constraint`: after repair, as judged; "
    "`copied`: the mean share of an output's word 6-grams found in the prompt's worked example. "
    f"Paper: {PAPER_SOURCE}: a different judge and far larger models, shown for scale only."
)
