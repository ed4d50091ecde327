"""The llama.cpp model backend, on llama-cpp-python's low-level API.

`LlamaModel` loads a GGUF file once and answers the `tot.models.Model` calls; its parts live
beside it, each in its own module:

- `tot.models.llama_context`: one llama.cpp context (`Decoder`: rows decoded so that batching
  never changes a result; the numerics rules are there) and the prefix cache of its sequence 0
  (`PrefixCache`: the last prompt, and resident prefixes that calls alternate between);
- `tot.models.llama_scoring`: batch scoring (continuations as a token trie in lanes, several
  prompts' labels side by side, whole word lists);
- `tot.models.llama_sampling`: n samples of a prompt decoded in parallel, with grammars.
"""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from tot.core import Meter
from tot.errors import InputError, ModelError
from tot.models import normalise
from tot.models.llama_context import Decoder, PrefixCache, default_gpu_layers, llama_lib, recent_log
from tot.models.llama_sampling import Sampler, generate
from tot.models.llama_scoring import Scorer


class LlamaModel:
    """A GGUF model loaded once and kept warm; implements `tot.models.Model`.

    `meter.prompt_tokens` counts the prompt and continuation tokens asked for,
    `meter.prompt_tokens_evaluated` those llama.cpp actually decoded (padding rows
    are counted apart, in `padding_rows`), `meter.llama_seconds` the time spent in
    llama.cpp calls (decoding, sampling, saving and restoring states).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        n_ctx: int = 8192,
        n_threads: int | None = None,
        n_gpu_layers: int | None = None,
        n_seq_max: int = 64,
        seed: int = 0,
        chat: bool = False,
    ) -> None:
        lib = llama_lib()
        self.lib = lib
        self.path = Path(path)
        self.name = self.path.name
        self.meter = Meter()
        self.seed = seed
        self.chat_template: str | None = None
        if chat:
            from tot.models.chat import model_template

            self.chat_template = model_template(self.path)
        self._calls = 0  # sampling calls since the last reseed: part of each sample's seed
        self.threads = n_threads if n_threads is not None else max(1, os.cpu_count() or 1)  # 0 is refused, not 'all'
        if self.threads <= 0:
            raise InputError(f"threads must be positive, got {self.threads}")
        self.model = self._load_model(n_gpu_layers)
        self.vocab = lib.llama_model_get_vocab(self.model)
        self.n_vocab: int = lib.llama_vocab_n_tokens(self.vocab)
        self.n_seq_max = max(3, min(n_seq_max, lib.llama_max_parallel_sequences()))
        try:
            self.decoder = Decoder(lib, self.model, n_ctx=n_ctx, n_seq_max=self.n_seq_max, threads=self.threads,
                                   meter=self.meter)
        except ModelError:
            lib.llama_model_free(self.model)
            raise ModelError(f"llama.cpp could not create a context for {self.path}") from None
        self.n_ctx = self.decoder.n_ctx
        self.cache = PrefixCache(self.decoder)
        self.scorer = Scorer(self.decoder, self.cache)
        self._tokens: dict[str, tuple[int, ...]] = {}  # continuation text -> tokens (score_many)
        self._embedder: Any = None  # a second context for hidden states, made on the first `embed`

    def _load_model(self, n_gpu_layers: int | None) -> Any:
        params = self.lib.llama_model_default_params()
        params.n_gpu_layers = default_gpu_layers() if n_gpu_layers is None else n_gpu_layers
        params.use_extra_bufts = False  # repacked weights round differently by batch size
        model = self.lib.llama_model_load_from_file(str(self.path).encode(), params)
        if not model:
            detail = recent_log()
            raise ModelError(
                f"llama.cpp could not load {self.path}: corrupt file or unsupported model"
                + (f" ({detail.splitlines()[-1]})" if detail else "")
            )
        return model

    @property
    def padding_rows(self) -> int:
        """Throwaway rows decoded to keep batches at 8 rows or more (see `tot.models.llama_context`)."""
        return self.decoder.padding_rows

    @property
    def residents(self) -> list[Any]:
        """The prompt prefixes kept as saved states."""
        return self.cache.residents

    def reseed(self, seed: int) -> None:
        """Restart the sampling seed sequence and empty the cache, so a run repeats exactly, usage included.

        (The cache never changes results, only how many tokens are evaluated.)
        """
        self.seed = seed
        self._calls = 0
        self.forget()

    def forget(self) -> None:
        """Empty the KV cache and drop every resident prefix: the next call starts cold."""
        self.cache.forget()
        if self._embedder is not None:
            self._embedder.cache.forget()

    def close(self) -> None:
        decoder = getattr(self, "decoder", None)
        if decoder is not None and decoder.ctx:
            if self._embedder is not None:
                self._embedder.close()
            decoder.close()
            self.lib.llama_model_free(self.model)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # ---- tokens ----------------------------------------------------------------------------

    def tokenize(self, text: str, *, bos: bool, special: bool = False) -> list[int]:
        """Tokens of `text`; `special` parses control tokens written as text (a chat template's turn markers)."""
        data = text.encode("utf-8")
        capacity = len(data) + 8
        buffer = (self.lib.llama_token * capacity)()
        n = self.lib.llama_tokenize(self.vocab, data, len(data), buffer, capacity, bos, special)
        if n < 0:
            capacity = -n
            buffer = (self.lib.llama_token * capacity)()
            n = self.lib.llama_tokenize(self.vocab, data, len(data), buffer, capacity, bos, special)
        return list(buffer[:n])

    def prompt_tokens(self, prompt: str) -> list[int]:
        """The tokens the model sees for `prompt`: with a chat template, as a user message followed by its turn."""
        if self.chat_template is None:
            return self.tokenize(prompt, bos=True)
        from tot.models.chat import render

        return self.tokenize(render(self.chat_template, prompt), bos=True, special=True)

    def piece(self, token: int) -> bytes:
        buffer = ctypes.create_string_buffer(64)
        n = self.lib.llama_token_to_piece(self.vocab, token, buffer, 64, 0, False)
        if n < 0:
            buffer = ctypes.create_string_buffer(-n)
            n = self.lib.llama_token_to_piece(self.vocab, token, buffer, -n, 0, False)
        return buffer.raw[:n]

    def _continuation_tokens(self, text: str) -> tuple[int, ...]:
        """The tokens of a continuation, cached (a word list is tokenized once per model)."""
        tokens = self._tokens.get(text)
        if tokens is None:
            tokens = tuple(self.tokenize(text, bos=False))
            if len(self._tokens) < 1_000_000:
                self._tokens[text] = tokens
        return tokens

    @contextmanager
    def _call(self) -> Iterator[None]:
        """One model call: checks the budget first, counts it, and forgets the cache when it fails midway."""
        self.meter.begin_call()
        started = time.perf_counter()
        try:
            yield
        except InputError:
            raise
        except BaseException:
            self.forget()  # a failed or interrupted decode may leave the cache in an unknown state
            raise
        finally:
            self.meter.calls += 1
            self.cache.clock += 1
            self.meter.model_seconds += time.perf_counter() - started

    # ---- the Model protocol ---------------------------------------------------------------

    def score_continuations(self, prompt: str, continuations: Sequence[str]) -> list[float]:
        if not continuations:
            return []
        with self._call():
            prompt_tokens = self.prompt_tokens(prompt)
            conts = [tuple(self.tokenize(c, bos=False)) for c in continuations]
            self.meter.prompt_tokens += len(prompt_tokens) + sum(len(c) for c in conts)
            return self.scorer.continuations(prompt_tokens, conts)

    def score_labels(self, prompt: str, labels: Sequence[str]) -> list[float]:
        """Label probabilities from one forward pass of the prompt (plus one batch for multi-token labels)."""
        return normalise(self.score_continuations(prompt, labels))

    def score_labels_many(self, prompts: Sequence[str], labels: Sequence[str]) -> list[list[float]]:
        """`score_labels` of each prompt, in one call: the prompts' shared prefix is decoded once in
        sequence 0 and their own tokens side by side, one lane each (bit for bit the one-by-one scores)."""
        if not prompts:
            return []
        with self._call():
            tokenized = [self.tokenize(p, bos=True) for p in prompts]
            conts = [tuple(self.tokenize(label, bos=False)) for label in labels]
            for tokens in tokenized:
                if len(tokens) >= self.n_ctx:
                    raise InputError(f"prompt of {len(tokens)} tokens does not fit the context of {self.n_ctx}")
            self.meter.prompt_tokens += sum(len(t) for t in tokenized) + len(prompts) * sum(len(c) for c in conts)
            totals = self.scorer.labels_many(tokenized, conts)
            return [normalise([each[c] for c in conts]) for each in totals]

    def score_many(self, prompt: str, continuations: Sequence[str], *, expand: int = 62, rest: float = -3.0) -> list[float]:
        """Log-probabilities of many continuations (a whole word list) in one or two decodes; see
        `tot.models.llama_scoring.Scorer.many` (exact for continuations of up to two tokens under
        the `expand` likeliest first tokens, estimated with `rest` per token beyond)."""
        if not continuations:
            return []
        if expand < 0:
            raise InputError(f"expand must be >= 0, got {expand}")
        with self._call():
            prompt_tokens = self.tokenize(prompt, bos=True)
            conts = [self._continuation_tokens(c) for c in continuations]
            self.meter.prompt_tokens += len(prompt_tokens) + len(conts)
            return self.scorer.many(prompt_tokens, conts, expand=expand, rest=rest)

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
        if n <= 0:
            return []
        with self._call():
            self._calls += 1
            prompt_tokens = self.prompt_tokens(prompt)
            self.meter.prompt_tokens += len(prompt_tokens)
            texts: list[str] = []
            lanes = self.decoder.lanes
            for wave in range(0, n, lanes):  # more samples than lanes: several waves
                self.cache.prefill(prompt_tokens)  # the prompt's last logits are the context's last output
                seeds = [self.seed * 1_000_003 + self._calls * 101 + k for k in range(wave, min(n, wave + lanes))]
                samplers = [Sampler(self.decoder, self.vocab, temperature, grammar, seed) for seed in seeds]
                try:
                    texts += generate(self.decoder, self.vocab, self.piece, len(prompt_tokens), samplers, max_tokens, stop)
                finally:
                    for sampler in samplers:
                        sampler.free()
                    self.decoder.drop_lanes(range(1, len(samplers) + 1))
            return texts

    def embed(
        self, prefix: str, texts: Sequence[str], *, layers: Sequence[int] = (-1,), pooling: str = "mean"
    ) -> np.ndarray[Any, np.dtype[np.float32]]:
        """Hidden states of each text read after `prefix` (one row per text), in one call.

        For each of `layers` (1..n_layer, or -1 for the last, normalised as llama.cpp's embeddings are),
        the text's own tokens (those after its common prefix with `prefix`) pooled: their `mean`, the
        `last`, or both (`mean+last`), concatenated over layers. The prefix is decoded once and kept;
        the texts run side by side in lanes (see `tot.models.llama_embed`).
        """
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        with self._call():
            if self._embedder is None:
                from tot.models.llama_embed import Embedder

                self._embedder = Embedder(self.lib, self.model, threads=self.threads, meter=self.meter)
            head = self.tokenize(prefix, bos=True)  # features of the plain text, with or without a chat template
            tokenized = [self.tokenize(prefix + text, bos=True) for text in texts]
            self.meter.prompt_tokens += sum(len(t) for t in tokenized)
            features: np.ndarray[Any, np.dtype[np.float32]] = self._embedder.embed(head, tokenized, layers, pooling)
            return features


def load(
    path: str | os.PathLike[str] | None = None,
    *,
    threads: int | None = None,
    n_gpu_layers: int | None = None,
    seed: int = 0,
    chat: bool = False,
) -> LlamaModel:
    """Load a GGUF model (the default model when `path` is None), checked before llama.cpp sees it.

    `chat`: send prompts in the model's chat template (see `tot.models.chat`).
    """
    from tot.models import resolve_model_path

    return LlamaModel(resolve_model_path(path), n_threads=threads, n_gpu_layers=n_gpu_layers, seed=seed, chat=chat)
