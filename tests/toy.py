"""A small synthetic task with a known answer: spell a hidden word one letter at a time."""

from __future__ import annotations

from collections.abc import Sequence

from tot.core import Answer


class Spell:
    """States are prefixes over `alphabet`; a state of length `length` is terminal; `word` is the goal."""

    name = "spell"

    def __init__(self, word: str = "cab", alphabet: str = "abc") -> None:
        self.word, self.alphabet, self.length = word, alphabet, len(word)

    def initial(self, puzzle: str) -> str:
        return ""

    def actions(self, state: str) -> list[str]:
        return [] if len(state) >= self.length else list(self.alphabet)

    def result(self, state: str, action: str) -> str:
        return state + action

    def is_goal(self, state: str) -> bool:
        return state == self.word

    def is_terminal(self, state: str) -> bool:
        return len(state) >= self.length

    def key(self, state: str) -> str:
        return state

    def describe(self, state: str, action: str) -> str:
        return f"add {action}"

    def render(self, state: str) -> str:
        return state or "(empty)"

    def answer(self, start: str, actions: Sequence[str]) -> Answer:
        text = start + "".join(actions)
        return Answer(text, text == self.word)

    def solvable(self, state: str) -> bool:
        return self.word.startswith(state)
