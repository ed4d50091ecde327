"""Votes: the model compares states side by side and names the best, as the paper's creative-writing ToT does.

A task that can be voted on has `vote_prompt(states) -> VotePrompt`: an instruction and the states
as numbered choices, ending where the voter starts writing. Four valuers read it:

- `vote` (`SampledVote`): the paper's vote. n completions, each parsed for its last
  "The best choice is N" (`parse_vote`); a completion without one is an abstention, and a vote for a
  choice that does not exist is dropped. A state's value is its share of the votes cast.
- `vote-conclude`: the paper's vote, but a voter that names no existing choice is asked to conclude:
  its own text, then "The best choice is ", and the likeliest number read from one forward pass (all
  such voters in one call). A small model that rambles still votes, for the choice its analysis leads to.
- `vote-pass` (`OnePassVote`): the prompt followed by "The best choice is ", and the probability
  of each choice's number read from one forward pass (several prompts batched in one call where the
  backend can, their shared prefix decoded once).
- `vote-rotate`: the one-pass vote held once per cyclic order of the choices (k passes, one call),
  averaged: a small model's vote leans on the first position, and rotating cancels that lean.

`VoteEvaluator` puts a thought generator and a voter behind the Evaluator interface. Votes are
relative: the states valued together (`evaluate_many`: a BFS step's candidates, a node's children)
are one vote; a state valued alone is voted on among the siblings it was generated with.
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from tot.core import Candidate, Meter, Task
from tot.errors import InputError
from tot.models import Model, score_labels_many
from tot.quoted import fenced
from tot.written import check_fits, is_open_ended

CONCLUSION = "The best choice is"


@dataclass(frozen=True)
class VotePrompt:
    """A vote's prompt (the choices numbered from 1) and how the sampled votes are written."""

    text: str
    votes: int = 5
    max_tokens: int = 160
    stop: tuple[str, ...] = ("\n\n\n",)
    temperature: float = 0.7


def numbered_choices(texts: Sequence[str], *, keep: Sequence[str] = ()) -> str:
    """The choices as the vote prompt lists them: "Choice N:" and the text fenced as data (see `tot.quoted`)."""
    return "".join(f"Choice {number}:\n{fenced(text, keep=keep)}\n\n" for number, text in enumerate(texts, start=1))


_NUMBER_WORDS = {
    word: value
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
}
_VOTE = re.compile(
    r"best\s+choice\s*(?:is|was|would\s+be|will\s+be)?\s*[:=\-]?\s*"
    r"(?:the\s+)?(?:choice|option|number|no\.?|passage|plan)?\s*[#*_\"'(\[]*\s*"
    r"(\d+|" + "|".join(_NUMBER_WORDS) + r")\b",
    re.IGNORECASE,
)


def parse_vote(text: str, choices: int) -> int | None:
    """The choice (1 to `choices`) named by the last "best choice is N" in `text`.

    None for an abstention (no such statement) or for a choice that does not exist (0, or above
    `choices`): such a vote is dropped, never moved to another choice.
    """
    matches = list(_VOTE.finditer(text))
    if not matches:
        return None
    word = matches[-1].group(1).lower()
    number = _NUMBER_WORDS[word] if word in _NUMBER_WORDS else int(word[:6])
    return number if 1 <= number <= choices else None


@dataclass(frozen=True)
class Votes:
    """The votes for each choice (in order) and how many voters named no existing choice; of those, how
    many were given one by the appended conclusion (`concluded`, counted in `counts`)."""

    counts: tuple[int, ...]
    abstentions: int
    concluded: int = 0

    def shares(self) -> list[float]:
        """Each choice's share of the votes cast; equal shares when no vote was cast."""
        cast = sum(self.counts)
        if cast == 0:
            return [1.0 / len(self.counts)] * len(self.counts)
        return [count / cast for count in self.counts]


def count_votes(texts: Sequence[str], choices: int) -> Votes:
    """The votes of several completions over `choices` choices."""
    counts = [0] * choices
    abstentions = 0
    for text in texts:
        choice = parse_vote(text, choices)
        if choice is None:
            abstentions += 1
        else:
            counts[choice - 1] += 1
    return Votes(tuple(counts), abstentions)


