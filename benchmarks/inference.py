"""Inference benchmark: tot's llama.cpp backend against the plain llama-cpp-python way, in one process.

    .venv/bin/python -m tot.bench.inference            # the full run
    .venv/bin/python -m tot.bench.inference --quick    # a smaller version (about a tenth)
    .venv/bin/python -m tot.bench.inference --json     # one JSON object instead of the report

Workloads, each run by both backends side by side (`benchmarks/naive.py` is the plain way):
1. values: Game of 24 states (children of rows 900-999 of 24.csv): the paper's method (3 sampled
   completions of the value prompt) on the plain backend vs one-pass label values on tot's backend;
2. clues: 50 candidate answers for each of 20 mini-crossword clues: one call per candidate vs one
   batched call per clue, and the compute floor (the same rows in one raw llama_decode, no Python);
4. dictionary: every word of the crossword dictionary (42k five-letter words) for each of a few
   clues: tot's `score_many` (one call per clue) vs the plain way, one call per candidate, timed on
   a sample of the words and compared per word scored (`--only dictionary` runs it alone);
3. solve: `tot.api.solve` (default preset) of rows 900-904 on tot's backend, its model calls replayed on
   the plain backend (the same work), and the plain backend's own search from the same seed: same decisions?
Plus raw llama.cpp throughput for the model (pp512 and tg128, measured like llama-bench) and, for tot's
backend, the share of wall time spent outside llama.cpp.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from importlib.resources import files
from typing import Any

import numpy as np

from tot.bench.naive import NaiveModel
from tot import api
from tot.evaluators import LabelValuer, SampledValuer
from tot.models.llama import LlamaModel
from tot.models.llama_context import Row, common_prefix, fill_batch
from tot.models.llama_scoring import continuation_trie
from tot.models import Model, resolve_model_path, score_labels_many
from tot.tasks.game24 import Game24, load_puzzles

State = tuple[Fraction, ...]


@dataclass(frozen=True)
class Side:
    """What one backend spent on one workload."""

    seconds: float
    llama_seconds: float
    calls: int
    tokens: int  # prompt tokens evaluated + generated tokens

    def __add__(self, other: Side) -> Side:
        return Side(
            self.seconds + other.seconds,
            self.llama_seconds + other.llama_seconds,
            self.calls + other.calls,
            self.tokens + other.tokens,
        )

    @property
    def outside_share(self) -> float:
        """Share of the wall time spent outside llama.cpp calls."""
        return 1 - self.llama_seconds / self.seconds if self.seconds else 0.0


def measure(model: Model, work: Callable[[], Any]) -> tuple[Side, Any]:
    """Run `work` and return what `model` spent on it, with its result."""
    before = model.meter.snapshot()
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    after = model.meter.snapshot()
    spent = {name: after[name] - before[name] for name in after}
    tokens = int(spent["prompt_tokens_evaluated"] + spent["generated_tokens"])
    return Side(seconds, spent["llama_seconds"], int(spent["calls"]), tokens), result


# ---- workload 1: state values ------------------------------------------------------------------


VALUE_BATCH = 30  # states valued per batched call: about the children of a Game of 24 root, BFS's first beam step


def value_states(rows: range, per_puzzle: int) -> list[State]:
    """`per_puzzle` children of each puzzle in `rows`, drawn with a seed per row."""
    game, puzzles = Game24(), load_puzzles()
    states: list[State] = []
    for row in rows:
        root = game.initial(puzzles[row])
        children = sorted({game.result(root, action) for action in game.actions(root)})
        states += random.Random(row).sample(children, per_puzzle)
    return states


def values(
    naive: NaiveModel, ours: LlamaModel, raw: RawContext, states: Sequence[State], plain_every: int, both: int
) -> dict[str, Any]:
    """The paper's sampled values on the plain backend against one-pass label values on tot's.

    The slow plain side values every `plain_every`-th state only; the speedup compares seconds per
    state. The paper's method also runs on tot's backend for the first `both` of those states, to
    separate what the backend gains from what the method gains.
    """
    prompts: Any = Game24().prompts
    sampled = list(states[::plain_every])
    SampledValuer(prompts, naive, n=1, max_tokens=1)(states[-1])  # warm-up: both prompts' shared parts cached
    LabelValuer(prompts, ours)(states[-1])
    plain, _ = measure(naive, lambda: [SampledValuer(prompts, naive, n=3)(s) for s in sampled])
    recorder = Recorder(ours)
    fast, one_by_one = measure(ours, lambda: [LabelValuer(prompts, recorder)(s) for s in states])
    floor_seconds, floor_rows = raw.floor(ours, scored(recorder.calls))
    valuer = LabelValuer(prompts, ours)
    groups = [states[start : start + VALUE_BATCH] for start in range(0, len(states), VALUE_BATCH)]
    batched, in_batches = measure(ours, lambda: [v for group in groups for v in valuer.many(group)])
    plain_per_state = plain.seconds / len(sampled)
    report: dict[str, Any] = {
        "states": len(states),
        "plain_states": len(sampled),
        "plain_paper": asdict(plain),
        "tot_labels": asdict(fast),
        "speedup": plain_per_state / (fast.seconds / len(states)),
        "batch": VALUE_BATCH,
        "tot_labels_batched": asdict(batched),
        "speedup_batched": plain_per_state / (batched.seconds / len(states)),
        "batched_equals_one_by_one": in_batches == one_by_one,
        "tot_outside_share": fast.outside_share,
        "floor": {"seconds": floor_seconds, "tokens": floor_rows},
        "over_floor": fast.seconds / floor_seconds,
        "floor_speedup": plain_per_state / (floor_seconds / len(states)),
    }
    if both:
        subset = sampled[:both]
        ours.score_labels(prompts.value_prompt(subset[0]), [" sure"])  # warm-up, as the plain side is
        plain_subset, _ = measure(naive, lambda: [SampledValuer(prompts, naive, n=3)(s) for s in subset])
        ours_paper, _ = measure(ours, lambda: [SampledValuer(prompts, ours, n=3)(s) for s in subset])
        report["paper_method_both"] = {
            "states": len(subset),
            "plain": asdict(plain_subset),
            "tot": asdict(ours_paper),
            "speedup": plain_subset.seconds / ours_paper.seconds,
        }
    return report


def tot_prompt_speed(ours: LlamaModel, repetitions: int) -> float:
    """Tokens per second of tot's backend on pp512 (the same 512 tokens, in its 8..63-row batches)."""
    rng = random.Random(0)
    tokens = [rng.randrange(1000, ours.n_vocab) for _ in range(512)]
    seconds = []
    for _ in range(repetitions + 1):  # the first is a warm-up
        ours.forget()
        started = time.perf_counter()
        ours.cache.prefill(tokens)
        seconds.append(time.perf_counter() - started)
    ours.forget()
    return 512 / float(np.mean(seconds[1:]))


