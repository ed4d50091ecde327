"""Run a benchmark grid and append one JSON line per (puzzle, configuration), resumably.

Every finished job is one line written with a single `write` and an `fsync`, so a
run killed at any moment (Ctrl-C, `kill -9`) keeps every line it finished. Started
again with the same arguments it skips the jobs whose key is already in the file;
a half-written last line is cut off and redone. The key hashes what decides a
result (task, puzzle, configuration, seed, model hash), not the timings.

Each job re-seeds the model before it starts, so a line does not depend on which
jobs ran before it in the same process: a resumed run, a run with several workers
and `tot solve ... --seed S` give the same decisions for the same puzzle.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from tot.bench.config import BenchSpec, Puzzle, RunConfig
from tot.errors import InputError, TotError
from tot.export import json_is
from tot.models import Model

Record = dict[str, Any]


class Interrupted(TotError):
    """Ctrl-C stopped the run; every finished line is kept (exit code 130)."""

    exit_code = 130


@dataclass(frozen=True)
class ModelSpec:
    """Which model the jobs that need one load, and its identity (file name and sha256).

    With `servers`, worker k uses the model served at `servers[k % len(servers)]`; its
    identity is the served model's name (a server does not give the file's hash).
    """

    path: str | None = None
    threads: int | None = None
    file: str = ""
    sha256: str = ""
    servers: tuple[str, ...] = ()
    chat: bool = False

    def identity(self) -> dict[str, Any]:
        extra = {**({"backend": "server"} if self.servers else {}), **({"chat": True} if self.chat else {})}
        return {"file": self.file, "sha256": self.sha256, **extra}


@dataclass(frozen=True)
class Job:
    """One line to produce: `runner(job, model)` returns the line's own fields."""

    runner: Callable[[Job, Model | None], Record]
    kind: str
    task: str
    puzzle: Puzzle
    config: Any  # RunConfig, or another frozen config with as_dict() and needs_model
    seed: int
    key: str


@dataclass
class Summary:
    """What a run did: the lines of this run (in job order), how many were already there, how many are new."""

    out: Path
    records: list[Record] = field(default_factory=list)
    skipped: int = 0
    written: int = 0
    redone_partial_line: bool = False

    @property
    def total(self) -> int:
        return len(self.records)

    @property
    def solved(self) -> int:
        return sum(bool(r.get("solved")) for r in self.records)


class Progress(Protocol):
    """What the runner reports while it works (the CLI draws it; tests may record it)."""

    def start(self, total: int, finished: Sequence[Record]) -> None: ...
    def advance(self, record: Record) -> None: ...
    def stop(self) -> None: ...


class NoProgress:
    """Reports nothing."""

    def start(self, total: int, finished: Sequence[Record]) -> None:
        return None

    def advance(self, record: Record) -> None:
        return None

    def stop(self) -> None:
        return None


def job_key(kind: str, task: str, puzzle: str, config: dict[str, Any], seed: int, model: dict[str, str] | None) -> str:
    """A short stable hash of what decides a line's result."""
    identity = {"kind": kind, "task": task, "puzzle": puzzle, "config": config, "seed": seed, "model": model}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]


