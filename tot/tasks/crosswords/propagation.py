"""The grid as a constraint problem over the dictionary: arc consistency and belief propagation (numpy).

A `Lexicon` holds the dictionary as arrays (each word's letter codes and letter bits). A board's
`domains` are, per clue, the words that fit its letters and agree, at every crossing cell, with
some word of the crossing clue's domain (arc consistency, to a fixpoint); a board with an empty
domain is dead. A board's free clue (see `board.Board`) has no domain (an empty array): it allows every
letter its cells allow, and sends its crossings nothing. `beliefs` runs loopy belief propagation over
those domains: at every cell, one clue's letter distribution is passed to the crossing clue, so each
clue's belief over its words weighs what its crossings believe. Nothing here calls the model: scores
come in as arrays.
"""

from __future__ import annotations

import bisect
from typing import Any

import numpy as np

from tot.tasks.crosswords.board import BLANK, SIZE, Board

Array = Any  # numpy arrays (kept loose: mypy's numpy stubs add little here)


class Lexicon:
    """The dictionary as arrays: `vocab` (sorted), each word's letter `codes` (0-25) and letter `bits` (1 << code)."""

    def __init__(self, words: frozenset[str] | set[str]) -> None:
        self.vocab = sorted(words)
        codes = np.frombuffer("".join(self.vocab).encode("ascii"), dtype=np.uint8).reshape(-1, SIZE) - ord("A")
        self.codes = codes.astype(np.intp)
        self.bits = (np.uint32(1) << codes.astype(np.uint32)).astype(np.uint32)
        self._domains: dict[tuple[str, int | None], list[Array] | None] = {}

    def __len__(self) -> int:
        return len(self.vocab)

    def position(self, word: str) -> int | None:
        """The index of `word` in `vocab`, or None."""
        i = bisect.bisect_left(self.vocab, word)
        return i if i < len(self.vocab) and self.vocab[i] == word else None

    def fitting(self, pattern: str) -> Array:
        """The indices of the words that fit `pattern`."""
        mask = np.ones(len(self.vocab), dtype=bool)
        for position, letter in enumerate(pattern):
            if letter != BLANK:
                mask &= self.codes[:, position] == ord(letter) - ord("A")
        return np.flatnonzero(mask)

    def domains(self, board: Board) -> list[Array] | None:
        """Each clue's arc-consistent words (index arrays; the free clue's empty), or None when some other clue has
        none (cached by cells and free clue)."""
        key = (board.cells, board.free)
        if key in self._domains:
            return self._domains[key]
        bound = [s for s in range(2 * SIZE) if s != board.free]
        domains = [self.fitting(board.pattern(s)) if s != board.free else np.empty(0, dtype=np.intp)
                   for s in range(2 * SIZE)]

        def letters(s: int, position: int) -> Any:
            """The letters clue `s` allows at `position`: any for the free clue (where a cell holds a letter, the
            crossing clue's words fit it already)."""
            if s == board.free:
                return np.uint32((1 << 26) - 1)
            return np.bitwise_or.reduce(self.bits[domains[s], position])

        changed = True
        while changed and all(len(domains[s]) for s in bound):
            changed = False
            allowed = np.zeros((SIZE, SIZE), dtype=np.uint32)  # (row, column) -> letters both clues allow
            for r in range(SIZE):
                for c in range(SIZE):
                    allowed[r, c] = letters(r, c) & letters(SIZE + c, r)
            for s in bound:
                cells = allowed[s] if s < SIZE else allowed[:, s - SIZE]
                keep = np.all(self.bits[domains[s]] & cells[None, :], axis=1)
                if not keep.all():
                    domains[s] = domains[s][keep]
                    changed = True
        result = domains if all(len(domains[s]) for s in bound) else None
        if len(self._domains) >= 20_000:  # a search revisits its own boards; older puzzles' can go
            self._domains.clear()
        self._domains[key] = result
        return result


def beliefs(lexicon: Lexicon, domains: list[Array], unaries: list[Array], *, iterations: int = 30,
            damping: float = 0.5, free: int | None = None) -> list[Array]:
    """Each clue's log-beliefs over its domain (normalised), after `iterations` damped rounds of loopy
    belief propagation from the `unaries` (each clue's log-scores of its domain's words); the `free` clue's
    are empty, and it sends its crossings a uniform distribution (nothing)."""
    codes = [lexicon.codes[d] for d in domains]
    # inbox[s, p]: the log-distribution over 26 letters that the clue crossing s at its position p sends
    inbox = np.zeros((2 * SIZE, SIZE, 26))
    for _ in range(iterations):
        _, outbox = _send(unaries, codes, inbox, free)
        inbox = damping * inbox + (1.0 - damping) * np.maximum(_crossed(outbox), -50.0)
    logbeliefs, _ = _send(unaries, codes, inbox, free)
    return [lb - _log_total(lb) if len(lb) else lb for lb in logbeliefs]


def _send(unaries: list[Array], codes: list[Array], inbox: Array, free: int | None) -> tuple[list[Array], Array]:
    """One round of belief propagation: each clue's unnormalised log-beliefs and, per position, the
    log-distribution of its letters there without what the crossing clue sent (normalised; uniform from the
    `free` clue)."""
    logbeliefs, outbox = [], np.empty_like(inbox)
    for s, (unary, code) in enumerate(zip(unaries, codes)):
        if s == free:
            logbeliefs.append(np.empty(0))
            outbox[s] = -np.log(26.0)
            continue
        logb = unary + inbox[s][np.arange(SIZE), code].sum(axis=1)
        weights = np.exp(logb - logb.max())
        for p in range(SIZE):
            mass = np.bincount(code[:, p], weights=weights, minlength=26)
            with np.errstate(divide="ignore"):
                out = np.where(mass > 0, np.log(mass) - inbox[s, p], -np.inf)
            outbox[s, p] = out - _log_total(out)
        logbeliefs.append(logb)
    return logbeliefs, outbox


def _crossed(outbox: Array) -> Array:
    """What each clue position hears: row r's position c is column c's position r, and back."""
    crossed = np.empty_like(outbox)
    crossed[:SIZE] = outbox[SIZE:].transpose(1, 0, 2)
    crossed[SIZE:] = outbox[:SIZE].transpose(1, 0, 2)
    return crossed


def _log_total(values: Array) -> float:
    top = float(values.max())
    return top + float(np.log(np.exp(values - top).sum()))
