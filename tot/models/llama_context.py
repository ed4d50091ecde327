"""One llama.cpp context: rows decoded so that batching never changes a result, and its prefix cache.

`Decoder` owns a `llama_context` and its batch; `PrefixCache` keeps a prompt in sequence 0
of a decoder, so that a call sharing a prefix with the last one evaluates only its new
tokens. Long prefixes that calls alternate between (a propose prompt, a value prompt, ...)
are kept resident as saved sequence states, found automatically (a prompt about to be
dropped from sequence 0 is saved; a later prompt that shares at least `_MIN_RESIDENT`
tokens with it restores it and trims it to the shared part) and evicted least recently
used first. Sequences 1..`lanes` hold continuations and samples side by side; the last
sequence (`scratch`) holds padding rows for the length of one decode.

Numerics. llama.cpp's CPU kernels round differently depending on how many rows
a batch has and where a sequence's cells sit in the KV cache: repacked Q4_K
weights are multiplied in 4-row groups with another kernel for the remainder,
the tinyBLAS and K-quant matrix products take other paths below 8 rows, flash
attention switches to a tiled kernel from 64 query rows, and without flash
attention the softmax sums depend on the cells' absolute positions. This model
amplifies those last-bit differences to 0.1-0.9 nats. So the model is loaded
without repacking (`tot.models.llama`), a context enables flash attention (its
per-row kernel skips masked cells), decodes 8 to 63 rows per llama_decode (padding
smaller batches with throwaway rows in the scratch sequence) and keeps every
sequence's cells in position order (a resident prefix is restored into an empty
cache, never shared from another sequence). Under these rules a row's result does
not depend on what else is in its batch: batched scores equal one-by-one scores,
and a cached prompt gives the same logits as a cold one, bit for bit (measured on
an AMD EPYC VM with AVX2; on one CI runner, batched and one-by-one scores still
differed by up to 6e-4 nats).
"""

from __future__ import annotations

import ctypes
import logging
import platform
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from tot.core import Meter
from tot.errors import InputError, ModelError

_BACKEND_READY = False
_LOG_LINES: list[str] = []  # llama.cpp's recent log lines, shown when loading fails

MIN_ROWS = 8  # fewer rows per llama_decode take other kernels (and round differently)
MAX_ROWS = 63  # from 64 query rows flash attention switches to its tiled kernel
_MIN_RESIDENT = 32  # a shared prefix needs this many tokens to be kept resident
_MAX_RESIDENTS = 8
_SCRATCH_ROWS = 4  # logits rows exponentiated at a time
_RESIDENT_BYTES = 512 << 20  # saved states kept in memory, at most

Row = tuple[int, int, Sequence[int], bool]  # token, position, sequences, wants logits
Logits = np.ndarray[Any, np.dtype[np.float32]]
SEQ0 = (0,)


def llama_lib() -> Any:
    """The llama_cpp module, its backend initialised once and its log kept quiet."""
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


def recent_log() -> str:
    """llama.cpp's last few log lines (why a load failed)."""
    return "".join(_LOG_LINES[-3:]).strip()


def _keep_log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    _LOG_LINES.append(text.decode("utf-8", errors="replace"))
    del _LOG_LINES[:-20]


try:
    import llama_cpp as _lc

    _quiet_log = _lc.llama_log_callback(_keep_log)
except ImportError:  # pragma: no cover - reported by llama_lib()
    _quiet_log = None  # type: ignore[assignment]


def default_gpu_layers() -> int:
    """All layers on the GPU on Apple silicon (Metal), none elsewhere."""
    return -1 if platform.system() == "Darwin" and platform.machine() == "arm64" else 0