class ResultsFile:
    """An append-only JSON-lines file, locked while a run writes it, repaired on open.

    Use as a context manager. `done` maps each finished key to its line.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.fd = -1
        self.done: dict[str, Record] = {}
        self.redone_partial_line = False

    def __enter__(self) -> ResultsFile:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as error:
            raise InputError(f"cannot write results to {self.path}: {error.strerror or error}") from None
        try:
            self._lock()
            self._recover()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # also releases the lock
            self.fd = -1

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory lock
            return
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"{self.path} is being written by another run; wait for it or use another --out") from None

    def _recover(self) -> None:
        """Read the finished lines; cut off a half-written (or unreadable) last line."""
        with open(self.path, "rb") as handle:
            data = handle.read()
        try:
            records, keep = parse_lines(data, self.path)
        except InputError as error:
            raise InputError(f"{error.message}; remove it or write to another --out") from None
        for record in records:
            self.done.setdefault(str(record["key"]), record)
        if keep < len(data):
            os.ftruncate(self.fd, keep)
            self.redone_partial_line = True

    def append(self, record: Record) -> None:
        """Write one line with a single write, then fsync: it is either wholly there or redone on resume."""
        data = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
        os.fsync(self.fd)
        self.done.setdefault(str(record["key"]), record)


def parse_lines(data: bytes, path: str | os.PathLike[str]) -> tuple[list[Record], int]:
    """The lines of a results file and the length of its sound part (a torn or unreadable last line is not)."""
    keep = data.rfind(b"\n") + 1
    lines = data[:keep].split(b"\n")[:-1]
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            if number == len(lines):  # the last write was torn: its job is redone
                keep -= len(line) + 1
                break
            raise InputError(f"{path}: line {number} is not valid JSON") from None
        if not well_formed(record):
            raise InputError(f"{path}: line {number} is not a tot benchmark line")
        records.append(record)
    return records, keep


REPORTED = ("search", "values")  # the kinds of line `tot report` reads (tot bench's and tot auc's)
_NUMBER = (int, float)
_FIELDS: dict[str, dict[str, Any]] = {
    "search": {"task": str, "puzzle": str, "config": dict, "solved": bool, "solved_any": bool, "usage": dict, "seconds": _NUMBER},
    "values": {"task": str, "puzzle": str, "config": dict, "states": list, "seconds": _NUMBER},
}
_USAGE = ("calls", "prompt_tokens_evaluated", "generated_tokens", "nodes_expanded")


def well_formed(record: Any) -> bool:
    """Whether `record` is a line as tot writes it: a key and a kind, and for the kinds `tot report` reads, every
    field it reads, of the type it reads (a line of another kind is kept, and not reported)."""
    if not (isinstance(record, dict) and isinstance(record.get("key"), str) and isinstance(record.get("kind"), str)):
        return False
    fields = _FIELDS.get(record["kind"])
    if fields is None:
        return True
    if not all(json_is(record.get(name), kind) for name, kind in fields.items()):
        return False
    model, machine, metrics = record.get("model"), record.get("machine", {}), record.get("metrics")
    config = record["config"]
    return (
        (model is None or isinstance(model, dict) and all(isinstance(model.get(k), str) for k in ("file", "sha256")))
        and isinstance(machine, dict) and (not machine or isinstance(machine.get("cpu"), str)
                                           and json_is(machine.get("cpu_threads"), int)
                                           and (machine.get("threads") is None or json_is(machine["threads"], int)))
        and (metrics is None or isinstance(metrics, dict) and all(json_is(v, _NUMBER) for v in metrics.values()))
        and all(isinstance(config.get(k) or {}, dict) for k in ("options", "budget"))
        and isinstance(config.get("strategy", ""), str)
        and all(isinstance(config.get(k) or "", str) for k in ("preset", "evaluator", "generator", "valuer"))
        and ("seed" not in record or json_is(record["seed"], int))
        and (
            all(json_is(record["usage"].get(name), _NUMBER) for name in _USAGE)
            if record["kind"] == "search"
            else isinstance(config.get("valuer"), str) and all(
                isinstance(s, dict) and json_is(s.get("value"), _NUMBER) and isinstance(s.get("solvable"), bool)
                and json_is(s.get("depth"), int) for s in record["states"])
        )
    )


def read_records(paths: Sequence[str | os.PathLike[str]]) -> list[Record]:
    """Every finished line of `paths` (the first of each key), without a torn last line."""
    records: dict[str, Record] = {}
    for path in paths:
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            raise InputError(f"cannot read {path}: {error.strerror or error}") from None
        for record in parse_lines(data, path)[0]:
            records.setdefault(str(record["key"]), record)
    return list(records.values())


def model_name(record: Record) -> str:
    """The model file a line was measured with ("-" for model-free lines)."""
    return str((record.get("model") or {}).get("file") or "-")


@functools.lru_cache(maxsize=1)
def machine() -> dict[str, Any]:
    """The CPU model, hardware threads, OS and Python of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        if platform.system() == "Darwin":
            import subprocess

            run = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True)
            cpu = run.stdout.strip() or cpu
    return {
        "cpu": cpu,
        "cpu_threads": os.cpu_count(),
        "system": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
    }


@functools.lru_cache(maxsize=1)
def tot_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tot")
    except PackageNotFoundError:
        return "unknown"


def model_spec(path: str | None, threads: int | None, servers: Sequence[str] = (), chat: bool = False) -> ModelSpec:
    """The model's file name and sha256 (the default model's is known; another file is hashed once).

    With `servers`, each is asked which model it serves (so a server that is down fails here,
    before any job); they must all serve the same one.
    """
    from tot.models import model_sha256, resolve_model_path

    if servers:
        from tot import api

        names = {api.connect(url, chat=chat, chat_template_from=path).name for url in servers}
        if len(names) > 1:
            raise InputError(f"the servers serve different models ({', '.join(sorted(names))}); give servers of one model")
        return ModelSpec(path, threads, names.pop(), "", tuple(servers), chat)
    resolved = resolve_model_path(path)
    return ModelSpec(path, threads, resolved.name, model_sha256(None if path is None else resolved), chat=chat)


def load(spec: ModelSpec, seed: int, worker: int = 0) -> Model:
    """The model of `spec` in this process (worker number `worker` picks among the servers)."""
    from tot import api

    server = spec.servers[worker % len(spec.servers)] if spec.servers else None
    return api.load_model(spec.path, threads=spec.threads, seed=seed, chat=spec.chat, server=server)


