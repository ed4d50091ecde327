"""Sampling on a llama.cpp context: n completions of one prompt decoded in parallel, one lane each."""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tot.errors import InputError
from tot.models.llama_context import Decoder, Row


def generate(
    decoder: Decoder,
    vocab: Any,
    piece: Callable[[int], bytes],
    n_prompt: int,
    samplers: list[Sampler],
    max_tokens: int,
    stop: Sequence[str],
) -> list[str]:
    """Sample from each lane in parallel, all starting from the prompt's last logits (sequence 0's last output)."""
    lib, meter = decoder.lib, decoder.meter
    lanes = len(samplers)
    decoder.copy_lanes(0, range(1, lanes + 1))
    outputs = [b"" for _ in range(lanes)]
    active = list(range(lanes))
    rows = {k: -1 for k in active}  # where each lane's next logits are in the last batch
    for step in range(max_tokens):
        entries: list[Row] = []
        still: list[int] = []
        for k in active:
            token = samplers[k].sample(rows[k])
            if lib.llama_vocab_is_eog(vocab, token):
                continue
            meter.generated_tokens += 1
            outputs[k] += piece(token)
            text = outputs[k].decode("utf-8", errors="ignore")
            if any(s in text for s in stop) or n_prompt + step + 1 >= decoder.n_ctx:
                continue
            rows[k] = len(entries)
            entries.append((token, n_prompt + step, (k + 1,), True))
            still.append(k)
        active = still
        if not active or step == max_tokens - 1:
            break
        decoder.submit(entries, pad=False)
    texts = []
    for raw in outputs:
        text = raw.decode("utf-8", errors="ignore")
        cut = min((text.find(s) for s in stop if s in text), default=len(text))
        texts.append(text[:cut])
    return texts


class Sampler:
    """Temperature sampling (greedy at 0) from one lane's logits, optionally constrained by a GBNF grammar.

    With a grammar, a token is first drawn from the unconstrained distribution and kept if the grammar
    accepts it; only otherwise does the grammar mask the whole vocabulary for a second draw. Either way
    the token follows the constrained distribution (p(x) + (1 - p(V)) p(x) / p(V) = p(x) / p(V) for an
    allowed x), but the grammar rarely has to check all 262,144 tokens.
    """

    def __init__(self, decoder: Decoder, vocab: Any, temperature: float, grammar: str | None, seed: int) -> None:
        lib = decoder.lib
        self.decoder, self.lib = decoder, lib
        self.chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        if temperature <= 0:
            lib.llama_sampler_chain_add(self.chain, lib.llama_sampler_init_greedy())
        else:
            lib.llama_sampler_chain_add(self.chain, lib.llama_sampler_init_temp(temperature))
            lib.llama_sampler_chain_add(self.chain, lib.llama_sampler_init_dist(seed & 0xFFFFFFFF))
        self.grammar = None
        if grammar is not None:
            self.grammar = lib.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")
            if not self.grammar:
                lib.llama_sampler_free(self.chain)
                raise InputError("llama.cpp rejected the grammar")

    def free(self) -> None:
        self.lib.llama_sampler_free(self.chain)
        if self.grammar:
            self.lib.llama_sampler_free(self.grammar)

    def sample(self, index: int) -> int:
        """A token from the logits of row `index` of the last decode (-1: its last output)."""
        with self.decoder.in_llama():
            token: int = self.lib.llama_sampler_sample(self.chain, self.decoder.ctx, index)
            if self.grammar is None:
                return token
            if not self._allowed(token):
                token = self._constrained(index)
            self.lib.llama_sampler_accept(self.grammar, token)
        return token

    def _apply(self, sampler: Any, candidates: Any, size: int) -> int:
        array = self.lib.llama_token_data_array(candidates, size, -1, False)
        self.lib.llama_sampler_apply(sampler, ctypes.byref(array))
        return int(array.selected)

    def _allowed(self, token: int) -> bool:
        one = (self.lib.llama_token_data * 1)()
        one[0].id, one[0].logit, one[0].p = token, 0.0, 0.0
        self._apply(self.grammar, one, 1)
        return bool(np.isfinite(one[0].logit))

    def _constrained(self, index: int) -> int:
        """Draw again with the grammar masking every token it does not allow."""
        n_vocab = self.decoder.n_vocab
        logits = np.ctypeslib.as_array(self.lib.llama_get_logits_ith(self.decoder.ctx, index), shape=(n_vocab,))
        candidates = np.zeros(n_vocab, dtype=[("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])
        candidates["id"] = np.arange(n_vocab)
        candidates["logit"] = logits
        pointer = candidates.ctypes.data_as(ctypes.POINTER(self.lib.llama_token_data))
        self._apply(self.grammar, pointer, n_vocab)
        selected = self._apply(self.chain, pointer, n_vocab)
        token = int(candidates["id"][selected])
        self.lib.llama_sampler_accept(self.chain, token)
        return token
