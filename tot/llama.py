"""The llama.cpp model backend, on llama-cpp-python's low-level API.

One context holds several KV sequences. Sequence 0 keeps the tokens of the last
prompt, so a call that shares a prefix with it evaluates only its new tokens.
Scoring K continuations copies that prefix into K sequences (a metadata copy in
the unified KV cache) and decodes all continuations in one batch; only the rows
that are needed produce logits. n samples decode in parallel as n sequences.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from tot.core import Meter
from tot.errors import InputError, ModelError
from tot.model import normalise

_BACKEND_READY = False
_LOG_LINES: list[str] = []  # llama.cpp's recent log lines, shown when loading fails
_LOGITS_CHUNK = 64  # rows per vectorised log-softmax, bounding the temporary to 64 x vocab floats


def _llama() -> Any:
    global _BACKEND_READY
    try:
        import llama_cpp
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ModelError(f"llama-cpp-python is not installed or failed to load: {error}") from error
    if not _BACKEND_READY:
        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
        llama_cpp.llama_log_set(_quiet_log, ctypes.c_void_p(0))
        llama_cpp.llama_backend_init()
        _BACKEND_READY = True
    return llama_cpp


def _keep_log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    _LOG_LINES.append(text.decode("utf-8", errors="replace"))
    del _LOG_LINES[:-20]


try:
    import llama_cpp as _lc

    _quiet_log = _lc.llama_log_callback(_keep_log)
except ImportError:  # pragma: no cover - reported by _llama()
    _quiet_log = None  # type: ignore[assignment]


def default_gpu_layers() -> int:
    """All layers on the GPU on Apple silicon (Metal), none elsewhere."""
    return -1 if platform.system() == "Darwin" and platform.machine() == "arm64" else 0


class LlamaModel:
    """A GGUF model loaded once and kept warm; implements `tot.model.Model`."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        n_ctx: int = 8192,
        n_batch: int = 512,
        n_threads: int | None = None,
        n_gpu_layers: int | None = None,
        n_seq_max: int = 32,
        seed: int = 0,
    ) -> None:
        lib = _llama()
        self.lib = lib
        self.path = Path(path)
        self.name = self.path.name
        self.meter = Meter()
        self.seed = seed
        self._calls = 0
        threads = n_threads or max(1, os.cpu_count() or 1)
        if threads <= 0:
            raise InputError(f"threads must be positive, got {threads}")

        model_params = lib.llama_model_default_params()
        model_params.n_gpu_layers = default_gpu_layers() if n_gpu_layers is None else n_gpu_layers
        self.model = lib.llama_model_load_from_file(str(self.path).encode(), model_params)
        if not self.model:
            detail = "".join(_LOG_LINES[-3:]).strip()
            raise ModelError(
                f"llama.cpp could not load {self.path}: corrupt file or unsupported model"
                + (f" ({detail.splitlines()[-1]})" if detail else "")
            )
        self.vocab = lib.llama_model_get_vocab(self.model)
        self.n_vocab = lib.llama_vocab_n_tokens(self.vocab)

        self.n_seq_max = max(2, min(n_seq_max, lib.llama_max_parallel_sequences()))
        ctx_params = lib.llama_context_default_params()
        ctx_params.n_ctx = n_ctx
        ctx_params.n_batch = n_batch
        ctx_params.n_ubatch = n_batch
        ctx_params.n_seq_max = self.n_seq_max
        ctx_params.n_threads = threads
        ctx_params.n_threads_batch = threads
        ctx_params.kv_unified = True
        ctx_params.swa_full = True  # sliding-window models keep every position, so prefixes can be reused
        ctx_params.no_perf = True
        ctx_params.flash_attn_type = lib.LLAMA_FLASH_ATTN_TYPE_DISABLED
        self.ctx = lib.llama_init_from_model(self.model, ctx_params)
        if not self.ctx:
            lib.llama_model_free(self.model)
            raise ModelError(f"llama.cpp could not create a context for {self.path}")
        self.memory = lib.llama_get_memory(self.ctx)
        self.n_ctx = lib.llama_n_ctx(self.ctx)
        self.n_batch = n_batch
        self.batch = lib.llama_batch_init(n_batch, 0, self.n_seq_max)
        self.cached: list[int] = []  # tokens held by sequence 0
        self.threads = threads

    def reseed(self, seed: int) -> None:
        """Restart the sampling seed sequence and drop the cached prompt, so a run repeats exactly."""
        self.seed = seed
        self._calls = 0
        self.cached = []
        self.lib.llama_memory_seq_rm(self.memory, -1, -1, -1)

    def close(self) -> None:
        if getattr(self, "ctx", None):
            self.lib.llama_batch_free(self.batch)
            self.lib.llama_free(self.ctx)
            self.lib.llama_model_free(self.model)
            self.ctx = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # ---- tokens ----------------------------------------------------------------------------

    def tokenize(self, text: str, *, bos: bool) -> list[int]:
        data = text.encode("utf-8")
        capacity = len(data) + 8
        buffer = (self.lib.llama_token * capacity)()
        n = self.lib.llama_tokenize(self.vocab, data, len(data), buffer, capacity, bos, False)
        if n < 0:
            capacity = -n
            buffer = (self.lib.llama_token * capacity)()
            n = self.lib.llama_tokenize(self.vocab, data, len(data), buffer, capacity, bos, False)
        return list(buffer[:n])

    def piece(self, token: int) -> bytes:
        buffer = ctypes.create_string_buffer(64)
        n = self.lib.llama_token_to_piece(self.vocab, token, buffer, 64, 0, False)
        if n < 0:
            buffer = ctypes.create_string_buffer(-n)
            n = self.lib.llama_token_to_piece(self.vocab, token, buffer, -n, 0, False)
        return buffer.raw[:n]

    # ---- decoding --------------------------------------------------------------------------

    def _decode(self, entries: Sequence[tuple[int, int, int, bool]]) -> None:
        """Decode (token, position, sequence, wants_logits) entries in one llama_decode call."""
        batch = self.batch
        for i, (token, pos, seq, logits) in enumerate(entries):
            batch.token[i] = token
            batch.pos[i] = pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = logits
        batch.n_tokens = len(entries)
        status = self.lib.llama_decode(self.ctx, batch)
        if status != 0:
            raise ModelError(f"llama_decode failed with status {status} (context of {self.n_ctx} tokens full?)")

    def _prefill(self, tokens: list[int]) -> None:
        """Make sequence 0 hold `tokens`, evaluating only what is not cached; the last token's logits are ready."""
        if len(tokens) >= self.n_ctx:
            raise InputError(f"prompt of {len(tokens)} tokens does not fit the context of {self.n_ctx}")
        keep = 0
        for a, b in zip(self.cached, tokens):
            if a != b:
                break
            keep += 1
        keep = min(keep, len(tokens) - 1)  # re-decode at least the last token, for its logits
        self.lib.llama_memory_seq_rm(self.memory, 0, keep, -1)
        self.cached = self.cached[:keep]
        for start in range(keep, len(tokens), self.n_batch):
            chunk = tokens[start : start + self.n_batch]
            last = start + len(chunk) == len(tokens)
            self._decode([(t, start + j, 0, last and j == len(chunk) - 1) for j, t in enumerate(chunk)])
            self.cached.extend(chunk)
        self.meter.prompt_tokens += len(tokens)
        self.meter.prompt_tokens_evaluated += len(tokens) - keep

    def _logits(self, index: int) -> np.ndarray[Any, np.dtype[np.float32]]:
        pointer = self.lib.llama_get_logits_ith(self.ctx, index)
        return np.ctypeslib.as_array(pointer, shape=(self.n_vocab,))

    @contextmanager
    def _call(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.meter.calls += 1
            self.meter.model_seconds += time.perf_counter() - started

    # ---- the Model protocol ---------------------------------------------------------------

    def score_continuations(self, prompt: str, continuations: Sequence[str]) -> list[float]:
        if not continuations:
            return []
        with self._call():
            prompt_tokens = self.tokenize(prompt, bos=True)
            self._prefill(prompt_tokens)
            first = _log_softmax_rows(self._logits(-1)[None, :])[0]
            conts = [self.tokenize(c, bos=False) for c in continuations]
            totals = [float(first[c[0]]) if c else 0.0 for c in conts]
            self.meter.prompt_tokens += sum(len(c) for c in conts)
            # Later tokens: each continuation's tokens but its last, decoded in its own sequence.
            n = len(prompt_tokens)
            lanes = self.n_seq_max - 1
            for group in range(0, len(conts), lanes):
                members = list(range(group, min(group + lanes, len(conts))))
                entries: list[tuple[int, int, int, bool]] = []
                targets: list[tuple[int, int]] = []  # (continuation, next token) per logits row
                for lane, k in enumerate(members, start=1):
                    self.lib.llama_memory_seq_cp(self.memory, 0, lane, 0, n)
                    for j, token in enumerate(conts[k][:-1]):
                        entries.append((token, n + j, lane, True))
                        targets.append((k, conts[k][j + 1]))
                for start in range(0, len(entries), self.n_batch):
                    part = entries[start : start + self.n_batch]
                    self._decode(part)
                    rows = np.ctypeslib.as_array(
                        self.lib.llama_get_logits(self.ctx), shape=(len(part), self.n_vocab)
                    )
                    picked = [targets[start + i][1] for i in range(len(part))]
                    for i, lp in enumerate(_log_softmax_picked(rows, picked)):
                        totals[targets[start + i][0]] += float(lp)
                    self.meter.prompt_tokens_evaluated += len(part)
                for lane in range(1, len(members) + 1):
                    self.lib.llama_memory_seq_rm(self.memory, lane, -1, -1)
            return totals

    def score_labels(self, prompt: str, labels: Sequence[str]) -> list[float]:
        return normalise(self.score_continuations(prompt, labels))

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
            prompt_tokens = self.tokenize(prompt, bos=True)
            self._prefill(prompt_tokens)
            self._calls += 1
            n = min(n, self.n_seq_max - 1)
            samplers = [self._sampler(temperature, grammar, self.seed * 1_000_003 + self._calls * 101 + k) for k in range(n)]
            try:
                return self._generate(len(prompt_tokens), samplers, max_tokens, stop)
            finally:
                for sampler in samplers:
                    self.lib.llama_sampler_free(sampler)
                for lane in range(1, n + 1):
                    self.lib.llama_memory_seq_rm(self.memory, lane, -1, -1)

    def _sampler(self, temperature: float, grammar: str | None, seed: int) -> Any:
        lib = self.lib
        chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        if grammar is not None:
            constraint = lib.llama_sampler_init_grammar(self.vocab, grammar.encode(), b"root")
            if not constraint:
                lib.llama_sampler_free(chain)
                raise InputError("llama.cpp rejected the grammar")
            lib.llama_sampler_chain_add(chain, constraint)
        if temperature <= 0:
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_greedy())
        else:
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_temp(temperature))
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_dist(seed & 0xFFFFFFFF))
        return chain

    def _generate(self, n_prompt: int, samplers: list[Any], max_tokens: int, stop: Sequence[str]) -> list[str]:
        """Sample from each lane in parallel, all starting from the prompt's last logits."""
        lanes = len(samplers)
        for lane in range(1, lanes + 1):
            self.lib.llama_memory_seq_cp(self.memory, 0, lane, 0, n_prompt)
        outputs = [b"" for _ in range(lanes)]
        active = list(range(lanes))
        rows = {k: -1 for k in active}  # where each lane's next logits are in the last batch
        for step in range(max_tokens):
            entries: list[tuple[int, int, int, bool]] = []
            still: list[int] = []
            for k in active:
                token = self.lib.llama_sampler_sample(samplers[k], self.ctx, rows[k])
                self.meter.generated_tokens += 1
                if self.lib.llama_vocab_is_eog(self.vocab, token):
                    continue
                outputs[k] += self.piece(token)
                text = outputs[k].decode("utf-8", errors="ignore")
                if any(s in text for s in stop):
                    continue
                if n_prompt + step + 1 >= self.n_ctx:
                    continue
                rows[k] = len(entries)
                entries.append((token, n_prompt + step, k + 1, True))
                still.append(k)
            active = still
            if not active or step == max_tokens - 1:
                break
            self._decode(entries)
        texts = []
        for raw in outputs:
            text = raw.decode("utf-8", errors="ignore")
            cut = min((text.find(s) for s in stop if s in text), default=len(text))
            texts.append(text[:cut])
        return texts


