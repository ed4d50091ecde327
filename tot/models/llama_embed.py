"""Hidden states of a llama.cpp model: each text's tokens read after a shared prefix, pooled per layer.

A second context on the same weights (`Decoder` with an eval callback) sees the graph's
tensors as llama.cpp computes them: `l_out-K` is the output of block K + 1 for every row
of the batch, `result_norm` the last block's output after the output norm (llama.cpp's own
embeddings), for the rows marked as outputs. The prefix is held in sequence 0 and reused
across calls; the texts' tokens are decoded side by side, one lane each, under the same
rules as scoring (see `tot.models.llama_context`), so a text's features do not depend on
what else is in its batch. Only the result_norm layer needs output rows (and their logits).
The computation stops after the deepest layer asked for: deeper layers' KV cells are then
never written, so the prefix cache is trusted only up to the deepest layer it was made with.
The main context, which scores and samples, has no callback and is never slowed by this.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import Any

import numpy as np

from tot.core import Meter
from tot.errors import InputError
from tot.models.llama_context import MAX_ROWS, Decoder, PrefixCache, Row, common_prefix, split_rows

POOLINGS = ("mean", "last", "mean+last")
Features = np.ndarray[Any, np.dtype[np.float32]]


def _ggml() -> Any:
    from llama_cpp import _ggml as ggml_module

    lib = ggml_module.libggml
    lib.ggml_get_name.restype = ctypes.c_char_p
    lib.ggml_get_name.argtypes = [ctypes.c_void_p]
    lib.ggml_nelements.restype = ctypes.c_int64
    lib.ggml_nelements.argtypes = [ctypes.c_void_p]
    lib.ggml_nrows.restype = ctypes.c_int64
    lib.ggml_nrows.argtypes = [ctypes.c_void_p]
    lib.ggml_backend_tensor_get.restype = None
    lib.ggml_backend_tensor_get.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t]
    return lib


class Embedder:
    """Pooled hidden states of texts after a prefix, from its own context on the model's weights."""

    def __init__(self, lib: Any, model: Any, *, threads: int, meter: Meter, n_ctx: int = 4096, n_seq_max: int = 64) -> None:
        self.lib = lib
        self.ggml = _ggml()
        self.n_layer: int = lib.llama_model_n_layer(model)
        self.n_embd: int = lib.llama_model_n_embd(model)
        self.wanted: set[bytes] = set()
        self.last: bytes = b""  # the deepest wanted tensor: the computation stops after it
        self.valid = 0  # the layers whose KV cells the cache holds correctly (1..valid)
        self.captured: dict[bytes, Features] = {}
        self._callback = lib.ggml_backend_sched_eval_callback(self._see)  # kept: llama.cpp holds a raw pointer
        self.decoder = Decoder(lib, model, n_ctx=n_ctx, n_seq_max=n_seq_max, threads=threads, meter=meter,
                               cb_eval=self._callback)
        self.cache = PrefixCache(self.decoder)

    def close(self) -> None:
        self.decoder.close()

    def _see(self, tensor: int, ask: bool, user_data: int) -> bool:
        """The eval callback: ask for the wanted tensors, then copy each as it is computed."""
        name: bytes = self.ggml.ggml_get_name(tensor)
        if ask:
            return name in self.wanted
        if name in self.wanted:
            size = int(self.ggml.ggml_nelements(tensor))
            rows = int(self.ggml.ggml_nrows(tensor))
            data = np.empty(size, dtype=np.float32)
            self.ggml.ggml_backend_tensor_get(tensor, data.ctypes.data, 0, size * 4)
            self.captured[name] = data.reshape(rows, size // rows)
            return name != self.last  # False stops the graph here: nothing deeper is needed
        return True

    def layer_number(self, layer: int) -> int:
        """`layer` as 1..n_layer (negative counts from the end: -1 is the last, normalised)."""
        number = layer + self.n_layer + 1 if layer < 0 else layer
        if not 1 <= number <= self.n_layer:
            raise InputError(f"layer {layer} does not exist: the model has layers 1..{self.n_layer} (or -1 for the last)")
        return number

    def tensor_name(self, number: int) -> bytes:
        """The graph tensor of layer `number`: a block's output, the last one after the output norm."""
        return b"result_norm" if number == self.n_layer else f"l_out-{number - 1}".encode()

    def embed(self, prefix: list[int], texts: Sequence[list[int]], layers: Sequence[int], pooling: str) -> Features:
        """Features of each text (tokens of prefix + text): for each layer, the text's tokens pooled.

        A text's own tokens are those after its common prefix with `prefix` (at least its last token).
        """
        if pooling == "server":
            raise InputError("these features come from a server's /v1/embeddings: use them with --server")
        if pooling not in POOLINGS:
            raise InputError(f"unknown pooling {pooling!r}; choose from {', '.join(POOLINGS)}")
        numbers = [self.layer_number(layer) for layer in layers]
        names = [self.tensor_name(number) for number in numbers]
        if max(numbers) > self.valid:  # the cached cells lack the deeper layers
            self.cache.forget()
        self.valid = max(numbers)
        self.last = self.tensor_name(max(numbers))
        width = len(names) * self.n_embd * (2 if pooling == "mean+last" else 1)
        features = np.zeros((len(texts), width), dtype=np.float32)
        starts = [min(common_prefix(tokens, prefix), len(tokens) - 1) for tokens in texts]
        room = self.decoder.n_ctx - 64  # the prefix once, each text's own rows in its lane, and the padding rows
        for tokens in texts:
            if len(tokens) >= room:
                raise InputError(f"prompt of {len(tokens)} tokens does not fit the context of {self.decoder.n_ctx}")
        order = 0
        while order < len(texts):
            wave = [order]
            cells = len(texts[order])
            for index in range(order + 1, min(len(texts), order + self.decoder.lanes)):
                own = len(texts[index]) - starts[index] + 1
                if cells + own > room:
                    break
                wave.append(index)
                cells += own
            order += len(wave)
            self._wave(prefix, [texts[i] for i in wave], [starts[i] for i in wave], names, pooling, features[wave[0] : wave[-1] + 1])
        return features

    def _wave(
        self, prefix: list[int], texts: Sequence[list[int]], starts: Sequence[int], names: Sequence[bytes], pooling: str,
        out: Features,
    ) -> None:
        """Decode one wave of texts, one lane each after their shared prefix in sequence 0, and pool into `out`."""
        decoder = self.decoder
        shared = min(min(starts), *(common_prefix(texts[0], t) for t in texts[1:])) if len(texts) > 1 else starts[0]
        self.wanted = set()
        self.cache.hold(texts[0][:shared])
        final = b"result_norm" in names
        rows: list[Row] = []
        owner: list[tuple[int, bool]] = []  # (text, pooled) of each row
        for lane, (tokens, start) in enumerate(zip(texts, starts), start=1):
            for j in range(shared, len(tokens)):
                pooled = j >= start
                wants = final and (pooling != "last" or j == len(tokens) - 1) and pooled
                rows.append((tokens[j], j, (lane,), wants))
                owner.append((lane - 1, pooled))
        hidden = {name: np.zeros((len(rows), self.n_embd), dtype=np.float32) for name in names}
        lanes = range(1, len(texts) + 1)
        self.wanted = set(names)
        try:
            decoder.copy_lanes(0, lanes)
            offset = 0
            for part in split_rows(rows, MAX_ROWS):
                self.captured = {}
                decoder.submit(part)
                outputs = [k for k, row in enumerate(part) if row[3]]
                for name in names:
                    got = self.captured.get(name)
                    if got is None:
                        continue
                    if name == b"result_norm":
                        hidden[name][[offset + k for k in outputs]] = got[: len(outputs)]
                    else:
                        hidden[name][offset : offset + len(part)] = got[: len(part)]
                offset += len(part)
            decoder.meter.prompt_tokens_evaluated += len(rows)
        finally:
            self.wanted = set()
            self.captured = {}
            decoder.drop_lanes(lanes)
        for text in range(len(texts)):
            mine = [k for k, (who, pooled) in enumerate(owner) if who == text and pooled]
            parts = []
            for name in names:
                block = hidden[name][mine]
                if pooling in ("mean", "mean+last"):
                    parts.append(block.mean(axis=0))
                if pooling in ("last", "mean+last"):
                    parts.append(block[-1])
            out[text] = np.concatenate(parts)
