"""Chat templates of instruct GGUFs: read from the file's metadata, applied by llama.cpp.

With `chat=True` a backend sends each prompt as one user message, rendered with the
model's own template and followed by the assistant's turn header, so an instruct model
answers as it was trained to (the paper prompted a chat model). The template is rendered
by llama.cpp's `llama_chat_apply_template`, which recognises the common template families
(Gemma, Llama 2/3, ChatML, Mistral, Phi, ...) from the template text; it adds no BOS
token (the tokenizer does).
"""

from __future__ import annotations

import ctypes
import os
import struct
from typing import BinaryIO

from tot.errors import ModelError

TEMPLATE_KEY = "tokenizer.chat_template"

# GGUF metadata value types: fixed sizes, and the two variable-length ones.
_FIXED = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9


def gguf_chat_template(path: str | os.PathLike[str]) -> str | None:
    """The chat template stored in a GGUF file's metadata (None when it has none), read without loading the model."""
    try:
        with open(path, "rb") as handle:
            magic, version = struct.unpack("<4sI", handle.read(8))
            if magic != b"GGUF" or version < 2:
                raise ModelError(f"{path} is not a GGUF file of version 2 or later")
            _tensors, count = struct.unpack("<QQ", handle.read(16))
            for _ in range(count):
                key = _string(handle)
                kind = _u32(handle)
                if key == TEMPLATE_KEY and kind == _STRING:
                    return _string(handle)
                _skip(handle, kind)
    except (OSError, struct.error, UnicodeDecodeError) as error:
        raise ModelError(f"cannot read the metadata of {path}: {error}") from error
    return None


def _u32(handle: BinaryIO) -> int:
    value: int = struct.unpack("<I", handle.read(4))[0]
    return value


def _string(handle: BinaryIO) -> str:
    (length,) = struct.unpack("<Q", handle.read(8))
    return handle.read(length).decode("utf-8")


def _skip(handle: BinaryIO, kind: int) -> None:
    if kind in _FIXED:
        handle.seek(_FIXED[kind], os.SEEK_CUR)
    elif kind == _STRING:
        (length,) = struct.unpack("<Q", handle.read(8))
        handle.seek(length, os.SEEK_CUR)
    elif kind == _ARRAY:
        item, n = struct.unpack("<IQ", handle.read(12))
        if item in _FIXED:
            handle.seek(_FIXED[item] * n, os.SEEK_CUR)
        else:
            for _ in range(n):
                _skip(handle, item)
    else:
        raise struct.error(f"unknown metadata value type {kind}")


def render(template: str, prompt: str) -> str:
    """`prompt` as a single user message in `template`, ending with the assistant's turn header."""
    import llama_cpp

    message = (llama_cpp.llama_chat_message * 1)()
    message[0].role = b"user"
    message[0].content = prompt.encode("utf-8")
    capacity = 2 * len(message[0].content) + 256
    for _ in range(2):
        buffer = ctypes.create_string_buffer(capacity)
        n = llama_cpp.llama_chat_apply_template(template.encode("utf-8"), message, 1, True, buffer, capacity)
        if n < 0:
            raise ModelError("llama.cpp does not recognise this model's chat template; run without --chat")
        if n <= capacity:
            return buffer.raw[:n].decode("utf-8")
        capacity = n
    raise ModelError("llama.cpp could not apply the chat template")  # pragma: no cover - the second try fits


def model_template(path: str | os.PathLike[str]) -> str:
    """The chat template of the GGUF at `path`, or a ModelError saying it has none."""
    template = gguf_chat_template(path)
    if not template:
        raise ModelError(f"{os.path.basename(path)} has no chat template in its metadata; run without --chat")
    return template
