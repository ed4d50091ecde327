"""What a benchmark run is: the puzzles and the grid of search configurations, from flags or a TOML/JSON file.

A grid is the product of its axes: presets x strategies x evaluators x generators x
budgets x strategy options. Evaluator names map to a generator and a valuer:

- `model`: the preset's own model valuer and generator (fast: enumerate + labels,
  paper: propose + sample);
- `labels` / `sample`: that model valuer with the preset's generator;
- `uniform` / `oracle`: the model-free valuers with the `all` generator (every legal
  step, no model at all), unless a generator is given explicitly.

Baseline strategies (io, cot, cot-sc: those that take the model itself) use no evaluator:
they run once per budget and option setting, with the first preset, labelled evaluator
`none`. The default preset is the task's own (`crossword` for crosswords), else `fast`.
"""

from __future__ import annotations

import inspect
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tot.api import GENERATORS, LEARNED_VALUERS, PRESETS, VOTERS
from tot.core import Budget
from tot.errors import InputError
from tot.tasks import ALIASES
from tot.userfiles import parse_toml

EVALUATORS = ("model", "labels", "sample", *VOTERS, "uniform", "oracle", *LEARNED_VALUERS)
MODEL_VALUERS = ("labels", "sample", *VOTERS, *LEARNED_VALUERS)  # learned, lookahead, mixed: with --value FILE
MODEL_FREE_VALUERS = ("uniform", "oracle")
BUDGET_KINDS = ("calls", "tokens", "seconds", "nodes")
BASELINES = frozenset({"io", "cot", "cot-sc"})
DEFAULT_ROWS = {"game24": "900:1000", "crossword": "0:100:5", "text": "0:100"}
AXES = ("preset", "strategy", "evaluator", "generator", *(f"budget-{kind}" for kind in BUDGET_KINDS))
SETTINGS = ("task", "rows", "puzzle", "out", "model", "seed", "workers", "threads", "server", "chat", "value", "judge-model",
            "judge-server")
PLURALS = {"presets": "preset", "strategies": "strategy", "evaluators": "evaluator", "generators": "generator", "puzzles": "puzzle"}

Scalar = Any  # int | float | bool | str | None, as read from flags or a config file


@dataclass(frozen=True)
class Puzzle:
    """One puzzle of a run: its text as the task reads it, and its row in the task's data file (if any)."""

    text: str
    row: int | None = None


@dataclass(frozen=True)
class RunConfig:
    """One point of the grid: everything that decides a search besides the puzzle, the model and the seed."""

    preset: str
    strategy: str
    evaluator: str
    generator: str
    valuer: str
    budget: Budget
    options: tuple[tuple[str, Scalar], ...] = ()
    value: str = ""  # the value file's path, for the learned and mixed valuers
    value_checksum: str = ""  # what tells value files apart (in the stored configuration)
    task_options: tuple[tuple[str, Scalar], ...] = ()  # given to the task's constructor (`--task-set`)

    @property
    def needs_model(self) -> bool:
        return self.evaluator == "none" or self.generator != "all" or self.valuer not in MODEL_FREE_VALUERS

    def same_search(self) -> str:
        """What decides the search, without the names of preset and evaluator: configurations equal here are one."""
        return json.dumps({k: v for k, v in self.as_dict().items() if k not in ("preset", "evaluator")}, sort_keys=True)

    def as_dict(self) -> dict[str, Any]:
        """The configuration as stored in each result line (and used to tell configurations apart)."""
        budget = {kind: getattr(self.budget, f"max_{kind}") for kind in BUDGET_KINDS}
        return {
            "preset": self.preset,
            "strategy": self.strategy,
            "evaluator": self.evaluator,
            "generator": self.generator,
            "valuer": self.valuer,
            "budget": {kind: limit for kind, limit in budget.items() if limit is not None},
            "options": dict(self.options),
            **({"value": self.value_checksum} if self.value_checksum else {}),
            **({"task_options": dict(self.task_options)} if self.task_options else {}),
        }


