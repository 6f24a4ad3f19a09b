"""One line or a block: the decision before generation (``wants_block``: ask the model for several lines?), and
the rule of cleaning that applies it after (``one_line_unless_block``)."""

from __future__ import annotations

from ..syntax import parsing
from .cursor import Cursor, ends_block_header, first_text_line, indentation, last_text_line
from .lexer import CLOSERS


def wants_block(prefix: str, suffix: str, language_id: str) -> bool:
    """Whether to ask the model for several lines: the cursor sits right after a block header (``def f():``,
    ``if (x) {``), or in a block that is still empty (``{`` cursor ``}``, a header then only blank lines). Text after
    the cursor on its line, or a cursor in the middle of a statement, asks for one line."""
    return _wants_block(Cursor.at(prefix, suffix, language_id))


def _wants_block(cursor: Cursor) -> bool:
    rest = cursor.line_after.strip()
    in_braces = rest.startswith("}") and "{" in cursor.language.block_openers  # not in Python: a dict
    if rest and not in_braces:
        return False
    header = last_text_line(cursor.before)
    if header is None or not ends_block_header(header, cursor.language_id):
        return False
    if in_braces and not header.endswith("{"):
        return False
    if not cursor.line_before.strip() and not in_braces and not _block_is_empty(header, cursor.after):
        return False
    return _header_opens_block(cursor, header)


def _block_is_empty(header: str, after: str) -> bool:
    """After a header and a blank cursor line: nothing follows, or a closer, or a line no deeper than the header."""
    following = first_text_line(after.split("\n")[1:])
    return not following or following.lstrip()[0] in CLOSERS or indentation(following) <= indentation(header)


def _header_opens_block(cursor: Cursor, header: str) -> bool:
    """Ask tree-sitter whether the header character is code that opens a block (not in a string or comment, not a
    slice or lambda ``:``); without an answer, trust the text (a Python line must start with a block keyword)."""
    if cursor.tree is not None:
        offset = len(cursor.before.rstrip().encode()) - 1
        verdict = parsing.opens_block(cursor.tree, offset, cursor.language_id)
        if verdict is not None:
            return verdict
    pattern = cursor.language.block_header
    return pattern is None or pattern.match(header) is not None


def one_line_unless_block(completion: str, cursor: Cursor) -> str:
    """With text after the cursor on its line, a suggestion of several lines would push that text to its end:
    keep the first line, unless the cursor sits in an empty block (``{`` cursor ``}``)."""
    if cursor.line_after.strip() and "\n" in completion.rstrip() and not _wants_block(cursor):
        return completion.split("\n", 1)[0]
    return completion
