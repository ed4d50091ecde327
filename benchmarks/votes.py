"""The one-pass vote against the paper's sampled vote: speed, and agreement on the winner.

    python -m tot.bench.votes benchmarks/results/text.jsonl --out benchmarks/results/text-votes.jsonl

For each input of a creative-writing results file, the first `--choices` IO passages of that input
(already written by `tot bench text`: no generation here) are one vote's choices. Each vote is held
three times from a cold cache: the one-pass vote (`vote-pass`), and the paper's vote (5 sampled
votes) twice with different seeds. Reported: seconds per vote (ratio sampled / one-pass), how often
the one-pass winner equals the first sampled winner, and how often the two sampled runs agree with
each other (the bar the one-pass vote must reach). Also recorded, untimed: the one-pass vote
contextually calibrated (each choice's probability divided by that of the same vote with empty
choices), and the one-pass vote with the choices reversed (does it name the same passage?), to see
how much of the one-pass winner is position bias. Timed too: the rotated one-pass vote (`vote-rotate`:
one pass per cyclic order, averaged), and untimed the same on the reversed choices. Where the results
file holds the judge's scores of the passages, each voter's winner is also scored by the judge, beside
the mean of the choices (what a random pick gets). With `--conclude` the sampled runs are
`vote-conclude` (an abstaining voter's choice read after its text and "The best choice is "). With
`--vote-tokens N` each sampled voter may write N tokens (the text task's own limit is 150); the tokens
the voters wrote are recorded, since the speed ratio is mostly how much they write against how long the
prompt is to read.
A winner is the choice with the most votes (or probability), ties to the lower number; a sampled vote where every voter abstained has no winner, and
agreement is counted over the votes where both runs compared have one (their number is reported).

One JSON line per input in `--out` (resumable, as `tot bench`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tot.bench import harness, judging
from tot.bench.config import Puzzle
from tot.bench.harness import Job, Record
from tot.models import Model

SEEDS = (1, 2)  # the two sampled runs


@dataclass(frozen=True)
class VoteConfig:
    """One input's vote: its choices (passages), and how many sampled votes each sampled run holds."""

    texts: tuple[str, ...]
    votes: int = 5
    conclude: bool = False  # the sampled runs are `vote-conclude`: an abstaining voter is asked to conclude
    runs: int = len(SEEDS)  # sampled runs held (0: only the one-pass votes)
    vote_tokens: int | None = None  # each sampled voter's token limit (None: the task's)
    judged: tuple[float, ...] = ()  # the judge's score of each choice, from the results file (not part of the key)

    @property
    def needs_model(self) -> bool:
        return True

    def as_dict(self) -> dict[str, Any]:
        import hashlib

        found: dict[str, Any] = {"choices": len(self.texts), "votes": self.votes,
                                 "texts_sha": hashlib.sha256(json.dumps(self.texts).encode()).hexdigest()[:16]}
        if self.conclude:
            found["conclude"] = True
        if self.runs != len(SEEDS):
            found["runs"] = self.runs
        if self.vote_tokens is not None:
            found["vote_tokens"] = self.vote_tokens
        return found


def winner(values: Sequence[float]) -> int | None:
    """The best choice (from 0), ties to the lower number; None when nothing was voted."""
    if not values or max(values) <= 0:
        return None
    return max(range(len(values)), key=lambda i: (values[i], -i))