@dataclass(frozen=True)
class Grid:
    """The axes of one grid; None means "the preset's own choice"."""

    presets: tuple[str, ...] | None = None
    strategies: tuple[str, ...] | None = None
    evaluators: tuple[str, ...] = ("model",)
    generators: tuple[str, ...] | None = None
    budgets: tuple[tuple[str, tuple[float | None, ...]], ...] = ()
    options: tuple[tuple[str, tuple[Scalar, ...]], ...] = ()
    task_options: tuple[tuple[str, tuple[Scalar, ...]], ...] = ()


@dataclass(frozen=True)
class BenchSpec:
    """A whole benchmark run: task, puzzles, configurations and how to run them."""

    task: str
    puzzles: tuple[Puzzle, ...]
    configs: tuple[RunConfig, ...]
    out: Path
    model: str | None = None
    seed: int = 0
    workers: int = 1
    threads: int | None = None
    servers: tuple[str, ...] = ()  # OpenAI-compatible servers the workers use instead of a local model
    chat: bool = False  # prompts in the model's chat template
    judge_model: str | None = None  # open-ended tasks: the judge's GGUF (default: the model's) or server
    judge_server: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)


def split_list(value: Any) -> list[Any]:
    """A flag or config value as a list: "a,b" and ["a", "b"] both give ["a", "b"]."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [item for part in value for item in split_list(part)]
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [value]


def parse_scalar(text: Any) -> Scalar:
    """An option value from text, read as `tot solve --set` reads it: int, float, true/false, none, else text."""
    if not isinstance(text, str):
        return text
    from tot import strategies

    return strategies.parse_options([f"value={text}"])["value"]


def parse_rows(text: str, count: int) -> list[int]:
    """Row numbers from "900:1000" (end exclusive), "0:100:5", "7" or a comma list of those."""
    rows: list[int] = []
    for part in split_list(text):
        pieces = str(part).split(":")
        try:
            numbers = [int(p) if p.strip() else None for p in pieces]
        except ValueError:
            raise InputError(f"bad row range {part!r}: use START:STOP[:STEP] or a row number, e.g. 900:1000") from None
        if len(numbers) == 1 and numbers[0] is not None:
            start, stop, step = numbers[0], numbers[0] + 1, 1
        elif len(numbers) in (2, 3):
            start = numbers[0] or 0
            stop = count if numbers[1] is None else numbers[1]
            step = 1 if len(numbers) == 2 or numbers[2] is None else numbers[2]
        else:
            raise InputError(f"bad row range {part!r}: use START:STOP[:STEP] or a row number, e.g. 900:1000")
        if start < 0 or stop < 0 or step <= 0:
            raise InputError(f"bad row range {part!r}: rows and step must be non-negative and step positive")
        if stop > count:
            raise InputError(f"row range {part!r} goes past the last row ({count - 1})")
        rows.extend(range(start, stop, step))
    if not rows:
        raise InputError(f"rows {text!r} select no puzzles")
    return list(dict.fromkeys(rows))


def task_name(name: str) -> str:
    """The registered task name for `name` (accepts `crosswords` for `crossword`)."""
    return ALIASES.get(name, name)


def task_puzzles(name: str) -> list[str] | None:
    """Every puzzle of a built-in task's data file, by row; None for tasks without one."""
    if name == "game24":
        from tot.tasks.game24 import load_puzzles

        return load_puzzles()
    if name == "crossword":
        from importlib.resources import files

        count = len(json.loads(files("tot.data").joinpath("mini0505.json").read_text(encoding="utf-8")))
        return [str(index) for index in range(count)]
    if name == "text":
        from tot.tasks.text import load_inputs

        return list(load_inputs())
    return None


def select_puzzles(name: str, rows: str | None, puzzles: Sequence[str]) -> tuple[Puzzle, ...]:
    """The puzzles of a run: explicit texts, or rows of the task's data (default: the paper's test set)."""
    if puzzles and rows:
        raise InputError("give either --rows or --puzzle, not both")
    if puzzles:
        return tuple(Puzzle(text) for text in dict.fromkeys(puzzles))
    data = task_puzzles(name)
    if data is None:
        raise InputError(f"task {name} has no puzzle file: give the puzzles with --puzzle")
    selected = parse_rows(rows or DEFAULT_ROWS.get(name, f"0:{len(data)}"), len(data))
    return tuple(Puzzle(data[row], row) for row in selected)


def accepted_options(strategy: str) -> set[str] | None:
    """Keyword options the strategy function takes (None: it takes any)."""
    from tot import strategies

    parameters = inspect.signature(strategies.get(strategy)).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY} - {"budget", "seed"}


