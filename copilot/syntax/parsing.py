"""Tree-sitter questions asked by post-processing: how many syntax errors a text has, and whether the
character that ends a line opens a block. Callers pass a window around the cursor, never a whole file.

Parsers are cached per language. ``tree_sitter.Parser`` is not thread-safe: this runs on the asyncio loop only.
"""

from __future__ import annotations

import threading
import time

import tree_sitter

from ..languages import language, load_grammar

# A parse that takes longer than this is abandoned: the caller then keeps the suggestion as it is.
PARSE_BUDGET_S = 0.01

_local = threading.local()  # a parser is not thread-safe: the workspace index parses on its own thread


def parser_for(language_id: str) -> tree_sitter.Parser | None:
    """This thread's cached parser for ``language_id``; None for a language without a grammar (remembered too)."""
    parsers: dict[str, tree_sitter.Parser | None] | None = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = _local.parsers = {}
    if language_id not in parsers:
        try:
            parsers[language_id] = tree_sitter.Parser(load_grammar(language_id))
        except (KeyError, ImportError, AttributeError, ValueError):
            parsers[language_id] = None
    return parsers[language_id]


def parse(
    language_id: str, text: str, deadline: float | None = None, old_tree: tree_sitter.Tree | None = None
) -> tree_sitter.Tree | None:
    """The syntax tree of ``text``; None without a grammar, or when parsing fails or runs past ``deadline``
    (a ``time.perf_counter()`` value; default: ``PARSE_BUDGET_S`` from now). An edited ``old_tree`` of the same
    text makes it an incremental parse."""
    parser = parser_for(language_id)
    if parser is None:
        return None
    stop_at = time.perf_counter() + PARSE_BUDGET_S if deadline is None else deadline
    return parse_until(parser, text.encode(), stop_at, old_tree)


_CHUNK = 65536  # bytes handed to the parser per read: a read never copies much, and costs nothing measurable
# The sizes a read hands out: powers of two up to _CHUNK, and 1-3 bytes for a file's last character. A
# read at a character's first byte then always gets the whole character (tree-sitter reads again, once,
# at a character the previous chunk cut).
_SIZES = (1, 2, 3, *(1 << bit for bit in range(2, _CHUNK.bit_length())))


def _buffers() -> dict[int, bytearray]:
    """This thread's read buffers, one per size in ``_SIZES`` (128 KB in all), reused by every parse."""
    buffers: dict[int, bytearray] | None = getattr(_local, "buffers", None)
    if buffers is None:
        buffers = _local.buffers = {size: bytearray(size) for size in _SIZES}
    return buffers


def parse_until(
    parser: tree_sitter.Parser, source: bytes, deadline: float, old_tree: tree_sitter.Tree | None = None
) -> tree_sitter.Tree | None:
    """Parse ``source`` (incrementally, given an edited ``old_tree``); None past ``deadline``, a
    ``time.perf_counter()`` value. Only the callback form of parse() honours a progress
    callback, the way to time out since tree-sitter 0.25 (an exception raised in the read
    callback does not stop a parse: tree-sitter keeps reading, then raises SystemError).

    py-tree-sitter 0.26.1 never releases what the read callback returns (each object keeps
    three references too many): fresh slices of the source leaked about one document per
    keystroke. So the reads hand out this thread's few fixed buffers, refilled on each read
    (tree-sitter uses a chunk only until its next read), and the leaked references pin only
    objects that live for good anyway. Sizes are powers of two so that a handful of buffers
    covers every read, whatever the length of the source."""
    buffers = _buffers()
    whole = memoryview(source)
    parsing = True

    def read(offset: int, _point: tree_sitter.Point) -> bytes | bytearray:
        if not parsing:
            # Node.text on the finished tree calls this too: it releases what it gets, and wants
            # bytes (with a memoryview it crashes, py-tree-sitter issue #435).
            return source[offset : offset + _CHUNK]
        left = len(source) - offset
        if left <= 0:
            return b""
        size = left if left < 4 else 1 << (min(left, _CHUNK).bit_length() - 1)
        buffer = buffers[size]
        buffer[:] = whole[offset : offset + size]
        return buffer

    def past_deadline(_offset: int, _has_error: bool) -> bool:
        return time.perf_counter() > deadline  # a bool: the binding never releases what this returns either

    try:
        if old_tree is None:  # parse() takes no None for it
            return parser.parse(read, progress_callback=past_deadline)
        return parser.parse(read, old_tree, progress_callback=past_deadline)
    except ValueError:  # cancelled by the callback
        parser.reset()  # otherwise the next parse resumes this one
        return None
    finally:
        parsing = False


def errors_with_insertion(
    language_id: str, tree: tree_sitter.Tree, before: str, inserted: str, after: str, deadline: float | None = None
) -> int | None:
    """Error count of ``before + inserted + after``, given ``tree`` of ``before + after``: an incremental parse,
    about four times cheaper than a fresh one. None when it cannot be parsed."""
    head, added = before.encode(), inserted.encode()
    start = _point_after(head, (0, 0))
    edited = tree.copy()
    edited.edit(
        start_byte=len(head),
        old_end_byte=len(head),
        new_end_byte=len(head) + len(added),
        start_point=start,
        old_end_point=start,
        new_end_point=_point_after(added, start),
    )
    new_tree = parse(language_id, before + inserted + after, deadline, edited)
    return None if new_tree is None else error_count(new_tree)


def _point_after(text: bytes, start: tuple[int, int]) -> tuple[int, int]:
    """The (row, byte column) where ``text`` ends when it starts at ``start``."""
    newlines = text.count(b"\n")
    if not newlines:
        return start[0], start[1] + len(text)
    return start[0] + newlines, len(text) - text.rfind(b"\n") - 1


def error_count(tree: tree_sitter.Tree) -> int:
    """ERROR and MISSING nodes in ``tree``. Only subtrees flagged ``has_error`` are visited, so a clean tree costs
    nothing."""
    count = 0
    pending = [tree.root_node]
    while pending:
        node = pending.pop()
        if node.is_error or node.is_missing:
            count += 1
        pending.extend(child for child in node.children if child.has_error or child.is_missing)
    return count


def syntax_errors(language_id: str, text: str, deadline: float | None = None) -> int | None:
    """Error count of ``text``; None when it cannot be parsed (no grammar, failure, timeout)."""
    tree = parse(language_id, text, deadline)
    return None if tree is None else error_count(tree)


def opens_block(tree: tree_sitter.Tree, offset: int, language_id: str) -> bool | None:
    """Whether the ``{`` or ``:`` at byte ``offset`` opens a block. False inside a string or comment, or for a
    Python ``:`` that belongs to an expression; None when error recovery hides what it is."""
    node = tree.root_node.descendant_for_byte_range(offset, offset + 1)
    if node is None:
        return None
    if _in_literal_or_comment(node):
        return False
    if node.type not in ("{", ":") or node.parent is None or node.parent.type == "ERROR":
        return None
    block_statements = language(language_id).block_statements  # where a ``:`` opens blocks, not a ``{``
    if block_statements:
        return node.type == ":" and node.parent.type in block_statements
    return node.type == "{"


def _in_literal_or_comment(node: tree_sitter.Node) -> bool:
    current: tree_sitter.Node | None = node
    while current is not None:
        # Grammar names vary (string_fragment, raw_string_literal, line_comment, text_block...) but keep these words.
        if "string" in current.type or "comment" in current.type or current.type == "char_literal":
            return True
        current = current.parent
    return False
