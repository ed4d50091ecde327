"""What tot's server backends say over HTTP, shared by `tot.models.server` and `tot.models.llama_server`: the JSON
type, a refused request, and token counts read from a server's `usage`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tot.errors import ModelError

Json = dict[str, Any]

TOP_K = 20  # likeliest next tokens asked for (OpenAI's limit; llama.cpp's servers allow more)


class ServerRefused(ModelError):
    """The server answered with an HTTP error status."""

    def __init__(self, url: str, status: int, detail: str) -> None:
        super().__init__(f"the server at {url} refused the request (HTTP {status}): {detail}")
        self.url, self.status, self.detail = url, status, detail

    def __reduce__(self) -> tuple[Any, ...]:  # so that a worker process's error reaches the parent
        return (ServerRefused, (self.url, self.status, self.detail))


def token_count(value: Any) -> int:
    """A token count from a server's `usage` (0 where it is not an integer)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def cached_tokens(usage: Json) -> int:
    """The prompt tokens a server says it took from its cache (OpenAI's `prompt_tokens_details.cached_tokens`)."""
    details = usage.get("prompt_tokens_details")
    return token_count(details.get("cached_tokens")) if isinstance(details, dict) else 0
