"""Passages of paragraphs that must end with given sentences: reading the sentences, checking, repairing.

The creative-writing task's one hard constraint (`tot.tasks.text`): paragraph i of a passage ends
with sentence i. `problems` says what breaks it; `repair` makes a passage that meets it from whatever
the model wrote, and says what it changed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from tot.written import normal_text

SENTENCES = 4

_BOUNDARY = re.compile(r"([.!?…]+[\"”’')\]]*)\s+(?=[\"“‘'(\[]?[A-Z0-9])")
# A few of the paper's inputs hold a fragment with no full stop ("Instead of a bachelorette party You
# realize ..."): when the full stops give one sentence too few, such a seam is split as well.
_SEAM = re.compile(r"(?<=[a-z])\s+(?=(?:The|He|She|It|You|There|Just|They|We|His|Her|My|This|That|If|When)\b)")


def split_sentences(text: str) -> list[str]:
    """The sentences of an input: one per line when it has several lines (or `|` between them), else by full stops."""
    lines = [part.strip() for part in re.split(r"\n|\|", text) if part.strip()]
    if len(lines) > 1:
        return lines
    text = " ".join(text.split())
    sentences, start = [], 0
    for match in _BOUNDARY.finditer(text):
        sentences.append(text[start : match.end(1)].strip())
        start = match.end()
    sentences.append(text[start:].strip())
    sentences = [s for s in sentences if s]
    if len(sentences) == SENTENCES - 1:
        seams = [(i, m) for i, s in enumerate(sentences) for m in _SEAM.finditer(s)]
        if len(seams) == 1:
            i, seam = seams[0]
            sentences[i : i + 1] = [sentences[i][: seam.start()].strip(), sentences[i][seam.end() :].strip()]
    return sentences



def paragraphs(text: str) -> list[str]:
    """The paragraphs of `text`: blocks between blank lines (lines, when it has no blank line), on one line each."""
    text = text.replace("\r\n", "\n").strip()
    blocks = re.split(r"\n[ \t]*\n", text) if re.search(r"\n[ \t]*\n", text) else text.split("\n")
    return [" ".join(block.split()) for block in blocks if block.strip()]


def _bare(sentence: str) -> str:
    return normal_text(sentence).rstrip(" .!?…\"'")


def ends_with(paragraph: str, sentence: str) -> bool:
    """Whether `paragraph`'s last sentence is `sentence` (compared as normalised text, final punctuation aside)."""
    body, tail = _bare(paragraph), _bare(sentence)
    if not tail or not body.endswith(tail):
        return False
    before = body[: len(body) - len(tail)]
    return not before or before[-1] in " \"'([" or before.rstrip().endswith((".", "!", "?", "…", ":", ";"))


def problems(passage: str, sentences: Sequence[str]) -> list[str]:
    """What breaks the constraint: the paragraph count, and each paragraph not ending with its sentence."""
    found = paragraphs(passage)
    issues = []
    if len(found) != len(sentences):
        issues.append(f"{len(found)} paragraphs, not {len(sentences)}")
    for number, (paragraph, sentence) in enumerate(zip(found, sentences), start=1):
        if not ends_with(paragraph, sentence):
            issues.append(f"paragraph {number} does not end with its sentence")
    return issues


@dataclass(frozen=True)
class Repaired:
    """A passage that meets the constraint, whether the model's text already did, and what was changed."""

    passage: str
    as_written: bool
    note: str


MARKER = re.compile(r"^\s*(?:passage|plan|story|paragraph\s*\d*)\s*:?\s*$", re.IGNORECASE)


def _folded(text: str) -> tuple[str, list[int]]:
    """`text` folded for search (straight quotes, lower case, runs of space as one) and each folded char's index."""
    chars: list[str] = []
    where: list[int] = []
    for index, char in enumerate(text):
        if char.isspace():
            if chars and chars[-1] == " ":
                continue
            char = " "
        for piece in char.translate({ord("’"): "'", ord("‘"): "'", ord("“"): '"', ord("”"): '"'}).lower():
            chars.append(piece)
            where.append(index)
    return "".join(chars), where