def run_vote(job: Job, model: Model | None) -> Record:
    """The three votes of one input, each timed from a cold cache."""
    from tot.tasks.text import Thought
    from tot.votes import OnePassVote, SampledVote, number_probabilities

    assert model is not None
    config: VoteConfig = job.config
    task = harness.task_object(job.task)
    planned = task.result(task.initial(job.puzzle.text), Thought("(not shown: the vote compares passages)"))
    states = [task.result(planned, Thought(text)) for text in config.texts]
    forget = getattr(model, "forget", None)
    reseed = getattr(model, "reseed", None)
    out: dict[str, Any] = {}
    if forget is not None:
        forget()
    started = time.perf_counter()
    one_pass = OnePassVote(task, model)
    one = one_pass.values(states)
    out["one_pass"] = {"values": [round(v, 4) for v in one], "seconds": round(time.perf_counter() - started, 3)}
    # Not timed: the same vote with empty choices, whose probabilities measure the position bias alone
    # (contextual calibration: each choice's probability divided by its empty twin's, renormalised).
    blank = number_probabilities(model, [one_pass.prompt([task.result(planned, Thought("")) for _ in states])], len(states))[0]
    ratios = [p / max(q, 1e-12) for p, q in zip(one, blank)]
    out["calibrated"] = {"values": [round(r / sum(ratios), 4) for r in ratios], "blank": [round(q, 4) for q in blank]}
    # Not timed: the same vote with the choices in reverse order, mapped back to the original numbering.
    # A voter that judges the passages names the same passage either way; one that picks a position does not.
    backwards = one_pass.values(states[::-1])[::-1]
    out["one_pass_reversed"] = {"values": [round(v, 4) for v in backwards]}
    if forget is not None:
        forget()
    started = time.perf_counter()
    rotated = OnePassVote(task, model, rotate=True)
    values = rotated.values(states)
    out["rotated"] = {"values": [round(v, 4) for v in values], "seconds": round(time.perf_counter() - started, 3)}
    out["rotated_reversed"] = {"values": [round(v, 4) for v in rotated.values(states[::-1])[::-1]]}
    if config.judged:
        out["judged"] = list(config.judged)
    for run, seed in enumerate(SEEDS[: config.runs], start=1):
        if reseed is not None:
            reseed(seed)  # also empties the cache
        started = time.perf_counter()
        voter = SampledVote(task, model, votes=config.votes, conclude=config.conclude, max_tokens=config.vote_tokens)
        before = model.meter.generated_tokens
        votes = voter.vote(states)
        out[f"sampled_{run}"] = {"counts": list(votes.counts), "abstentions": votes.abstentions,
                                 "concluded": votes.concluded, "seconds": round(time.perf_counter() - started, 3),
                                 "tokens": model.meter.generated_tokens - before}
    return out


def jobs(records: Sequence[Record], rows: list[int] | None, choices: int, seed: int, model: harness.ModelSpec,
         *, conclude: bool = False, runs: int = len(SEEDS), vote_tokens: int | None = None) -> list[Job]:
    """One vote per input of the results: the first `choices` IO passages."""
    judged = {r["config"]["of"]: r["scores"] for r in records if r.get("kind") == "judge" and "of" in r.get("config", {})}
    found = []
    for record in records:
        if record.get("kind") != "search" or record.get("task") != "text" or record["config"].get("strategy") != "io":
            continue
        if rows is not None and record.get("row") not in rows:
            continue
        texts = tuple(str(c["answer"]) for c in record.get("candidates") or [])[:choices]
        if len(texts) < 2:
            continue
        scores = judged.get(record["key"], [])
        config = VoteConfig(texts, conclude=conclude, runs=runs, vote_tokens=vote_tokens,
                            judged=tuple(scores[: len(texts)]) if len(scores) >= len(texts) else ())
        key = harness.job_key("vote", "text", record["puzzle"], config.as_dict(), seed, model.identity())
        found.append(Job(run_vote, "vote", "text", Puzzle(record["puzzle"], record.get("row")), config, seed, key))
    return found


def summary(records: Sequence[Record]) -> dict[str, Any]:
    """Speed ratio and agreement rates over the vote lines (sampled figures over the lines that hold sampled runs)."""
    lines = [r for r in records if r.get("kind") == "vote"]
    if not lines:
        return {"votes": 0}
    one = [winner(r["one_pass"]["values"]) for r in lines]
    calibrated = [winner(r["calibrated"]["values"]) for r in lines if "calibrated" in r]
    reversed_ = [(winner(r["one_pass"]["values"]), winner(r["one_pass_reversed"]["values"]))
                 for r in lines if "one_pass_reversed" in r]
    rotated = [(winner(r["rotated"]["values"]), winner(r["rotated_reversed"]["values"])) for r in lines if "rotated" in r]
    first = [winner(r["sampled_1"]["counts"]) if "sampled_1" in r else None for r in lines]
    second = [winner(r["sampled_2"]["counts"]) if "sampled_2" in r else None for r in lines]
    runs = [r[f"sampled_{k}"] for r in lines for k in (1, 2) if f"sampled_{k}" in r]
    one_seconds = sum(r["one_pass"]["seconds"] for r in lines)
    sampled_seconds = statistics.fmean(run["seconds"] for run in runs) if runs else None
    abstained = sum(run["abstentions"] for run in runs)
    concluded = sum(run.get("concluded", 0) for run in runs)
    asked = sum(sum(run["counts"]) for run in runs) - concluded + abstained  # concluded: in the counts and abstentions
    tokens = [run["tokens"] for run in runs if "tokens" in run]  # written by the 5 voters of a sampled run
    return {
        "votes": len(lines),
        "choices": statistics.fmean(r["config"]["choices"] for r in lines),
        "one_pass_seconds": round(one_seconds / len(lines), 3),
        "sampled_seconds": round(sampled_seconds, 3) if sampled_seconds is not None else None,
        "speedup": round(sampled_seconds / (one_seconds / len(lines)), 1) if one_seconds and sampled_seconds else None,
        "one_pass_agrees_with_sampled": _agreement(one, first),
        "one_pass_agrees_with_sampled_2": _agreement(one, second),
        "sampled_agrees_with_sampled": _agreement(first, second),
        "calibrated_agrees_with_sampled": _agreement(calibrated, first) if len(calibrated) == len(lines) else None,
        "calibrated_winner_counts": _counts(calibrated),
        "one_pass_same_passage_reversed": _agreement([a for a, _ in reversed_], [b for _, b in reversed_]),
        **_rotated(lines, rotated, first, sampled_seconds),
        "judge_score_of_winner": _judged(lines),
        "sampled_abstentions": f"{abstained} of {asked}",
        "sampled_tokens_per_vote": round(statistics.fmean(tokens), 1) if tokens else None,
        "sampled_concluded": concluded,
        "sampled_without_winner": sum(winner(run["counts"]) is None for run in runs),
        "one_pass_winner_counts": _counts(one),
        "sampled_winner_counts": _counts([w for w in first + second if w is not None]),
    }


