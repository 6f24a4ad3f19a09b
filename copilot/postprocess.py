"""Clean a raw completion before it is shown. Pure functions: text in, text out."""

from __future__ import annotations


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


def clean(completion: str, suffix: str) -> str:
    """The text to show: no suffix repetition, no trailing blank lines or spaces."""
    text = drop_suffix_overlap(completion, suffix).rstrip()
    # At the end of a line the suggestion must not eat the rest of it: keep one line then.
    rest_of_line = suffix.split("\n", 1)[0]
    if rest_of_line.strip() and "\n" in text:
        text = text.split("\n", 1)[0].rstrip()
    return text if text.strip() else ""
