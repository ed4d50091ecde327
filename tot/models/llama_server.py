"""What the server backend does on llama.cpp's `llama-server` (which ignores `echo`) with its `/tokenize` and
grammars of token ids: teacher-forced scoring, and whole word lists.

`forced`: a continuation's own tokens (tokenized apart from the prompt, as the llama backend tokenizes
them) generated after the prompt under a grammar of token ids (`root ::= <[id1]> <[id2]> ...`), each
one's log-probability read from the answer; the server's prompt cache keeps the prompt evaluated, so
a request costs about one token per continuation token. The path's tokens also get a `logit_bias` of
+`FORCE_BIAS`: llama-server first samples without the grammar and checks only the token it picked, and it
runs the grammar over the whole 262k-token vocabulary (one thread, slot after slot) only when that pick is
wrong; with the bias the pick is the forced token whenever the forced token is the likeliest of the path's
tokens. The log-probabilities it reports are taken before the bias and the grammar, so they do not change
(the same to 5 decimals on an 18-token path); fast-preset solves took 22-42% less time (rows 900-905).

`forced_many`: many continuations after one prompt with fewer requests. Each forced token's answer
also lists the `TOP_K` likeliest tokens at its position, so one forced path gives the next-token
log-probabilities at every prefix along it. The continuations' token sequences form a trie; a few
paths that pass through every inner node of it are forced (the longest first), and each
continuation's tokens are read off the lists of its prefixes. A token not among the likeliest at its
prefix has its continuation forced alone. Exact (the same log-probabilities as forcing each
continuation), in about half the requests and tokens on the Game of 24's steps (`a op b`: the steps
sharing `a op` share one path).

`score_many`: a whole word list scored after one prompt in 1 + `expand` requests, as
`tot.models.llama.LlamaModel.score_many` estimates it locally.
- The continuations are tokenized in one `/tokenize` request (joined by newlines; a word whose pieces do
  not come back whole between the newline tokens is tokenized alone), cached.
- One request gives the `MANY_K` likeliest first tokens after the prompt; for each of the `expand` likeliest
  first tokens of multi-token continuations, one request (the prompt followed by that token's id, which
  the server's prompt cache makes one new token) gives the `MANY_K` likeliest second tokens.
- A first or second token outside its list is valued at the list's last log-probability (an upper bound);
  a second token after a first token that was not expanded, and every later token, counts `rest`.

So a continuation of at most two tokens, both among the likeliest, is scored exactly (as
`score_continuations` scores it); the rest are estimates, as on the local backend, where every first
token is exact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from tot.errors import ModelError
from tot.models import logprobs
from tot.models.wire import TOP_K, Json, ServerRefused

T = TypeVar("T")


class ServerModel(Protocol):
    """What this module asks of `tot.models.server.ServerModel` (a protocol, so the two modules import one way)."""

    token_cache: dict[str, list[int]]

    def request(self, path: str, body: Json | None = None) -> Json: ...
    def completion(self, body: Json) -> tuple[Json, Json]: ...
    def count(self, usages: Sequence[Json]) -> None: ...
    def parallel(self, function: Callable[[Any], T], items: Sequence[Any]) -> list[T]: ...
    def garbage(self, what: object) -> ModelError: ...
    def next_token_ids(self, prompt: str | list[Any], k: int) -> dict[int, float] | None: ...

FORCE_BIAS = 100.0  # on the path's tokens: the sampler's own pick is then mostly the forced token (see the module)
MANY_K = 1000  # likeliest tokens asked for per position (llama-server allows any number)
SEPARATOR = "\n"


def score_many(model: ServerModel, head: str, continuations: Sequence[str], *, expand: int, rest: float) -> list[float]:
    """Estimated log-probabilities of `continuations` after the (rendered) prompt `head`; see the module."""
    tokens = tokenize_many(model, continuations)
    first = model.next_token_ids(head, MANY_K) or {}
    heads = sorted({c[0] for c in tokens if len(c) > 1 and c[0] in first}, key=lambda t: (-first[t], t))[:expand]
    seconds = model.parallel(lambda token: model.next_token_ids([head, token], MANY_K), heads)
    second = {token: found for token, found in zip(heads, seconds) if found is not None}
    floor = min(first.values(), default=rest)
    scores = []
    for c in tokens:
        if not c:
            scores.append(0.0)
            continue
        score = first.get(c[0], floor)
        if len(c) > 1:
            after = second.get(c[0])
            score += rest if after is None else after.get(c[1], min(after.values()))
        scores.append(score + rest * max(0, len(c) - 2))
    return scores


def forced_many(model: ServerModel, head: str, continuations: Sequence[str]) -> list[float]:
    """Each continuation's log-probability after `head` by teacher forcing along a few covering paths (see the module)."""
    paths = [tuple(ids) for ids in tokenize_many(model, continuations)]
    chosen = cover(paths)
    answers = model.parallel(lambda path: _forced_path(model, head, path, TOP_K), chosen)
    known: dict[tuple[int, ...], dict[int, float]] = {}  # prefix -> next-token log-probabilities
    for path, (steps, _) in zip(chosen, answers):
        for depth, step in enumerate(steps):
            known.setdefault(path[:depth], step)
    usages = [usage for _, usage in answers]
    lonely = [p for p in dict.fromkeys(paths) if p and _total(p, known) is None]
    for path, (steps, usage) in zip(lonely, model.parallel(lambda path: _forced_path(model, head, path, 1), lonely)):
        usages.append(usage)
        for depth, step in enumerate(steps):
            values = known.setdefault(path[:depth], {})
            values.update({token: value for token, value in step.items() if token not in values})
    model.count(usages)
    return [_total(p, known) or 0.0 for p in paths]  # every token is known now (an empty path: 0)