class Decoder:
    """A `llama_context` with one unified KV cache, flash attention and batches of at most `MAX_ROWS` + 1 rows.

    Counts in `meter` the time spent in llama.cpp (`llama_seconds`); `padding_rows` counts
    the throwaway rows decoded to keep every batch at `MIN_ROWS` rows or more.
    `cb_eval` (a ctypes `ggml_backend_sched_eval_callback`) sees the graph's tensors.
    """

    def __init__(
        self, lib: Any, model: Any, *, n_ctx: int, n_seq_max: int, threads: int, meter: Meter, cb_eval: Any = None
    ) -> None:
        self.lib = lib
        self.meter = meter
        self.n_seq_max = n_seq_max
        self.scratch = n_seq_max - 1  # padding rows live here for the length of one decode
        self.lanes = n_seq_max - 2  # sequences 1..lanes hold continuations and samples
        vocab = lib.llama_model_get_vocab(model)
        self.n_vocab: int = lib.llama_vocab_n_tokens(vocab)
        self.pad_token = max(0, lib.llama_vocab_bos(vocab))
        params = lib.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = params.n_ubatch = MAX_ROWS + 1
        params.n_seq_max = n_seq_max
        params.n_threads = params.n_threads_batch = threads
        params.kv_unified = True
        params.swa_full = True  # sliding-window models keep every position, so prefixes can be reused
        params.no_perf = True
        params.flash_attn_type = lib.LLAMA_FLASH_ATTN_TYPE_ENABLED  # its per-row kernel skips masked cells
        if cb_eval is not None:
            params.cb_eval = cb_eval
        self.ctx = lib.llama_init_from_model(model, params)
        if not self.ctx:
            raise ModelError("llama.cpp could not create a context")
        self.memory = lib.llama_get_memory(self.ctx)
        self.n_ctx: int = lib.llama_n_ctx(self.ctx)
        self.batch = lib.llama_batch_init(MAX_ROWS + 1, 0, n_seq_max)
        self.padding_rows = 0
        self._scratch: Logits | None = None  # exponentials of a few logits rows, small enough to stay cached

    def close(self) -> None:
        if self.ctx:
            self.lib.llama_batch_free(self.batch)
            self.lib.llama_free(self.ctx)
            self.ctx = None

    @contextmanager
    def in_llama(self) -> Iterator[None]:
        """Count the time of the llama.cpp calls inside in `meter.llama_seconds`."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.meter.llama_seconds += time.perf_counter() - started

    def submit(self, rows: Sequence[Row], *, pad: bool = True) -> int:
        """One llama_decode of `rows` (padded to `MIN_ROWS` when `pad`); returns how many logits rows it made."""
        padding = max(0, MIN_ROWS - len(rows)) if pad else 0
        fill_batch(self.batch, [*rows, *((self.pad_token, j, (self.scratch,), False) for j in range(padding))])
        with self.in_llama():
            status = self.lib.llama_decode(self.ctx, self.batch)
        if padding:
            self.lib.llama_memory_seq_rm(self.memory, self.scratch, -1, -1)
            self.padding_rows += padding
        if status != 0:
            raise ModelError(f"llama_decode failed with status {status} (context of {self.n_ctx} tokens full?)")
        return sum(logits for *_, logits in rows)

    def decode(self, rows: Sequence[Row]) -> Iterator[Logits]:
        """Decode `rows` in calls of `MIN_ROWS`..`MAX_ROWS` rows; yield each call's logits rows.

        Each block is a view into llama.cpp's buffer, valid until the generator resumes.
        """
        for part in split_rows(rows, MAX_ROWS):
            outputs = self.submit(part)
            if outputs:
                yield np.ctypeslib.as_array(self.lib.llama_get_logits(self.ctx), shape=(outputs, self.n_vocab))

    def logsumexp(self, rows: Logits) -> np.ndarray[Any, np.dtype[np.float64]]:
        """`logsumexp_rows` of logits rows, with a scratch buffer kept for the next call."""
        if self._scratch is None:
            self._scratch = np.empty((_SCRATCH_ROWS, self.n_vocab), dtype=np.float32)
        return logsumexp_rows(rows, self._scratch)

    def copy_lanes(self, source: int, lanes: Sequence[int]) -> None:
        """Let each of `lanes` share the cells of sequence `source`."""
        for lane in lanes:
            self.lib.llama_memory_seq_cp(self.memory, source, lane, -1, -1)

    def drop_lanes(self, lanes: Sequence[int]) -> None:
        """Empty each of `lanes`."""
        for lane in lanes:
            self.lib.llama_memory_seq_rm(self.memory, lane, -1, -1)


@dataclass
class _Resident:
    """A prompt prefix kept as a saved state of sequence 0."""

    tokens: tuple[int, ...]
    state: Any  # ctypes array of bytes
    used: int  # call number of the last use, for least-recently-used eviction


class PrefixCache:
    """Sequence 0 of a decoder, holding the tokens of the last prompt, and the resident prefixes.

    `clock` counts the calls made (the model advances it), for least-recently-used eviction.
    """

    def __init__(self, decoder: Decoder) -> None:
        self.decoder = decoder
        self.cached: list[int] = []  # tokens held by sequence 0
        self.residents: list[_Resident] = []
        self.clock = 0

    def forget(self) -> None:
        """Empty the KV cache and drop every resident prefix: the next call starts cold."""
        self.decoder.lib.llama_memory_clear(self.decoder.memory, False)
        self.cached = []
        self.residents = []

    def prefill(self, tokens: list[int]) -> Logits:
        """Make sequence 0 hold `tokens`, evaluating only what is not cached; return the last token's logits."""
        if not tokens:
            raise InputError("empty prompt")
        if len(tokens) >= self.decoder.n_ctx:
            raise InputError(f"prompt of {len(tokens)} tokens does not fit the context of {self.decoder.n_ctx}")
        keep = min(self._reuse(tokens), len(tokens) - 1)  # the last token is decoded again, for its logits
        self.decoder.lib.llama_memory_seq_rm(self.decoder.memory, 0, keep, -1)
        self.cached = tokens[:keep]
        rows = [(t, keep + j, SEQ0, keep + j == len(tokens) - 1) for j, t in enumerate(tokens[keep:])]
        last: Logits | None = None
        for block in self.decoder.decode(rows):
            last = block[-1].copy()
        assert last is not None
        self.cached = list(tokens)
        self.decoder.meter.prompt_tokens_evaluated += len(rows)
        return last

    def hold(self, tokens: list[int]) -> None:
        """Make sequence 0 hold `tokens` (no logits needed), evaluating only what is not cached."""
        keep = self._reuse(tokens)
        self.decoder.lib.llama_memory_seq_rm(self.decoder.memory, 0, keep, -1)
        self.cached = tokens[:keep]
        rows = [(t, keep + j, SEQ0, False) for j, t in enumerate(tokens[keep:])]
        if rows:
            for _ in self.decoder.decode(rows):
                pass
        self.cached = list(tokens)
        self.decoder.meter.prompt_tokens_evaluated += len(rows)

    def _reuse(self, tokens: list[int]) -> int:
        """How many leading `tokens` sequence 0 holds, after switching to a resident prefix that covers more."""
        here = common_prefix(self.cached, tokens)
        if here < len(self.cached):
            self._keep_resident(here)
        matches = [(common_prefix(r.tokens, tokens), r) for r in self.residents]
        there, best = max(matches, key=lambda m: m[0], default=(0, None))
        if best is None or there <= here or there < _MIN_RESIDENT:
            return here
        return self._restore(best, there)

    def _keep_resident(self, here: int) -> None:
        """Save sequence 0 before it loses its tokens after `here`, if they hold a long prefix not yet resident."""
        covered = max((len(r.tokens) for r in self.residents if _starts_with(self.cached, r.tokens)), default=0)
        if len(self.cached) - max(here, covered) >= _MIN_RESIDENT:
            self._save()

    def _save(self) -> None:
        """Keep the tokens of sequence 0 resident as a saved state, evicting the least recently used."""
        lib, ctx = self.decoder.lib, self.decoder.ctx
        size = lib.llama_state_seq_get_size(ctx, 0)
        state = (ctypes.c_uint8 * size)()
        with self.decoder.in_llama():
            written = lib.llama_state_seq_get_data(ctx, state, size, 0)
        if written != size:
            return
        tokens = tuple(self.cached)
        self.residents = [r for r in self.residents if r.tokens != tokens]
        self.residents.append(_Resident(tokens, state, self.clock))
        self.residents.sort(key=lambda r: -r.used)
        while len(self.residents) > _MAX_RESIDENTS or sum(len(r.state) for r in self.residents) > _RESIDENT_BYTES:
            self.residents.pop()

    def _restore(self, resident: _Resident, shared: int) -> int:
        """Load `resident` into an empty cache as sequence 0 and trim it to its first `shared` tokens."""
        lib, memory = self.decoder.lib, self.decoder.memory
        lib.llama_memory_clear(memory, False)
        self.cached = []
        with self.decoder.in_llama():
            read = lib.llama_state_seq_set_data(self.decoder.ctx, resident.state, len(resident.state), 0)
        if read != len(resident.state):
            self.residents.remove(resident)
            lib.llama_memory_clear(memory, False)
            return 0
        self.cached = list(resident.tokens)
        resident.used = self.clock
        if shared < len(resident.tokens):  # only this part is shared: keep just that part resident
            lib.llama_memory_seq_rm(memory, 0, shared, -1)
            self.cached = self.cached[:shared]
            self.residents.remove(resident)
            self._save()
        return shared


