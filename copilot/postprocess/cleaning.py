"""Clean a raw completion before it is shown.

Pure functions, text in and text out (only tree-sitter parsers are cached). ``clean`` applies, in this order:

1. cut back-to-back repetition (a looping model);
2. keep one line when text follows the cursor on its line, unless the cursor sits in an empty ``{}``;
3. stop where the indentation drops below the block the cursor is in;
4. drop trailing lines that repeat the text after the cursor;
5. keep brackets and quotes balanced with what follows the cursor on its line;
6. for several lines in a language with a grammar, drop the last lines while they add syntax errors;
7. drop what is left blank; end a block written between ``{`` and ``}`` with a line break.

Only a window of the document around the cursor is looked at (``Cursor``), so the cost does not grow with the file.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

from ..languages import Language
from ..syntax import parsing
from .block import one_line_unless_block
from .brackets import balance_brackets, closers_left_open
from .cursor import Cursor, ends_block_header, first_text_line, indentation
from .lexer import CLOSERS

# All the parses of one syntax check together; past it the suggestion is kept as it is.
SYNTAX_BUDGET_S = 0.02


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


# --- rule: stay in the block ----------------------------------------------------------------


def cut_at_dedent(completion: str, cursor: Cursor) -> str:
    """Cut a completion of several lines where the indentation drops below the block the cursor is in: the
    suggestion wandered out of it. A dedented line that starts with a closer ends that block: it stays, and the
    cut comes after it."""
    lines = completion.split("\n")
    if len(lines) < 2:
        return completion
    floor = _block_indent(lines, cursor)
    for number, line in enumerate(lines[1:], start=1):
        if not line.strip() or _ignores_indentation(line, cursor.language):
            continue
        if indentation(line) < floor:
            keep = number + 1 if line.lstrip()[0] in CLOSERS else number
            return "\n".join(lines[:keep])
    return completion


def _block_indent(lines: Sequence[str], cursor: Cursor) -> int:
    """The least indentation a line of the completion may have and stay in the cursor's block."""
    line_before = cursor.line_before
    if line_before.strip():
        if not lines[0].strip() and ends_block_header(line_before, cursor.language_id):
            # The cursor ends a header: the completion is its body, deeper than the header.
            return max(indentation(first_text_line(lines[1:])), indentation(line_before) + 1)
        return indentation(line_before)  # the completion continues this line's statement
    # On a blank line, the completion's first line sets the block's indentation.
    return indentation(line_before + lines[0] if lines[0].strip() else first_text_line(lines[1:]))


def _ignores_indentation(line: str, language: Language) -> bool:
    return bool(language.preprocessor) and line.lstrip().startswith(language.preprocessor)  # at column 0


# --- rule: no new syntax errors -------------------------------------------------------------


def trim_syntax_errors(completion: str, cursor: Cursor) -> str:
    """Drop the last lines of a completion of several lines, one at a time, while the window around the cursor
    parses with more tree-sitter errors than without it; drop it all when even its first line adds errors.

    Brackets it opens and leaves open are closed for the check only: a block cut by the line limit is unfinished,
    not wrong. Kept as it is without a grammar, or when a parse fails or the checks run out of time.
    """
    if "\n" not in completion or cursor.tree is None:
        return completion
    deadline = time.perf_counter() + SYNTAX_BUDGET_S
    baseline = parsing.error_count(cursor.tree)
    lines = completion.split("\n")
    while lines:
        candidate = "\n".join(lines)
        inserted = candidate + closers_left_open(candidate, cursor)
        errors = parsing.errors_with_insertion(
            cursor.language_id, cursor.tree, cursor.before, inserted, cursor.after, deadline
        )
        if errors is None:
            return completion
        if errors <= baseline:
            return candidate
        lines.pop()
        while lines and not lines[-1].strip():
            lines.pop()
    return ""


def _closer_on_own_line(completion: str, cursor: Cursor) -> str:
    """A block written between ``{`` and ``}`` ends with a line break, so that ``}`` lands on its own line,
    indented like the line it closes."""
    rest = cursor.line_after.lstrip()
    if "\n" not in completion or rest[:1] not in tuple(CLOSERS):
        return completion
    line_before = cursor.line_before
    return completion + "\n" + line_before[: len(line_before) - len(line_before.lstrip())]


def clean(completion: str, prefix: str, suffix: str, language_id: str = "plaintext") -> str:
    """The text to show for ``completion`` between ``prefix`` and ``suffix``; empty when nothing is worth showing.
    No loops, no repeated suffix, no trailing blanks (but a line break before a ``}`` that follows the cursor)."""
    cursor = Cursor.at(prefix, suffix, language_id)
    text = one_line_unless_block(cut_repetition(completion), cursor)
    text = drop_suffix_overlap(cut_at_dedent(text, cursor), suffix).rstrip()
    text = balance_brackets(text, cursor).rstrip()
    text = trim_syntax_errors(text, cursor)
    return _closer_on_own_line(text, cursor) if text.strip() else ""
