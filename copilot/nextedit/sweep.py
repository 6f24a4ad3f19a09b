"""The Sweep next-edit prompt format (sweepai/sweep-next-edit-*, Qwen2.5-Coder based), and the
model's answer diffed back into edits.

The prompt is a sequence of ``<|file_sep|>`` sections, the pre-training format of
Qwen2.5-Coder repositories:

- ``{path}``: the file around the cursor (whole up to ``WHOLE_FILE_LINES``, else a window);
- ``{path}:{start}:{end}`` with ``original:`` / ``updated:`` blocks: the recent changes,
  oldest first (at most ``MAX_CHANGES``);
- ``original/{path}:{start}:{end}``: the lines around the cursor as they were before the
  recent changes;
- ``current/{path}:{start}:{end}``: the same lines now, the cursor marked ``<|cursor|>``;
- ``updated/{path}:{start}:{end}``: what the model writes: the lines as they will be, after
  a prefill of the block's lines above the cursor's.

The model's text (up to its next ``<|file_sep|>`` or end of text) replaces the block; the
lines it changed are the suggested edits. ``<|file_sep|>`` is a token of its own; every
other part is plain text.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from .history import EditEvent

CURSOR = "<|cursor|>"
BLOCK_BEFORE = 2  # lines above the cursor's line in the rewritten block
BLOCK_AFTER = 5  # ... and below it
MAX_CHANGES = 6
WHOLE_FILE_LINES = 800  # a longer file is shown as a window of CONTEXT_LINES around the cursor
CONTEXT_LINES = 300


@dataclass(frozen=True)
class Block:
    """The lines the model rewrites: ``text[start:end]`` of the document now, ``prefill``
    (its lines above the cursor's line) given to the model as the start of its answer."""

    start: int
    end: int
    current: str
    prefill: str
    first_line: int  # 0-based


@dataclass(frozen=True)
class Prompt:
    sections: list[str]  # each follows a <|file_sep|> token
    block: Block


def lines_of(text: str) -> list[str]:
    """``text``'s lines, each with its line break."""
    return text.splitlines(keepends=True) if text else []


def block_at(text: str, cursor: int) -> Block:
    lines = lines_of(text)
    if not lines:
        return Block(0, 0, "", "", 0)
    line = text.count("\n", 0, cursor)
    line = min(line, len(lines) - 1)
    first, last = max(0, line - BLOCK_BEFORE), min(len(lines), line + BLOCK_AFTER + 1)
    start = sum(len(each) for each in lines[:first])
    current = "".join(lines[first:last])
    prefill = "".join(lines[first:line])
    return Block(start, start + len(current), current, prefill, first)


def _file_window(text: str, cursor: int) -> str:
    lines = lines_of(text)
    if len(lines) <= WHOLE_FILE_LINES:
        return text
    line = text.count("\n", 0, cursor)
    first = max(0, min(line - CONTEXT_LINES // 2, len(lines) - CONTEXT_LINES))
    return "".join(lines[first : first + CONTEXT_LINES])


def _change_section(path: str, event: EditEvent, text: str) -> str:
    """A recent change as whole lines, before and after (the event's own offsets are in
    ``text`` only for the document it happened in; others are shown by their own text)."""
    start = text.rfind("\n", 0, event.start) + 1
    end = text.find("\n", event.end)
    end = len(text) if end < 0 else end
    after = text[start:end]
    before = text[start : event.start] + event.old + text[event.end : end]
    line = text.count("\n", 0, start) + 1
    return f"{path}:{line}:{line + after.count(chr(10))}\noriginal:\n{before}\nupdated:\n{after}\n"


def build(path: str, text: str, cursor: int, events: list[EditEvent]) -> Prompt:
    """The prompt for the document ``text`` at ``path`` with the cursor at ``cursor``;
    ``events``: this document's recent edits, newest first."""
    block = block_at(text, cursor)
    mine = [event for event in events[:MAX_CHANGES] if event.end <= len(text)]
    sections = [f"{path}\n{_file_window(text, cursor)}"]
    sections += [_change_section(path, event, text) for event in reversed(mine)]
    original = block.current
    # Undo the edits inside the block, last place first: the offsets of those before it hold.
    for event in sorted(mine, key=lambda event: event.start, reverse=True):
        at = event.start - block.start
        if block.start <= event.start and event.end <= block.end and original[at : at + len(event.new)] == event.new:
            original = original[:at] + event.old + original[at + len(event.new) :]
    span = f"{block.first_line + 1}:{block.first_line + max(1, len(lines_of(block.current)))}"
    relative = min(max(cursor - block.start, 0), len(block.current))
    current = block.current[:relative] + CURSOR + block.current[relative:]
    sections += [
        f"original/{path}:{span}\n{original}",
        f"current/{path}:{span}\n{current}",
        f"updated/{path}:{span}\n{block.prefill}",
    ]
    return Prompt(sections, block)


@dataclass(frozen=True)
class Hunk:
    """``block.current[start:end]`` (whole lines) becomes ``new``."""

    start: int
    end: int
    new: str


def diff(block: Block, answer: str) -> list[Hunk]:
    """The lines of the block the model's answer (after the prefill) changed; none when it
    rewrote nothing, or left the format (the cursor marker echoed, a file header)."""
    updated = block.prefill + answer.replace(CURSOR, "")
    if "<|file_sep|>" in updated or updated == block.current:
        return []
    if block.current.endswith("\n") and not updated.endswith("\n"):
        updated += "\n"  # the last line's break, cut by the stop token
    before, after = lines_of(block.current), lines_of(updated)
    offsets = [0]
    for line in before:
        offsets.append(offsets[-1] + len(line))
    hunks = []
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            hunks.append(Hunk(offsets[i1], offsets[i2], "".join(after[j1:j2])))
    return hunks
