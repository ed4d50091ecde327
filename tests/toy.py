"""Small synthetic tasks with known answers: spell a hidden word; random finite trees with transpositions."""

from __future__ import annotations

import random
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


class RandomTree:
    """A random finite search space drawn from `seed`: branching and goals are fixed per state by hashing.

    States are tuples of action indices. With `merge=True` a state is the sorted tuple, so
    the same actions in another order reach the same position (transpositions). Every rule
    depends only on the state, so the space is a well-defined task with a known answer.
    """

    name = "random-tree"

    def __init__(self, seed: int, *, depth: int = 3, branching: int = 3, goal_rate: float = 0.2, merge: bool = False) -> None:
        self.seed, self.depth, self.branching, self.goal_rate, self.merge = seed, depth, branching, goal_rate, merge
        self._solvable: dict[tuple[int, ...], bool] = {}

    def _draw(self, state: tuple[int, ...], what: str) -> random.Random:
        return random.Random(f"{self.seed}/{what}/{state}")

    def initial(self, puzzle: str) -> tuple[int, ...]:
        return ()

    def actions(self, state: tuple[int, ...]) -> list[int]:
        if len(state) >= self.depth:
            return []
        return list(range(self._draw(state, "branching").randint(1 if not state else 0, self.branching)))

    def result(self, state: tuple[int, ...], action: int) -> tuple[int, ...]:
        moved = (*state, action)
        return tuple(sorted(moved)) if self.merge else moved

    def is_terminal(self, state: tuple[int, ...]) -> bool:
        return not self.actions(state)

    def is_goal(self, state: tuple[int, ...]) -> bool:
        return self.is_terminal(state) and self._draw(state, "goal").random() < self.goal_rate

    def key(self, state: tuple[int, ...]) -> tuple[int, ...]:
        return state

    def describe(self, state: tuple[int, ...], action: int) -> str:
        return f"take {action}"

    def render(self, state: tuple[int, ...]) -> str:
        return "-".join(map(str, state)) or "(root)"

    def answer(self, start: tuple[int, ...], actions: Sequence[int]) -> Answer:
        state = start
        for action in actions:
            state = self.result(state, action)
        return Answer(self.render(state), self.is_goal(state))

    def solvable(self, state: tuple[int, ...]) -> bool:
        if state not in self._solvable:
            self._solvable[state] = self.is_goal(state) or any(
                self.solvable(self.result(state, a)) for a in self.actions(state)
            )
        return self._solvable[state]

    def states(self) -> set[tuple[int, ...]]:
        """Every state reachable from the root."""
        seen, todo = {()}, [()]
        while todo:
            state = todo.pop()
            for action in self.actions(state):
                child = self.result(state, action)
                if child not in seen:
                    seen.add(child)
                    todo.append(child)
        return seen