def complete(job: Job, model: Model | None, spec: ModelSpec) -> Record:
    """Run one job and add the fields every line has (key, puzzle, seed, model, machine, version, wall time)."""
    reseed = getattr(model, "reseed", None)
    if reseed is not None:
        reseed(job.seed)
    started = time.perf_counter()
    fields = job.runner(job, model if job.config.needs_model else None)
    seconds = time.perf_counter() - started
    hardware = dict(machine())
    hardware["threads"] = getattr(model, "threads", None) if job.config.needs_model else None
    if job.config.needs_model and spec.servers:
        hardware["server"] = getattr(model, "url", None)  # where the model ran
    return {
        "key": job.key,
        "kind": job.kind,
        "task": job.task,
        "puzzle": job.puzzle.text,
        "row": job.puzzle.row,
        "seed": job.seed,
        "config": job.config.as_dict(),
        **fields,
        "seconds": round(seconds, 3),
        "model": spec.identity() if job.config.needs_model else None,
        "machine": hardware,
        "tot_version": tot_version(),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


@functools.lru_cache(maxsize=8)
def task_object(name: str, options: tuple[tuple[str, Any], ...] = ()) -> Any:
    """One task instance per process, name and task options (some tasks load word lists)."""
    from tot import tasks

    return tasks.get(name, **dict(options))


def run_search(job: Job, model: Model | None) -> Record:
    """A search job: solve the puzzle with the job's configuration; success, task metrics and usage."""
    from tot import api

    config: RunConfig = job.config
    task = task_object(job.task, config.task_options)
    result = api.solve(
        task,
        job.puzzle.text,
        preset=config.preset,
        strategy=config.strategy,
        generator=config.generator,
        valuer=config.valuer,
        budget=config.budget,
        model=model,
        seed=job.seed,
        value=_value(config.value) if config.value else None,
        **dict(config.options),
    )
    if result.stop_reason == "interrupted":
        raise KeyboardInterrupt
    verified = result.solved
    solved_any = verified or any(c.verified for c in result.candidates)
    metrics = task_metrics(task, job.puzzle.text, result)
    solved = verified
    if "game" in metrics:  # tasks graded against a hidden gold answer (crosswords): success is the gold match
        solved = metrics["game"] >= 1
        measure = metrics_function(task)
        assert measure is not None
        solved_any = solved or any(measure(job.puzzle.text, c.text).get("game", 0) >= 1 for c in result.candidates)
    record: Record = {
        "solved": solved,
        "solved_any": solved_any,
        "verified": verified,
        "answer": None if result.answer is None else result.answer.text,
        "candidates": [{"answer": c.text, "verified": c.verified} for c in result.candidates],
        "metrics": metrics,
        "stop_reason": result.stop_reason,
        "usage": result.usage.as_dict(),
    }
    if result.found:  # an anytime search: each better answer on the way, graded, for curves against the budget
        measure = metrics_function(task)
        record["found"] = [
            {**f.as_dict(), **({"metrics": measure(job.puzzle.text, f.answer.text)} if measure is not None else {})}
            for f in result.found
        ]
    return record


@functools.lru_cache(maxsize=4)
def _value(path: str) -> Any:
    """A value file, loaded once per process."""
    from tot.learn import valuefile

    return valuefile.load(path)


def metrics_function(task: Any) -> Callable[[str, Any], dict[str, float]] | None:
    """The task's `metrics(puzzle, state_or_answer)` (method or module function), if it has one."""
    measure = getattr(task, "metrics", None)
    if measure is None:
        measure = getattr(sys.modules.get(type(task).__module__), "metrics", None)
    return measure if callable(measure) else None


def task_metrics(task: Any, puzzle: str, result: Any) -> dict[str, float]:
    """The task's own success metrics for the committed result (empty for tasks without any)."""
    measure = metrics_function(task)
    if measure is None:
        return {}
    final = final_state(result)
    root = getattr(getattr(result, "tree", None), "root", None)
    # A baseline's chain is a node that keeps the input's state: its answer is what it made.
    if final is None or result.answer is not None and (not result.path or root is not None and final is root.state):
        final = "" if result.answer is None else result.answer.text
    return {name: round(float(value), 6) for name, value in measure(puzzle, final).items()}


def final_state(result: Any) -> Any:
    """The state at the end of the result's path, found by following its thoughts down the tree."""
    tree = getattr(result, "tree", None)
    if tree is None:
        return None
    node = tree.root
    for thought in result.path:
        node = next((c for c in node.children if c.parent is node and c.thought == thought), None)
        if node is None:
            return None
    return node.state


def search_jobs(spec: BenchSpec, model: ModelSpec | None) -> list[Job]:
    """One job per (configuration, puzzle), configurations in grid order."""
    jobs = []
    for config in spec.configs:
        identity = model.identity() if model is not None and config.needs_model else None
        for puzzle in spec.puzzles:
            key = job_key("search", spec.task, puzzle.text, config.as_dict(), spec.seed, identity)
            jobs.append(Job(run_search, "search", spec.task, puzzle, config, spec.seed, key))
    return jobs


def run(spec: BenchSpec, progress: Progress | None = None) -> Summary:
    """Run every configuration of `spec` on every puzzle, appending lines to `spec.out` (resuming)."""
    needs_model = any(config.needs_model for config in spec.configs)
    threads = spec.threads or (max(1, (os.cpu_count() or 1) // spec.workers) if spec.workers > 1 else None)
    model = model_spec(spec.model, threads, spec.servers, spec.chat) if needs_model else ModelSpec(spec.model, threads)
    return execute(search_jobs(spec, model if needs_model else None), spec.out, model, seed=spec.seed,
                   workers=spec.workers, progress=progress)


def execute(
    jobs: Sequence[Job],
    out: str | os.PathLike[str],
    model: ModelSpec,
    *,
    seed: int = 0,
    workers: int = 1,
    progress: Progress | None = None,
) -> Summary:
    """Run the jobs not yet in `out` and append their lines; raise `Interrupted` on Ctrl-C."""
    progress = progress or NoProgress()
    with ResultsFile(out) as results:
        summary = Summary(Path(out), redone_partial_line=results.redone_partial_line)
        todo = [job for job in jobs if job.key not in results.done]
        finished = [results.done[job.key] for job in jobs if job.key in results.done]
        summary.skipped = len(finished)
        progress.start(len(jobs), finished)
        try:
            for record in _records(todo, model, seed, workers):
                results.append(record)
                summary.written += 1
                progress.advance(record)
        except KeyboardInterrupt:
            raise Interrupted(
                f"interrupted: {summary.skipped + summary.written} of {len(jobs)} lines are in {out};"
                " run the same command again to resume"
            ) from None
        except TotError as error:  # a server that died, a model that failed: what is finished stays
            raise TotError(
                f"{error.message}; {summary.skipped + summary.written} of {len(jobs)} lines are in {out}:"
                " run the same command again to resume", exit_code=error.exit_code,
            ) from None
        finally:
            progress.stop()
        summary.records = [results.done[job.key] for job in jobs]
    return summary


def _records(jobs: Sequence[Job], model: ModelSpec, seed: int, workers: int) -> Iterator[Record]:
    if workers <= 1 or len(jobs) <= 1:
        loaded: Model | None = None
        for job in jobs:
            if job.config.needs_model and loaded is None:
                loaded = load(model, seed)
            yield complete(job, loaded, model)
        return
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # never fork a process that holds llama.cpp threads
    counter = context.Value("i", 0)  # numbers the workers, to spread them over the servers
    pool = context.Pool(min(workers, len(jobs)), initializer=_start_worker, initargs=(model, seed, os.getpid(), counter))
    try:
        yield from pool.imap_unordered(_work, jobs, chunksize=1)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()


_WORKER: dict[str, Any] = {}


def _start_worker(model: ModelSpec, seed: int, parent: int, counter: Any) -> None:
    """In each worker process: leave Ctrl-C to the parent, exit if the parent dies, load the model lazily."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with counter.get_lock():
        number = counter.value
        counter.value += 1
    _WORKER.update(spec=model, seed=seed, model=None, number=number)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _work(job: Job) -> Record:
    if job.config.needs_model and _WORKER["model"] is None:
        _WORKER["model"] = load(_WORKER["spec"], _WORKER["seed"], _WORKER["number"])
    return complete(job, _WORKER["model"], _WORKER["spec"])


class ProgressBar:
    """A Rich progress bar on stderr: lines done, success so far, time left."""

    def __init__(self, description: str) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        from tot.render import console

        self.description = description
        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[success]}"),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=console(stderr=True),
            transient=False,
        )
        self.task_id: Any = None
        self.finished = 0
        self.solved = 0

    def _success(self) -> str:
        if not self.finished:
            return ""
        return f"solved {self.solved}/{self.finished} ({100 * self.solved / self.finished:.0f}%)"

    def _count(self, record: Record) -> None:
        if "solved" in record:
            self.finished += 1
            self.solved += bool(record["solved"])

    def start(self, total: int, finished: Sequence[Record]) -> None:
        for record in finished:
            self._count(record)
        self.bar.start()
        self.task_id = self.bar.add_task(self.description, total=total, completed=len(finished), success=self._success())

    def advance(self, record: Record) -> None:
        self._count(record)
        self.bar.update(self.task_id, advance=1, success=self._success())

    def stop(self) -> None:
        self.bar.stop()
