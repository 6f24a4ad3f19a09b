"""One pool of context candidates: scored, deduplicated, packed into a token budget.

Pure functions: candidates in, the chosen (and possibly trimmed) candidates out. The
tokenizer and the renderer are passed in, so the budget is counted in the model's own
tokens for exactly the text the prompt will hold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

import msgspec

Kind = Literal["scope", "import", "definition", "similar", "edit"]

# How much each kind of context helps a completion, before distance, similarity and recency
# (the order follows what code models gain most from: the definitions of the names being
# used, then the enclosing signatures, similar code elsewhere, recent edits, imports).
KIND_WEIGHT: dict[str, float] = {"definition": 1.0, "scope": 0.9, "similar": 0.8, "edit": 0.7, "import": 0.5}
DISTANCE_DECAY = 0.85  # per rank of the identifier's distance from the cursor
RECENCY_DECAY = 0.8  # per newer edit
DEPTH_DECAY = 0.9  # per scope level out from the innermost
SAME_FILE_BONUS = 1.1
MIN_TRIMMED_LINES = 3  # a snippet trimmed below this many lines (past its header) is not worth its tokens


class Candidate(msgspec.Struct, frozen=True, kw_only=True):
    kind: Kind
    path: str  # as shown in the prompt: relative to the workspace root when inside it
    uri: str  # identifies the document for deduplication
    start_line: int  # 0-based, inclusive
    end_line: int
    text: str
    score: float
    reason: str  # why it was chosen, for the inspector: "defines parse_header", "similarity 0.42"
    keep_lines: int = 1  # leading lines (the header, the signature) kept when the text is trimmed


class Span(msgspec.Struct, frozen=True, kw_only=True):
    """Lines of the current document the local window already shows."""

    uri: str
    start_line: int
    end_line: int


Render = Callable[[Candidate], list[int]]  # a candidate's tokens exactly as the prompt holds them


def score(
    kind: Kind,
    *,
    distance_rank: int = 0,
    similarity: float = 1.0,
    age: int = 0,
    depth: int = 0,
    same_file: bool = False,
) -> float:
    """Relevance of one candidate: its kind's weight, decayed by how far the identifier it
    defines is from the cursor, how similar it is, how old the edit is, how far out the scope."""
    value = KIND_WEIGHT[kind] * (SAME_FILE_BONUS if same_file else 1.0)
    if kind == "definition":
        value *= DISTANCE_DECAY**distance_rank
    elif kind == "similar":
        value *= similarity
    elif kind == "edit":
        value *= RECENCY_DECAY**age
    elif kind == "scope":
        value *= DEPTH_DECAY**depth
    return value


def _overlap(a_start: int, a_end: int, b_start: int, b_end: int) -> int:
    return max(0, min(a_end, b_end) - max(a_start, b_start) + 1)


def _normalized(text: str) -> str:
    return " ".join(text.split())


def dedupe(candidates: Iterable[Candidate], window: Span | None = None) -> list[Candidate]:
    """The candidates worth showing, best first: not mostly inside the local window, not
    mostly overlapping a better candidate of the same document, not a repeat of its text."""
    kept: list[Candidate] = []
    seen_texts: set[str] = set()
    for candidate in sorted(candidates, key=lambda c: (-c.score, c.uri, c.start_line)):
        lines = candidate.end_line - candidate.start_line + 1
        if (
            window is not None
            and candidate.uri == window.uri
            and _overlap(candidate.start_line, candidate.end_line, window.start_line, window.end_line) * 2 > lines
        ):
            continue
        if any(
            other.uri == candidate.uri
            and _overlap(candidate.start_line, candidate.end_line, other.start_line, other.end_line) * 2
            > min(lines, other.end_line - other.start_line + 1)
            for other in kept
        ):
            continue
        text = _normalized(candidate.text)
        if not text or text in seen_texts:
            continue
        seen_texts.add(text)
        kept.append(candidate)
    return kept


def trimmed(candidate: Candidate, lines: int) -> Candidate:
    """``candidate`` cut to its first ``lines`` lines, marking the cut in its reason."""
    kept = candidate.text.splitlines()[:lines]
    return msgspec.structs.replace(
        candidate,
        text="\n".join(kept),
        end_line=candidate.start_line + len(kept) - 1,
        reason=f"{candidate.reason}, trimmed",
    )


def _fit(candidate: Candidate, budget: int, render: Render) -> tuple[Candidate, int] | None:
    """``candidate`` as it is, or trimmed from the end (keeping its header), within ``budget``."""
    tokens = len(render(candidate))
    if tokens <= budget:
        return candidate, tokens
    total = candidate.text.count("\n") + 1
    minimum = max(candidate.keep_lines, MIN_TRIMMED_LINES)
    lines = int(total * budget / tokens)  # proportional first guess, then step down
    while lines >= minimum:
        if lines < total:
            shorter = trimmed(candidate, lines)
            tokens = len(render(shorter))
            if tokens <= budget:
                return shorter, tokens
            lines = min(lines - 1, int(lines * budget / tokens))
        else:
            lines = total - 1
    return None


def pack(candidates: Iterable[Candidate], budget: int, render: Render) -> list[Candidate]:
    """Greedy by score: each candidate that fits (trimmed if need be) until ``budget`` tokens
    are used. The result's rendered tokens never exceed the budget."""
    chosen: list[Candidate] = []
    left = budget
    for candidate in sorted(candidates, key=lambda c: (-c.score, c.uri, c.start_line)):
        if left <= 0:
            break
        fitted = _fit(candidate, left, render)
        if fitted is not None:
            chosen.append(fitted[0])
            left -= fitted[1]
    return chosen


def stable_order(chosen: Iterable[Candidate]) -> list[Candidate]:
    """The order snippets take in the prompt: by path and line, not by score, so that a
    small change in scores does not reorder the prompt and lose the model's KV cache."""
    return sorted(chosen, key=lambda c: (c.path, c.start_line, c.kind))