def fill_batch(batch: Any, rows: Sequence[Row]) -> None:
    """Write `rows` (token, position, sequences, wants logits) into a `llama_batch`."""
    for i, (token, pos, seqs, logits) in enumerate(rows):
        batch.token[i] = token
        batch.pos[i] = pos
        batch.n_seq_id[i] = len(seqs)
        for j, seq in enumerate(seqs):
            batch.seq_id[i][j] = seq
        batch.logits[i] = logits
    batch.n_tokens = len(rows)


def split_rows(rows: Sequence[Row], limit: int) -> Iterator[Sequence[Row]]:
    """`rows` in the fewest parts of at most `limit`, their sizes as equal as possible."""
    parts = max(1, -(-len(rows) // limit))
    size, extra = divmod(len(rows), parts)
    start = 0
    for part in range(parts):
        end = start + size + (part < extra)
        yield rows[start:end]
        start = end


def logsumexp_rows(rows: Logits, scratch: Logits) -> np.ndarray[Any, np.dtype[np.float64]]:
    """log(sum(exp(row))) of each row, vectorised over blocks of rows that fit `scratch` (kept in cache).

    The exponentials are taken without subtracting each row's maximum (one pass less), unless that
    overflows or underflows.
    """
    total = np.empty(len(rows), dtype=np.float64)
    step = len(scratch)
    for start in range(0, len(rows), step):
        block = rows[start : start + step]
        total[start : start + len(block)] = np.exp(block, out=scratch[: len(block)]).sum(axis=1)
    if np.all(np.isfinite(total)) and np.all(total > 0):
        direct: np.ndarray[Any, np.dtype[np.float64]] = np.log(total)
        return direct
    top = rows.max(axis=1)
    shifted = np.exp(rows - top[:, None]).sum(axis=1, dtype=np.float64)
    result: np.ndarray[Any, np.dtype[np.float64]] = np.log(shifted) + top
    return result


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token sequences."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _starts_with(tokens: Sequence[int], prefix: Sequence[int]) -> bool:
    return len(prefix) <= len(tokens) and common_prefix(tokens, prefix) == len(prefix)
