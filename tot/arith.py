"""Exact arithmetic over fractions: a small recursive-descent parser, never `eval`.

Grammar (whitespace ignored)::

    expr   := term (('+' | '-') term)*
    term   := factor (('*' | '/') factor)*
    factor := NUMBER | '(' expr ')' | '-' factor

`x`, `×` and `÷` are accepted as `*` and `/`. Numbers are non-negative integers
or decimals. Inputs are bounded in length, nesting depth and digit count, so a
hostile string costs microseconds and never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from tot.errors import InputError

MAX_LENGTH = 256
MAX_DEPTH = 32
MAX_DIGITS = 12

_OPERATORS = {"+": "+", "-": "-", "*": "*", "/": "/", "x": "*", "×": "*", "÷": "/", "−": "-"}


@dataclass(frozen=True)
class Evaluated:
    """The value of an expression and the numbers it uses, in order."""

    value: Fraction
    numbers: tuple[Fraction, ...]


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "0123456789.":
            j = i
            while j < len(text) and text[j] in "0123456789.":
                j += 1
            tokens.append(text[i:j])
            i = j
        elif ch in _OPERATORS:
            tokens.append(_OPERATORS[ch])
            i += 1
        elif ch in "()":
            tokens.append(ch)
            i += 1
        else:
            raise InputError(f"unexpected character {ch!r} in expression")
    return tokens


def _number(token: str) -> Fraction:
    digits = token.replace(".", "")
    if not digits.isdigit() or token.count(".") > 1 or token.startswith(".") or token.endswith("."):
        raise InputError(f"malformed number {token!r}")
    if len(digits) > MAX_DIGITS:
        raise InputError(f"number {token[:16]}... has more than {MAX_DIGITS} digits")
    return Fraction(token)


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.numbers: list[Fraction] = []

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise InputError("expression ends too early")
        self.pos += 1
        return token

    def expr(self, depth: int) -> Fraction:
        value = self.term(depth)
        while self.peek() in ("+", "-"):
            op = self.take()
            rhs = self.term(depth)
            value = value + rhs if op == "+" else value - rhs
        return value

    def term(self, depth: int) -> Fraction:
        value = self.factor(depth)
        while self.peek() in ("*", "/"):
            op = self.take()
            rhs = self.factor(depth)
            if op == "*":
                value = value * rhs
            elif rhs == 0:
                raise InputError("division by zero")
            else:
                value = value / rhs
        return value

    def factor(self, depth: int) -> Fraction:
        if depth > MAX_DEPTH:
            raise InputError(f"expression nests deeper than {MAX_DEPTH}")
        token = self.take()
        if token == "(":
            value = self.expr(depth + 1)
            if self.take() != ")":
                raise InputError("missing ')'")
            return value
        if token == "-":
            return -self.factor(depth + 1)
        if token[0] in "0123456789.":
            number = _number(token)
            self.numbers.append(number)
            return number
        raise InputError(f"unexpected {token!r} in expression")


def evaluate(text: str) -> Evaluated:
    """Parse and evaluate `text` exactly; raise `InputError` on anything malformed."""
    if len(text) > MAX_LENGTH:
        raise InputError(f"expression longer than {MAX_LENGTH} characters")
    tokens = _tokenize(text)
    if not tokens:
        raise InputError("empty expression")
    parser = _Parser(tokens)
    value = parser.expr(0)
    if parser.peek() is not None:
        raise InputError(f"unexpected {parser.peek()!r} after the end of the expression")
    return Evaluated(value, tuple(parser.numbers))


def apply_op(a: Fraction, op: str, b: Fraction) -> Fraction | None:
    """`a op b`, or None when the operation is illegal (division by zero)."""
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return None if b == 0 else a / b
    raise ValueError(f"unknown operator {op!r}")


def show(number: Fraction) -> str:
    """`7`, `-3` or `5/2`: the shortest exact form."""
    return str(number.numerator) if number.denominator == 1 else f"{number.numerator}/{number.denominator}"