def _rotated(lines: Sequence[Record], rotated: Sequence[tuple[int | None, int | None]], first: Sequence[int | None],
             sampled_seconds: float | None) -> dict[str, Any]:
    """The rotated one-pass vote: speed, agreement, and whether it names the same passage in reverse order."""
    timed = [r["rotated"]["seconds"] for r in lines if "rotated" in r]
    if not timed:
        return {}
    return {
        "rotated_seconds": round(statistics.fmean(timed), 3),
        "rotated_speedup": round(sampled_seconds / statistics.fmean(timed), 1) if sum(timed) and sampled_seconds else None,
        "rotated_agrees_with_sampled": _agreement([a for a, _ in rotated],
                                                  [w for r, w in zip(lines, first) if "rotated" in r]),
        "rotated_same_passage_reversed": _agreement([a for a, _ in rotated], [b for _, b in rotated]),
        "rotated_winner_counts": _counts([a for a, _ in rotated]),
    }


def _judged(lines: Sequence[Record]) -> dict[str, Any] | None:
    """The judge's mean score of each voter's winner, beside the mean over all choices (a random pick)."""
    scored = [r for r in lines if r.get("judged") and "rotated" in r]
    if not scored:
        return None

    def mean_of(pick: Any) -> float | None:  # over the votes that name a winner
        found = [r["judged"][w] for r in scored if (w := pick(r)) is not None]
        return round(statistics.fmean(found), 4) if found else None

    return {
        "of": len(scored),
        "random_pick": round(statistics.fmean(statistics.fmean(r["judged"]) for r in scored), 4),
        "first_listed": mean_of(lambda r: 0),
        "best_of_choices": mean_of(lambda r: max(range(len(r["judged"])), key=lambda i: r["judged"][i])),
        "one_pass": mean_of(lambda r: winner(r["one_pass"]["values"])),
        "rotated": mean_of(lambda r: winner(r["rotated"]["values"])),
        "sampled_1": mean_of(lambda r: winner(r["sampled_1"]["counts"]) if "sampled_1" in r else None),
    }


def _agreement(a: Sequence[int | None], b: Sequence[int | None]) -> dict[str, Any]:
    """How often two runs name the same winner, over the votes where both name one."""
    both = [(x, y) for x, y in zip(a, b) if x is not None and y is not None]
    share = round(sum(x == y for x, y in both) / len(both), 3) if both else None
    return {"share": share, "of": len(both)}


def _counts(winners: Sequence[int | None]) -> dict[str, int]:
    found: dict[str, int] = {}
    for w in winners:
        name = "none" if w is None else str(w + 1)
        found[name] = found.get(name, 0) + 1
    return dict(sorted(found.items()))


def _positive(text: str) -> int:
    """A positive whole number, for argparse."""
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text!r}")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    def choices(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--choices", type=int, default=5, help="IO passages per vote (default 5)")
        parser.add_argument("--conclude", action="store_true",
                            help="sampled runs as `vote-conclude`: a voter naming no choice is asked to conclude")
        parser.add_argument("--sampled-runs", type=int, choices=range(len(SEEDS) + 1), default=len(SEEDS),
                            help=f"sampled runs per vote (default {len(SEEDS)}; 0 holds only the one-pass votes)")
        parser.add_argument("--vote-tokens", type=_positive, default=None,
                            help="each sampled voter's token limit (default: the task's, 150 for the text task)")

    return judging.probe_main(
        argv, "python -m tot.bench.votes", __doc__ or "", "text-votes.jsonl",
        lambda records, rows, args, spec: jobs(records, rows, args.choices, args.seed, spec, conclude=args.conclude,
                                                     runs=args.sampled_runs, vote_tokens=args.vote_tokens),
        summary, choices,
    )


if __name__ == "__main__":
    sys.exit(main())
