"""A task written as prompts alone, in a TOML file: `tot solve my-task.toml "input"`, `tot.solve("my-task.toml", ...)`.

    name = "haiku"                 # optional; default: the file's name
    preset = "vote"                # optional; default: vote with a [vote] prompt, else value
    depth = 2                      # thoughts from the input to the answer (the last one is the answer)
    samples = 5                    # optional: thoughts sampled per step (k)
    max_tokens = 100               # optional: per thought
    stop = ["\\n\\n"]               # optional: stop sequences of every thought
    temperature = 0.7              # optional

    [input]                        # optional: what an input must look like
    pattern = '\\d+( \\d+)*'        # a regular expression the whole input must match
    description = "numbers separated by spaces"
    example = "4 9 10 13"

    [thought]                      # how the model writes each thought
    mode = "sample"                # or "propose": one completion lists thoughts, one per line
    prompt = "... {input} ... {thoughts} ..."

    [answer]                       # optional: the last thought's own prompt (also max_tokens, stop)
    prompt = "... {input} ... {thoughts} ..."

    [vote]                         # how thoughts are compared: [vote] and/or [value]
    prompt = "... {input} ... {choices}"
    votes = 5

    [value]
    prompt = "... {input} ... {thoughts} ... Verdict:"
    labels = { sure = 1.0, likely = 0.5, impossible = 0.0 }

    [judge]                        # optional: a score from 1 to 10 for `tot bench` (prompt ends before it)
    prompt = "... {input} ... {answer} ... Score (1 to 10): "

    [checker]                      # optional: answers that can be verified (then the search stops at one)
    regex = '...'                  # the answer must match it whole; or
    function = "module:function"   # function(input, answer) -> bool, in your own module (or file.py:function)

Placeholders: {input}; {thoughts} (the thoughts so far, one per line); {step} (the number of the
thought being written or compared) and {depth}; {choices} (the vote's numbered choices, quoted as data);
{answer} (the judged answer). `{{` and `}}` are literal braces. A key the format does not know, a
missing prompt, or a placeholder a prompt cannot fill is refused when the file is loaded. The file is
data: loading it runs no code, except the checker function it names, from a module of yours (standard
library and built-in functions are refused).
"""

from __future__ import annotations

import inspect
import re
import string
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

from tot.core import Answer
from tot.errors import InputError
from tot.quoted import fenced
from tot.votes import VotePrompt, numbered_choices
from tot.userfiles import load_python_file, parse_toml
from tot.written import ThoughtPrompt, normal_text

TOP = {"name", "description", "preset", "depth", "samples", "max_tokens", "stop", "temperature", "input", "thought", "answer",
       "vote", "value", "judge", "checker"}
TABLES: dict[str, set[str]] = {
    "input": {"pattern", "description", "example"},
    "thought": {"prompt", "mode", "samples", "max_tokens", "stop", "temperature"},
    "answer": {"prompt", "max_tokens", "stop", "temperature"},
    "vote": {"prompt", "votes", "max_tokens", "stop", "temperature"},
    "value": {"prompt", "labels"},
    "judge": {"prompt"},
    "checker": {"regex", "function"},
}
FIELDS = {
    "thought": {"input", "thoughts", "step", "depth"},
    "answer": {"input", "thoughts", "step", "depth"},
    "vote": {"input", "thoughts", "choices", "step", "depth"},
    "value": {"input", "thoughts", "step", "depth"},
    "judge": {"input", "answer"},
}


@dataclass(frozen=True)
class Template:
    """A prompt with {placeholders}, checked when loaded and filled by concatenation (never `str.format`)."""

    where: str
    parts: tuple[tuple[str, str | None], ...]  # (literal text, field name or None)

    @classmethod
    def parse(cls, text: Any, where: str, allowed: set[str]) -> Template:
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{where} must be a non-empty string")
        try:
            pieces = list(string.Formatter().parse(text))
        except ValueError as error:
            raise InputError(f"{where}: {error} (write {{{{ and }}}} for literal braces)") from None
        parts = []
        for literal, field, spec, conversion in pieces:
            if field is not None and (spec or conversion or field not in allowed):
                shown = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
                raise InputError(
                    f"{where} uses the placeholder {shown}, which it does not fill; it can use "
                    + ", ".join("{" + name + "}" for name in sorted(allowed))
                    + " (write {{ and }} for literal braces)"
                )
            parts.append((literal, field))
        return cls(where, tuple(parts))

    def fill(self, values: Mapping[str, str]) -> str:
        return "".join(literal + (values[field] if field is not None else "") for literal, field in self.parts)


