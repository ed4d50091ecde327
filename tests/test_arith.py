from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tot import arith
from tot.errors import InputError


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("(13-9)*(10-4)", 24),
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("8 / 3 * 9", 24),
        ("10 - 4 - 3", 3),
        ("12 / 4 / 3", 1),
        ("-3 + 5", 2),
        ("2 × 3 ÷ 4", Fraction(3, 2)),
        ("1.5 * 16", 24),
        ("((((7))))", 7),
    ],
)
def test_evaluates_exactly(text: str, value: Fraction) -> None:
    assert arith.evaluate(text).value == value


def test_reports_numbers_in_order() -> None:
    assert arith.evaluate("(13-9)*(10-4)").numbers == (13, 9, 10, 4)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "1 +",
        "(1 + 2",
        "1 + 2)",
        "1 / 0",
        "4 / (2 - 2)",
        "2 ** 3",
        "__import__('os').system('true')",
        "1e5",
        "1..2",
        ".5",
        "9" * 40,
        "(" * 100 + "1" + ")" * 100,
        "1 + " * 200 + "1",
        "os.system",
        "3 4",
        "lambda: 1",
    ],
)
def test_rejects_hostile_and_malformed(text: str) -> None:
    with pytest.raises(InputError):
        arith.evaluate(text)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gives_a_value_or_input_error(text: str) -> None:
    try:
        result = arith.evaluate(text)
    except InputError:
        return
    assert isinstance(result.value, Fraction)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 1000), min_size=1, max_size=6), st.lists(st.sampled_from("+-*/"), min_size=5, max_size=5))
def test_left_to_right_chains_match_fraction_arithmetic(numbers: list[int], ops: list[str]) -> None:
    text = str(numbers[0])
    expected: Fraction | None = Fraction(numbers[0])
    for number, op in zip(numbers[1:], ops):
        text = f"({text}) {op} {number}"
        expected = None if expected is None else arith.apply_op(expected, op, Fraction(number))
    if expected is None:
        with pytest.raises(InputError):
            arith.evaluate(text)
    else:
        assert arith.evaluate(text).value == expected


def test_show() -> None:
    assert arith.show(Fraction(7)) == "7"
    assert arith.show(Fraction(-5, 2)) == "-5/2"
