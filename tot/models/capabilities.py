"""What an OpenAI-compatible server can do for tot, found by asking it, and which presets run on it.

`probe(model)` sends a handful of small requests (`tot doctor --server URL` prints the report):
generation; the likeliest next tokens (top-k log-probabilities, what label values need); prompt
log-probabilities (echo, or vLLM's prompt_logprobs); teacher-forced scoring (llama-server's
/tokenize and token grammars); embeddings (`/v1/embeddings`); grammar-constrained generation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from tot.errors import ModelError
from tot.models.server import ServerModel
from tot.models.wire import TOP_K, ServerRefused

PROMPT = "The capital of France is"
HOW = {"echo": "echoed prompt log-probabilities", "prompt_logprobs": "vLLM's prompt_logprobs", "forced": "teacher forcing"}


@dataclass(frozen=True)
class Capability:
    """One thing a server can or cannot do, and how (or what it said when it could not)."""

    name: str
    available: bool
    detail: str


@dataclass(frozen=True)
class PresetFit:
    """Whether a preset (or a generator/evaluator pair) runs on the server, and how, or what to use instead."""

    name: str
    runs: bool
    detail: str


@dataclass(frozen=True)
class Report:
    url: str
    model: str
    capabilities: tuple[Capability, ...]
    presets: tuple[PresetFit, ...]
    seconds: float

    def has(self, name: str) -> bool:
        return any(c.name == name and c.available for c in self.capabilities)

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "model": self.model,
            "capabilities": {c.name: {"available": c.available, "detail": c.detail} for c in self.capabilities},
            "presets": {p.name: {"runs": p.runs, "detail": p.detail} for p in self.presets},
            "seconds": round(self.seconds, 3),
        }


def probe(model: ServerModel) -> Report:
    """Ask the server at `model.url` what it can do. A server that cannot generate, or answers
    log-probabilities in a form tot does not read, raises the ModelError that says so."""
    started = time.perf_counter()
    text = model.complete(PROMPT, max_tokens=4, temperature=0.0)
    found = [Capability("generation", True, f"{PROMPT!r} -> {text!r}")]
    likeliest = model.next_tokens(PROMPT)
    found.append(
        Capability("top-k log-probabilities", True, f"the {len(likeliest)} likeliest next tokens")
        if likeliest
        else Capability("top-k log-probabilities", False, "no log-probabilities for `logprobs` " + str(TOP_K))
    )
    echo, echo_detail = _scores(model, "echo")
    vllm, vllm_detail = _scores(model, "prompt_logprobs")
    found.append(
        Capability("prompt log-probabilities", echo or vllm, HOW["echo"] if echo else HOW["prompt_logprobs"] if vllm
                   else f"echo: {echo_detail}; prompt_logprobs: {vllm_detail}")
    )
    forced, forced_detail = _scores(model, "forced")
    found.append(Capability("teacher-forced scoring", forced, "/tokenize and a grammar of token ids" if forced else forced_detail))
    found.append(_embeddings(model))
    found.append(_grammar(model))
    scoring = "echo" if echo else "prompt_logprobs" if vllm else "forced" if forced else None
    return Report(model.url, model.name, tuple(found), presets(scoring, bool(likeliest)), time.perf_counter() - started)


def presets(scoring: str | None, top_k: bool) -> tuple[PresetFit, ...]:
    """Which presets run with a server's way of scoring (None: it cannot score) and top-k log-probabilities."""
    labels = "from the likeliest next tokens" if top_k else "scored as continuations"
    if scoring is None:
        instead = "use --preset paper" + (", or --generator propose --evaluator labels" if top_k else "")
        return (
            PresetFit("fast", False, f"the enumerate generator scores every step, which this server cannot; {instead}"),
            PresetFit("paper", True, "it only generates"),
            PresetFit("crossword", False, "its evaluator scores every dictionary word, which this server cannot"),
            PresetFit("propose + labels", top_k, f"label values {labels}" if top_k else "no label values without scoring"),
        )
    return (
        PresetFit("fast", True, f"steps scored by {HOW[scoring]}, label values {labels}"),
        PresetFit("paper", True, "it only generates"),
        PresetFit("crossword", True, "each clue's dictionary scored from the 1000 likeliest first and second tokens "
                  "(1 + 62 requests per clue prompt)" if scoring == "forced" and top_k else
                  f"every dictionary word scored by {HOW[scoring]}, one request each (slow on a server)"),
        PresetFit("propose + labels", True, f"label values {labels}"),
    )


def _scores(model: ServerModel, mode: str) -> tuple[bool, str]:
    """Whether the server scores `PROMPT`'s continuation " Paris" by `mode`, and what it said where it does not."""
    try:
        found = model.score_by(mode, PROMPT, " Paris")
    except ServerRefused as refused:
        return False, refused.detail
    return (True, "") if found is not None else (False, "no log-probabilities in its answer")


def _embeddings(model: ServerModel) -> Capability:
    try:
        answer = model.request("/v1/embeddings", {"model": model.served, "input": PROMPT})
    except ServerRefused as refused:
        return Capability("embeddings", False, refused.detail)
    except ModelError as error:
        return Capability("embeddings", False, error.message)
    data = answer.get("data")
    vector = data[0].get("embedding") if isinstance(data, list) and data and isinstance(data[0], dict) else None
    if not isinstance(vector, list) or not vector:
        return Capability("embeddings", False, "an answer from /v1/embeddings without data[0].embedding")
    return Capability("embeddings", True, f"/v1/embeddings, {len(vector)} dimensions")


def _grammar(model: ServerModel) -> Capability:
    try:
        text = model.complete(PROMPT, max_tokens=3, temperature=0.0, grammar='root ::= " 42"')
    except ServerRefused as refused:
        return Capability("grammar", False, refused.detail)
    if text == " 42":
        return Capability("grammar", True, "GBNF (`grammar`)")
    return Capability("grammar", False, f"a GBNF grammar allowing only ' 42' was ignored (it wrote {text!r})")
