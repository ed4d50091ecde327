"""The llama.cpp model backend, on llama-cpp-python's low-level API.

Sequence 0 of one context holds the tokens of the last prompt, so a call that
shares a prefix with it evaluates only its new tokens. Long prefixes that calls
alternate between (a propose prompt, a value prompt, ...) are kept resident as
saved sequence states, found automatically (a prompt about to be dropped from
sequence 0 is saved; a later prompt that shares at least `_MIN_RESIDENT` tokens
with it restores it and trims it to the shared part) and evicted least recently
used first. Scoring K continuations decodes their token trie in lanes
(sequences that share the prompt's cells), with logits only for the rows that
are needed; n samples decode in parallel as n lanes.

Numerics. llama.cpp's CPU kernels round differently depending on how many rows
a batch has and where a sequence's cells sit in the KV cache: repacked Q4_K
weights are multiplied in 4-row groups with another kernel for the remainder,
the tinyBLAS and K-quant matrix products take other paths below 8 rows, flash
attention switches to a tiled kernel from 64 query rows, and without flash
attention the softmax sums depend on the cells' absolute positions. This model
amplifies those last-bit differences to 0.1-0.9 nats. So this backend loads the
weights without repacking, enables flash attention (its per-row kernel skips
masked cells), decodes 8 to 63 rows per llama_decode (padding smaller batches
with throwaway rows in a scratch sequence) and keeps every sequence's cells in
position order (a resident prefix is restored into an empty cache, never
shared from another sequence). Under these rules a row's result does not depend
on what else is in its batch: batched scores equal one-by-one scores, and a
cached prompt gives the same logits as a cold one, bit for bit (measured on an AMD EPYC
VM with AVX2; on one CI runner, batched and one-by-one scores still differed by up to
6e-4 nats).
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tot.core import Meter
from tot.errors import InputError, ModelError
from tot.models import normalise

_BACKEND_READY = False
_LOG_LINES: list[str] = []  # llama.cpp's recent log lines, shown when loading fails

_MIN_ROWS = 8  # fewer rows per llama_decode take other kernels (and round differently)
_MAX_ROWS = 63  # from 64 query rows flash attention switches to its tiled kernel
_MIN_RESIDENT = 32  # a shared prefix needs this many tokens to be kept resident
_MAX_RESIDENTS = 8
_SCRATCH_ROWS = 4  # logits rows exponentiated at a time
_RESIDENT_BYTES = 512 << 20  # saved states kept in memory, at most

Row = tuple[int, int, Sequence[int], bool]  # token, position, sequences, wants logits
Logits = np.ndarray[Any, np.dtype[np.float32]]
_SEQ0 = (0,)


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


@dataclass
class _Resident:
    """A prompt prefix kept as a saved state of sequence 0."""

    tokens: tuple[int, ...]
    state: Any  # ctypes array of bytes
    used: int  # call number of the last use, for least-recently-used eviction


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
        lib = _llama()
        self.lib = lib
        self.path = Path(path)
        self.name = self.path.name
        self.meter = Meter()
        self.seed = seed
        self.chat_template: str | None = None
        if chat:
            from tot.models.chat import model_template

            self.chat_template = model_template(self.path)
        self.padding_rows = 0
        self._calls = 0  # sampling calls since the last reseed: part of each sample's seed
        self._clock = 0  # calls ever made, for least-recently-used eviction of resident prefixes
        self.threads = n_threads if n_threads is not None else max(1, os.cpu_count() or 1)  # 0 is refused, not 'all'
        if self.threads <= 0:
            raise InputError(f"threads must be positive, got {self.threads}")
        self.model = self._load_model(n_gpu_layers)
        self.vocab = lib.llama_model_get_vocab(self.model)
        self.n_vocab: int = lib.llama_vocab_n_tokens(self.vocab)
        self.pad_token = max(0, lib.llama_vocab_bos(self.vocab))
        self.n_seq_max = max(3, min(n_seq_max, lib.llama_max_parallel_sequences()))
        self.scratch = self.n_seq_max - 1  # padding rows live here for the length of one decode
        self.lanes = self.n_seq_max - 2  # sequences 1..lanes hold continuations and samples
        self.ctx = self._new_context(n_ctx)
        self.memory = lib.llama_get_memory(self.ctx)
        self.n_ctx = lib.llama_n_ctx(self.ctx)
        self.batch = lib.llama_batch_init(_MAX_ROWS + 1, 0, self.n_seq_max)
        self.cached: list[int] = []  # tokens held by sequence 0
        self.residents: list[_Resident] = []
        self._tokens: dict[str, tuple[int, ...]] = {}  # continuation text -> tokens (score_many)
        self._scratch: Logits | None = None  # exponentials of a few logits rows, small enough to stay cached

    def _load_model(self, n_gpu_layers: int | None) -> Any:
        params = self.lib.llama_model_default_params()
        params.n_gpu_layers = default_gpu_layers() if n_gpu_layers is None else n_gpu_layers
        params.use_extra_bufts = False  # repacked weights round differently by batch size
        model = self.lib.llama_model_load_from_file(str(self.path).encode(), params)
        if not model:
            detail = "".join(_LOG_LINES[-3:]).strip()
            raise ModelError(
                f"llama.cpp could not load {self.path}: corrupt file or unsupported model"
                + (f" ({detail.splitlines()[-1]})" if detail else "")
            )
        return model

    def _new_context(self, n_ctx: int) -> Any:
        """A context with one unified KV cache, flash attention and batches of at most `_MAX_ROWS` + 1 rows."""
        lib = self.lib
        params = lib.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = params.n_ubatch = _MAX_ROWS + 1
        params.n_seq_max = self.n_seq_max
        params.n_threads = params.n_threads_batch = self.threads
        params.kv_unified = True
        params.swa_full = True  # sliding-window models keep every position, so prefixes can be reused
        params.no_perf = True
        params.flash_attn_type = lib.LLAMA_FLASH_ATTN_TYPE_ENABLED  # its per-row kernel skips masked cells
        ctx = lib.llama_init_from_model(self.model, params)
        if not ctx:
            lib.llama_model_free(self.model)
            raise ModelError(f"llama.cpp could not create a context for {self.path}")
        return ctx

    def reseed(self, seed: int) -> None:
        """Restart the sampling seed sequence and empty the cache, so a run repeats exactly, usage included.

        (The cache never changes results, only how many tokens are evaluated.)
        """
        self.seed = seed
        self._calls = 0
        self.forget()

    def forget(self) -> None:
        """Empty the KV cache and drop every resident prefix: the next call starts cold."""
        self.lib.llama_memory_clear(self.memory, False)
        self.cached = []
        self.residents = []

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

    # ---- decoding --------------------------------------------------------------------------

    @contextmanager
    def _in_llama(self) -> Iterator[None]:
        """Count the time of the llama.cpp calls inside in `meter.llama_seconds`."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.meter.llama_seconds += time.perf_counter() - started

    @contextmanager
    def _call(self) -> Iterator[None]:
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
            self._clock += 1
            self.meter.model_seconds += time.perf_counter() - started

    def _submit(self, rows: Sequence[Row], *, pad: bool = True) -> int:
        """One llama_decode of `rows` (padded to `_MIN_ROWS` when `pad`); returns how many logits rows it made."""
        padding = max(0, _MIN_ROWS - len(rows)) if pad else 0
        fill_batch(self.batch, [*rows, *((self.pad_token, j, (self.scratch,), False) for j in range(padding))])
        with self._in_llama():
            status = self.lib.llama_decode(self.ctx, self.batch)
        if padding:
            self.lib.llama_memory_seq_rm(self.memory, self.scratch, -1, -1)
            self.padding_rows += padding
        if status != 0:
            raise ModelError(f"llama_decode failed with status {status} (context of {self.n_ctx} tokens full?)")
        return sum(logits for *_, logits in rows)

    def _decode(self, rows: Sequence[Row]) -> Iterator[Logits]:
        """Decode `rows` in calls of `_MIN_ROWS`..`_MAX_ROWS` rows; yield each call's logits rows.

        Each block is a view into llama.cpp's buffer, valid until the generator resumes.
        """
        for part in _split(rows, _MAX_ROWS):
            outputs = self._submit(part)
            if outputs:
                yield np.ctypeslib.as_array(self.lib.llama_get_logits(self.ctx), shape=(outputs, self.n_vocab))

    def _logsumexp(self, rows: Logits) -> np.ndarray[Any, np.dtype[np.float64]]:
        """`_logsumexp` of logits rows, with a scratch buffer kept for the next call."""
        if self._scratch is None:
            self._scratch = np.empty((_SCRATCH_ROWS, self.n_vocab), dtype=np.float32)
        return _logsumexp(rows, self._scratch)

    def _prefill(self, tokens: list[int]) -> Logits:
        """Make sequence 0 hold `tokens`, evaluating only what is not cached; return the last token's logits."""
        if not tokens:
            raise InputError("empty prompt")
        if len(tokens) >= self.n_ctx:
            raise InputError(f"prompt of {len(tokens)} tokens does not fit the context of {self.n_ctx}")
        keep = min(self._reuse(tokens), len(tokens) - 1)  # the last token is decoded again, for its logits
        self.lib.llama_memory_seq_rm(self.memory, 0, keep, -1)
        self.cached = tokens[:keep]
        rows = [(t, keep + j, _SEQ0, keep + j == len(tokens) - 1) for j, t in enumerate(tokens[keep:])]
        last: Logits | None = None
        for block in self._decode(rows):
            last = block[-1].copy()
        assert last is not None
        self.cached = list(tokens)
        self.meter.prompt_tokens_evaluated += len(rows)
        return last

    def _hold(self, tokens: list[int]) -> None:
        """Make sequence 0 hold `tokens` (no logits needed), evaluating only what is not cached."""
        keep = self._reuse(tokens)
        self.lib.llama_memory_seq_rm(self.memory, 0, keep, -1)
        self.cached = tokens[:keep]
        rows = [(t, keep + j, _SEQ0, False) for j, t in enumerate(tokens[keep:])]
        if rows:
            for _ in self._decode(rows):
                pass
        self.cached = list(tokens)
        self.meter.prompt_tokens_evaluated += len(rows)

    # ---- resident prefixes -----------------------------------------------------------------

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
        size = self.lib.llama_state_seq_get_size(self.ctx, 0)
        state = (ctypes.c_uint8 * size)()
        with self._in_llama():
            written = self.lib.llama_state_seq_get_data(self.ctx, state, size, 0)
        if written != size:
            return
        tokens = tuple(self.cached)
        self.residents = [r for r in self.residents if r.tokens != tokens]
        self.residents.append(_Resident(tokens, state, self._clock))
        self.residents.sort(key=lambda r: -r.used)
        while len(self.residents) > _MAX_RESIDENTS or sum(len(r.state) for r in self.residents) > _RESIDENT_BYTES:
            self.residents.pop()

    def _restore(self, resident: _Resident, shared: int) -> int:
        """Load `resident` into an empty cache as sequence 0 and trim it to its first `shared` tokens."""
        self.lib.llama_memory_clear(self.memory, False)
        self.cached = []
        with self._in_llama():
            read = self.lib.llama_state_seq_set_data(self.ctx, resident.state, len(resident.state), 0)
        if read != len(resident.state):
            self.residents.remove(resident)
            self.lib.llama_memory_clear(self.memory, False)
            return 0
        self.cached = list(resident.tokens)
        resident.used = self._clock
        if shared < len(resident.tokens):  # only this part is shared: keep just that part resident
            self.lib.llama_memory_seq_rm(self.memory, 0, shared, -1)
            self.cached = self.cached[:shared]
            self.residents.remove(resident)
            self._save()
        return shared

    # ---- the Model protocol ---------------------------------------------------------------

    def score_continuations(self, prompt: str, continuations: Sequence[str]) -> list[float]:
        if not continuations:
            return []
        with self._call():
            prompt_tokens = self.prompt_tokens(prompt)
            conts = [tuple(self.tokenize(c, bos=False)) for c in continuations]
            self.meter.prompt_tokens += len(prompt_tokens) + sum(len(c) for c in conts)
            last = self._prefill(prompt_tokens)
            totals = self._first_tokens(conts, last)
            paths = sorted(c for c in totals if len(c) > 1)  # sorted, so that groups share prefixes
            for start in range(0, len(paths), self.lanes):
                self._score_trie(len(prompt_tokens), paths[start : start + self.lanes], totals)
            return [totals[c] for c in conts]

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
            paths = sorted({c for c in conts if len(c) > 1})
            per_wave = max(1, self.lanes // (1 + len(paths)))  # a lane per prompt and one per label path of each
            scores: list[list[float]] = []
            start = 0
            while start < len(tokenized):
                wave = [tokenized[start]]
                cells = len(tokenized[start])
                for tokens in tokenized[start + 1 : start + per_wave]:
                    if cells + len(tokens) > self.n_ctx // 2:  # every prompt's cells, plus room for the label paths
                        break
                    wave.append(tokens)
                    cells += len(tokens)
                start += len(wave)
                for totals in self._label_wave(wave, set(conts), paths):
                    scores.append(normalise([totals[c] for c in conts]))
            return scores

    def _label_wave(
        self, wave: Sequence[list[int]], conts: set[tuple[int, ...]], paths: Sequence[tuple[int, ...]]
    ) -> list[dict[tuple[int, ...], float]]:
        """Each prompt's log-probability of each of `conts` (`paths`: those of several tokens), in lanes.

        Sequence 0 holds the prompts' shared prefix; prompt i's own tokens go to lane i + 1 (which shares
        the prefix's cells), and label path j of prompt i to a lane copied from it.
        """
        if len(wave) == 1:
            last = self._prefill(wave[0])
            alone = self._first_tokens(list(conts), last)
            for group in range(0, len(paths), self.lanes):
                self._score_trie(len(wave[0]), paths[group : group + self.lanes], alone)
            return [alone]
        shared = min(min(len(t) for t in wave) - 1, *(common_prefix(wave[0], t) for t in wave[1:]))
        self._hold(wave[0][:shared])
        firsts = sorted({c[0] for c in conts if c})
        rows: list[Row] = []
        for lane, tokens in enumerate(wave, start=1):
            rows += [(t, shared + j, (lane,), shared + j == len(tokens) - 1) for j, t in enumerate(tokens[shared:])]
        used = len(wave)
        try:
            for lane in range(1, len(wave) + 1):
                self.lib.llama_memory_seq_cp(self.memory, 0, lane, -1, -1)
            picks = [(row, token) for row in range(len(wave)) for token in firsts]
            values = self._pick(rows, picks)
            self.meter.prompt_tokens_evaluated += len(rows)
            totals = [{c: values[(i, c[0])] if c else 0.0 for c in conts} for i in range(len(wave))]
            if paths:
                trie = continuation_trie(paths)
                row_of = {prefix: k for k, prefix in enumerate(trie)}
                rows = []
                later: list[tuple[int, int]] = []
                for i, tokens in enumerate(wave):
                    first_lane = len(wave) + 1 + i * len(paths)
                    for lane in range(first_lane, first_lane + len(paths)):
                        self.lib.llama_memory_seq_cp(self.memory, i + 1, lane, -1, -1)
                    used = first_lane + len(paths) - 1
                    base = len(rows)
                    rows += [
                        (prefix[-1], len(tokens) + len(prefix) - 1, [first_lane + lane - 1 for lane in lanes], True)
                        for prefix, lanes in trie.items()
                    ]
                    later += [(base + row_of[p[:d]], p[d]) for p in paths for d in range(1, len(p))]
                values = self._pick(rows, sorted(set(later)))
                self.meter.prompt_tokens_evaluated += len(rows)
                for i in range(len(wave)):
                    base = i * len(trie)
                    for p in paths:
                        totals[i][p] += sum(values[(base + row_of[p[:d]], p[d])] for d in range(1, len(p)))
            return totals
        finally:
            for lane in range(1, used + 1):
                self.lib.llama_memory_seq_rm(self.memory, lane, -1, -1)

    def score_many(self, prompt: str, continuations: Sequence[str], *, expand: int = 62, rest: float = -3.0) -> list[float]:
        """Log-probabilities of many continuations (a whole word list) in one or two decodes.

        One forward pass of the prompt gives every first token's log-probability; the `expand`
        most likely first tokens of the multi-token continuations are decoded once more (one
        row each, in one batch of lanes) for their second tokens. A token beyond what was
        decoded counts `rest`. So a continuation of at most two tokens under a kept first token
        is scored exactly, as `score_continuations` scores it; the rest are estimates.
        """
        if not continuations:
            return []
        if expand < 0:
            raise InputError(f"expand must be >= 0, got {expand}")
        with self._call():
            prompt_tokens = self.tokenize(prompt, bos=True)
            conts = [self._continuation_tokens(c) for c in continuations]
            self.meter.prompt_tokens += len(prompt_tokens) + len(conts)
            last = self._prefill(prompt_tokens)
            first = last.astype(np.float64) - float(self._logsumexp(last[None, :])[0])
            heads = sorted({c[0] for c in conts if len(c) > 1}, key=lambda t: (-first[t], t))[:expand]
            second: dict[tuple[int, int], float] = {}
            for start in range(0, len(heads), self.lanes):
                second.update(self._second_tokens(len(prompt_tokens), heads[start : start + self.lanes], conts))
            scores = []
            for c in conts:
                if not c:
                    scores.append(0.0)
                    continue
                known = second.get((c[0], c[1])) if len(c) > 1 else 0.0
                score = float(first[c[0]]) + (rest if known is None else known) + rest * max(0, len(c) - 2)
                scores.append(score)
            return scores

    def _continuation_tokens(self, text: str) -> tuple[int, ...]:
        """The tokens of a continuation, cached (a word list is tokenized once per model)."""
        tokens = self._tokens.get(text)
        if tokens is None:
            tokens = tuple(self.tokenize(text, bos=False))
            if len(self._tokens) < 1_000_000:
                self._tokens[text] = tokens
        return tokens

    def _second_tokens(
        self, n_prompt: int, heads: Sequence[int], conts: Sequence[tuple[int, ...]]
    ) -> dict[tuple[int, int], float]:
        """log P(second token | prompt, first token) for every continuation starting with one of `heads`,
        decoding each head once, in its own lane."""
        row_of = {head: i for i, head in enumerate(heads)}
        picks = sorted({(row_of[c[0]], c[1]) for c in conts if len(c) > 1 and c[0] in row_of})
        rows = [(head, n_prompt, (lane,), True) for lane, head in enumerate(heads, start=1)]
        for lane in range(1, len(heads) + 1):
            self.lib.llama_memory_seq_cp(self.memory, 0, lane, -1, -1)
        try:
            values = self._pick(rows, picks)
        finally:
            for lane in range(1, len(heads) + 1):
                self.lib.llama_memory_seq_rm(self.memory, lane, -1, -1)
        self.meter.prompt_tokens_evaluated += len(rows)
        return {(heads[row], token): value for (row, token), value in values.items()}

    def _first_tokens(self, conts: Sequence[tuple[int, ...]], last: Logits) -> dict[tuple[int, ...], float]:
        """Each distinct continuation's log-probability of its first token (0 for an empty one)."""
        lse = float(self._logsumexp(last[None, :])[0])
        return {c: float(last[c[0]]) - lse if c else 0.0 for c in set(conts)}

    def _score_trie(self, n_prompt: int, paths: Sequence[tuple[int, ...]], totals: dict[tuple[int, ...], float]) -> None:
        """Add the log-probabilities of the later tokens of `paths`, one lane each, decoding shared prefixes once."""
        nodes = continuation_trie(paths)
        row_of = {prefix: i for i, prefix in enumerate(nodes)}
        picks = sorted({(row_of[path[:d]], path[d]) for path in paths for d in range(1, len(path))})
        rows = [(prefix[-1], n_prompt + len(prefix) - 1, lanes, True) for prefix, lanes in nodes.items()]
        for lane in range(1, len(paths) + 1):
            self.lib.llama_memory_seq_cp(self.memory, 0, lane, -1, -1)
        try:
            values = self._pick(rows, picks)
        finally:
            for lane in range(1, len(paths) + 1):
                self.lib.llama_memory_seq_rm(self.memory, lane, -1, -1)
        self.meter.prompt_tokens_evaluated += len(rows)
        for path in paths:
            totals[path] += sum(values[(row_of[path[:d]], path[d])] for d in range(1, len(path)))

    def _pick(self, rows: Sequence[Row], picks: Sequence[tuple[int, int]]) -> dict[tuple[int, int], float]:
        """Decode `rows` (all with logits) and return log softmax(row)[token] for each (row, token) pick."""
        values: dict[tuple[int, int], float] = {}
        offset = cursor = 0
        for block in self._decode(rows):
            end = cursor
            while end < len(picks) and picks[end][0] < offset + len(block):
                end += 1
            mine = picks[cursor:end]
            index = np.fromiter((r - offset for r, _ in mine), dtype=np.intp, count=len(mine))
            tokens = np.fromiter((t for _, t in mine), dtype=np.intp, count=len(mine))
            lse = self._logsumexp(block)
            for pick, value in zip(mine, (block[index, tokens] - lse[index]).tolist()):
                values[pick] = value
            offset += len(block)
            cursor = end
        return values

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
            for wave in range(0, n, self.lanes):  # more samples than lanes: several waves
                self._prefill(prompt_tokens)  # the prompt's last logits are the context's last output
                seeds = [self.seed * 1_000_003 + self._calls * 101 + k for k in range(wave, min(n, wave + self.lanes))]
                samplers = [_Sampler(self, temperature, grammar, seed) for seed in seeds]
                try:
                    texts += self._generate(len(prompt_tokens), samplers, max_tokens, stop)
                finally:
                    for sampler in samplers:
                        sampler.free()
                    for lane in range(1, len(samplers) + 1):
                        self.lib.llama_memory_seq_rm(self.memory, lane, -1, -1)
            return texts

    def _generate(self, n_prompt: int, samplers: list[_Sampler], max_tokens: int, stop: Sequence[str]) -> list[str]:
        """Sample from each lane in parallel, all starting from the prompt's last logits."""
        lanes = len(samplers)
        for lane in range(1, lanes + 1):
            self.lib.llama_memory_seq_cp(self.memory, 0, lane, -1, -1)
        outputs = [b"" for _ in range(lanes)]
        active = list(range(lanes))
        rows = {k: -1 for k in active}  # where each lane's next logits are in the last batch
        for step in range(max_tokens):
            entries: list[Row] = []
            still: list[int] = []
            for k in active:
                token = samplers[k].sample(rows[k])
                if self.lib.llama_vocab_is_eog(self.vocab, token):
                    continue
                self.meter.generated_tokens += 1
                outputs[k] += self.piece(token)
                text = outputs[k].decode("utf-8", errors="ignore")
                if any(s in text for s in stop) or n_prompt + step + 1 >= self.n_ctx:
                    continue
                rows[k] = len(entries)
                entries.append((token, n_prompt + step, (k + 1,), True))
                still.append(k)
            active = still
            if not active or step == max_tokens - 1:
                break
            self._submit(entries, pad=False)
        texts = []
        for raw in outputs:
            text = raw.decode("utf-8", errors="ignore")
            cut = min((text.find(s) for s in stop if s in text), default=len(text))
            texts.append(text[:cut])
        return texts


class _Sampler:
    """Temperature sampling (greedy at 0) from one lane's logits, optionally constrained by a GBNF grammar.

    With a grammar, a token is first drawn from the unconstrained distribution and kept if the grammar
    accepts it; only otherwise does the grammar mask the whole vocabulary for a second draw. Either way
    the token follows the constrained distribution (p(x) + (1 - p(V)) p(x) / p(V) = p(x) / p(V) for an
    allowed x), but the grammar rarely has to check all 262,144 tokens.
    """

    def __init__(self, model: LlamaModel, temperature: float, grammar: str | None, seed: int) -> None:
        lib = model.lib
        self.model, self.lib = model, lib
        self.chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        if temperature <= 0:
            lib.llama_sampler_chain_add(self.chain, lib.llama_sampler_init_greedy())
        else:
            lib.llama_sampler_chain_add(self.chain, lib.llama_sampler_init_temp(temperature))
            lib.llama_sampler_chain_add(self.chain, lib.llama_sampler_init_dist(seed & 0xFFFFFFFF))
        self.grammar = None
        if grammar is not None:
            self.grammar = lib.llama_sampler_init_grammar(model.vocab, grammar.encode(), b"root")
            if not self.grammar:
                lib.llama_sampler_free(self.chain)
                raise InputError("llama.cpp rejected the grammar")

    def free(self) -> None:
        self.lib.llama_sampler_free(self.chain)
        if self.grammar:
            self.lib.llama_sampler_free(self.grammar)

    def sample(self, index: int) -> int:
        """A token from the logits of row `index` of the last decode (-1: its last output)."""
        with self.model._in_llama():
            token: int = self.lib.llama_sampler_sample(self.chain, self.model.ctx, index)
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
        n_vocab = self.model.n_vocab
        logits = np.ctypeslib.as_array(self.lib.llama_get_logits_ith(self.model.ctx, index), shape=(n_vocab,))
        candidates = np.zeros(n_vocab, dtype=[("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])
        candidates["id"] = np.arange(n_vocab)
        candidates["logit"] = logits
        pointer = candidates.ctypes.data_as(ctypes.POINTER(self.lib.llama_token_data))
        self._apply(self.grammar, pointer, n_vocab)
        selected = self._apply(self.chain, pointer, n_vocab)
        token = int(candidates["id"][selected])
        self.lib.llama_sampler_accept(self.chain, token)
        return token


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


def continuation_trie(paths: Sequence[tuple[int, ...]]) -> dict[tuple[int, ...], list[int]]:
    """The prefixes to decode to score `paths` (each path's proper prefixes), parents first, with their lanes.

    Path i (from 0) runs in lane i + 1; a prefix shared by several paths is decoded once, in all their lanes.
    """
    nodes: dict[tuple[int, ...], list[int]] = {}
    for lane, path in enumerate(paths, start=1):
        for depth in range(1, len(path)):
            nodes.setdefault(path[:depth], []).append(lane)
    return {prefix: nodes[prefix] for prefix in sorted(nodes, key=lambda p: (len(p), p))}


def _split(rows: Sequence[Row], limit: int) -> Iterator[Sequence[Row]]:
    """`rows` in the fewest parts of at most `limit`, their sizes as equal as possible."""
    parts = max(1, -(-len(rows) // limit))
    size, extra = divmod(len(rows), parts)
    start = 0
    for part in range(parts):
        end = start + size + (part < extra)
        yield rows[start:end]
        start = end


def _logsumexp(rows: Logits, scratch: Logits) -> np.ndarray[Any, np.dtype[np.float64]]:
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