def _log_softmax_rows(rows: np.ndarray[Any, np.dtype[np.float32]]) -> np.ndarray[Any, np.dtype[np.float64]]:
    top = rows.max(axis=1, keepdims=True)
    shifted = rows.astype(np.float64) - top
    out: np.ndarray[Any, np.dtype[np.float64]] = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return out


def _log_softmax_picked(rows: np.ndarray[Any, np.dtype[np.float32]], picked: Sequence[int]) -> list[float]:
    """log softmax(rows[i])[picked[i]] for every row, vectorised in chunks."""
    out: list[float] = []
    for start in range(0, len(picked), _LOGITS_CHUNK):
        block = rows[start : start + _LOGITS_CHUNK]
        top = block.max(axis=1)
        lse = top + np.log(np.exp(block - top[:, None]).sum(axis=1))
        index = np.asarray(picked[start : start + _LOGITS_CHUNK])
        out.extend((block[np.arange(len(index)), index] - lse).tolist())
    return out


def load(
    path: str | os.PathLike[str] | None = None,
    *,
    threads: int | None = None,
    n_gpu_layers: int | None = None,
    seed: int = 0,
) -> LlamaModel:
    """Load a GGUF model (the default model when `path` is None), checked before llama.cpp sees it."""
    from tot.model import resolve_model_path

    return LlamaModel(resolve_model_path(path), n_threads=threads, n_gpu_layers=n_gpu_layers, seed=seed)

