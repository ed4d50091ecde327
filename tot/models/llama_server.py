"""What the server backend does on llama.cpp's `llama-server` (which ignores `echo`) with its `/tokenize`, prompts
of text and token ids, and `logit_bias`: teacher-forced scoring, and whole word lists.

`forced`: a continuation's own tokens (tokenized apart from the prompt, as the llama backend tokenizes
them) forced one request each: the prompt followed by the tokens before it (as ids), one token
generated with a `logit_bias` of +100 on it. The server reports a generated token's log-probability
from the model's own distribution, before any bias, so the answer is that token's exact
log-probability; the server's prompt cache keeps the prompt evaluated, so a request costs about one
new token. (Forcing the whole continuation in one request under a grammar of token ids costs 5-10x
more per token: llama-server checks the grammar against Gemma's 262k-token vocabulary at each
step.)

`forced_many`: many continuations after one prompt. The continuations' token sequences form a trie.
Each inner node (a proper prefix) takes one request, which forces one of its children and lists the
`TOP_K` likeliest next tokens there; a child among neither is forced alone. Exact (the same
log-probabilities as forcing each continuation), in about a third of the requests on the Game of
24's steps (`a op b`: the steps sharing `a op` share their requests).

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
from tot.models.wire import TOP_K, Json, ServerRefused, merged_usage

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
    """Each continuation's log-probability after `head` by teacher forcing, one request per inner node (see the module)."""
    paths = [tuple(ids) for ids in tokenize_many(model, continuations)]
    children: dict[tuple[int, ...], int] = {}  # an inner node -> the child its request forces
    for path in paths:
        for depth in range(len(path)):
            children.setdefault(path[:depth], path[depth])
    nodes = list(children.items())
    known = dict(zip(children, _forced_steps(model, head, nodes, TOP_K)))  # prefix -> next-token log-probabilities
    lonely = list(dict.fromkeys((p[:d], p[d]) for p in paths for d in range(len(p)) if p[d] not in known[p[:d]]))
    for (prefix, token), step in zip(lonely, _forced_steps(model, head, lonely, 1)):
        known[prefix][token] = step[token]
    return [sum(known[p[:d]][p[d]] for d in range(len(p))) for p in paths]


def _forced_steps(model: ServerModel, head: str, steps: Sequence[tuple[tuple[int, ...], int]], k: int) -> list[dict[int, float]]:
    """`_force` of each (prefix, token) of `steps`, concurrently, on a server known to force (an answer without what
    it asked for is garbage), the usage counted."""
    answers = model.parallel(lambda step: _force(model, head, step[0], step[1], k), steps)
    found = [answer for answer in answers if answer is not None]
    if len(found) < len(answers):
        raise model.garbage("an answer without the log-probability of its forced token")
    model.count([usage for _, usage in found])
    return [step for step, _ in found]


def _force(model: ServerModel, head: str, prefix: tuple[int, ...], token: int, k: int) -> tuple[dict[int, float], Json] | None:
    """Force `token` after `head` and `prefix`: the log-probabilities of the `k` likeliest tokens there and of `token`,
    and the usage; None where the server did not (no log-probabilities, or another token: the bias ignored)."""
    body = {"prompt": [head, *prefix], "max_tokens": 1, "temperature": 0.0, "logprobs": k,
            "logit_bias": {str(token): 100}, "cache_prompt": True}
    choice, usage = model.completion(body)
    if choice.get("logprobs") is None:
        return None
    try:
        (item,) = choice["logprobs"]["content"]
        if int(item["id"]) != token:
            return None
        return {**logprobs.next_token_ids({"content": [item]}), token: float(item["logprob"])}, usage
    except (KeyError, TypeError, ValueError, logprobs.UnknownForm):
        return None


def forced(model: ServerModel, head: str, continuation: str) -> tuple[float, Json] | None:
    """The log-probability of `continuation` after `head` by teacher forcing, and the requests' usage; None where the
    server cannot (no `/tokenize`, no token ids in prompts or `logit_bias`, no log-probabilities of generated tokens)."""
    ids = tokens(model, continuation)
    if ids is None:
        return None
    answers = model.parallel(lambda depth: _force(model, head, tuple(ids[:depth]), ids[depth], 1), range(len(ids)))
    if any(answer is None for answer in answers):
        return None
    found = [answer for answer in answers if answer is not None]
    return sum(step[token] for (step, _), token in zip(found, ids)), merged_usage([usage for _, usage in found])


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
