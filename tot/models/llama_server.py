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
(the same to 5 decimals on an 18-token path).

`forced_many`: many continuations after one prompt, read off their token trie instead of forcing each.
One request at the root of the trie and at each inner node below a branching one (the prompt followed by
the node's token ids, which the server's prompt cache makes about one new token) gives the `WALK_K`
likeliest next tokens there; where the node has one child, the same request goes on through it (forced
under a grammar of token ids, as `forced` does) and reads the likeliest tokens after it too, until a node
with several. Each continuation's tokens
are read off the lists of its prefixes; the requests of one round go concurrently, and the next round asks
at the nodes below. A token not among the likeliest at its prefix is forced alone: one request with
`logit_bias` +`FORCE_BIAS` on it and one generated token, whose reported log-probability is taken before
the bias. Exact: the same log-probabilities as forcing each continuation, up to the server's rounding
(which depends on how many rows its batches hold). The 30 steps of a 4-number Game of 24 state (`a op b`,
135 tokens, a trie of 35 inner nodes) take about 20 requests in 4-5 rounds. (Walking a few subtrees depth
first at once instead, so that each request would extend the one before, measured twice as slow.)

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
from tot.models.wire import Json, ServerRefused

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

FORCE_BIAS = 100.0  # on forced tokens: the sampler's own pick is then mostly the forced token (see the module)
WALK_K = 100  # likeliest next tokens asked for at each inner node of a trie of continuations
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
    """Each continuation's log-probability after `head`, by walking their token trie (see the module)."""
    paths = [tuple(ids) for ids in tokenize_many(model, continuations)]
    children: dict[tuple[int, ...], set[int]] = {}  # inner node (a prefix) -> the tokens that follow it
    for p in paths:
        for depth, token in enumerate(p):
            children.setdefault(p[:depth], set()).add(token)
    known: dict[tuple[int, ...], dict[int, float]] = {}  # inner node -> next-token log-probabilities
    usages: list[Json] = []
    todo: list[tuple[int, ...]] = [()] if children else []
    while todo:
        for node, (lists, usage) in zip(todo, model.parallel(lambda node: _walk(model, head, node, children), todo)):
            usages.append(usage)
            for at, likeliest in lists.items():
                known.setdefault(at, {}).update(likeliest)
        todo = sorted({at + (token,) for at in known for token in children[at]} & children.keys() - known.keys())
    missing = sorted({(p[:depth], token) for p in paths for depth, token in enumerate(p) if token not in known[p[:depth]]})
    for (node, token), (value, usage) in zip(missing, model.parallel(lambda pair: _force_one(model, head, *pair), missing)):
        known[node][token] = value
        usages.append(usage)
    model.count(usages)
    return [sum(known[p[:depth]][token] for depth, token in enumerate(p)) for p in paths]


def _walk(
    model: ServerModel, head: str, node: tuple[int, ...], children: dict[tuple[int, ...], set[int]]
) -> tuple[dict[tuple[int, ...], dict[int, float]], Json]:
    """The `WALK_K` likeliest next tokens at `node` and, in the same request, at the inner nodes below it while
    each has one child (forced under a grammar of token ids), and the request's usage."""
    forced: list[int] = []
    at = node
    while len(children[at]) == 1 and at + tuple(children[at]) in children:
        forced.extend(children[at])
        at = at + tuple(children[at])
    body: Json = {"prompt": [head, *node] if node else head, "max_tokens": len(forced) + 1, "temperature": 0.0,
                  "logprobs": WALK_K, "cache_prompt": True}
    if forced:  # the forced tokens, then any token that follows the last of them
        last = " | ".join(f"<[{token}]>" for token in sorted(children[at]))
        body["grammar"] = "root ::= " + " ".join(f"<[{token}]>" for token in forced) + f" last\nlast ::= {last}\n"
        body["logit_bias"] = [[token, FORCE_BIAS] for token in sorted({*forced, *children[at]})]
    choice, usage = model.completion(body)
    try:
        content = choice["logprobs"]["content"]
        lists = {node + tuple(forced[:i]): {int(item["id"]): float(item["logprob"])
                                            for item in content[i]["top_logprobs"]} for i in range(len(forced) + 1)}
        for i, token in enumerate(forced):  # a forced token outside the likeliest is still read exactly
            if int(content[i]["id"]) != token:
                raise ValueError
            lists[node + tuple(forced[:i])][token] = float(content[i]["logprob"])
    except (KeyError, IndexError, TypeError, ValueError):
        lists = {}
    if not all(lists.values()) or len(lists) != len(forced) + 1:
        raise model.garbage(f"an answer without the likeliest next tokens along {len(forced)} forced tokens")
    return lists, usage


def _force_one(model: ServerModel, head: str, node: tuple[int, ...], token: int) -> tuple[float, Json]:
    """`token`'s log-probability after `head` and `node`: generated under `logit_bias`, read before the bias."""
    body = {"prompt": [head, *node] if node else head, "max_tokens": 1, "temperature": 0.0, "logprobs": 1,
            "cache_prompt": True, "logit_bias": [[token, FORCE_BIAS]]}
    choice, usage = model.completion(body)
    try:
        item = choice["logprobs"]["content"][0]
        if int(item["id"]) == token:
            return float(item["logprob"]), usage
    except (KeyError, IndexError, TypeError, ValueError):
        pass
    raise model.garbage(f"an answer without the log-probability of the forced token {token}")


def forced(model: ServerModel, head: str, continuation: str) -> tuple[float, Json] | None:
    """The log-probability of `continuation` after `head` by teacher forcing (a grammar of its token ids), and the
    request's usage; None where the server cannot (no `/tokenize`, a grammar ignored, no log-probabilities)."""
    path = tokens(model, continuation)
    if path is None:
        return None
    grammar = "root ::= " + " ".join(f"<[{token}]>" for token in path)
    body = {"prompt": head, "max_tokens": len(path), "temperature": 0.0, "logprobs": 1, "grammar": grammar,
            "cache_prompt": True, "logit_bias": [[token, FORCE_BIAS] for token in sorted(set(path))]}
    choice, usage = model.completion(body)
    try:
        content = choice["logprobs"]["content"]
        if [int(item["id"]) for item in content] == path:
            return sum(float(item["logprob"]) for item in content), usage
    except (KeyError, TypeError, ValueError):
        pass
    return None


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
