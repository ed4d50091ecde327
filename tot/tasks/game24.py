"""Game of 24: combine four numbers with + - * / into 24. Rules, prompts and an exact solver."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from itertools import combinations

from tot import arith
from tot.core import Answer
from tot.errors import InputError, clip

TARGET = Fraction(24)
MAX_INPUT = 1000

State = tuple[Fraction, ...]  # the numbers left, sorted: the canonical key itself


@dataclass(frozen=True)
class Step:
    """`a op b`: two numbers left in the state combined into one."""

    a: Fraction
    op: str
    b: Fraction

    @property
    def value(self) -> Fraction:
        value = arith.apply_op(self.a, self.op, self.b)
        if value is None:
            raise ValueError(f"illegal step {self}")
        return value

    def __str__(self) -> str:
        return f"{arith.show(self.a)} {self.op} {arith.show(self.b)} = {arith.show(self.value)}"


def _remove(numbers: Sequence[Fraction], *taken: Fraction) -> list[Fraction] | None:
    rest = list(numbers)
    for number in taken:
        if number not in rest:
            return None
        rest.remove(number)
    return rest


def show_numbers(numbers: Sequence[Fraction]) -> str:
    return " ".join(arith.show(n) for n in numbers)


class Game24:
    """The Game of 24 rules: exact arithmetic, fractions allowed, division by zero illegal."""

    name = "game24"

    @property
    def prompts(self) -> Game24Prompts:
        """The prompts model evaluators use for this task."""
        return Game24Prompts()

    def initial(self, puzzle: str) -> State:
        parts = puzzle.replace(",", " ").split()
        if len(parts) != 4:
            raise InputError(f"Game of 24 takes exactly 4 numbers, got {len(parts)}: {clip(puzzle)!r}")
        numbers = []
        for part in parts:
            if not (part.isascii() and part.isdigit()):  # int() refuses some digits isdigit() accepts: '²', '①'
                raise InputError(f"{clip(part)!r} is not a whole number from 0 to {MAX_INPUT}")
            if len(part.lstrip("0")) > len(str(MAX_INPUT)) or int(part) > MAX_INPUT:
                shown = part if len(part) <= 20 else f"{part[:20]}… ({len(part)} digits)"
                raise InputError(f"{shown} is larger than {MAX_INPUT}")
            numbers.append(Fraction(int(part)))
        return tuple(sorted(numbers))

    def actions(self, state: State) -> list[Step]:
        """Every distinct step. Subtraction goes big - small only: a solution never needs a negative number."""
        steps: list[Step] = []
        for i, j in combinations(range(len(state)), 2):
            big, small = max(state[i], state[j]), min(state[i], state[j])
            for a, op, b in ((big, "+", small), (big, "-", small), (big, "*", small), (big, "/", small), (small, "/", big)):
                step = Step(a, op, b)
                if arith.apply_op(a, op, b) is not None and step not in steps:
                    steps.append(step)
        return steps

    def result(self, state: State, action: Step) -> State:
        rest = _remove(state, action.a, action.b)
        if rest is None:
            raise ValueError(f"{action} uses numbers not in {show_numbers(state)}")
        return tuple(sorted([*rest, action.value]))

    def is_goal(self, state: State) -> bool:
        return len(state) == 1 and state[0] == TARGET

    def is_terminal(self, state: State) -> bool:
        return len(state) <= 1

    def key(self, state: State) -> State:
        return state

    def render(self, state: State) -> str:
        return show_numbers(state)

    def describe(self, state: State, action: Step) -> str:
        return f"{action} (left: {show_numbers(self.result(state, action))})"

    def answer(self, start: State, actions: Sequence[Step]) -> Answer:
        return verify_expression(start, expression_for(start, actions))

    def check(self, state: State, expression: str) -> Answer:
        """Verify a user-supplied expression for the puzzle `state`; a trailing `= 24` (the paper's format) is allowed."""
        return verify_expression(state, _CLAIM.sub("", expression))

    def solvable(self, state: State) -> bool:
        """Exact: can `state` still reach 24? (The oracle's judgement.)"""
        return _solvable(state)


@lru_cache(maxsize=200_000)
def _solvable(state: State) -> bool:
    if len(state) == 1:
        return state[0] == TARGET
    game = Game24()
    return any(_solvable(game.result(state, step)) for step in game.actions(state))


def expression_for(start: Sequence[Fraction], steps: Sequence[Step]) -> str:
    """Rebuild one arithmetic expression from the steps taken from `start`."""
    terms: list[tuple[Fraction, str]] = [(n, arith.show(n)) for n in start]
    for step in steps:
        left = next(i for i, (v, _) in enumerate(terms) if v == step.a)
        a_text = terms.pop(left)[1]
        right = next(i for i, (v, _) in enumerate(terms) if v == step.b)
        b_text = terms.pop(right)[1]
        terms.append((step.value, f"({a_text} {step.op} {b_text})"))
    text = " ".join(t for _, t in terms)
    return text[1:-1] if len(terms) == 1 and text.startswith("(") and text.endswith(")") else text


_CLAIM = re.compile(r"\s*=\s*24\s*$")  # `(13 - 9) * (10 - 4) = 24`: the answer states what it equals


def verify_expression(start: Sequence[Fraction], expression: str) -> Answer:
    """Verify `expression` exactly: uses each number of `start` once and equals 24."""
    try:
        evaluated = arith.evaluate(expression)
    except InputError as error:
        return Answer(expression, False, f"not a valid expression: {error.message}")
    if sorted(evaluated.numbers) != sorted(start):
        return Answer(
            expression,
            False,
            f"uses {show_numbers(sorted(evaluated.numbers))}, must use {show_numbers(sorted(start))} once each",
        )
    if evaluated.value != TARGET:
        return Answer(expression, False, f"equals {arith.show(evaluated.value)}, not 24")
    return Answer(expression, True, "equals 24 and uses each number once")


# ---- prompts (ours, in the paper's formats) -------------------------------------------------

PROPOSE_PROMPT = """Combine two of the numbers with + - * / to make one number. List possible next steps.
Input: 3 5 7 11
Possible next steps:
3 + 5 = 8 (left: 7 8 11)
11 - 7 = 4 (left: 3 4 5)
3 * 7 = 21 (left: 5 11 21)
5 + 11 = 16 (left: 3 7 16)
7 - 3 = 4 (left: 4 5 11)
11 - 5 = 6 (left: 3 6 7)
5 * 3 = 15 (left: 7 11 15)
11 + 7 = 18 (left: 3 5 18)
Input: 2 6 9
Possible next steps:
9 - 6 = 3 (left: 2 3)
6 / 2 = 3 (left: 3 9)
2 * 9 = 18 (left: 6 18)
9 + 6 = 15 (left: 2 15)
6 * 2 = 12 (left: 9 12)
9 - 2 = 7 (left: 6 7)
Input: {numbers}
Possible next steps:
"""

_VALUE_EXAMPLES = [
    ("11 13", ["11 + 13 = 24"], "sure"),
    ("3 9 14", ["3 + 9 + 14 = 26", "14 - 9 = 5, 5 * 3 = 15", "(14 - 9 + 3) * 3 is not possible, 3 is used once", "close, could still work"], "likely"),
    ("2 2 3", ["2 + 2 + 3 = 7", "2 * 2 * 3 = 12", "(2 + 2) * 3 = 12", "all too small"], "impossible"),
    ("4 6", ["4 * 6 = 24"], "sure"),
    ("1 1 2", ["1 + 1 + 2 = 4", "(1 + 1) * 2 = 4", "all too small"], "impossible"),
    ("6 12 12", ["12 + 12 = 24, but 6 is left", "12 / 6 = 2, 2 * 12 = 24"], "sure"),
    ("50 60", ["60 - 50 = 10", "60 / 50 is not whole", "all too far from 24"], "impossible"),
    ("2 5 10", ["10 + 5 * 2 = 20", "(10 - 5) * 2 = 10", "maybe with fractions"], "likely"),
]

VALUE_PROMPT = (
    "Can the numbers reach 24 with + - * /, each used once? Try a few ways, then judge: sure, likely or impossible.\n"
    + "".join(f"Numbers: {n}\n" + "".join(f"{line}\n" for line in lines) + f"Verdict: {label}\n" for n, lines, label in _VALUE_EXAMPLES)
    + "Numbers: {numbers}\n"
)

VERDICT_PROMPT = (
    "Can the numbers reach 24 with + - * /, each used once? Judge: sure, likely or impossible.\n"
    + "".join(f"Numbers: {n}\nVerdict: {label}\n" for n, _, label in _VALUE_EXAMPLES)
    + "Numbers: {numbers}\nVerdict:"
)

LABELS = {"sure": 20.0, "likely": 1.0, "impossible": 0.001}

# The IO and CoT baselines: (numbers, steps, answer line).
ANSWER_EXAMPLES = [
    ("2 4 5 9", ["9 - 5 = 4 (left: 2 4 4)", "2 + 4 = 6 (left: 4 6)", "4 * 6 = 24 (left: 24)"], "(2 + 4) * (9 - 5) = 24"),
    ("3 6 7 10", ["6 / 3 = 2 (left: 2 7 10)", "7 * 2 = 14 (left: 10 14)", "10 + 14 = 24 (left: 24)"], "7 * (6 / 3) + 10 = 24"),
    ("1 5 6 8", ["8 - 5 = 3 (left: 1 3 6)", "3 + 1 = 4 (left: 4 6)", "6 * 4 = 24 (left: 24)"], "6 * (8 - 5 + 1) = 24"),
    ("4 4 7 8", ["7 * 4 = 28 (left: 4 8 28)", "8 - 4 = 4 (left: 4 28)", "28 - 4 = 24 (left: 24)"], "7 * 4 - (8 - 4) = 24"),
    ("2 6 8 11", ["11 - 8 = 3 (left: 2 3 6)", "6 + 2 = 8 (left: 3 8)", "8 * 3 = 24 (left: 24)"], "(6 + 2) * (11 - 8) = 24"),
]

IO_PROMPT = (
    "Use each of the four numbers exactly once, with + - * / and parentheses, to make 24.\n"
    + "".join(f"Input: {n}\nAnswer: {answer}\n" for n, _, answer in ANSWER_EXAMPLES)
    + "Input: {numbers}\n"
)

COT_PROMPT = (
    "Use each of the four numbers exactly once, with + - * /, to make 24. Work in steps: each step combines"
    " two of the numbers left into one new number. Then write the whole expression.\n"
    + "".join(
        f"Input: {n}\nSteps:\n" + "".join(f"{step}\n" for step in steps) + f"Answer: {answer}\n"
        for n, steps, answer in ANSWER_EXAMPLES
    )
    + "Input: {numbers}\nSteps:\n"
)

_ANSWER_LINE = re.compile(r"^\s*answer\s*:(.*)$", re.IGNORECASE)


def parse_answer(text: str) -> str | None:
    """The expression on the last `Answer: <expression> = 24` line of a completion, or None."""
    for line in reversed(text.splitlines()):
        match = _ANSWER_LINE.match(line)
        if match is None:
            continue
        sides = [side.strip() for side in match.group(1).split("=")]
        return next((side for side in sides if side and side != "24"), sides[0] or None)
    return None

_NUMBER = r"-?\d+(?:\s*/\s*\d+)?"
_OPERAND = r"(-?\d+(?:/\d+)?)"
_STEP_LINE = re.compile(rf"^\s*(?:\d+\.\s*)?{_OPERAND}\s*([+\-*/×x÷])\s*{_OPERAND}\s*=\s*({_NUMBER})?", re.ASCII)
_OP_NAMES = {"+": "+", "-": "-", "*": "*", "/": "/", "×": "*", "x": "*", "÷": "/"}


@dataclass(frozen=True)
class Parsed:
    """What a propose completion yielded: legal steps, and counts of the lines dropped or repaired."""

    steps: tuple[Step, ...]
    lines: int
    malformed: int
    illegal: int
    repaired: int


def parse_proposals(state: State, text: str) -> Parsed:
    """Parse `a op b = c` lines; recompute c exactly; drop lines whose operands are not in `state`."""
    steps: list[Step] = []
    lines = malformed = illegal = repaired = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        lines += 1
        match = _STEP_LINE.match(line)
        if match is None:
            malformed += 1
            continue
        a, op, b = _fraction(match.group(1)), _OP_NAMES[match.group(2)], _fraction(match.group(3))
        if a is None or b is None:  # `4/0 + 9`, or digits past int()'s limit
            malformed += 1
            continue
        value = arith.apply_op(a, op, b)
        if value is None or _remove(state, a, b) is None:
            illegal += 1
            continue
        claimed = match.group(4)
        if claimed is None or _fraction(claimed.replace(" ", "")) != value:
            repaired += 1
        step = Step(a, op, b)
        if step not in steps:
            steps.append(step)
    return Parsed(tuple(steps), lines, malformed, illegal, repaired)


def _fraction(text: str) -> Fraction | None:
    """The number `text` (`-3`, `7/2`), or None when it is no number: a zero denominator, too many digits."""
    if len(text) > 40:
        return None
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None


def propose_grammar(state: State) -> str:
    """GBNF: lines `a op b = c (left: ...)` where a and b are two of the numbers left in `state`."""
    shown = [arith.show(n) for n in state]
    pairs = sorted({(shown[i], shown[j]) for i in range(len(shown)) for j in range(len(shown)) if i != j})
    steps = " | ".join(f'"{a} " op " {b}"' for a, b in pairs)
    return (
        "root ::= line line? line? line? line? line? line? line?\n"
        'line ::= step " = " value " (left: " value (" " value)* ")\\n"\n'
        f"step ::= {steps}\n"
        'op ::= "+" | "-" | "*" | "/"\n'
        'value ::= "-"? [0-9] [0-9]? [0-9]? [0-9]? ("/" [1-9] [0-9]? [0-9]?)?\n'
    )


class Game24Prompts:
    """The prompt set the model evaluators use for Game of 24."""

    labels = LABELS

    def propose_prompt(self, state: State) -> str:
        return PROPOSE_PROMPT.format(numbers=show_numbers(state))

    def parse_proposals(self, state: State, text: str) -> Parsed:
        return parse_proposals(state, text)

    def propose_grammar(self, state: State) -> str:
        return propose_grammar(state)

    def action_text(self, state: State, action: Step) -> str:
        """The start of the step's propose line, `a op b`: what the model chooses. The rest of the line
        (`= c (left: ...)`) follows exactly from it, so scoring it would measure the model's arithmetic
        (no better than chance at this size) at the price of one 262k-wide output row per token."""
        return f"{arith.show(action.a)} {action.op} {arith.show(action.b)}"

    def value_prompt(self, state: State) -> str:
        return VALUE_PROMPT.replace("{numbers}", show_numbers(state))

    def verdict_prompt(self, state: State) -> str:
        return VERDICT_PROMPT.replace("{numbers}", show_numbers(state))

    def io_prompt(self, state: State) -> str:
        return IO_PROMPT.replace("{numbers}", show_numbers(state))

    def cot_prompt(self, state: State) -> str:
        return COT_PROMPT.replace("{numbers}", show_numbers(state))

    def parse_answer(self, text: str) -> str | None:
        return parse_answer(text)


def load_puzzles() -> list[str]:
    """The 1362 puzzles of 24.csv (4nums.com, ranked by human solve time), in rank order."""
    import csv
    from importlib.resources import files

    text = files("tot.data").joinpath("24.csv").read_text(encoding="utf-8")
    return [row["Puzzles"] for row in csv.DictReader(text.splitlines())]