def _find_in_order(text: str, sentences: Sequence[str]) -> list[tuple[int, int]] | None:
    """The span of each sentence in `text`, in order and not overlapping, or None if one is missing."""
    folded, where = _folded(text)
    spans, start = [], 0
    for sentence in sentences:
        needle, _ = _folded(" ".join(sentence.split()).rstrip(" .!?…\"'"))
        at = folded.find(needle, start)
        if not needle or at < 0:
            return None
        end = at + len(needle)
        # the sentence's own closing punctuation and quotes, if the text has them
        close = where[end - 1] + 1
        while close < len(text) and text[close] in ".!?…\"'”’":
            close += 1
        spans.append((where[at], close))
        start = end
    return spans


def repair(text: str, sentences: Sequence[str]) -> Repaired:
    """A passage of `len(sentences)` paragraphs, paragraph i ending with sentence i, from the model's `text`.

    As written when it already is one. Otherwise, when the model wrote every sentence in order, the
    paragraphs are cut after them (text after the last is dropped); else its paragraphs are taken in
    order (beyond the last, dropped; too few, its sentences spread over them), the given sentences
    removed from inside them and each paragraph given its sentence at the end.
    """
    lines = [line for line in text.replace("\r\n", "\n").split("\n") if not MARKER.match(line)]
    text = "\n".join(lines).strip()
    if text and not problems(text, sentences):
        return Repaired("\n\n".join(paragraphs(text)), True, "")
    count = len(sentences)
    spans = _find_in_order(text, sentences) if text else None
    if spans is not None:
        parts, start = [], 0
        for (begin, end), sentence in zip(spans, sentences):
            body = " ".join(text[start:begin].split())
            parts.append(f"{body} {sentence}".strip())
            start = end
        dropped = len(text[start:].split())
        note = "cut after each given sentence" + (f"; {dropped} words after the last dropped" if dropped else "")
        return _checked(parts, sentences, note)
    found = paragraphs(text)
    given = [_bare(s) for s in sentences]
    kept = []
    for paragraph in found:
        body = " ".join(
            part for part in _split_all(paragraph) if _bare(part) not in given
        )
        if body:
            kept.append(body)
    notes = []
    if not kept:
        notes.append("the model wrote no usable text: the paragraphs are the sentences alone")
        kept = [""] * count
    elif len(kept) > count:
        dropped = sum(len(p.split()) for p in kept[count:])
        notes.append(f"{len(kept)} paragraphs: the last {len(kept) - count} ({dropped} words) dropped")
        kept = kept[:count]
    elif len(kept) < count:
        notes.append(f"{len(kept)} paragraph{'s' if len(kept) != 1 else ''}: their sentences spread over {count}")
        kept = _spread(kept, count)
    missing = [str(n) for n, (p, s) in enumerate(zip(kept, sentences), start=1) if p and not ends_with(p, s)]
    if missing:
        notes.append(f"sentence {', '.join(missing)} added at the end of its paragraph")
    parts = [p if p and ends_with(p, s) else f"{p} {s}".strip() for p, s in zip(kept, sentences)]
    return _checked(parts, sentences, "; ".join(notes))


def _split_all(paragraph: str) -> list[str]:
    sentences, start = [], 0
    for match in _BOUNDARY.finditer(paragraph):
        sentences.append(paragraph[start : match.end(1)].strip())
        start = match.end()
    sentences.append(paragraph[start:].strip())
    return [s for s in sentences if s]


def _spread(parts: list[str], count: int) -> list[str]:
    """The sentences of `parts` regrouped into `count` paragraphs as evenly as they go (some may be empty)."""
    pieces = [s for p in parts for s in _split_all(p)]
    size, extra = divmod(len(pieces), count)
    groups, start = [], 0
    for group in range(count):
        end = start + size + (group < extra)
        groups.append(" ".join(pieces[start:end]))
        start = end
    return groups


def _checked(parts: Sequence[str], sentences: Sequence[str], note: str) -> Repaired:
    passage = "\n\n".join(" ".join(p.split()) for p in parts)
    left = problems(passage, sentences)
    if left:  # never happens: each paragraph was given its sentence; say so rather than count it silently
        raise AssertionError(f"repair left {left} in {passage!r}")
    return Repaired(passage, False, "repaired: " + note)