def _budgets(grid: Grid) -> list[Budget]:
    if not grid.budgets:
        from tot.api import DEFAULT_BUDGET

        return [DEFAULT_BUDGET]
    kinds = [kind for kind, _ in grid.budgets]
    budgets = []
    for limits in itertools.product(*(values for _, values in grid.budgets)):
        budgets.append(Budget(**{f"max_{kind}": limit for kind, limit in zip(kinds, limits)}))  # type: ignore[arg-type]
    return budgets


def _evaluator_parts(evaluator: str, preset: str, generator: str | None) -> tuple[str, str]:
    chosen = PRESETS[preset]
    if evaluator == "model":
        return generator or chosen.generator, chosen.valuer
    if evaluator in MODEL_VALUERS:
        return generator or chosen.generator, evaluator
    return generator or "all", evaluator


def is_baseline(strategy: str) -> bool:
    """Whether the strategy answers with the model directly instead of searching with an evaluator."""
    from tot import strategies

    takes_model = getattr(strategies, "takes_model", None)
    return strategy in BASELINES or (takes_model is not None and bool(takes_model(strategies.get(strategy))))


def expand(grid: Grid, default_preset: str = "fast") -> list[RunConfig]:
    """Every configuration of `grid`, in axis order, without duplicates."""
    presets = grid.presets or (default_preset,)
    for preset in presets:
        if preset not in PRESETS:
            raise InputError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    for evaluator in grid.evaluators:
        if evaluator not in EVALUATORS:
            raise InputError(f"unknown evaluator {evaluator!r}; choose from {', '.join(EVALUATORS)}")
    for generator in grid.generators or ():
        if generator not in GENERATORS:
            raise InputError(f"unknown generator {generator!r}; choose from {', '.join(GENERATORS)}")
    strategy_names = grid.strategies or tuple(dict.fromkeys(PRESETS[p].strategy for p in presets))
    accepted = {name: accepted_options(name) for name in strategy_names}  # raises on an unknown strategy
    for option, _ in grid.options:
        if not any(names is None or option in names for names in accepted.values()):
            raise InputError(f"no strategy in the grid ({', '.join(strategy_names)}) takes the option {option!r}")
    configs: dict[str, RunConfig] = {}
    option_names = [name for name, _ in grid.options]
    option_values = list(itertools.product(*(values for _, values in grid.options)))
    task_option_names = [name for name, _ in grid.task_options]
    task_option_values = list(itertools.product(*(values for _, values in grid.task_options)))
    baselines = {name for name in strategy_names if is_baseline(name)}
    for preset, strategy, evaluator, generator, budget, values, task_values in itertools.product(
        presets,
        grid.strategies or (None,),
        grid.evaluators,
        grid.generators or (None,),
        _budgets(grid),
        option_values,
        task_option_values,
    ):
        strategy = strategy or PRESETS[preset].strategy
        if strategy in baselines:  # no evaluator: one run per budget and option setting
            preset, evaluator, gen, valuer = presets[0], "none", *_evaluator_parts("model", presets[0], None)
        else:
            gen, valuer = _evaluator_parts(evaluator, preset, generator)
        names = accepted[strategy]
        options = dict(PRESETS[preset].options) if strategy == PRESETS[preset].strategy else {}
        options.update(zip(option_names, values))
        options = {k: v for k, v in options.items() if names is None or k in names}
        config = RunConfig(preset, strategy, evaluator, gen, valuer, budget, tuple(sorted(options.items())),
                           task_options=tuple(sorted(zip(task_option_names, task_values))))
        configs.setdefault(config.same_search(), config)
    return list(configs.values())