@dataclass(frozen=True)
class Steps:
    """The state of a prompted task: the input and the thoughts written so far."""

    input: str
    thoughts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sampling:
    """How one kind of thought is written."""

    template: Template
    samples: int
    max_tokens: int
    stop: tuple[str, ...]
    temperature: float
    propose: bool = False


class PromptedPrompts:
    """The value prompt in the form the `labels` and `sample` valuers read (`tot.evaluators.Prompts`)."""

    def __init__(self, task: PromptedTask) -> None:
        self.task = task
        self.labels: Mapping[str, float] = task.labels

    def value_prompt(self, state: Steps) -> str:
        return self.verdict_prompt(state)

    def verdict_prompt(self, state: Steps) -> str:
        if self.task.value is None:
            raise InputError(f"task {self.task.name} has no [value] prompt; use --evaluator vote")
        return self.task.value.fill(self.task.values(state, len(state.thoughts)))


class PromptedTask:
    """A task defined by a TOML file: model-written thoughts, chosen by votes or values, optionally checked."""

    def __init__(self, path: str | Path, data: Mapping[str, Any]) -> None:
        self.path = Path(path)
        where = str(self.path)
        _known(data, TOP, where)
        for table, keys in TABLES.items():
            if table in data:
                if not isinstance(data[table], dict):
                    raise InputError(f"{where}: [{table}] must be a table")
                _known(data[table], keys, f"{where} [{table}]")
        self.name = _string(data.get("name", self.path.stem), f"{where}: name")
        self.description = _string(data.get("description", ""), f"{where}: description")
        self.depth = _positive(data.get("depth", 1), f"{where}: depth")
        defaults = {
            "samples": _positive(data.get("samples", 5), f"{where}: samples"),
            "max_tokens": _positive(data.get("max_tokens", 100), f"{where}: max_tokens"),
            "stop": _stops(data.get("stop", ["\n\n"]), f"{where}: stop"),
            "temperature": _temperature(data.get("temperature", 0.7), f"{where}: temperature"),
        }
        thought = data.get("thought")
        if not isinstance(thought, dict) or "prompt" not in thought:
            raise InputError(f"{where}: missing the thought prompt ([thought] prompt = \"...\")")
        mode = thought.get("mode", "sample")
        if mode not in ("sample", "propose"):
            raise InputError(f"{where} [thought] mode must be \"sample\" or \"propose\", got {mode!r}")
        self.thought = _sampling(thought, defaults, f"{where} [thought]", FIELDS["thought"], propose=mode == "propose")
        answer = data.get("answer")
        if answer is not None and "prompt" not in answer:
            raise InputError(f"{where}: [answer] has no prompt")
        self.last = self.thought if answer is None else _sampling(answer, defaults, f"{where} [answer]", FIELDS["answer"])
        vote, value = data.get("vote"), data.get("value")
        if vote is None and value is None:
            raise InputError(f"{where}: missing a [vote] or [value] prompt (how the model compares thoughts)")
        self.vote: Sampling | None = None
        if vote is not None:
            if "prompt" not in vote:
                raise InputError(f"{where}: [vote] has no prompt")
            settings = {"samples": vote.get("votes", 5), "max_tokens": vote.get("max_tokens", 120), **vote}
            self.vote = _sampling(settings, defaults, f"{where} [vote]", FIELDS["vote"])
            if not any(field == "choices" for _, field in self.vote.template.parts):
                raise InputError(f"{where} [vote] prompt must show the choices: put {{choices}} in it")
        self.value: Template | None = None
        self.labels: dict[str, float] = {}
        if value is not None:
            if "prompt" not in value:
                raise InputError(f"{where}: [value] has no prompt")
            self.value = Template.parse(value["prompt"], f"{where} [value] prompt", FIELDS["value"])
            self.labels = _labels(value.get("labels", {"sure": 1.0, "likely": 0.5, "impossible": 0.0}), f"{where} [value] labels")
        judge = data.get("judge")
        self.judge: Template | None = None
        if judge is not None:
            if "prompt" not in judge:
                raise InputError(f"{where}: [judge] has no prompt")
            self.judge = Template.parse(judge["prompt"], f"{where} [judge] prompt", FIELDS["judge"])
        self.pattern: re.Pattern[str] | None = None
        self.input_description = ""
        if "input" in data:
            table = data["input"]
            self.input_description = _string(table.get("description", ""), f"{where} [input] description")
            example = _string(table.get("example", ""), f"{where} [input] example")
            if example:
                self.input_description += f"{'; ' if self.input_description else ''}e.g. {example}"
            if "pattern" in table:
                self.pattern = _regex(table["pattern"], f"{where} [input] pattern")
        self.checker: Callable[[str, str], Answer] | None = None
        if "checker" in data:
            self.checker = _checker(data["checker"], self.path, where)
        self.open_ended = self.checker is None
        self.preset = _string(data.get("preset", "vote" if self.vote is not None else "value"), f"{where}: preset")
        # Judged and voted on only when the file has those prompts (`tot.judge.is_judged`, the vote valuers).
        self.judge_prompt: Callable[[Steps, str], str] | None = self._judge_prompt if self.judge is not None else None
        self.vote_prompt: Callable[[Sequence[Steps]], VotePrompt] | None = self._vote_prompt if self.vote else None

    # ---- the Task methods ----

    @property
    def prompts(self) -> PromptedPrompts:
        return PromptedPrompts(self)

    def initial(self, puzzle: str) -> Steps:
        text = puzzle.strip()
        if not text:
            raise InputError(f"task {self.name} needs an input" + (f": {self.input_description}" if self.input_description else ""))
        if self.pattern is not None and not self.pattern.fullmatch(text):
            detail = self.input_description or f"it must match {self.pattern.pattern!r}"
            raise InputError(f"task {self.name}: {text[:60]!r} is not a valid input ({detail})")
        return Steps(text)

    def actions(self, state: Steps) -> Sequence[str]:
        return ()  # the model writes the thoughts

    def result(self, state: Steps, action: str) -> Steps:
        return Steps(state.input, (*state.thoughts, action))

    def is_terminal(self, state: Steps) -> bool:
        return len(state.thoughts) >= self.depth

    def is_goal(self, state: Steps) -> bool:
        return self.checker is not None and self.is_terminal(state) and self.checker(state.input, state.thoughts[-1]).verified

    def key(self, state: Steps) -> tuple[str, tuple[str, ...]]:
        return (state.input, tuple(normal_text(t) for t in state.thoughts))

    def describe(self, state: Steps, action: str) -> str:
        return " / ".join(line.strip() for line in action.splitlines() if line.strip())

    def render(self, state: Steps) -> str:
        if not state.thoughts:
            return state.input
        return self.describe(state, state.thoughts[-1])

    def answer(self, start: Steps, actions: Sequence[str]) -> Answer:
        if len(actions) < self.depth:
            return Answer(actions[-1].strip() if actions else "", False, f"{len(actions)} of {self.depth} thoughts written")
        return self.check(start, actions[-1])

    def check(self, state: Steps, text: str) -> Answer:
        answer = text.strip()
        if self.checker is None:
            return Answer(answer, False, "not verifiable: this task has no checker (judge it, or compare by votes)")
        return self.checker(state.input, answer)

    # ---- thoughts the model writes ----

    def values(self, state: Steps, step: int) -> dict[str, str]:
        return {"input": state.input, "thoughts": "\n".join(state.thoughts), "step": str(step + 1), "depth": str(self.depth)}

    def thought_prompt(self, state: Steps) -> ThoughtPrompt:
        step = len(state.thoughts)
        sampling = self.last if step == self.depth - 1 else self.thought
        return ThoughtPrompt(
            sampling.template.fill(self.values(state, step)),
            samples=sampling.samples,
            stop=sampling.stop,
            max_tokens=sampling.max_tokens,
            temperature=sampling.temperature,
            propose=sampling.propose,
        )

    def read_thought(self, state: Steps, text: str) -> str | None:
        thought = text.strip()
        if (self.last if len(state.thoughts) == self.depth - 1 else self.thought).propose:
            thought = re.sub(r"^\s*(?:\d+[.)]|[-*•])\s+", "", thought)  # a proposed line's list marker
        return thought or None

    def _vote_prompt(self, states: Sequence[Steps]) -> VotePrompt:
        assert self.vote is not None
        first = states[0]
        step = len(first.thoughts) - 1
        shared = all(s.thoughts[:-1] == first.thoughts[:-1] for s in states)
        choices = [s.thoughts[-1] if shared else "\n".join(s.thoughts) for s in states]
        values = self.values(Steps(first.input, first.thoughts[:-1] if shared else ()), step)
        values["choices"] = numbered_choices(choices).rstrip("\n")
        return VotePrompt(
            self.vote.template.fill(values),
            votes=self.vote.samples,
            max_tokens=self.vote.max_tokens,
            stop=self.vote.stop,
            temperature=self.vote.temperature,
        )

    def _judge_prompt(self, state: Steps, text: str) -> str:
        assert self.judge is not None
        return self.judge.fill({"input": state.input, "answer": fenced(text)})


