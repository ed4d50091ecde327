"""A model behind an OpenAI-compatible HTTP server (llama.cpp's `llama-server`, vLLM, SGLang, llama-cpp-python's
server, Ollama); implements `tot.models.Model`.

Everything goes through `/v1/completions` with text prompts (log-probabilities read in either
form servers answer them: `tot.models.logprobs`):
- `complete` and `sample`: one request per sample, each with its own seed (servers differ in
  whether they honour `n`; llama-cpp-python's ignores it), sent concurrently. Plain
  temperature sampling: top_p 1, top_k and min_p off, repeat_penalty 1 (llama.cpp servers).
- `score_continuations`: one request per continuation, sent concurrently, in the first way the
  server offers (found on the first call, `scoring`):
  - "echo": prompt + continuation sent with `echo` and `logprobs` (and one generated token,
    left out), the log-probabilities of the last prompt tokens that spell the continuation
    added up (a token that straddles the boundary counts as the continuation's; servers differ
    in whether they echo a BOS token, so tokens are counted from the end);
  - "prompt_logprobs": the same from vLLM's `prompt_logprobs`;
  - "forced" (`llama-server`, which ignores `echo`): teacher forcing (`tot.models.llama_server`).
- `score_labels`: one request for the `TOP_K` likeliest next tokens; a label among them is read
  from it (a label that is one token, scored as the llama backend scores it: prompt and label
  tokenized apart), a label that is not is bounded by the k-th probability (counted in the
  usage as `label_bounds`). Only a server without top log-probabilities has labels scored as
  continuations.

Usage: a call is one Model call (however many requests it makes); prompt and generated
tokens are the server's own `usage` counts, and `prompt_tokens_evaluated` leaves out the
prompt tokens the server says it had cached (`usage.prompt_tokens_details.cached_tokens`,
where given); `model_seconds` is the call's wall time. Stdlib HTTP only (urllib, threads).
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
from tot.models import llama_server, logprobs, normalise
from tot.models.wire import TOP_K, Json, ServerRefused, cached_tokens, token_count

T = TypeVar("T")

DEFAULT_TIMEOUT = 300.0  # seconds per request
DEFAULT_CONCURRENCY = 16  # requests in flight per model

SCORING = ("echo", "prompt_logprobs", "forced")  # the ways of scoring a continuation, in the order tried
# What tot asks of llama.cpp's llama-server beyond `-m MODEL -c 4096 -t 2` (the README's command line):
# --swa-full keeps every position of a sliding-window model's cache (Gemma 3), so its prompt cache reuses any
# shared prefix; --no-repack, -fa on and -ub 63 take the kernels the local backend takes, so a prompt's
# next-token log-probabilities come out as the local backend's.
LLAMA_SERVER_FLAGS = ("--swa-full", "--no-repack", "-fa", "on", "-ub", "63")

NO_SCORING = (
    "the server at {url} cannot score continuations, which this search needs: it returns no prompt "
    "log-probabilities (completions with echo and logprobs, or vLLM's prompt_logprobs) and cannot be "
    "teacher-forced (llama-server's /tokenize and token grammars){detail}; use {instead}, or a server that scores "
    "(llama.cpp's llama-server, vLLM, llama-cpp-python's server with --logits_all true)"
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
        self.scoring: str | None = None  # one of SCORING, found on the first scoring call
        self.top_k_off = 0  # "no top-k": 0 (llama.cpp servers), or -1 where a server refuses 0 (some vLLM versions)
        self.top_logprobs = True  # whether the server gives the likeliest next tokens (logprobs=TOP_K)
        self.token_cache: dict[str, list[int]] = {}  # continuation text -> its token ids (`llama_server.tokens`)
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

    def completion(self, body: Json) -> tuple[Json, Json]:
        """POST /v1/completions; the first choice and the usage, checked to have the fields used."""
        answer = self.request("/v1/completions", {"model": self.served, **body})
        choices = answer.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise self.garbage(answer)
        usage = answer.get("usage")
        return choices[0], usage if isinstance(usage, dict) else {}

    def count(self, usages: Sequence[Json]) -> None:
        self.meter.prompt_tokens += sum(token_count(u.get("prompt_tokens")) for u in usages)
        self.meter.prompt_tokens_evaluated += sum(token_count(u.get("prompt_tokens")) - cached_tokens(u) for u in usages)
        self.meter.generated_tokens += sum(token_count(u.get("completion_tokens")) for u in usages)

    def _call(self, work: Callable[[], T]) -> T:
        """One Model call: the budget check first, then its wall time and count."""
        self.meter.begin_call()
        started = time.perf_counter()
        try:
            return work()
        finally:
            self.meter.calls += 1
            self.meter.model_seconds += time.perf_counter() - started

    def parallel(self, function: Callable[[Any], T], items: Sequence[Any]) -> list[T]:
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
                choice, usage = self.completion({**body, "seed": seed, "top_k": top_k})
            except ServerRefused as refused:
                if "top_k" not in refused.detail or top_k != 0:
                    raise
                self.top_k_off = -1
                choice, usage = self.completion({**body, "seed": seed, "top_k": -1})
            text = choice.get("text")
            if not isinstance(text, str):
                raise self.garbage(choice)
            return _cut(text, stop), usage

        def work() -> list[str]:
            results = self.parallel(one, seeds)
            self.count([usage for _, usage in results])
            return [text for text, _ in results]

        return self._call(work)

    def score_continuations(self, prompt: str, continuations: Sequence[str]) -> list[float]:
        if not continuations:
            return []
        head = self.prompt(prompt)
        return self._call(lambda: self._scores(head, continuations))

    def score_labels(self, prompt: str, labels: Sequence[str]) -> list[float]:
        """Label probabilities from the likeliest next tokens (one request; see `_label_logprobs`)."""
        if not labels:
            return []
        head = self.prompt(prompt)
        return self._call(lambda: normalise(self._label_logprobs(head, labels)))

    def score_labels_many(self, prompts: Sequence[str], labels: Sequence[str]) -> list[list[float]]:
        """`score_labels` of each prompt in one Model call, the prompts' requests sent concurrently."""
        if not prompts:
            return []
        heads = [self.prompt(p) for p in prompts]
        if not labels:
            return [[] for _ in heads]

        def work() -> list[list[float]]:
            first = self._label_logprobs(heads[0], labels)  # finds what the server gives, once
            rest = self.parallel(lambda head: self._label_logprobs(head, labels), heads[1:])
            return [normalise(values) for values in (first, *rest)]

        return self._call(work)

    def score_many(self, prompt: str, continuations: Sequence[str], *, expand: int = 62, rest: float = -3.0) -> list[float]:
        """Log-probabilities of many continuations (a whole word list) in 1 + `expand` requests, estimated as the
        llama backend's `score_many` estimates them (see `tot.models.llama_server`). A server without
        `/tokenize` or top-k log-probabilities has every continuation scored instead (`score_continuations`)."""
        if not continuations:
            return []
        if expand < 0:
            raise InputError(f"expand must be >= 0, got {expand}")
        head = self.prompt(prompt)

        def work() -> list[float]:
            probe = next((c for c in continuations if c), " ")
            if llama_server.tokens(self, probe) is None or self.next_token_ids(head, 1) is None:
                return self._scores(head, continuations)
            return llama_server.score_many(self, head, continuations, expand=expand, rest=rest)

        return self._call(work)

    def embed(
        self, prefix: str, texts: Sequence[str], *, layers: Sequence[int] = (-1,), pooling: str = "server"
    ) -> Any:
        """The server's own embedding (`/v1/embeddings`, one request) of each `prefix + text`: one
        vector of the whole input, pooled as the server pools (so only `layers=(-1,)`, `pooling="server"`)."""
        import numpy as np

        if tuple(layers) != (-1,) or pooling != "server":
            raise InputError(
                f"the server at {self.url} gives one pooled embedding of the whole input (/v1/embeddings), not layers "
                f"{list(layers)} pooled by {pooling!r}: that needs a local GGUF model"
            )
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)

        def work() -> Any:
            try:
                answer = self.request("/v1/embeddings", {"model": self.served, "input": [prefix + t for t in texts]})
            except ServerRefused as refused:
                raise ModelError(
                    f"the server at {self.url} offers no embeddings (/v1/embeddings: HTTP {refused.status}, "
                    f"{refused.detail[:80]}); start it with embeddings on (llama.cpp: --embeddings) or use a local model"
                ) from None
            data = answer.get("data")
            if not isinstance(data, list) or len(data) != len(texts):
                raise self.garbage(answer)
            rows = sorted(data, key=lambda item: item.get("index", 0) if isinstance(item, dict) else 0)
            try:
                vectors = np.stack([_pooled(item["embedding"]) for item in rows])
            except (KeyError, TypeError, ValueError):
                raise self.garbage(answer) from None
            usage = answer.get("usage")
            self.count([usage if isinstance(usage, dict) else {}])
            return vectors

        return self._call(work)

    # ---- scoring ---------------------------------------------------------------------------

    def _label_logprobs(self, head: str, labels: Sequence[str]) -> list[float]:
        """Each label's log-probability after `head`, read from the `TOP_K` likeliest next tokens.

        A label that is not among them is bounded by the k-th one's log-probability (an upper
        bound for a label of one token) and counted in `meter.label_bounds`. A server that gives
        no likeliest tokens has every label scored exactly instead (`_scores`).
        """
        likeliest = self.next_tokens(head)
        if likeliest is None:
            return self._scores(head, labels)
        floor = min(likeliest.values())
        self.meter.label_bounds += sum(1 for label in labels if label not in likeliest)
        return [likeliest.get(label, floor) for label in labels]

    def next_tokens(self, head: str) -> dict[str, float] | None:
        """The `TOP_K` likeliest tokens after `head` and their log-probabilities; None where the server gives none."""
        found = self._likeliest(head, TOP_K)
        return None if found is None else self._read(logprobs.next_tokens, found)

    def next_token_ids(self, prompt: str | list[Any], k: int) -> dict[int, float] | None:
        """The `k` likeliest tokens after `prompt` (text, or text and token ids), by id; None where the server gives none."""
        found = self._likeliest(prompt, k)
        return None if found is None else self._read(logprobs.next_token_ids, found)

    def _likeliest(self, prompt: str | list[Any], k: int) -> Any:
        """The `logprobs` of one generated token with the `k` likeliest after `prompt`; None where the server gives none."""
        if not self.top_logprobs:
            return None
        try:
            choice, usage = self.completion({"prompt": prompt, "max_tokens": 1, "temperature": 0.0, "logprobs": k})
        except ServerRefused:
            self.top_logprobs = False  # e.g. a server that allows fewer
            return None
        self.count([usage])
        if choice.get("logprobs") is None:
            self.top_logprobs = False
        return choice.get("logprobs")

    def _read(self, reader: Callable[[Any], dict[T, float]], found: Any) -> dict[T, float]:
        """`reader(found)`, an unknown or empty answer reported as a ModelError naming what was missing."""
        try:
            likeliest = reader(found)
        except logprobs.UnknownForm as unknown:
            raise self.unknown_form(unknown) from None
        if not likeliest:
            raise self.unknown_form(logprobs.UnknownForm("an empty list of likeliest tokens"))
        return likeliest

    def unknown_form(self, unknown: logprobs.UnknownForm) -> ModelError:
        return ModelError(f"the server at {self.url} answered log-probabilities in a form tot does not read: {unknown}")

    def _scores(self, head: str, continuations: Sequence[str]) -> list[float]:
        """Each continuation's log-probability after `head`: one request each, concurrently (on a server that
        is teacher forced, one request per inner node of their token trie: `llama_server.forced_many`).

        Until the server's way of scoring is known (`scoring`), the first continuation goes
        alone: its request finds it.
        """
        items = list(continuations)
        done: dict[int, tuple[float, Json]] = {}
        if self.scoring is None:
            first = next((i for i, c in enumerate(items) if c), None)
            if first is not None:
                done[first] = self._score(head, items[first])
        if self.scoring == "forced" and len(items) > 1:
            self.count([usage for _, usage in done.values()])
            return llama_server.forced_many(self, head, items)
        todo = [i for i in range(len(items)) if i not in done]
        done.update(zip(todo, self.parallel(lambda i: self._score(head, items[i]), todo)))
        results = [done[i] for i in range(len(items))]
        self.count([usage for _, usage in results])
        return [total for total, _ in results]

    def _score(self, head: str, continuation: str) -> tuple[float, Json]:
        """The log-probability of `continuation` after `head`, and the request's usage.

        While `scoring` is unknown, the ways of SCORING are tried in order; the first that works is kept.
        """
        if not continuation:
            return 0.0, {}
        if self.scoring is not None:
            found = self.score_by(self.scoring, head, continuation)
            if found is None:
                raise self.garbage(f"an answer without the log-probabilities of its {self.scoring} scoring")
            return found
        detail = ""
        for mode in SCORING:
            try:
                found = self.score_by(mode, head, continuation)
            except ServerRefused as refused:
                detail = detail or f" (it said: {refused.detail})"
                continue
            if found is not None:
                self.scoring = mode
                return found
        raise ModelError(self._no_scoring(head, detail))

    def score_by(self, mode: str, head: str, continuation: str) -> tuple[float, Json] | None:
        """`continuation`'s log-probability after `head` and the usage, scored one way of SCORING; None where
        the server's answer does not have what that way needs (ServerRefused where it refuses the request)."""
        if mode == "forced":
            return llama_server.forced(self, head, continuation)
        choice, usage = self.completion(_scoring_body(mode, head + continuation))
        try:
            if mode == "echo":
                if not logprobs.echoed(choice):
                    return None
                tokens = logprobs.echoed_prompt(choice, usage.get("completion_tokens", 1))
            else:
                tokens = logprobs.prompt_logprobs(choice)
            return logprobs.suffix_total(tokens, len(continuation)), usage
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, StopIteration):
            return None

    def _no_scoring(self, head: str, detail: str) -> str:
        """What to do on a server that cannot score continuations; label values still run where it gives top-k."""
        instead = "--preset paper (it only generates)"
        if self.next_tokens(head) is not None:
            instead += ", or --generator propose --evaluator labels (label values need only the likeliest next tokens)"
        return NO_SCORING.format(url=self.url, detail=detail, instead=instead)


def _scoring_body(mode: str, text: str) -> Json:
    """A request that returns the log-probability of every token of `text` (and generates one throwaway token)."""
    body: Json = {"prompt": text, "max_tokens": 1, "temperature": 0.0}
    if mode == "echo":
        return {**body, "echo": True, "logprobs": 0}
    return {**body, "prompt_logprobs": 0}


def _pooled(embedding: Any) -> Any:
    """One embedding vector: as given, or the mean of per-token vectors (a server with pooling off)."""
    import numpy as np

    vector = np.asarray(embedding, dtype=np.float32)
    if vector.ndim == 2:
        vector = vector.mean(axis=0)
    if vector.ndim != 1 or not vector.size:
        raise ValueError("not an embedding")
    return vector


def _cut(text: str, stop: Sequence[str]) -> str:
    """`text` up to the first stop string (servers differ in whether they cut it themselves)."""
    cut = min((text.find(s) for s in stop if s in text), default=len(text))
    return text[:cut]


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
