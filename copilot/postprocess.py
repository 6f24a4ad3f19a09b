"""Clean a raw completion before it is shown. Pure functions: text in, text out."""

from __future__ import annotations

import re


def drop_suffix_overlap(completion: str, suffix: str) -> str:
    """Cut trailing lines of ``completion`` that repeat the text already after the cursor.

    Small models often write the next existing line again; showing it would duplicate code.
    """
    following = suffix.lstrip("\n")
    if not following.strip():
        return completion
    lines = completion.split("\n")
    for cut in range(1, len(lines)):
        tail = "\n".join(lines[cut:]).strip()
        if tail and following.lstrip().startswith(tail):
            return "\n".join(lines[:cut])
    return completion


# A unit of 4 to 40 characters, then two more copies of it.
_LOOP = re.compile(r"(.{4,40}?)\1\1", re.DOTALL)


def cut_repetition(completion: str) -> str:
    """Keep one copy of a unit that repeats back to back (``os.path.join(os.path.join(``):
    a small model that loops writes it until the token limit."""
    position = 0
    while (match := _LOOP.search(completion, position)) is not None:
        if match.group(1).strip():  # indentation repeats blanks: that is not a loop
            return completion[: match.end(1)]
        position = match.start() + 1
    return completion


def clean(completion: str, suffix: str) -> str:
    """The text to show: no loops, no suffix repetition, no trailing blank lines or spaces."""
    text = drop_suffix_overlap(cut_repetition(completion), suffix).rstrip()
    # At the end of a line the suggestion must not eat the rest of it: keep one line then.
    rest_of_line = suffix.split("\n", 1)[0]
    if rest_of_line.strip() and "\n" in text:
        text = text.split("\n", 1)[0].rstrip()
    return text if text.strip() else ""