def number_probabilities(model: Model, prompts: Sequence[str], numbers: int) -> list[list[float]]:
    """For each prompt (ending just before a number), the probability of each number 1..`numbers`, normalised.

    One forward pass per prompt, batched where the model has `score_labels_many`. A number that
    begins a longer one (the "1" of "10") counts only when the longer one does not follow: its
    probability less those of its one-digit-longer extensions among the numbers.
    """
    labels = [str(number) for number in range(1, numbers + 1)]
    rows = score_labels_many(model, prompts, labels)
    result = []
    for row in rows:
        exact = list(row)
        for i, label in enumerate(labels):
            longer = [j for j, other in enumerate(labels) if len(other) == len(label) + 1 and other.startswith(label)]
            exact[i] = max(0.0, row[i] - sum(row[j] for j in longer))
        total = sum(exact)
        result.append([p / total for p in exact] if total > 0 and math.isfinite(total) else [1.0 / numbers] * numbers)
    return result


class SampledVote:
    """The paper's vote: n sampled completions of the vote prompt, each parsed for "The best choice is N".

    With `conclude`, a completion that names no existing choice is followed by "The best choice is "
    and the likeliest choice number is read from one forward pass (`vote-conclude`). `votes` and
    `max_tokens` (per voter) override the task's vote prompt's.
    """

    def __init__(self, task: Any, model: Model, *, votes: int | None = None, conclude: bool = False,
                 max_tokens: int | None = None) -> None:
        _check_votable(task)
        if votes is not None and votes <= 0:
            raise InputError(f"votes must be positive, got {votes}")
        if max_tokens is not None and max_tokens <= 0:
            raise InputError(f"a voter's token limit must be positive, got {max_tokens}")
        self.task, self.model, self.votes, self.conclude = task, model, votes, conclude
        self.max_tokens = max_tokens
        self.name = "vote-conclude" if conclude else "vote"

    def vote(self, states: Sequence[Any]) -> Votes:
        """One vote among `states`."""
        prompt: VotePrompt = self.task.vote_prompt(list(states))
        limit = self.max_tokens or prompt.max_tokens
        check_fits(self.model, prompt.text, limit + (16 if self.conclude else 0), "vote prompt")
        n = self.votes or prompt.votes
        texts = self.model.sample(prompt.text, n, max_tokens=limit, temperature=prompt.temperature, stop=prompt.stop)
        votes = count_votes(texts, len(states))
        self.model.meter.votes += len(texts)
        self.model.meter.abstentions += votes.abstentions
        if self.conclude and votes.abstentions:
            votes = self._concluded(prompt.text, texts, votes)
            self.model.meter.concluded += votes.concluded
        return votes

    def _concluded(self, prompt: str, texts: Sequence[str], votes: Votes) -> Votes:
        """`votes` with each abstaining voter's choice read after its own text and the conclusion."""
        choices = len(votes.counts)
        silent = [text for text in texts if parse_vote(text, choices) is None]
        prompts = [f"{prompt}{text.rstrip()}\n{CONCLUSION} " for text in silent]
        counts = list(votes.counts)
        for row in number_probabilities(self.model, prompts, choices):
            counts[max(range(choices), key=lambda i: (row[i], -i))] += 1
        return Votes(tuple(counts), votes.abstentions, concluded=len(silent))

    def values(self, states: Sequence[Any]) -> list[float]:
        return self.vote(states).shares()

    def values_many(self, groups: Sequence[Sequence[Any]]) -> list[list[float]]:
        return [self.values(group) for group in groups]