def _grid(values: Mapping[str, Any], defaults: Grid) -> Grid:
    """A grid from flag/config values (missing axes from `defaults`)."""

    def axis(name: str) -> tuple[Any, ...] | None:
        items = split_list(values.get(name))
        return tuple(str(item) for item in items) if items else None

    budgets = dict(defaults.budgets)
    for kind in BUDGET_KINDS:
        items = split_list(values.get(f"budget-{kind}"))
        if items:
            budgets[kind] = tuple(_limit(kind, item) for item in items)
    options, task_options = dict(defaults.options), dict(defaults.task_options)
    for table, into in (("options", options), ("task-options", task_options)):
        for name, raw in (values.get(table) or {}).items():
            items = [raw] if raw is None or isinstance(raw, bool) else split_list(raw)
            if not items:
                raise InputError(f"option {name!r} has no value")
            into[name] = tuple(parse_scalar(item) for item in items)
    return Grid(
        presets=axis("preset") or defaults.presets,
        strategies=axis("strategy") or defaults.strategies,
        evaluators=axis("evaluator") or defaults.evaluators,
        generators=axis("generator") or defaults.generators,
        budgets=tuple(budgets.items()),
        options=tuple(options.items()),
        task_options=tuple(task_options.items()),
    )


def _limit(kind: str, value: Any) -> float | None:
    parsed = parse_scalar(value)
    if parsed is None:
        return None
    if isinstance(parsed, bool) or not isinstance(parsed, (int, float)):
        raise InputError(f"budget {kind} must be a number or 'none', got {value!r}")
    limit: float = parsed
    if kind != "seconds":
        if limit != int(limit):
            raise InputError(f"budget {kind} must be a whole number, got {value!r}")
        limit = int(limit)
    if limit <= 0:
        raise InputError(f"budget {kind} must be positive, got {value!r}")
    return limit


