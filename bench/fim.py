"""Fill-in-the-middle holes shared by the quality suites: block bodies to cut, completing a hole
through the real pipeline, and scoring (exact match, edit similarity)."""

from __future__ import annotations

import difflib
import random
import re
import statistics
from collections.abc import Callable
from typing import Any

import msgspec

from copilot import postprocess
from copilot.config import Config, apply_layer
from copilot.documents import DocumentStore, Position
from copilot.pipeline import Pipeline

SINGLE_KINDS = ("crossfile", "any")
# A Python line that opens a block; the server checks it with tree-sitter too (see ``completes_as_block``).
BLOCK_HEADER = re.compile(
    r"^\s*(?:async\s+)?(?:def|class|if|elif|else|for|while|with|try|except|finally|match|case)\b.*:\s*$"
)
BLOCK_LINES = 4  # the server's ``completion.max_lines`` default: the most lines it writes for a block
MIN_BLOCK_LINES = 2  # a body of one line is a single-line hole in all but name


def indent_of(line: str) -> int:
    return len(line) - len(line.lstrip())


def block_bodies(lines: list[str], max_lines: int = BLOCK_LINES) -> list[tuple[int, int]]:
    """(first body line, lines) of every block body that the server could write whole: right after a header
    line, deeper than it, ``MIN_BLOCK_LINES`` to ``max_lines`` lines long (blank lines inside count, as
    they do for the server's line limit). Only whole bodies: with more of the body left after the cursor
    the server asks for one line, not a block (``postprocess.wants_block``)."""
    bodies = []
    for number, header in enumerate(lines[:-1]):
        first = lines[number + 1]
        if not BLOCK_HEADER.match(header) or not first.strip() or indent_of(first) <= indent_of(header):
            continue
        end = number + 1  # one past the body's last non-empty line
        for later in range(number + 1, len(lines)):
            if lines[later].strip():
                if indent_of(lines[later]) < indent_of(first):
                    break
                end = later + 1
        if MIN_BLOCK_LINES <= end - number - 1 <= max_lines:
            bodies.append((number + 1, end - number - 1))
    return bodies


def without_hole(lines: list[str], line: int, column: int, count: int) -> str:
    """The document as it was while the hole was being written: its ``count`` lines from ``line`` on are
    gone but for the first ``column`` characters of the first (typed already); the rest stays."""
    return "\n".join([*lines[:line], lines[line][:column], *lines[line + count :]])


def block_target(lines: list[str], line: int, count: int) -> str:
    """A block's text from the cursor: its first line after the typed indentation, then whole lines."""
    return "\n".join(lines[line : line + count])[indent_of(lines[line]) :]


def completes_as_block(lines: list[str], line: int, count: int) -> bool:
    """Whether the server asks for a block at the hole's cursor: a header that tree-sitter says opens no block
    (in a string, a docstring's example) gets one line, and its hole would measure the line limit, not the model."""
    column = indent_of(lines[line])
    text = without_hole(lines, line, column, count)
    offset = sum(len(x) + 1 for x in lines[:line]) + column
    return postprocess.wants_block(text[:offset], text[offset:], "python")


def block_hole_in(lines: list[str], rng: random.Random) -> tuple[int, int] | None:
    """A seeded choice among the file's block bodies that the server completes as a block; None if none."""
    bodies = block_bodies(lines)
    rng.shuffle(bodies)
    return next(((line, count) for line, count in bodies if completes_as_block(lines, line, count)), None)


def edit_similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def normalized(text: str) -> str:
    """Lines right-stripped, trailing empty lines dropped: whitespace a user would not see is no error."""
    return "\n".join(line.rstrip() for line in text.split("\n")).rstrip("\n")


# How an answer and its target are compared, per kind of hole (the same function on both).
COMPARED: dict[str, Callable[[str], str]] = {
    # Held-out single line: the first line, right-stripped; the cut is mid-line, so a leading blank is an error.
    "line": lambda text: text.split("\n", 1)[0].rstrip(),
    # HumanEval-FIM single line: the literature's metric, the first line stripped of all surrounding whitespace.
    "stripped_line": lambda text: text.split("\n", 1)[0].strip(),
    # A block: the whole text, normalized.
    "block": normalized,
}


def scored(got: str, target: str, compared: str) -> dict[str, Any]:
    """Exact match and edit similarity of ``got`` against ``target``, both as ``COMPARED[compared]`` sees them."""
    got, target = COMPARED[compared](got), COMPARED[compared](target)
    return {"exact": got == target, "similarity": edit_similarity(got, target)}


async def complete_at(
    pipeline: Pipeline, documents: DocumentStore, uri: str, language_id: str, text: str, position: Position
) -> tuple[str, list[dict[str, Any]]]:
    """The pipeline's completion at ``position`` in a freshly opened document, and the snippets its prompt
    got (none without a retriever). The document is forgotten after: no state carries to the next hole."""
    document = documents.open(uri, language_id, 0, text)
    pipeline.opened(uri)
    try:
        snapshot = document.snapshot(position, "utf-32")
        report = pipeline.inspect(snapshot) if pipeline.retriever is not None else None
        snippets = [msgspec.to_builtins(s) for s in report.snippets] if report is not None else []
        result = await pipeline.complete(snapshot)
    finally:
        documents.close(uri)
        pipeline.forget(uri)
    assert isinstance(snippets, list)
    return result.text, snippets


def summary(results: list[dict[str, Any]], kind: str | None = None) -> dict[str, Any]:
    """n, exact match and mean edit similarity of the results of ``kind`` (all with None); the share with the
    name's definition in the prompt where the results record one."""
    chosen = [r for r in results if kind is None or r["kind"] == kind]
    if not chosen:
        return {"n": 0}
    figures = {
        "n": len(chosen),
        "exact_match": round(sum(r["exact"] for r in chosen) / len(chosen), 4),
        "edit_similarity": round(statistics.fmean(r["similarity"] for r in chosen), 4),
    }
    if kind in SINGLE_KINDS:
        figures["definition_in_prompt"] = round(sum(r["definition_in_prompt"] for r in chosen) / len(chosen), 4)
    return figures


def bench_config(model: str, max_lines: int) -> Config:
    """The server's defaults, but no cache (every hole reaches the model), no debounce, and no time limits on
    prefill and decoding: on a loaded machine they would cut answers short, and the figures would measure the load."""
    overrides: dict[str, Any] = {
        "cache": {"enabled": False, "prefetch": False},
        "completion": {"debounce_ms": 0, "max_lines": max_lines, "max_prefill_ms": 0, "max_decode_ms": 0},
    }
    if model:
        overrides["model"] = {"path": model}
    return apply_layer(Config(), overrides, "bench")