def cover(paths: Sequence[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """Paths among `paths`, longest first, that pass through every proper prefix (inner node) of every path."""
    inner = {p[:depth] for p in paths for depth in range(len(p))}
    chosen = []
    for path in sorted(set(paths), key=lambda p: (-len(p), p)):
        along = {path[:depth] for depth in range(len(path))}
        if along & inner:
            chosen.append(path)
            inner -= along
    return chosen


def _total(path: tuple[int, ...], known: dict[tuple[int, ...], dict[int, float]]) -> float | None:
    """The summed log-probabilities of `path`'s tokens read off `known`; None where one is not there."""
    total = 0.0
    for depth, token in enumerate(path):
        value = known.get(path[:depth], {}).get(token)
        if value is None:
            return None
        total += value
    return total


def _force(model: ServerModel, head: str, path: tuple[int, ...], k: int) -> tuple[list[dict[int, float]], Json] | None:
    """Force `path` after `head`: at each position the `k` likeliest tokens' log-probabilities and the forced one's,
    and the usage; None where the server did not (no log-probabilities, or other tokens: a grammar ignored)."""
    grammar = "root ::= " + " ".join(f"<[{token}]>" for token in path)
    body = {"prompt": head, "max_tokens": len(path), "temperature": 0.0, "logprobs": k, "grammar": grammar,
            "cache_prompt": True, "logit_bias": [[token, FORCE_BIAS] for token in sorted(set(path))]}
    choice, usage = model.completion(body)
    if choice.get("logprobs") is None:
        return None
    try:
        content = choice["logprobs"]["content"]
        steps = [{**logprobs.next_token_ids({"content": [item]}), int(item["id"]): float(item["logprob"])}
                 for item in content]
    except (KeyError, TypeError, ValueError, logprobs.UnknownForm):
        return None
    if [int(item["id"]) for item in content] != list(path):
        return None
    return steps, usage


def _forced_path(model: ServerModel, head: str, path: tuple[int, ...], k: int) -> tuple[list[dict[int, float]], Json]:
    """`_force` on a server known to force: an answer without what it asked for is garbage."""
    found = _force(model, head, path, k)
    if found is None:
        raise model.garbage(f"an answer without the log-probabilities of the forced tokens {list(path)}")
    return found


def forced(model: ServerModel, head: str, continuation: str) -> tuple[float, Json] | None:
    """The log-probability of `continuation` after `head` by teacher forcing, and the request's usage; None where the
    server cannot (no `/tokenize`, a grammar ignored, no log-probabilities of generated tokens)."""
    ids = tokens(model, continuation)
    found = None if ids is None else _force(model, head, tuple(ids), 1)
    if ids is None or found is None:
        return None
    steps, usage = found
    return sum(step[token] for step, token in zip(steps, ids)), usage


def tokens(model: ServerModel, text: str) -> list[int] | None:
    """`text`'s token ids (no BOS) from the server's `/tokenize`, cached; None where the server has no such endpoint."""
    known = model.token_cache.get(text)
    if known is not None:
        return known
    try:
        answer = model.request("/tokenize", {"content": text, "add_special": False, "parse_special": False})
    except ServerRefused:
        return None
    ids = answer.get("tokens")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, int) for i in ids):
        return None
    if len(model.token_cache) < 100_000:
        model.token_cache[text] = ids
    return ids


def tokenize_many(model: ServerModel, texts: Sequence[str]) -> list[list[int]]:
    """Each text's token ids (no BOS), from one `/tokenize` request for those not cached yet."""
    todo = [t for t in dict.fromkeys(texts) if t and t not in model.token_cache and SEPARATOR not in t]
    if todo:
        answer = model.request("/tokenize", {"content": SEPARATOR.join(todo), "add_special": False,
                                             "parse_special": False, "with_pieces": True})
        for text, pairs in zip(todo, _split(answer.get("tokens"), len(todo))):
            if "".join(piece for _, piece in pairs) == text:
                model.token_cache[text] = [token for token, _ in pairs]
    found: list[list[int]] = []
    for text in texts:
        ids = tokens(model, text) if text else []
        if ids is None:
            raise model.garbage("no token ids from /tokenize")
        found.append(ids)
    return found


def _split(tokens: Any, count: int) -> list[list[tuple[int, str]]]:
    """The (id, piece) pairs between separator tokens; nothing usable (all redone one by one) when they do not split in `count`."""
    if not isinstance(tokens, list):
        return []
    groups: list[list[tuple[int, str]]] = [[]]
    for item in tokens:
        if not isinstance(item, dict) or not isinstance(item.get("id"), int):
            return []
        piece = item.get("piece")
        if piece == SEPARATOR:
            groups.append([])
        else:
            groups[-1].append((item["id"], piece if isinstance(piece, str) else "\ufffd"))
    return groups if len(groups) == count else []
