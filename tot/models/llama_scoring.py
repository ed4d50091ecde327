"""Batch scoring on a llama.cpp context: log-probabilities of continuations, in lanes, prefixes decoded once.

Scoring K continuations decodes their token trie in lanes (sequences that share the prompt's
cells in sequence 0), with logits only for the rows that are needed. Several prompts' labels
are scored side by side: their shared prefix once in sequence 0, each prompt's own tokens in
its own lane. Everything here works on tokens; `tot.models.llama.LlamaModel` tokenizes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tot.models.llama_context import Decoder, Logits, PrefixCache, Row, common_prefix

Tokens = tuple[int, ...]


class Scorer:
    """Scores continuations after prompts held in `cache` (sequence 0 of `decoder`), counting rows in its meter."""

    def __init__(self, decoder: Decoder, cache: PrefixCache) -> None:
        self.decoder, self.cache = decoder, cache
        self.meter = decoder.meter

    def continuations(self, prompt: list[int], conts: Sequence[Tokens]) -> list[float]:
        """The total log-probability of each of `conts` after `prompt`."""
        last = self.cache.prefill(prompt)
        totals = self._first_tokens(conts, last)
        paths = sorted(c for c in totals if len(c) > 1)  # sorted, so that groups share prefixes
        lanes = self.decoder.lanes
        for start in range(0, len(paths), lanes):
            self._score_trie(len(prompt), paths[start : start + lanes], totals)
        return [totals[c] for c in conts]

    def labels_many(self, tokenized: Sequence[list[int]], conts: Sequence[Tokens]) -> list[dict[Tokens, float]]:
        """For each prompt of `tokenized`, the log-probability of each of `conts` (bit for bit one by one)."""
        n_ctx = self.decoder.n_ctx
        paths = sorted({c for c in conts if len(c) > 1})
        per_wave = max(1, self.decoder.lanes // (1 + len(paths)))  # a lane per prompt and one per label path of each
        totals: list[dict[Tokens, float]] = []
        start = 0
        while start < len(tokenized):
            wave = [tokenized[start]]
            cells = len(tokenized[start])
            for tokens in tokenized[start + 1 : start + per_wave]:
                if cells + len(tokens) > n_ctx // 2:  # every prompt's cells, plus room for the label paths
                    break
                wave.append(tokens)
                cells += len(tokens)
            start += len(wave)
            totals += self._label_wave(wave, set(conts), paths)
        return totals

    def _label_wave(self, wave: Sequence[list[int]], conts: set[Tokens], paths: Sequence[Tokens]) -> list[dict[Tokens, float]]:
        """Each prompt's log-probability of each of `conts` (`paths`: those of several tokens), in lanes.

        Sequence 0 holds the prompts' shared prefix; prompt i's own tokens go to lane i + 1 (which shares
        the prefix's cells), and label path j of prompt i to a lane copied from it.
        """
        decoder = self.decoder
        if len(wave) == 1:
            last = self.cache.prefill(wave[0])
            alone = self._first_tokens(list(conts), last)
            for group in range(0, len(paths), decoder.lanes):
                self._score_trie(len(wave[0]), paths[group : group + decoder.lanes], alone)
            return [alone]
        shared = min(min(len(t) for t in wave) - 1, *(common_prefix(wave[0], t) for t in wave[1:]))
        self.cache.hold(wave[0][:shared])
        firsts = sorted({c[0] for c in conts if c})
        rows: list[Row] = []
        for lane, tokens in enumerate(wave, start=1):
            rows += [(t, shared + j, (lane,), shared + j == len(tokens) - 1) for j, t in enumerate(tokens[shared:])]
        used = len(wave)
        try:
            decoder.copy_lanes(0, range(1, len(wave) + 1))
            picks = [(row, token) for row in range(len(wave)) for token in firsts]
            values = self._pick(rows, picks)
            self.meter.prompt_tokens_evaluated += len(rows)
            totals = [{c: values[(i, c[0])] if c else 0.0 for c in conts} for i in range(len(wave))]
            if paths:
                trie = continuation_trie(paths)
                row_of = {prefix: k for k, prefix in enumerate(trie)}
                rows = []
                later: list[tuple[int, int]] = []
                for i, tokens in enumerate(wave):
                    first_lane = len(wave) + 1 + i * len(paths)
                    decoder.copy_lanes(i + 1, range(first_lane, first_lane + len(paths)))
                    used = first_lane + len(paths) - 1
                    base = len(rows)
                    rows += [
                        (prefix[-1], len(tokens) + len(prefix) - 1, [first_lane + lane - 1 for lane in lanes], True)
                        for prefix, lanes in trie.items()
                    ]
                    later += [(base + row_of[p[:d]], p[d]) for p in paths for d in range(1, len(p))]
                values = self._pick(rows, sorted(set(later)))
                self.meter.prompt_tokens_evaluated += len(rows)
                for i in range(len(wave)):
                    base = i * len(trie)
                    for p in paths:
                        totals[i][p] += sum(values[(base + row_of[p[:d]], p[d])] for d in range(1, len(p)))
            return totals
        finally:
            decoder.drop_lanes(range(1, used + 1))

    def many(self, prompt: list[int], conts: Sequence[Tokens], *, expand: int, rest: float) -> list[float]:
        """Log-probabilities of many continuations (a whole word list) in one or two decodes.

        One forward pass of the prompt gives every first token's log-probability; the `expand`
        most likely first tokens of the multi-token continuations are decoded once more (one
        row each, in one batch of lanes) for their second tokens. A token beyond what was
        decoded counts `rest`. So a continuation of at most two tokens under a kept first token
        is scored exactly, as `continuations` scores it; the rest are estimates.
        """
        last = self.cache.prefill(prompt)
        first = last.astype(np.float64) - float(self.decoder.logsumexp(last[None, :])[0])
        heads = sorted({c[0] for c in conts if len(c) > 1}, key=lambda t: (-first[t], t))[:expand]
        second: dict[tuple[int, int], float] = {}
        lanes = self.decoder.lanes
        for start in range(0, len(heads), lanes):
            second.update(self._second_tokens(len(prompt), heads[start : start + lanes], conts))
        scores = []
        for c in conts:
            if not c:
                scores.append(0.0)
                continue
            known = second.get((c[0], c[1])) if len(c) > 1 else 0.0
            score = float(first[c[0]]) + (rest if known is None else known) + rest * max(0, len(c) - 2)
            scores.append(score)
        return scores

    def _second_tokens(self, n_prompt: int, heads: Sequence[int], conts: Sequence[Tokens]) -> dict[tuple[int, int], float]:
        """log P(second token | prompt, first token) for every continuation starting with one of `heads`,
        decoding each head once, in its own lane."""
        row_of = {head: i for i, head in enumerate(heads)}
        picks = sorted({(row_of[c[0]], c[1]) for c in conts if len(c) > 1 and c[0] in row_of})
        rows = [(head, n_prompt, (lane,), True) for lane, head in enumerate(heads, start=1)]
        lanes = range(1, len(heads) + 1)
        self.decoder.copy_lanes(0, lanes)
        try:
            values = self._pick(rows, picks)
        finally:
            self.decoder.drop_lanes(lanes)
        self.meter.prompt_tokens_evaluated += len(rows)
        return {(heads[row], token): value for (row, token), value in values.items()}

    def _first_tokens(self, conts: Sequence[Tokens], last: Logits) -> dict[Tokens, float]:
        """Each distinct continuation's log-probability of its first token (0 for an empty one)."""
        lse = float(self.decoder.logsumexp(last[None, :])[0])
        return {c: float(last[c[0]]) - lse if c else 0.0 for c in set(conts)}

    def _score_trie(self, n_prompt: int, paths: Sequence[Tokens], totals: dict[Tokens, float]) -> None:
        """Add the log-probabilities of the later tokens of `paths`, one lane each, decoding shared prefixes once."""
        nodes = continuation_trie(paths)
        row_of = {prefix: i for i, prefix in enumerate(nodes)}
        picks = sorted({(row_of[path[:d]], path[d]) for path in paths for d in range(1, len(path))})
        rows = [(prefix[-1], n_prompt + len(prefix) - 1, lanes, True) for prefix, lanes in nodes.items()]
        lanes = range(1, len(paths) + 1)
        self.decoder.copy_lanes(0, lanes)
        try:
            values = self._pick(rows, picks)
        finally:
            self.decoder.drop_lanes(lanes)
        self.meter.prompt_tokens_evaluated += len(rows)
        for path in paths:
            totals[path] += sum(values[(row_of[path[:d]], path[d])] for d in range(1, len(path)))

    def _pick(self, rows: Sequence[Row], picks: Sequence[tuple[int, int]]) -> dict[tuple[int, int], float]:
        """Decode `rows` (all with logits) and return log softmax(row)[token] for each (row, token) pick."""
        values: dict[tuple[int, int], float] = {}
        offset = cursor = 0
        for block in self.decoder.decode(rows):
            end = cursor
            while end < len(picks) and picks[end][0] < offset + len(block):
                end += 1
            mine = picks[cursor:end]
            index = np.fromiter((r - offset for r, _ in mine), dtype=np.intp, count=len(mine))
            tokens = np.fromiter((t for _, t in mine), dtype=np.intp, count=len(mine))
            lse = self.decoder.logsumexp(block)
            for pick, value in zip(mine, (block[index, tokens] - lse[index]).tolist()):
                values[pick] = value
            offset += len(block)
            cursor = end
        return values


def continuation_trie(paths: Sequence[Tokens]) -> dict[Tokens, list[int]]:
    """The prefixes to decode to score `paths` (each path's proper prefixes), parents first, with their lanes.

    Path i (from 0) runs in lane i + 1; a prefix shared by several paths is decoded once, in all their lanes.
    """
    nodes: dict[Tokens, list[int]] = {}
    for lane, path in enumerate(paths, start=1):
        for depth in range(1, len(path)):
            nodes.setdefault(path[:depth], []).append(lane)
    return {prefix: nodes[prefix] for prefix in sorted(nodes, key=lambda p: (len(p), p))}