class OnePassVote:
    """The vote read from one forward pass: the probability of each choice's number after "The best choice is".

    With `rotate` (`vote-rotate`), one pass per cyclic order of the choices (all in the same call), each
    state's probabilities averaged over the orders: every state is listed once in every position, so
    a voter that favours a position favours every state alike.
    """

    def __init__(self, task: Any, model: Model, *, rotate: bool = False) -> None:
        _check_votable(task)
        self.task, self.model, self.rotate = task, model, rotate
        self.name = "vote-rotate" if rotate else "vote-pass"

    def prompt(self, states: Sequence[Any]) -> str:
        text: str = self.task.vote_prompt(list(states)).text
        return f"{text}{CONCLUSION} "

    def values(self, states: Sequence[Any]) -> list[float]:
        return self.values_many([states])[0]

    def values_many(self, groups: Sequence[Sequence[Any]]) -> list[list[float]]:
        """The choice probabilities of several votes, their prompts scored in one call where the model can.

        Groups of the same size share a call (the numbers scored are the same).
        """
        if not self.rotate:
            return self._passes(groups)
        orders = [[[*range(r, n), *range(r)] for r in range(n)] for n in map(len, groups)]
        passes = iter(self._passes([[group[i] for i in order] for group, rotations in zip(groups, orders) for order in rotations]))
        result = []
        for rotations in orders:
            total = [0.0] * len(rotations)
            for order in rotations:
                for i, p in zip(order, next(passes)):
                    total[i] += p / len(rotations)
            result.append(total)
        return result

    def _passes(self, groups: Sequence[Sequence[Any]]) -> list[list[float]]:
        result: list[list[float] | None] = [None] * len(groups)
        sizes = sorted({len(group) for group in groups})
        for size in sizes:
            members = [i for i, group in enumerate(groups) if len(group) == size]
            prompts = [self.prompt(groups[i]) for i in members]
            for prompt in prompts:
                check_fits(self.model, prompt, 1, "vote prompt")
            for i, row in zip(members, number_probabilities(self.model, prompts, size)):
                result[i] = row
        return [row if row is not None else [] for row in result]


def _check_votable(task: Any) -> None:
    if not callable(getattr(task, "vote_prompt", None)):
        raise InputError(f"task {task.name} has no vote prompt, so it cannot be valued by votes")


class VoteEvaluator:
    """A thought generator and a voter behind the Evaluator interface; values are vote shares, cached.

    `evaluate_many(states)` holds one vote among the states; `evaluate(state)` one among the state and
    the siblings it was generated with (a state with none is the only choice: 1, with no model call).
    A finished state of a task that can verify answers is valued exactly (1 for a goal, else 0).
    """

    def __init__(self, task: Task[Any, Any], generator: Any, voter: SampledVote | OnePassVote, meter: Meter | None = None):
        self.task, self.generator, self.voter = task, generator, voter
        self.model = voter.model
        self.meter = meter if meter is not None else Meter()
        self.cache: dict[Hashable, float] = {}
        self.groups: dict[Hashable, tuple[Any, ...]] = {}
        self.name = f"{generator.name}+{voter.name}"

    def prior(self, state: Any) -> list[Candidate[Any]]:
        candidates: list[Candidate[Any]] = self.generator(state)
        siblings = tuple(self.task.result(state, candidate.action) for candidate in candidates)
        for child in siblings:
            self.groups.setdefault(self.task.key(child), siblings)
        return candidates

    def _exact(self, state: Any) -> float | None:
        if self.task.is_goal(state):
            return 1.0
        if self.task.is_terminal(state) and not is_open_ended(self.task):
            return 0.0
        return None

    def evaluate(self, state: Any) -> float:
        exact = self._exact(state)
        if exact is not None:
            return exact
        key = self.task.key(state)
        if key in self.cache:
            self.meter.cache_hits += 1
            return self.cache[key]
        group = [s for s in self.groups.get(key, (state,)) if self._exact(s) is None]
        if not any(self.task.key(s) == key for s in group):
            group.append(state)
        self._vote(group)
        return self.cache[key]

    def evaluate_many(self, states: Sequence[Any]) -> list[float]:
        """One vote among the distinct states of `states` that are not valued exactly (none if all are cached)."""
        distinct: dict[Hashable, Any] = {}
        for state in states:
            if self._exact(state) is None:
                distinct.setdefault(self.task.key(state), state)
        if any(key not in self.cache for key in distinct):
            self._vote(list(distinct.values()))
        else:
            self.meter.cache_hits += len(distinct)
        values = []
        for state in states:
            exact = self._exact(state)
            values.append(exact if exact is not None else self.cache[self.task.key(state)])
        return values

    def _vote(self, group: Sequence[Any]) -> None:
        if len(group) == 1:
            values = [1.0]
        else:
            values = self.voter.values(group)
        for state, value in zip(group, values):
            self.cache[self.task.key(state)] = value if math.isfinite(value) else 0.0
