"""The plain llama-cpp-python way, the baseline side of `benchmarks.inference` (not used by tot itself).

One `Llama.create_completion` per request, as reference implementations do:
n samples are n completions, each continuation or label is scored by its own
completion of prompt + continuation, and the only reuse is llama-cpp-python's
own: the prefix shared with the immediately previous call. Default
llama-cpp-python settings otherwise. Log-probabilities are read from
`Llama.scores` (the logits of every evaluated token, kept with
`logits_all=True`) with one vectorised log-softmax: `create_completion`'s own
`logprobs=` option sorts the 262,144-entry vocabulary in Python for every token,
which would make this baseline far slower than the plain way needs to be.
Samples use temperature only (no top-k/top-p/min-p), like tot's backend.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from tot.core import Meter
from tot.models import normalise, resolve_model_path


def _counting_llama() -> Any:
    """A `llama_cpp.Llama` that counts the rows it evaluates and the time spent in llama.cpp."""
    import llama_cpp

    class CountingLlama(llama_cpp.Llama):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.evals: list[int] = []  # rows per eval call since the last completion
            self.seconds = 0.0
            super().__init__(*args, **kwargs)

        def eval(self, tokens: Sequence[int]) -> None:
            started = time.perf_counter()
            try:
                super().eval(tokens)
            finally:
                self.seconds += time.perf_counter() - started
                self.evals.append(len(tokens))

        def sample(self, *args: Any, **kwargs: Any) -> int:
            started = time.perf_counter()
            try:
                token: int = super().sample(*args, **kwargs)
                return token
            finally:
                self.seconds += time.perf_counter() - started

    return CountingLlama


class NaiveModel:
    """`tot.models.Model` on `llama_cpp.Llama.create_completion`, one call per request."""

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, threads: int | None = None, n_ctx: int = 1024, seed: int = 0
    ) -> None:
        self.path = resolve_model_path(path)
        self.name = f"{self.path.name} (plain llama-cpp-python)"
        self.meter = Meter()
        self.threads = threads or max(1, os.cpu_count() or 1)
        self.n_ctx = n_ctx
        self.seed = seed
        self._calls = 0
        self.completions = 0  # create_completion calls; `meter.calls` counts Model calls, as search budgets do
        self._llamas: dict[bool, Any] = {}

    def reseed(self, seed: int) -> None:
        self.seed = seed
        self._calls = 0

    def _llama(self, logits_all: bool) -> Any:
        """The generating context (last logits only) or the scoring one (`logits_all=True`), made on first use."""
        if logits_all not in self._llamas:
            self._llamas[logits_all] = _counting_llama()(
                str(self.path),
                n_ctx=self.n_ctx,
                n_threads=self.threads,
                n_threads_batch=self.threads,
                logits_all=logits_all,
                seed=self.seed,
                verbose=False,
            )
        return self._llamas[logits_all]

    def _completion(self, llm: Any, tokens: list[int], **options: Any) -> str:
        """One create_completion, its costs added to the meter."""
        seconds = llm.seconds
        llm.evals.clear()
        started = time.perf_counter()
        response = llm.create_completion(tokens, **options)
        self.completions += 1
        self.meter.model_seconds += time.perf_counter() - started
        self.meter.llama_seconds += llm.seconds - seconds
        generated = int(response["usage"]["completion_tokens"])
        prompt_rows = llm.evals[0] if llm.evals else 0  # the first eval is the prompt, the rest generated tokens
        self.meter.prompt_tokens += len(tokens)
        self.meter.prompt_tokens_evaluated += prompt_rows
        self.meter.generated_tokens += generated
        text: str = response["choices"][0]["text"]
        return text

    def tokenize(self, text: str, *, bos: bool) -> list[int]:
        tokens: list[int] = self._llama(False).tokenize(text.encode("utf-8"), add_bos=bos, special=False)
        return tokens

    def complete(
        self,
        prompt: str,
        *,
        max_tokens: int,
        temperature: float = 0.7,
        stop: Sequence[str] = (),
        grammar: str | None = None,
    ) -> str:
        return self.sample(prompt, 1, max_tokens=max_tokens, temperature=temperature, stop=stop, grammar=grammar)[0]

    def sample(
        self,
        prompt: str,
        n: int,
        *,
        max_tokens: int,
        temperature: float = 0.7,
        stop: Sequence[str] = (),
        grammar: str | None = None,
    ) -> list[str]:
        """`n` separate completions of the prompt."""
        from llama_cpp.llama_grammar import LlamaGrammar

        llm = self._llama(False)
        tokens = self.tokenize(prompt, bos=True)
        self.meter.begin_call()
        self._calls += 1
        self.meter.calls += 1
        texts = []
        for k in range(n):
            constraint = LlamaGrammar.from_string(grammar, verbose=False) if grammar is not None else None
            texts.append(
                self._completion(
                    llm,
                    tokens,
                    max_tokens=max_tokens,
                    temperature=temperature,
                    top_k=0,
                    top_p=1.0,
                    min_p=0.0,
                    stop=list(stop),
                    seed=(self.seed * 1_000_003 + self._calls * 101 + k) & 0xFFFFFFFF,
                    grammar=constraint,
                )
            )
        return texts

    def score_continuations(self, prompt: str, continuations: Sequence[str]) -> list[float]:
        """One completion of prompt + continuation per continuation; log-probabilities from `Llama.scores`."""
        llm = self._llama(True)
        prompt_tokens = self.tokenize(prompt, bos=True)
        self.meter.begin_call()
        self.meter.calls += 1
        totals = []
        for continuation in continuations:
            cont = self.tokenize(continuation, bos=False)
            if not cont:
                totals.append(0.0)
                continue
            self._completion(llm, prompt_tokens + cont, max_tokens=1, temperature=0.0)
            rows = llm.scores[len(prompt_tokens) - 1 : len(prompt_tokens) + len(cont) - 1]
            top = rows.max(axis=1)
            lse = np.log(np.exp(rows - top[:, None]).sum(axis=1, dtype=np.float64)) + top
            totals.append(float(sum(rows[np.arange(len(cont)), cont] - lse)))
        return totals

    def score_labels(self, prompt: str, labels: Sequence[str]) -> list[float]:
        return normalise(self.score_continuations(prompt, labels))
