"""Chat templates: read from GGUF metadata, and what they make of a prompt."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.servers import GEMMA_STYLE_TEMPLATE, gguf_with_chat_template
from tot.models.chat import gguf_chat_template, model_template, render
from tot.errors import ModelError


def tiny_gguf(path: Path) -> Path:
    """A GGUF header with one string and one array of strings in its metadata, and no tensors."""

    def text(value: str) -> bytes:
        return struct.pack("<Q", len(value)) + value.encode()

    kvs = text("general.name") + struct.pack("<I", 8) + text("tiny")
    kvs += text("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 2) + text("a") + text("b")
    path.write_bytes(struct.pack("<4sIQQ", b"GGUF", 3, 0, 2) + kvs)
    return path


def test_the_template_is_read_from_the_metadata(tmp_path: Path) -> None:
    plain = tiny_gguf(tmp_path / "plain.gguf")
    assert gguf_chat_template(plain) is None
    chat = gguf_with_chat_template(plain, tmp_path / "chat.gguf", GEMMA_STYLE_TEMPLATE)
    assert gguf_chat_template(chat) == GEMMA_STYLE_TEMPLATE


def test_chat_makes_the_prompt_a_user_turn_followed_by_the_models() -> None:
    assert render(GEMMA_STYLE_TEMPLATE, "Input: 4 9 10 13") == (
        "<start_of_turn>user\nInput: 4 9 10 13<end_of_turn>\n<start_of_turn>model\n"
    )


def test_a_model_without_a_template_or_an_unknown_one_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="has no chat template"):
        model_template(tiny_gguf(tmp_path / "plain.gguf"))
    with pytest.raises(ModelError, match="does not recognise"):
        render("{{ nothing we know }}", "hi")


def test_the_default_model_has_no_chat_template() -> None:
    from tot.models import default_model_path

    assert gguf_chat_template(default_model_path()) is None
