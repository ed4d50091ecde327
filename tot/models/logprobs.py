"""Log-probabilities read from OpenAI-compatible completion answers, in every form servers answer them.

- Legacy completions (OpenAI's `/v1/completions`, vLLM, llama-cpp-python): `choices[0].logprobs` is
  `{"tokens": [...], "token_logprobs": [...], "top_logprobs": [{token: logprob, ...}, ...]}`.
- The `content` list (chat completions everywhere; llama.cpp's `llama-server` on `/v1/completions`
  too): `choices[0].logprobs` is `{"content": [{"token", "logprob", "id"?, "top_logprobs": [{"token",
  "logprob"}, ...]}, ...]}`, one entry per generated token.
- vLLM's `prompt_logprobs`: `[null, {token_id: {"logprob", "decoded_token"}}, ...]`, one per prompt token.

A readers raises `UnknownForm`, naming what it missed, when the answer has log-probabilities in
no form it knows; `None` log-probabilities (a server that gives none) are the caller's to handle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class UnknownForm(ValueError):
    """Log-probabilities in a form none of the readers knows; the message says what was missing."""


@dataclass(frozen=True)
class Token:
    """One generated token as a server reported it: its text, log-probability and id (None where not given)."""

    text: str
    logprob: float
    id: int | None = None


def next_tokens(logprobs: Any) -> dict[str, float]:
    """The likeliest tokens at the first generated position, text -> log-probability, from either form."""
    if isinstance(logprobs, dict) and isinstance(logprobs.get("content"), list):
        content = logprobs["content"]
        if not content or not isinstance(content[0], dict) or not isinstance(content[0].get("top_logprobs"), list):
            raise UnknownForm("no top_logprobs list in logprobs.content[0]")
        try:
            return {str(item["token"]): float(item["logprob"]) for item in content[0]["top_logprobs"]}
        except (KeyError, TypeError, ValueError):
            raise UnknownForm("an entry of logprobs.content[0].top_logprobs without a token and a logprob") from None
    if isinstance(logprobs, dict) and isinstance(logprobs.get("top_logprobs"), list):
        top = logprobs["top_logprobs"]
        if not top or not isinstance(top[0], dict):
            raise UnknownForm("no token -> log-probability map in logprobs.top_logprobs[0]")
        try:
            return {str(token): float(value) for token, value in top[0].items()}
        except (TypeError, ValueError):
            raise UnknownForm("a log-probability in logprobs.top_logprobs[0] that is not a number") from None
    raise UnknownForm(f"neither logprobs.top_logprobs (legacy completions) nor logprobs.content (a list) in {_keys(logprobs)}")


def next_token_ids(logprobs: Any) -> dict[int, float]:
    """The likeliest tokens at the first generated position, id -> log-probability (the `content` form gives ids)."""
    if not (isinstance(logprobs, dict) and isinstance(logprobs.get("content"), list) and logprobs["content"]
            and isinstance(logprobs["content"][0], dict) and isinstance(logprobs["content"][0].get("top_logprobs"), list)):
        raise UnknownForm("no top_logprobs list in logprobs.content[0] (token ids come only in the content form)")
    try:
        return {int(item["id"]): float(item["logprob"]) for item in logprobs["content"][0]["top_logprobs"]}
    except (KeyError, TypeError, ValueError):
        raise UnknownForm("an entry of logprobs.content[0].top_logprobs without an id and a logprob") from None


def generated(logprobs: Any) -> list[Token]:
    """Each generated token's text, log-probability and id (where given), from either form."""
    if isinstance(logprobs, dict) and isinstance(logprobs.get("content"), list):
        try:
            return [
                Token(str(item["token"]), float(item["logprob"]), item["id"] if isinstance(item.get("id"), int) else None)
                for item in logprobs["content"]
            ]
        except (KeyError, TypeError, ValueError):
            raise UnknownForm("an entry of logprobs.content without a token and a logprob") from None
    if isinstance(logprobs, dict) and isinstance(logprobs.get("tokens"), list) and isinstance(logprobs.get("token_logprobs"), list):
        try:
            return [Token(str(t), float(v)) for t, v in zip(logprobs["tokens"], logprobs["token_logprobs"], strict=True)]
        except (TypeError, ValueError):
            raise UnknownForm("logprobs.tokens and logprobs.token_logprobs that do not pair up as numbers") from None
    raise UnknownForm(f"neither logprobs.tokens with token_logprobs nor logprobs.content (a list) in {_keys(logprobs)}")


def echoed(choice: Any) -> bool:
    """Whether an answer to `echo` carries log-probabilities for prompt tokens (not just for the generated one)."""
    logprobs = choice.get("logprobs") if isinstance(choice, dict) else None
    if not isinstance(logprobs, dict):
        return False
    tokens, values = logprobs.get("tokens"), logprobs.get("token_logprobs")
    if not isinstance(tokens, list) or not isinstance(values, list):
        return False
    return any(isinstance(v, (int, float)) for v in values[:-1])


def echoed_prompt(choice: Any, generated_tokens: Any) -> list[tuple[str, Any]]:
    """The echoed prompt's (token text, log-probability) pairs: the answer's tokens less the generated ones."""
    logprobs = choice["logprobs"]
    tokens, values = logprobs["tokens"], logprobs["token_logprobs"]
    drop = generated_tokens if isinstance(generated_tokens, int) else 1
    return list(zip(tokens, values))[: len(tokens) - drop]


def prompt_logprobs(choice: Any) -> list[tuple[str, Any]]:
    """vLLM's prompt_logprobs as (token text, log-probability) pairs (the first prompt token has none)."""
    items = [next(iter(entry.values())) for entry in choice["prompt_logprobs"][1:]]  # prompt_logprobs=0: its own token
    return [(str(item.get("decoded_token") or ""), item["logprob"]) for item in items]


def suffix_total(tokens: Sequence[tuple[str, Any]], length: int) -> float:
    """The summed log-probabilities of the last tokens whose text covers the continuation's `length` characters."""
    total, covered = 0.0, 0
    for text, value in reversed(tokens):
        if covered >= length:
            break
        total += float(value)  # None (no log-probability) raises TypeError: reported as missing
        covered += len(text)
    if covered < length:
        raise ValueError("the echoed tokens do not cover the continuation")
    return total


def _keys(value: Any) -> str:
    if isinstance(value, dict):
        return "logprobs with keys " + (", ".join(sorted(map(str, value))) or "none")
    return f"logprobs of type {type(value).__name__}"