def resident_switch(ours: LlamaModel, repetitions: int = 5) -> dict[str, float]:
    """Milliseconds to make sequence 0 hold a value-prompt prefix again: restore it, share it, or recompute it."""
    lib, memory = ours.lib, ours.decoder.memory
    ours.forget()
    ours.score_labels(Game24().prompts.value_prompt(Game24().initial("1 2 3 4")), [" sure"])
    ours.score_labels("Another prompt, which pushes the value prompt out of sequence 0:", [" sure"])
    resident = max(ours.residents, key=lambda r: len(r.tokens))

    def restore() -> None:
        lib.llama_memory_clear(memory, False)
        lib.llama_state_seq_set_data(ours.decoder.ctx, resident.state, len(resident.state), 0)

    def share() -> None:
        lib.llama_memory_seq_rm(memory, 0, -1, -1)
        lib.llama_memory_seq_cp(memory, 1, 0, -1, -1)

    def recompute() -> None:
        lib.llama_memory_clear(memory, False)
        for _ in ours.decoder.decode([(t, i, (0,), False) for i, t in enumerate(resident.tokens)]):
            pass

    timings = {}
    for name, switch in (("restore_state", restore), ("recompute", recompute)):
        seconds = []
        for _ in range(repetitions):
            started = time.perf_counter()
            switch()
            seconds.append(time.perf_counter() - started)
        timings[f"{name}_ms"] = 1000 * min(seconds)
    lib.llama_memory_seq_cp(memory, 0, 1, -1, -1)  # a copy in sequence 1 to share from
    seconds = []
    for _ in range(repetitions):
        started = time.perf_counter()
        share()
        seconds.append(time.perf_counter() - started)
    timings["share_seq_cp_ms"] = 1000 * min(seconds)
    ours.forget()
    return {"prefix_tokens": len(resident.tokens), "state_mb": len(resident.state) / 1e6, **timings}


# ---- workload 2: crossword clues -----------------------------------------------------------------


