"""The checker of make24.toml: the expression uses each input number once and equals 24 (tot's exact parser, no eval)."""

import tot


def makes_24(task_input: str, answer: str) -> bool:
    return tot.check("game24", task_input, answer.removesuffix("= 24").strip()).verified