def load_task(path: str | Path) -> PromptedTask:
    """The task defined by the TOML file at `path`; every problem is one InputError line naming the file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot read task file {file}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise InputError(f"task file {file} is not UTF-8 text") from None
    data = parse_toml(text, file, what="TOML task files")
    if not isinstance(data, dict):
        raise InputError(f"{file}: not a table of settings")
    return PromptedTask(file, data)


# ---- reading the file -----------------------------------------------------------------------


def _known(table: Mapping[str, Any], keys: set[str], where: str) -> None:
    for key in table:
        if key not in keys:
            raise InputError(f"{where}: unknown key {key!r}; known: {', '.join(sorted(keys))}")


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InputError(f"{where} must be a string, got {value!r}")
    return value


def _positive(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InputError(f"{where} must be a positive whole number, got {value!r}")
    return value


def _temperature(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 5:
        raise InputError(f"{where} must be a number from 0 to 5, got {value!r}")
    return float(value)


def _stops(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InputError(f"{where} must be a list of non-empty strings, got {value!r}")
    return tuple(value)


def _regex(value: Any, where: str) -> re.Pattern[str]:
    text = _string(value, where)
    try:
        return re.compile(text)
    except re.error as error:
        raise InputError(f"{where}: not a valid regular expression ({error})") from None


def _labels(value: Any, where: str) -> dict[str, float]:
    if not isinstance(value, dict) or not value:
        raise InputError(f"{where} must be a table of label = weight, e.g. {{ sure = 1.0, impossible = 0.0 }}")
    labels = {}
    for label, weight in value.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            raise InputError(f"{where}: the weight of {label!r} must be a number >= 0, got {weight!r}")
        labels[str(label)] = float(weight)
    if max(labels.values()) <= 0:
        raise InputError(f"{where}: at least one label needs a positive weight")
    return labels


def _sampling(
    table: Mapping[str, Any], defaults: Mapping[str, Any], where: str, fields: set[str], *, propose: bool = False
) -> Sampling:
    return Sampling(
        template=Template.parse(table["prompt"], f"{where} prompt", fields),
        samples=_positive(table.get("samples", defaults["samples"]), f"{where} samples"),
        max_tokens=_positive(table.get("max_tokens", defaults["max_tokens"]), f"{where} max_tokens"),
        stop=_stops(table.get("stop", list(defaults["stop"])), f"{where} stop"),
        temperature=_temperature(table.get("temperature", defaults["temperature"]), f"{where} temperature"),
        propose=propose,
    )


def _checker(table: Any, path: Path, where: str) -> Callable[[str, str], Answer]:
    if not isinstance(table, dict) or len(table) != 1:
        raise InputError(f"{where}: [checker] takes exactly one of regex = '...' or function = 'module:function'")
    if "regex" in table:
        pattern = _regex(table["regex"], f"{where} [checker] regex")

        def matches(task_input: str, answer: str) -> Answer:
            if pattern.fullmatch(answer.strip()):
                return Answer(answer, True, f"matches {pattern.pattern!r}")
            return Answer(answer, False, f"does not match {pattern.pattern!r}")

        return matches
    spec = _string(table["function"], f"{where} [checker] function")
    function = _function(spec, path, where)

    def checked(task_input: str, answer: str) -> Answer:
        try:
            verdict = function(task_input, answer)
        except Exception as error:
            raise InputError(f"{where}: the checker {spec} raised {type(error).__name__}: {error}") from error
        if not isinstance(verdict, bool):
            raise InputError(f"{where}: the checker {spec} must return True or False, got {type(verdict).__name__}")
        return Answer(answer, verdict, f"{spec} says {'yes' if verdict else 'no'}")

    return checked


def _function(spec: str, path: Path, where: str) -> Callable[..., Any]:
    """The checker function `module:function` (or `file.py:function`, beside the task file): your code only."""
    module_name, sep, attribute = spec.rpartition(":")
    if not sep or not module_name or not attribute.isidentifier():
        raise InputError(f"{where}: [checker] function must be 'module:function' or 'file.py:function', got {spec!r}")
    top = module_name.split(".")[0]
    if not module_name.endswith(".py") and (top in sys.stdlib_module_names or top in sys.builtin_module_names):
        raise InputError(f"{where}: [checker] function {spec!r} is in Python's standard library; name a function of your own")
    if module_name.endswith(".py"):
        file = Path(module_name) if Path(module_name).is_absolute() else path.parent / module_name
        module = load_python_file(str(file), what="checker file")
    else:
        try:
            module = import_module(module_name)
        except ImportError as error:
            raise InputError(f"{where}: cannot import the checker's module {module_name!r}: {error}") from None
    function = getattr(module, attribute, None)
    if not inspect.isfunction(function):
        raise InputError(f"{where}: {spec!r} is not a Python function (checkers are functions of your own)")
    try:
        inspect.signature(function).bind("input", "answer")
    except TypeError:
        raise InputError(f"{where}: the checker {spec} must take (input, answer)") from None
    return function