def clue_sets(count: int, candidates: int) -> list[tuple[str, list[str], int]]:
    """`count` mini-crossword clues, each with its answer among `candidates` five-letter answers of the file."""
    data = json.loads(files("tot.data").joinpath("mini0505.json").read_text())
    pairs: list[tuple[str, str]] = []
    for clues, letters in data:
        words = ["".join(letters[5 * i : 5 * i + 5]) for i in range(5)] + ["".join(letters[i::5]) for i in range(5)]
        pairs += [(clue, word.lower()) for clue, word in zip(clues, words)]
    pool = sorted({word for _, word in pairs})
    sets = []
    for i, (clue, answer) in enumerate(pairs[:: max(1, len(pairs) // count)][:count]):
        rng = random.Random(i)
        options = rng.sample([w for w in pool if w != answer], candidates - 1) + [answer]
        rng.shuffle(options)
        sets.append((clue, options, options.index(answer)))
    return sets


def clue_prompt(clue: str) -> str:
    return f"Crossword clue: {clue}\nFive-letter answer:"


def clues(naive: NaiveModel, ours: LlamaModel, raw: RawContext, sets: Sequence[tuple[str, list[str], int]]) -> dict[str, Any]:
    def run(model: Model) -> list[list[float]]:
        return [model.score_continuations(clue_prompt(c), [" " + w for w in words]) for c, words, _ in sets]

    plain, plain_scores = measure(naive, lambda: run(naive))
    padding = ours.padding_rows
    fast, fast_scores = measure(ours, lambda: run(ours))
    floor_seconds, floor_rows = raw.floor(ours, [(clue_prompt(c), [" " + w for w in words]) for c, words, _ in sets])
    agree = sum(int(np.argmax(a) == np.argmax(b)) for a, b in zip(plain_scores, fast_scores))
    right = sum(int(np.argmax(s) == gold) for s, (_, _, gold) in zip(fast_scores, sets))
    difference = np.abs(np.array(plain_scores) - np.array(fast_scores))  # the two kernel setups' numerics
    return {
        "clues": len(sets),
        "candidates": len(sets[0][1]) if sets else 0,
        "plain_per_candidate": asdict(plain),
        "tot_batched": asdict(fast),
        "tot_padding_rows": ours.padding_rows - padding,
        "floor": {"seconds": floor_seconds, "tokens": floor_rows},
        "speedup": plain.seconds / fast.seconds,
        "over_floor": fast.seconds / floor_seconds,
        "tot_outside_share": fast.outside_share,
        "top1_same_as_plain": agree,
        "top1_correct": right,
        "score_difference_nats": {"mean": float(difference.mean()), "max": float(difference.max())},
    }


# ---- workload 4: the whole dictionary per clue ---------------------------------------------------


def dictionary_scoring(naive: NaiveModel, ours: LlamaModel, clues: int, sample: int) -> dict[str, Any]:
    """Score the crossword dictionary for `clues` clues: `score_many` on tot vs one plain call per word
    on `sample` words of it per clue; both sides' cost per word scored, and the answer's rank."""
    from tot.tasks.crosswords import ANSWER_PROMPT, dictionary

    vocab = sorted(dictionary().words)
    sets = clue_sets(clues, 2)
    prompts = [ANSWER_PROMPT.format(clue=clue) for clue, _, _ in sets]
    answers = [words[gold].upper() for _, words, gold in sets]
    conts = [" " + w.lower() for w in vocab]
    fast, scores = measure(ours, lambda: [ours.score_many(p, conts) for p in prompts])
    rng = random.Random(0)
    picked = [[" " + w.lower() for w in rng.sample(vocab, sample)] for _ in prompts]
    plain, _ = measure(naive, lambda: [naive.score_continuations(p, c) for p, c in zip(prompts, picked)])
    ranks = [
        int(sum(1 for x in row if x > row[vocab.index(a)])) if a in vocab else None for row, a in zip(scores, answers)
    ]
    per_word_plain = plain.seconds / (sample * len(prompts))
    per_word_tot = fast.seconds / (len(vocab) * len(prompts))
    return {
        "clues": len(prompts),
        "dictionary_words": len(vocab),
        "plain_sample_words": sample,
        "plain_per_candidate": asdict(plain),
        "tot_score_many": asdict(fast),
        "plain_seconds_per_word": per_word_plain,
        "tot_seconds_per_word": per_word_tot,
        "speedup_per_word": per_word_plain / per_word_tot,
        "answer_ranks": ranks,
    }


# ---- workload 3: whole searches -----------------------------------------------------------------


class Recorder:
    """A `Model` that passes every call on to `model` and keeps the calls, to replay them on another model."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.name = model.name
        self.meter = model.meter
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def reseed(self, seed: int) -> None:
        self.model.reseed(seed)  # type: ignore[attr-defined]

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((method, args, kwargs))
        return getattr(self.model, method)(*args, **kwargs)

    def complete(self, prompt: str, **kwargs: Any) -> str:
        text: str = self._call("complete", prompt, **kwargs)
        return text

    def sample(self, prompt: str, n: int, **kwargs: Any) -> list[str]:
        texts: list[str] = self._call("sample", prompt, n, **kwargs)
        return texts

    def score_continuations(self, prompt: str, continuations: Sequence[str]) -> list[float]:
        scores: list[float] = self._call("score_continuations", prompt, continuations)
        return scores

    def score_labels(self, prompt: str, labels: Sequence[str]) -> list[float]:
        scores: list[float] = self._call("score_labels", prompt, labels)
        return scores

    def score_labels_many(self, prompts: Sequence[str], labels: Sequence[str]) -> list[list[float]]:
        scores: list[list[float]] = self._call("score_labels_many", prompts, labels)
        return scores


def scored(calls: Sequence[tuple[str, tuple[Any, ...], dict[str, Any]]]) -> list[tuple[str, list[str]]]:
    """The (prompt, continuations) of the scoring calls among recorded `calls`, for `RawContext.floor`
    (a batched label call counts as one call per prompt: the floor is one decode per prompt)."""
    pairs: list[tuple[str, list[str]]] = []
    for method, args, _ in calls:
        if method in ("score_continuations", "score_labels"):
            pairs.append((args[0], list(args[1])))
        elif method == "score_labels_many":
            pairs += [(prompt, list(args[1])) for prompt in args[0]]
    return pairs


def replay(model: Model, calls: Sequence[tuple[str, tuple[Any, ...], dict[str, Any]]]) -> None:
    """Make `calls` (from a `Recorder`) on `model`, in order; batched label calls one prompt at a time
    where `model` has no batched method (the plain way)."""
    for method, args, kwargs in calls:
        if method == "score_labels_many":
            score_labels_many(model, *args)
        else:
            getattr(model, method)(*args, **kwargs)


def solves(naive: NaiveModel, ours: LlamaModel, raw: RawContext, rows: range, seed: int) -> dict[str, Any]:
    """Whole searches: tot's, its exact model calls replayed on the plain backend, and the plain backend's own.

    The replay is the same work by construction (the same calls in the same order), so its time ratio
    is what the backend alone buys on a whole search. The plain backend's own search starts from the
    same seed; where its decisions part from tot's, the report shows the values that made them part.
    """
    puzzles = load_puzzles()
    per_puzzle = []
    totals: dict[str, Side] = {}
    floor_seconds, floor_rows, unscored = 0.0, 0, 0

    def add(label: str, side: Side) -> None:
        totals[label] = totals.get(label, Side(0.0, 0.0, 0, 0)) + side

    for row in rows:
        entry: dict[str, Any] = {"row": row, "puzzle": puzzles[row]}
        results = {}
        recorder = Recorder(ours)
        for label, model in (("tot", recorder), ("plain", naive)):
            model.reseed(seed)  # both start cold, from the same seed (api.solve reseeds only a model it loads)

            def solve(model: Model = model, puzzle: str = puzzles[row]) -> Any:
                return api.solve("game24", puzzle, model=model, seed=seed)

            side, results[label] = measure(model, solve)  # a Recorder shares its model's meter
            result = results[label]
            entry[label] = {
                "answer": result.answer.text if result.answer else None,
                "solved": result.solved,
                "nodes": len(result.tree),
                **asdict(side),
            }
            add(label, side)
        scoring = scored(recorder.calls)
        seconds, rows_decoded = raw.floor(ours, scoring)
        floor_seconds, floor_rows = floor_seconds + seconds, floor_rows + rows_decoded
        unscored += len(recorder.calls) - len(scoring)
        naive.reseed(seed)
        side, _ = measure(naive, lambda: replay(naive, recorder.calls))
        entry["plain_replay"] = asdict(side)
        add("plain_replay", side)
        entry["first_divergence"] = divergence(results["plain"].tree, results["tot"].tree)
        entry["same_decisions"] = entry["first_divergence"] is None
        entry["same_answer"] = entry["plain"]["answer"] == entry["tot"]["answer"]
        per_puzzle.append(entry)
    return {
        "strategy": api.PRESETS["fast"].strategy,
        "puzzles": per_puzzle,
        **{label: asdict(side) for label, side in totals.items()},
        "speedup": totals["plain_replay"].seconds / totals["tot"].seconds,
        "speedup_own_searches": totals["plain"].seconds / totals["tot"].seconds,
        "tot_outside_share": totals["tot"].outside_share,
        "floor": {"seconds": floor_seconds, "tokens": floor_rows, "calls_left_out": unscored},
        "over_floor": totals["tot"].seconds / floor_seconds if floor_seconds else None,
        "floor_speedup": totals["plain_replay"].seconds / floor_seconds if floor_seconds else None,
        "same_decisions": sum(int(p["same_decisions"]) for p in per_puzzle),
        "same_answers": sum(int(p["same_answer"]) for p in per_puzzle),
        "solved": {side: sum(int(p[side]["solved"]) for p in per_puzzle) for side in ("tot", "plain")},
    }


def divergence(plain: Any, ours: Any) -> dict[str, Any] | None:
    """The first expansion where two search trees differ, with both trees' values and priors of the two picks."""
    def expanded(tree: Any) -> list[Any]:
        by_id = {node.id: node for node in tree}
        return [by_id[i] for i in tree.expansion_order]

    a, b = expanded(plain), expanded(ours)
    step = next((i for i, (x, y) in enumerate(zip(a, b)) if x.key != y.key), None)
    if step is None:
        return None if len(a) == len(b) else {"step": min(len(a), len(b)), "note": "one search stopped earlier"}

    def seen(tree: Any, key: Any) -> dict[str, Any] | None:
        node = tree.nodes.get(key)
        return None if node is None else {"value": node.value, "prior": node.prior}

    picks = {"plain": a[step], "tot": b[step]}
    return {
        "step": step,
        **{f"{side}_expands": node.label for side, node in picks.items()},
        "in_plain_tree": {node.label: seen(plain, node.key) for node in picks.values()},
        "in_tot_tree": {node.label: seen(ours, node.key) for node in picks.values()},
    }


# ---- raw llama.cpp ----------------------------------------------------------------------------


class RawContext:
    """A plain llama.cpp context (library defaults, 512-row batches) for the throughput and the floor."""

    def __init__(self, threads: int, n_seq_max: int = 64) -> None:
        from tot.models.llama_context import llama_lib

        lib = llama_lib()
        self.lib = lib
        self.model = lib.llama_model_load_from_file(
            str(resolve_model_path(None)).encode(), lib.llama_model_default_params()
        )
        params = lib.llama_context_default_params()
        params.n_ctx = 4096
        params.n_batch = params.n_ubatch = 512
        params.n_seq_max = n_seq_max
        params.n_threads = params.n_threads_batch = threads
        params.kv_unified = True
        params.no_perf = True
        self.ctx = lib.llama_init_from_model(self.model, params)
        self.memory = lib.llama_get_memory(self.ctx)
        self.n_vocab = lib.llama_vocab_n_tokens(lib.llama_model_get_vocab(self.model))
        self.batch = lib.llama_batch_init(512, 0, n_seq_max)
        self.n_seq_max = n_seq_max

    def close(self) -> None:
        self.lib.llama_batch_free(self.batch)
        self.lib.llama_free(self.ctx)
        self.lib.llama_model_free(self.model)

    def decode(self, rows: Sequence[Row]) -> float:
        """One llama_decode of `rows` (token, position, sequences, logits); returns its seconds."""
        fill_batch(self.batch, rows)
        started = time.perf_counter()
        if self.lib.llama_decode(self.ctx, self.batch) != 0:
            raise RuntimeError("llama_decode failed")
        return time.perf_counter() - started

    def logits(self, index: int) -> np.ndarray[Any, np.dtype[np.float32]]:
        """A copy of the logits of row `index` of the last decode."""
        pointer = self.lib.llama_get_logits_ith(self.ctx, index)
        row: np.ndarray[Any, np.dtype[np.float32]] = np.ctypeslib.as_array(pointer, shape=(self.n_vocab,)).copy()
        return row

    def throughput(self, repetitions: int) -> dict[str, float]:
        """Prompt and generation tokens per second the way llama-bench measures pp512 and tg128."""
        rng = random.Random(0)
        tokens = [rng.randrange(1000, self.n_vocab) for _ in range(512)]

        def pp() -> float:
            self.lib.llama_memory_clear(self.memory, True)
            return self.decode([(t, i, (0,), i == 511) for i, t in enumerate(tokens)])

        def tg() -> float:
            self.lib.llama_memory_clear(self.memory, True)
            return sum(self.decode([(tokens[i], i, (0,), True)]) for i in range(128))

        pp(), tg()  # warm-up, as llama-bench does
        pp_seconds = [pp() for _ in range(repetitions)]
        tg_seconds = [tg() for _ in range(repetitions)]
        return {"pp512_tokens_per_second": 512 / np.mean(pp_seconds), "tg128_tokens_per_second": 128 / np.mean(tg_seconds)}

    def floor(self, ours: LlamaModel, calls: Sequence[tuple[str, list[str]]]) -> tuple[float, int]:
        """Seconds to decode the rows tot's backend decodes for `calls`, in as few raw llama_decode calls as fit.

        A prompt prefix seen before counts as cached, as tot keeps few-shot prefixes resident (restoring one
        takes under a millisecond here); putting it back into the cache is not timed.

        Per call: the prompt's new tokens and the first group of continuation prefixes go in one decode
        (prompt rows in every lane); later groups of `n_seq_max - 1` lanes, and rows past the 512 a batch
        holds, take further decodes. No padding, no Python between decodes beyond filling the batch.
        """
        self.lib.llama_memory_clear(self.memory, True)
        cached: list[int] = []
        seen: list[list[int]] = []
        seconds, rows_total = 0.0, 0
        group = self.n_seq_max - 1
        for prompt, continuations in calls:
            tokens = ours.tokenize(prompt, bos=True)
            paths = sorted({tuple(ours.tokenize(c, bos=False)) for c in continuations})
            paths = [p for p in paths if len(p) > 1]
            shared = max((common_prefix(earlier, tokens) for earlier in seen), default=0)
            if shared > common_prefix(cached, tokens):  # tot's backend restores it from a saved state: not timed
                self.lib.llama_memory_clear(self.memory, True)
                prefix = [(t, j, (0,), False) for j, t in enumerate(tokens[:shared])]
                for first in range(0, len(prefix), 512):
                    self.decode(prefix[first : first + 512])
                cached = tokens[:shared]
            keep = min(common_prefix(cached, tokens), len(tokens) - 1)
            self.lib.llama_memory_seq_rm(self.memory, -1, keep, -1)
            for start in range(0, max(len(paths), 1), group):
                part = paths[start : start + group]
                lanes = tuple(range(1, len(part) + 1))
                for lane in lanes:
                    self.lib.llama_memory_seq_cp(self.memory, 0, lane, -1, -1)
                rows: list[Row] = []
                if start == 0:
                    rows += [(t, keep + j, (0, *lanes), keep + j == len(tokens) - 1) for j, t in enumerate(tokens[keep:])]
                rows += [(p[-1], len(tokens) + len(p) - 1, ls, True) for p, ls in continuation_trie(part).items()]
                for first in range(0, len(rows), 512):
                    seconds += self.decode(rows[first : first + 512])
                rows_total += len(rows)
                for lane in lanes:
                    self.lib.llama_memory_seq_rm(self.memory, lane, -1, -1)
            cached = tokens
            seen.append(tokens)
        return seconds, rows_total


# ---- numerics ----------------------------------------------------------------------------------


def log_softmax(logits: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.float64]]:
    shifted = logits.astype(np.float64) - logits.max()
    result: np.ndarray[Any, np.dtype[np.float64]] = shifted - np.log(np.exp(shifted).sum())
    return result


def numerics(ours: LlamaModel, raw: RawContext) -> dict[str, Any]:
    """How far batching moves log-probabilities with llama.cpp's default setup, and with tot's.

    `chunking`: the prompt decoded in chunks of 1, 3, 7, 16 or 64 tokens instead of at once; the largest
    change of the last token's top-10 log-probabilities. `lanes`: one continuation scored in a lane after 0 to
    13 rows of another lane (default setup), or alone and among other continuations (tot); the spread of its
    log-probability.
    """
    prompt = Game24().prompts.verdict_prompt(tuple(Fraction(n) for n in (4, 6, 9)))
    tokens = ours.tokenize(prompt, bos=True)
    n = len(tokens)
    chunks = (1, 3, 7, 16, 64)

    def raw_last(chunk: int) -> np.ndarray[Any, np.dtype[np.float64]]:
        raw.lib.llama_memory_clear(raw.memory, True)
        for start in range(0, n, chunk):
            raw.decode([(t, start + j, (0,), start + j == n - 1) for j, t in enumerate(tokens[start : start + chunk])])
        return log_softmax(raw.logits(-1))

    def ours_last(chunk: int) -> np.ndarray[Any, np.dtype[np.float64]]:
        ours.forget()
        for end in range(chunk, n + chunk, chunk):  # a prompt extended `chunk` tokens at a time, as caches are
            last = ours.cache.prefill(tokens[: min(end, n)])
        return log_softmax(last)

    def spread(last: Callable[[int], np.ndarray[Any, np.dtype[np.float64]]]) -> float:
        reference = last(n)
        top = np.argsort(-reference)[:10]
        return max(float(np.abs(last(c)[top] - reference[top]).max()) for c in chunks)

    continuation = " impossible to say"
    others = [" sure", " likely", " no way at all", " it can be done"]
    cont = ours.tokenize(continuation, bos=False)
    raw.lib.llama_memory_clear(raw.memory, True)
    raw.decode([(t, j, (0, 1, 2), j == n - 1) for j, t in enumerate(tokens)])
    first = log_softmax(raw.logits(-1))[cont[0]]
    per_batch = []
    for m in (0, 1, 2, 3, 5, 8, 13):  # m rows of another lane before it in the same batch
        raw.lib.llama_memory_seq_rm(raw.memory, 1, n, -1)
        raw.lib.llama_memory_seq_rm(raw.memory, 2, n, -1)
        filler = [(tokens[j % n], n + j, (1,), False) for j in range(m)]
        raw.decode(filler + [(t, n + j, (2,), True) for j, t in enumerate(cont[:-1])])
        per_batch.append(first + sum(log_softmax(raw.logits(m + j))[cont[j + 1]] for j in range(len(cont) - 1)))
    groupings = [[continuation], others + [continuation], [continuation] + others, others[:2] + [continuation]]
    ours_scores = [ours.score_continuations(prompt, group)[group.index(continuation)] for group in groupings]
    ours.forget()
    return {
        "chunking_max_change_nats": {"llama_cpp_default": spread(raw_last), "tot": spread(ours_last)},
        "lanes_spread_nats": {
            "llama_cpp_default": float(max(per_batch) - min(per_batch)),
            "tot": float(max(ours_scores) - min(ours_scores)),
        },
    }


# ---- the run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    value_rows: range
    per_puzzle: int
    plain_every: int
    both: int
    clues: int
    candidates: int
    solve_rows: range
    repetitions: int
    dictionary_clues: int = 10
    dictionary_sample: int = 100


FULL = Sizes(range(900, 1000), 2, 4, 10, 20, 50, range(900, 905), 3)
QUICK = Sizes(range(900, 910), 2, 2, 3, 4, 50, range(900, 901), 1, 2, 50)
WORKLOADS = ("values", "clues", "solve", "dictionary")


def run(sizes: Sizes, threads: int | None, seed: int, skip: Sequence[str] = ()) -> dict[str, Any]:
    from tot.bench.harness import machine

    started = time.perf_counter()
    ours = api.load_model(threads=threads, seed=seed)
    assert isinstance(ours, LlamaModel)
    naive = NaiveModel(threads=ours.threads, seed=seed)
    raw = RawContext(ours.threads)
    report: dict[str, Any] = {"machine": machine(), "model": ours.name, "threads": ours.threads, "seed": seed}
    try:
        report["raw_llama_cpp"] = raw.throughput(sizes.repetitions)
        report["raw_llama_cpp"]["tot_setup_pp512_tokens_per_second"] = tot_prompt_speed(ours, sizes.repetitions)
        report["resident_switch"] = resident_switch(ours)
        report["numerics"] = numerics(ours, raw)
        if "values" not in skip:
            states = value_states(sizes.value_rows, sizes.per_puzzle)
            report["values"] = values(naive, ours, raw, states, sizes.plain_every, sizes.both)
        if "clues" not in skip:
            report["clues"] = clues(naive, ours, raw, clue_sets(sizes.clues, sizes.candidates))
        if "solve" not in skip:
            report["solve"] = solves(naive, ours, raw, sizes.solve_rows, seed)
        if "dictionary" not in skip:
            report["dictionary"] = dictionary_scoring(naive, ours, sizes.dictionary_clues, sizes.dictionary_sample)
    finally:
        raw.close()
    report["seconds"] = time.perf_counter() - started
    return report


def render(report: dict[str, Any]) -> str:
    """The report as plain text."""
    raw = report["raw_llama_cpp"]
    lines = [
        f"model {report['model']}, {report['threads']} threads, {report['machine'].get('cpu')}",
        f"raw llama.cpp: pp512 {raw['pp512_tokens_per_second']:.0f} tokens/s,"
        f" tg128 {raw['tg128_tokens_per_second']:.1f} tokens/s; pp512 with tot's exact setup"
        f" {raw['tot_setup_pp512_tokens_per_second']:.0f} tokens/s",
    ]
    if "resident_switch" in report:
        r = report["resident_switch"]
        lines.append(
            f"resident prefix of {r['prefix_tokens']} tokens ({r['state_mb']:.1f} MB) back into sequence 0:"
            f" restore state {r['restore_state_ms']:.2f} ms, share cells (seq_cp) {r['share_seq_cp_ms']:.3f} ms,"
            f" recompute {r['recompute_ms']:.0f} ms"
        )
    if "numerics" in report:
        c, lanes = report["numerics"]["chunking_max_change_nats"], report["numerics"]["lanes_spread_nats"]
        lines.append(
            f"numerics: prompt decoded in other chunks moves top-10 log-probs by up to {c['llama_cpp_default']:.3f}"
            f" nats with llama.cpp defaults, {c['tot']:.3f} with tot's setup; one continuation in different batches"
            f" spreads {lanes['llama_cpp_default']:.3f} vs {lanes['tot']:.3f} nats"
        )
    lines += ["", f"{'workload':46} {'plain s':>8} {'tot s':>8} {'ratio':>7} {'plain tok':>9} {'tot tok':>8} {'outside':>8}"]

    def row(name: str, plain: dict[str, Any], ours: dict[str, Any], ratio: float | None = None) -> str:
        outside = 1 - ours["llama_seconds"] / ours["seconds"] if ours["seconds"] else 0.0
        ratio = plain["seconds"] / ours["seconds"] if ratio is None else ratio
        return (
            f"{name:46} {plain['seconds']:8.2f} {ours['seconds']:8.2f} {ratio:6.1f}x"
            f" {plain['tokens']:9d} {ours['tokens']:8d} {outside:8.1%}"
        )

    if "values" in report:
        v = report["values"]
        name = f"1 values: {v['plain_states']} | {v['states']} states, 3 samples | labels"
        lines.append(row(name, v["plain_paper"], v["tot_labels"], v["speedup"]) + "  (ratio per state)")
        if "tot_labels_batched" in v:
            name = f"  labels valued {v['batch']} states per call"
            lines.append(row(name, v["plain_paper"], v["tot_labels_batched"], v["speedup_batched"]))
            lines.append(f"  batched values equal one-by-one values bit for bit: {v['batched_equals_one_by_one']}")
        if "paper_method_both" in v:
            p = v["paper_method_both"]
            lines.append(row(f"  the paper's 3 samples on both, {p['states']} states", p["plain"], p["tot"]))
        if "floor" in v:
            lines.append(
                f"  compute floor {v['floor']['seconds']:.2f} s for {v['floor']['tokens']} tokens: tot at"
                f" {v['over_floor']:.2f}x the floor; the best ratio at one decode per call: {v['floor_speedup']:.0f}x"
            )
    if "clues" in report:
        c = report["clues"]
        name = f"2 {c['clues']} clues x {c['candidates']} candidates"
        lines.append(row(name, c["plain_per_candidate"], c["tot_batched"]))
        lines.append(
            f"  compute floor {c['floor']['seconds']:.2f} s for {c['floor']['tokens']} tokens: tot at"
            f" {c['over_floor']:.2f}x the floor; top-1 same as plain {c['top1_same_as_plain']}/{c['clues']},"
            f" correct {c['top1_correct']}/{c['clues']}"
        )
        d = c["score_difference_nats"]
        lines.append(f"  |plain - tot| log-probability per candidate: mean {d['mean']:.3f}, max {d['max']:.3f} nats")
    if "solve" in report:
        s = report["solve"]
        n = len(s["puzzles"])
        lines.append(row(f"3 {s.get('strategy', 'bfs')} solves (fast preset) of {n} puzzles", s["plain_replay"], s["tot"]))
        lines.append("  plain side: tot's model calls replayed, so the same decisions and answers by construction")
        if s.get("over_floor"):
            lines.append(
                f"  compute floor {s['floor']['seconds']:.2f} s for {s['floor']['tokens']} tokens: tot at"
                f" {s['over_floor']:.2f}x the floor; the best ratio at one decode per call: {s['floor_speedup']:.1f}x"
            )
        lines.append(row("  the plain backend's own searches, same seed", s["plain"], s["tot"]))
        lines.append(
            f"  own searches: same decisions {s['same_decisions']}/{n}, same answers {s['same_answers']}/{n},"
            f" solved plain {s['solved']['plain']}/{n}, tot {s['solved']['tot']}/{n}"
        )
        for p in s["puzzles"]:
            lines.append(
                f"    {p['puzzle']}: plain {p['plain']['answer']!s} ({p['plain']['nodes']} nodes),"
                f" tot {p['tot']['answer']!s} ({p['tot']['nodes']} nodes)"
            )
            if p["first_divergence"]:
                lines.append(f"      first different expansion: {json.dumps(p['first_divergence'])}")
    if "dictionary" in report:
        d = report["dictionary"]
        lines.append(
            row(f"4 {d['clues']} clues x all {d['dictionary_words']} words", d["plain_per_candidate"], d["tot_score_many"],
                d["speedup_per_word"]) + "  (ratio per word scored)"
        )
        lines.append(
            f"  plain: one call per word, {d['plain_sample_words']} words per clue, {d['plain_seconds_per_word'] * 1000:.1f}"
            f" ms/word; tot: score_many over every word, {d['tot_seconds_per_word'] * 1e6:.1f} us/word;"
            f" the answer's rank among all words: {d['answer_ranks']}"
        )
    lines.append(f"\ntotal {report['seconds']:.0f} s")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tot.bench.inference", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller version of every workload")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: all cores)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip", default="", help="comma-separated workloads to skip: values,clues,solve,dictionary")
    parser.add_argument("--only", default="", help="comma-separated workloads to run, the others skipped")
    args = parser.parse_args(argv)
    skip = [s for s in args.skip.split(",") if s]
    if args.only:
        skip += [w for w in WORKLOADS if w not in args.only.split(",")]
    report = run(QUICK if args.quick else FULL, args.threads, args.seed, skip)
    print(json.dumps(report, indent=1) if args.json else render(report))


if __name__ == "__main__":
    main()