def load_file(path: str | Path) -> dict[str, Any]:
    """A config file's contents: JSON always, TOML where `tomllib` exists (Python 3.11+)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot read config file {file}: {error.strerror or error}") from None
    data: Any
    if file.suffix.lower() == ".toml":
        data = parse_toml(text, file)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise InputError(f"{file}: not valid JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(data, dict):
        raise InputError(f"{file}: the top level must be a table/object of settings")
    return _normalise(data, where=str(file))


def _normalise(data: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    """Keys with '-' for '_', budgets and runs unpacked, unknown keys refused."""
    known = {*AXES, *SETTINGS, "options", "task-options", "budget", "run"}
    out: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = raw_key.replace("_", "-")
        key = PLURALS.get(key, key)
        if key not in known:
            raise InputError(f"{where}: unknown setting {raw_key!r}; known: {', '.join(sorted(known))}")
        if key == "budget":
            if not isinstance(value, dict):
                raise InputError(f"{where}: [budget] must be a table of calls/tokens/seconds/nodes")
            for kind, limits in value.items():
                if kind not in BUDGET_KINDS:
                    raise InputError(f"{where}: unknown budget {kind!r}; choose from {', '.join(BUDGET_KINDS)}")
                out[f"budget-{kind}"] = limits
        elif key in ("options", "task-options"):
            if not isinstance(value, dict):
                raise InputError(f"{where}: [{raw_key}] must be a table of {key.replace('-', ' ')}")
            out[key] = dict(value)
        elif key == "run":
            if not isinstance(value, list) or not all(isinstance(run, dict) for run in value):
                raise InputError(f"{where}: [[run]] must be a list of tables")
            runs = [_normalise(run, where=f"{where} [[run]] {n + 1}") for n, run in enumerate(value)]
            for run in runs:
                stray = set(run) - {*AXES, "options", "task-options"}
                if stray:
                    raise InputError(f"{where}: [[run]] tables take grid axes only, not {', '.join(sorted(stray))}")
            out["run"] = runs
        else:
            out[key] = value
    return out


def build(flags: Mapping[str, Any], config_file: str | Path | None = None) -> BenchSpec:
    """The run described by a config file (optional) with command-line `flags` taking precedence.

    `flags` holds only the options the user gave, under the names of `AXES` and
    `SETTINGS`, plus `options` (strategy options, name -> values) and `task-options` (the task's, likewise).
    """
    values = load_file(config_file) if config_file is not None else {}
    runs = values.pop("run", [])
    given = {key: value for key, value in flags.items() if value not in (None, [], (), {})}
    own_runs = not runs and not any(key in given or key in values for key in (*AXES, "options"))  # task options apply
    for table in ("options", "task-options"):
        if table in given:
            values[table] = {**(values.get(table) or {}), **given.pop(table)}
    values.update(given)
    name = values.get("task")
    if not name:
        raise InputError("no task: give one, e.g. `tot bench game24`, or set task in the config file")
    name = task_name(str(name))
    from tot import tasks

    task = tasks.get(name)
    given_puzzles = values.get("puzzle") or []
    if isinstance(given_puzzles, (str, int)):
        given_puzzles = [given_puzzles]  # puzzles are never split on commas: "4,9,10,13" is one puzzle
    rows = values.get("rows")
    puzzles = select_puzzles(name, None if rows is None else str(rows), [str(p) for p in given_puzzles])
    for puzzle in puzzles:
        task.initial(puzzle.text)  # a malformed puzzle fails before anything runs
    if own_runs and getattr(task, "bench_runs", None):  # no grid given: the task's own (text: ToT, IO, CoT)
        runs = [_normalise(run, where=f"task {name}'s bench_runs") for run in task.bench_runs]
    top = _grid(values, Grid())
    grids = [_grid(run, top) for run in runs] or [top]
    configs: dict[str, RunConfig] = {}
    value, checksum = _value_file(values.get("value"))
    for grid in grids:
        for config in expand(grid, getattr(task, "preset", "fast")):
            if config.valuer in LEARNED_VALUERS:
                if not value:
                    raise InputError(f"evaluator {config.valuer} needs a value file: --value FILE (made by `tot learn`)")
                config = replace(config, value=value, value_checksum=checksum)
            configs.setdefault(config.same_search(), config)
    for options in {config.task_options for config in configs.values() if config.task_options}:
        tasks.get(name, **dict(options))  # a task option it does not take, or a bad value, fails before anything runs
    servers = tuple(str(url) for url in split_list(values.get("server")))
    workers = _positive_int(values.get("workers", max(1, len(servers))), "workers")  # default: one per server
    threads = values.get("threads")
    chat = parse_scalar(values.get("chat", False))
    if not isinstance(chat, bool):
        raise InputError(f"chat must be true or false, got {values.get('chat')!r}")
    return BenchSpec(
        task=name,
        puzzles=puzzles,
        configs=tuple(configs.values()),
        out=Path(values.get("out") or f"bench-{name}.jsonl"),
        model=values.get("model"),
        seed=_int(values.get("seed", 0), "seed"),
        workers=workers,
        threads=None if threads is None else _positive_int(threads, "threads"),
        servers=servers,
        chat=chat,
        judge_model=None if values.get("judge-model") is None else str(values["judge-model"]),
        judge_server=None if values.get("judge-server") is None else str(values["judge-server"]),
        settings={key: value for key, value in values.items() if key in SETTINGS},
    )


def _value_file(path: Any) -> tuple[str, str]:
    """(path, checksum) of the value file given (checked now: a corrupt file fails before anything runs)."""
    if not path:
        return "", ""
    from tot.learn import valuefile

    loaded = valuefile.load(str(path))
    return str(path), str(loaded.as_dict()["checksum"])


def _int(value: Any, name: str) -> int:
    parsed = parse_scalar(value)
    if isinstance(parsed, bool) or not isinstance(parsed, int):
        raise InputError(f"{name} must be a whole number, got {value!r}")
    return parsed


def _positive_int(value: Any, name: str) -> int:
    parsed = _int(value, name)
    if parsed <= 0:
        raise InputError(f"{name} must be positive, got {value!r}")
    return parsed


def describe(config: Mapping[str, Any]) -> dict[str, str]:
    """Short table cells for a stored configuration: protocol (with any task options), strategy, evaluator, budget."""
    options = config.get("options") or {}
    strategy = " ".join([config.get("strategy", "?"), *(f"{k}={_show(v)}" for k, v in sorted(options.items()))])
    evaluator = config.get("evaluator", "?")
    baseline = evaluator == "none"
    evaluator = "-" if baseline else f"{evaluator} ({config.get('generator')}+{config.get('valuer')})"
    budget = config.get("budget") or {}
    limits = ", ".join(f"{kind}≤{_show(limit)}" for kind, limit in budget.items()) or "unlimited"
    task_options = " ".join(f"{k}={_show(v)}" for k, v in sorted((config.get("task_options") or {}).items()))
    protocol = "-" if baseline else str(config.get("preset", "?"))
    return {
        "protocol": f"{protocol} {task_options}".strip(),
        "strategy": strategy,
        "evaluator": evaluator,
        "budget": limits,
    }


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
