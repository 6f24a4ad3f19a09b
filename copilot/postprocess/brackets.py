"""Balanced brackets and quotes: a completion closes no more than it opens, nor what the rest of the cursor line
closes already (``balance_brackets``); and the closers for what it leaves open (``closers_left_open``)."""

from __future__ import annotations

from collections.abc import Sequence

from .cursor import Cursor
from .lexer import CLOSING, closing, walk


def _suffix_closes(stack: Sequence[str], line_after: str) -> tuple[int, tuple[str, ...]]:
    """How many characters at the start of ``line_after`` close items of ``stack``, and the items left open then."""
    position, depth = 0, len(stack)
    while depth:
        item = stack[depth - 1]
        start = position
        while item in CLOSING and line_after[start : start + 1] in (" ", "\t"):
            start += 1
        if not line_after.startswith(closing(item), start):
            break
        position, depth = start + len(closing(item)), depth - 1
    return position, tuple(stack[:depth])


def balance_brackets(completion: str, cursor: Cursor) -> str:
    """Keep brackets and quotes balanced with the rest of the cursor line.

    A closer with nothing open to close, or closing another kind of bracket, is cut with all that follows it.
    When the rest of the line already closes brackets or a string, the completion is cut before it closes them
    again (``foo(`` cursor ``)`` with ``a, b)`` gives ``a, b``); closing something the suffix leaves open stays.
    """
    stack = list(cursor.open_items)
    context = len(stack)  # items opened before the cursor that are still open
    cuts: list[tuple[int, tuple[str, ...]]] = []  # (offset, stack there) where it closes an item opened before
    end = len(completion)
    for close in walk(completion, cursor.language.lexicon, stack):
        if not close.matched:
            if close.depth == 0 and not cursor.whole_prefix:
                continue  # its opener may lie above the window
            end = close.offset
            break
        if close.depth <= context:
            cuts.append((close.offset, tuple(stack)))
            context = close.depth - 1
    wanted = _suffix_closes(cursor.open_items, cursor.line_after)
    if wanted[0] == 0:
        return completion[:end]
    # The longest text after which the rest of the line closes the same items as it did without the completion.
    for offset, state in [(end, tuple(stack)), *reversed(cuts)]:
        if _suffix_closes(state, cursor.line_after) == wanted:
            return completion[:offset]
    return completion[:end]


def closers_left_open(completion: str, cursor: Cursor) -> str:
    """The closers for what ``completion`` opens and leaves open, innermost first."""
    stack = list(cursor.open_items)
    kept = len(stack)
    for close in walk(completion, cursor.language.lexicon, stack):
        if close.matched:
            kept = min(kept, close.depth - 1)
    return "".join(closing(item) for item in reversed(stack[kept:]))
