"""A model behind an OpenAI-compatible HTTP server (vLLM, SGLang, llama.cpp's servers, Ollama); implements `tot.models.Model`.

Everything goes through `/v1/completions` with text prompts:
- `complete` and `sample`: one request per sample, each with its own seed (servers differ in
  whether they honour `n`; llama-cpp-python's ignores it), sent concurrently. Plain
  temperature sampling: top_p 1, top_k and min_p off, repeat_penalty 1 (llama.cpp servers).
- `score_continuations`: prompt + continuation sent with `echo` and `logprobs` (and one
  generated token, which is left out), and the log-probabilities of the last prompt tokens
  that spell the continuation added up (a token that straddles the boundary counts as the
  continuation's; servers differ in whether they echo a BOS token, so tokens are counted
  from the end). Servers that do not echo prompt log-probabilities are asked for vLLM's
  `prompt_logprobs` instead; which one works is found on the first call. One request per
  continuation, sent concurrently.
- `score_labels`: one request for the 20 likeliest next tokens (`logprobs` 20); labels among
  them are read from it (a label that is one token, scored as the llama backend scores it:
  prompt and label tokenized apart), the others are scored as above.

Usage: a call is one Model call (however many requests it makes); prompt and generated
tokens are the server's own `usage` counts (`prompt_tokens_evaluated` equals
`prompt_tokens`: a server does not say how much of a prompt it had cached); `model_seconds`
is the call's wall time. Stdlib HTTP only (urllib, threads).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from tot.core import Meter
from tot.errors import InputError, ModelError
from tot.models import normalise

T = TypeVar("T")
Json = dict[str, Any]

DEFAULT_TIMEOUT = 300.0  # seconds per request
DEFAULT_CONCURRENCY = 16  # requests in flight per model

NO_LOGPROBS = (
    "the server at {url} returns no prompt log-probabilities (completions with echo and logprobs, or vLLM's "
    "prompt_logprobs), which scoring needs{detail}; use a preset that only generates (--preset paper), or a server "
    "that has them (vLLM; llama-cpp-python's server with --logits_all true)"
)


def base_url(url: str) -> str:
    """`url` without a trailing slash or `/v1`, checked to be an http(s) address."""
    parsed = urllib.parse.urlparse(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InputError(f"server URL must look like http://HOST:PORT, got {url!r}")
    path = parsed.path.rstrip("/")
    path = path[: -len("/v1")] if path.endswith("/v1") else path
    return f"{parsed.scheme}://{parsed.netloc}{path}"


class ServerModel:
    """A model served over HTTP; `connect` makes one and checks that the server answers."""

    def __init__(
        self,
        url: str,
        served: str,
        *,
        seed: int = 0,
        timeout: float = DEFAULT_TIMEOUT,
        concurrency: int = DEFAULT_CONCURRENCY,
        chat_template: str | None = None,
    ) -> None:
        if timeout <= 0 or concurrency <= 0:
            raise InputError("server timeout and concurrency must be positive")
        self.url = base_url(url)
        self.served = served  # the model id the server reports; sent with every request
        self.name = os.path.basename(served.rstrip("/")) or served
        self.meter = Meter()
        self.seed = seed
        self.timeout = timeout
        self.chat_template = chat_template
        self.scoring: str | None = None  # "echo" or "prompt_logprobs", found on the first scoring call
        self.top_k_off = 0  # "no top-k": 0 (llama.cpp servers), or -1 where a server refuses 0 (some vLLM versions)
        self.top_logprobs = True  # whether the server gives the likeliest next tokens (logprobs=20)
        self._calls = 0
        self._slots = threading.BoundedSemaphore(concurrency)  # requests in flight at once

    def reseed(self, seed: int) -> None:
        """Restart the per-request seed sequence, so a run repeats the same requests."""
        self.seed = seed
        self._calls = 0

    # ---- HTTP ------------------------------------------------------------------------------

    def request(self, path: str, body: Json | None = None) -> Json:
        """One JSON request (GET without a body, else POST); any failure becomes a one-line ModelError."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            raise ServerRefused(self.url, error.code, _error_text(error)) from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, (TimeoutError, socket.timeout)):
                raise self._timed_out() from None
            raise ModelError(f"cannot reach the server at {self.url}: {_reason(error.reason)} (is it running?)") from None
        except (TimeoutError, socket.timeout):
            raise self._timed_out() from None
        except (ConnectionError, http.client.HTTPException) as error:
            raise ModelError(f"the connection to the server at {self.url} failed: {_reason(error)}") from None
        try:
            answer = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise self.garbage(raw.decode("utf-8", "replace")) from None
        if not isinstance(answer, dict):
            raise self.garbage(raw.decode("utf-8", "replace"))
        return answer

    def _timed_out(self) -> ModelError:
        return ModelError(f"the server at {self.url} did not answer within {self.timeout:g} s")

    def garbage(self, what: object) -> ModelError:
        text = html_page(str(what)) or " ".join(str(what).split())
        return ModelError(
            f"the server at {self.url} did not answer like an OpenAI-compatible server: {text[:120]!r}"
        )

    def _completion(self, body: Json) -> tuple[Json, Json]:
        """POST /v1/completions; the first choice and the usage, checked to have the fields used."""
        answer = self.request("/v1/completions", {"model": self.served, **body})
        choices = answer.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise self.garbage(answer)
        usage = answer.get("usage")
        return choices[0], usage if isinstance(usage, dict) else {}

    def _count(self, usages: Sequence[Json]) -> None:
        prompt = sum(_int(u.get("prompt_tokens")) for u in usages)
        self.meter.prompt_tokens += prompt
        self.meter.prompt_tokens_evaluated += prompt
        self.meter.generated_tokens += sum(_int(u.get("completion_tokens")) for u in usages)

    def _call(self, work: Callable[[], T]) -> T:
        """One Model call: the budget check first, then its wall time and count."""
        self.meter.begin_call()
        started = time.perf_counter()
        try:
            return work()
        finally:
            self.meter.calls += 1
            self.meter.model_seconds += time.perf_counter() - started

    def _parallel(self, function: Callable[[Any], T], items: Sequence[Any]) -> list[T]:
        """`function` over `items`, one thread each (at most `concurrency` at once), results in order.

        The first failure is raised. The threads are daemons: Ctrl-C does not wait for requests in flight.
        """
        if len(items) == 1:
            return [function(items[0])]
        results: list[Any] = [None] * len(items)
        failures: list[BaseException | None] = [None] * len(items)

        def run(index: int) -> None:
            with self._slots:
                try:
                    results[index] = function(items[index])
                except BaseException as error:
                    failures[index] = error

        threads = [threading.Thread(target=run, args=(i,), daemon=True, name="tot-server") for i in range(len(items))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for failure in failures:
            if failure is not None:
                raise failure
        return results

    def prompt(self, text: str) -> str:
        """The text the server is sent for `text`: itself, or a user message in the model's chat template."""
        if self.chat_template is None:
            return text
        from tot.models.chat import render

        return render(self.chat_template, text)

    # ---- the Model protocol ---------------------------------------------------------------

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
        self._calls += 1
        seeds = [(self.seed * 1_000_003 + self._calls * 101 + k) & 0x7FFFFFFF for k in range(n)]
        body: Json = {
            "prompt": self.prompt(prompt),
            "max_tokens": max_tokens,
            "temperature": temperature,
            "top_p": 1.0,
            "min_p": 0.0,
            "repeat_penalty": 1.0,
            **({"stop": list(stop)} if stop else {}),
            **({"grammar": grammar} if grammar is not None else {}),  # llama.cpp servers: GBNF
        }

        def one(seed: int) -> tuple[str, Json]:
            top_k = self.top_k_off
            try:
                choice, usage = self._completion({**body, "seed": seed, "top_k": top_k})
            except ServerRefused as refused:
                if "top_k" not in refused.detail or top_k != 0:
                    raise
                self.top_k_off = -1
                choice, usage = self._completion({**body, "seed": seed, "top_k": -1})
            text = choice.get("text")
            if not isinstance(text, str):
                raise self.garbage(choice)
            return _cut(text, stop), usage

        def work() -> list[str]:
            results = self._parallel(one, seeds)
            self._count([usage for _, usage in results])
            return [text for text, _ in results]

        return self._call(work)

    def score_continuations(self, prompt: str, continuations: Sequence[str]) -> list[float]:
        if not continuations:
            return []
        head = self.prompt(prompt)
        return self._call(lambda: self._scores(head, continuations))

    def score_labels(self, prompt: str, labels: Sequence[str]) -> list[float]:
        """Label probabilities; labels that are among the 20 likeliest next tokens are read from one request.

        Only the labels that are not (longer ones, unlikely ones) are scored by echo, one request each.
        """
        if not labels:
            return []
        head = self.prompt(prompt)

        def work() -> list[float]:
            likeliest = self._next_tokens(head)
            missing = [label for label in dict.fromkeys(labels) if label not in likeliest]
            scored = dict(zip(missing, self._scores(head, missing))) if missing else {}
            return normalise([likeliest[label] if label in likeliest else scored[label] for label in labels])

        return self._call(work)

    # ---- scoring ---------------------------------------------------------------------------

    def _scores(self, head: str, continuations: Sequence[str]) -> list[float]:
        """Each continuation's log-probability after `head`, by echo (one request each, concurrently).

        Until the server's way of giving prompt log-probabilities is known, the first continuation
        goes alone: its request finds it.
        """
        items = list(continuations)
        done: dict[int, tuple[float, Json]] = {}
        if self.scoring is None:
            first = next((i for i, c in enumerate(items) if c), None)
            if first is not None:
                done[first] = self._score(head, items[first])
        todo = [i for i in range(len(items)) if i not in done]
        done.update(zip(todo, self._parallel(lambda i: self._score(head, items[i]), todo)))
        results = [done[i] for i in range(len(items))]
        self._count([usage for _, usage in results])
        return [total for total, _ in results]

    def _next_tokens(self, head: str) -> dict[str, float]:
        """The log-probabilities of the 20 likeliest tokens after `head` (empty where the server does not give them)."""
        if not self.top_logprobs:
            return {}
        try:
            choice, usage = self._completion({"prompt": head, "max_tokens": 1, "temperature": 0.0, "logprobs": 20})
        except ServerRefused:
            self.top_logprobs = False  # e.g. a server that allows fewer: scoring by echo does without
            return {}
        self._count([usage])
        try:
            first = choice["logprobs"]["top_logprobs"][0]
            return {str(token): float(value) for token, value in first.items()}
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            self.top_logprobs = False
            return {}

    def _score(self, head: str, continuation: str) -> tuple[float, Json]:
        """The log-probability of `continuation` after `head`, and the request's usage.

        While `scoring` is unknown, echo + logprobs is tried first, then vLLM's prompt_logprobs.
        """
        if not continuation:
            return 0.0, {}
        failure = ""
        for mode in (self.scoring,) if self.scoring else ("echo", "prompt_logprobs"):
            try:
                choice, usage = self._completion(_scoring_body(mode, head + continuation))
            except ServerRefused as refused:
                failure = f" (it said: {refused.detail})"
                continue
            if self.scoring is None:
                if not (_echoed(choice) if mode == "echo" else isinstance(choice.get("prompt_logprobs"), list)):
                    continue
                self.scoring = mode
            try:
                tokens = _echoed_prompt(choice, usage) if mode == "echo" else _prompt_logprobs(choice)
                return _suffix_total(tokens, len(continuation)), usage
            except (KeyError, TypeError, ValueError, IndexError, AttributeError, StopIteration):
                failure = " (its answer had no usable log-probabilities)"
                break
        raise ModelError(NO_LOGPROBS.format(url=self.url, detail=failure))


class ServerRefused(ModelError):
    """The server answered with an HTTP error status."""

    def __init__(self, url: str, status: int, detail: str) -> None:
        super().__init__(f"the server at {url} refused the request (HTTP {status}): {detail}")
        self.url, self.status, self.detail = url, status, detail

    def __reduce__(self) -> tuple[Any, ...]:  # so that a worker process's error reaches the parent
        return (ServerRefused, (self.url, self.status, self.detail))


def _scoring_body(mode: str, text: str) -> Json:
    """A request that returns the log-probability of every token of `text` (and generates one throwaway token)."""
    body: Json = {"prompt": text, "max_tokens": 1, "temperature": 0.0}
    if mode == "echo":
        return {**body, "echo": True, "logprobs": 0}
    return {**body, "prompt_logprobs": 0}


def _echoed(choice: Json) -> bool:
    """Whether an echo answer carries log-probabilities for prompt tokens (not just for the generated one)."""
    logprobs = choice.get("logprobs")
    if not isinstance(logprobs, dict):
        return False
    tokens, values = logprobs.get("tokens"), logprobs.get("token_logprobs")
    if not isinstance(tokens, list) or not isinstance(values, list):
        return False
    return any(isinstance(v, (int, float)) for v in values[:-1])


def _echoed_prompt(choice: Json, usage: Json) -> list[tuple[str, Any]]:
    """The echoed prompt's (token text, log-probability) pairs: the answer's tokens less the generated ones."""
    logprobs = choice["logprobs"]
    tokens, values = logprobs["tokens"], logprobs["token_logprobs"]
    generated = usage.get("completion_tokens", 1)
    return list(zip(tokens, values))[: len(tokens) - (generated if isinstance(generated, int) else 1)]


def _prompt_logprobs(choice: Json) -> list[tuple[str, Any]]:
    """vLLM's prompt_logprobs as (token text, log-probability) pairs (the first prompt token has none)."""
    items = [next(iter(entry.values())) for entry in choice["prompt_logprobs"][1:]]  # prompt_logprobs=0: its own token
    return [(str(item.get("decoded_token") or ""), item["logprob"]) for item in items]


def _suffix_total(tokens: Sequence[tuple[str, Any]], length: int) -> float:
    """The summed log-probabilities of the last prompt tokens whose text covers the continuation's `length` characters."""
    total, covered = 0.0, 0
    for text, value in reversed(tokens):
        if covered >= length:
            break
        total += float(value)  # None (no log-probability) raises TypeError: reported as missing
        covered += len(text)
    if covered < length:
        raise ValueError("the echoed tokens do not cover the continuation")
    return total


def _cut(text: str, stop: Sequence[str]) -> str:
    """`text` up to the first stop string (servers differ in whether they cut it themselves)."""
    cut = min((text.find(s) for s in stop if s in text), default=len(text))
    return text[:cut]


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _reason(reason: object) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return "unknown host"
    return str(reason) or type(reason).__name__


def _error_text(error: urllib.error.HTTPError) -> str:
    """The server's own error message from an error response, on one line."""
    try:
        raw = error.read().decode("utf-8", "replace")
    except OSError:
        raw = ""
    try:
        data = json.loads(raw)
        detail = data.get("error", data.get("detail", data)) if isinstance(data, dict) else data
        if isinstance(detail, dict):
            detail = detail.get("message", detail)
        text = str(detail)
    except json.JSONDecodeError:
        text = html_page(raw) or raw or str(error.reason)
    return " ".join(text.split())[:200]


def html_page(text: str) -> str:
    """A few words for an HTML page (a proxy's or a web server's error page) in place of its markup, or ""."""
    if not re.match(r"\s*<(!doctype\s+html|html|head|body)\b", text, re.IGNORECASE):
        return ""
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    words = " ".join(title.group(1).split())[:80] if title else ""
    return f"an HTML page ({words})" if words else "an HTML page"


def connect(
    url: str,
    *,
    seed: int = 0,
    timeout: float = DEFAULT_TIMEOUT,
    concurrency: int = DEFAULT_CONCURRENCY,
    chat_template: str | None = None,
) -> ServerModel:
    """A `ServerModel` for the server at `url`, after asking it which model it serves (`GET /v1/models`)."""
    probe = ServerModel(url, "", seed=seed, timeout=timeout, concurrency=concurrency, chat_template=chat_template)
    answer = probe.request("/v1/models")
    data = answer.get("data")
    if not isinstance(data, list) or not data or not isinstance(data[0], dict) or not isinstance(data[0].get("id"), str):
        raise probe.garbage(answer)
    return ServerModel(url, data[0]["id"], seed=seed, timeout=timeout, concurrency=concurrency, chat_template=chat_template)
