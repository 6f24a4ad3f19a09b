"""A tree-sitter tree per open document, kept in step with the editor's edits.

Each didChange edits the tree (``Tree.edit`` with byte offsets and (row, byte column)
points) and re-parses it once, incrementally: about a millisecond where a fresh parse of
a large file takes tens. A parse that runs past its time budget drops the tree for good:
the document then has plain-text context, and no later keystroke pays for a parse again.

Parsers come from ``parsing``'s per-language cache, shared with post-processing;
``tree_sitter.Parser`` is not thread-safe, so this runs on the asyncio loop only.
"""

from __future__ import annotations

import logging
import time

import tree_sitter

from .parsing import parse_until, parser_for

log = logging.getLogger(__name__)

# A (re-)parse's time budget. A 280 KB Python file re-parses in about 1 ms after most keys, but
# in 21-30 ms on a shared 2-core machine after a new line right after an indented block (the
# dedent makes tree-sitter-python re-parse about the whole file): BENCHMARKS.md, soak.
PARSE_BUDGET_MS = 50.0


class SyntaxTree:
    """The source bytes of one document and its syntax tree (None once a parse timed out)."""

    __slots__ = ("_dirty", "_parser", "_source", "_text", "_tree", "language_id", "max_bytes", "memo", "timeout_ms")

    def __init__(
        self,
        language_id: str,
        parser: tree_sitter.Parser,
        text: str,
        source: bytes,
        tree: tree_sitter.Tree,
        timeout_ms: float,
        max_bytes: int,
    ) -> None:
        self.language_id = language_id
        self.timeout_ms = timeout_ms
        self.max_bytes = max_bytes
        self._parser = parser
        self._text = text
        self._source = source
        self._tree: tree_sitter.Tree | None = tree
        self._dirty = False  # edited since the last parse
        self.memo: dict[str, object] = {}  # facts about this source that consumers computed; cleared on edit

    @classmethod
    def create(
        cls, language_id: str, text: str, timeout_ms: float = PARSE_BUDGET_MS, max_bytes: int = 2_000_000
    ) -> SyntaxTree | None:
        """The parsed ``text``; None without a grammar, past ``max_bytes``, or when the parse
        runs past ``timeout_ms``."""
        parser = parser_for(language_id)
        if parser is None or len(text) > max_bytes:  # a UTF-8 text has at least as many bytes as characters
            return None
        source = text.encode()
        if len(source) > max_bytes:
            return None
        tree = _parse(parser, source, None, timeout_ms)
        if tree is None:
            log.info(
                "parsing a %s document of %d bytes took over %g ms: plain-text context",
                language_id,
                len(source),
                timeout_ms,
            )
            return None
        return cls(language_id, parser, text, source, tree, timeout_ms, max_bytes)

    @property
    def tree(self) -> tree_sitter.Tree | None:
        return self._tree

    @property
    def source(self) -> bytes:
        return self._source

    def byte_offset(self, text_offset: int) -> int:
        """The UTF-8 byte offset of a string offset into the current text."""
        return _byte_offset(self._text, text_offset)

    def edit(self, start: int, old_end: int, new_text: str, old_text: str) -> None:
        """Record that ``old_text[start:old_end]`` became ``new_text``; ``reparse`` then catches the tree up."""
        if self._tree is None:
            return
        if not self._dirty:
            # Edit a copy: a tree handed out earlier stays consistent with the source handed out with it.
            self._tree = self._tree.copy()
            self._dirty = True
        start_byte = _byte_offset(old_text, start)
        old_end_byte = start_byte + _byte_length(old_text, start, old_end)
        added = new_text.encode()
        start_point = _point_at(self._source, start_byte)
        self._tree.edit(
            start_byte=start_byte,
            old_end_byte=old_end_byte,
            new_end_byte=start_byte + len(added),
            start_point=start_point,
            old_end_point=_point_at(self._source, old_end_byte),
            new_end_point=_point_after(added, start_point),
        )
        self._source = self._source[:start_byte] + added + self._source[old_end_byte:]
        self.memo.clear()
        self._text = old_text[:start] + new_text + old_text[old_end:]

    def reparse(self) -> None:
        """Parse again after this didChange's edits; drops the tree (for good) past the size or time budget."""
        if self._tree is None or not self._dirty:
            return
        self._dirty = False
        tree = None
        if len(self._source) <= self.max_bytes:
            tree = _parse(self._parser, self._source, self._tree, self.timeout_ms)
            if tree is None:
                log.info(
                    "re-parsing a %s document took over %g ms: plain-text context from now on",
                    self.language_id,
                    self.timeout_ms,
                )
        self._tree = tree
        if tree is None:
            self._source, self._text = b"", ""  # nothing reads them any more


def _parse(
    parser: tree_sitter.Parser, source: bytes, old_tree: tree_sitter.Tree | None, timeout_ms: float
) -> tree_sitter.Tree | None:
    """Parse within ``timeout_ms``; None past it."""
    return parse_until(parser, source, time.perf_counter() + timeout_ms / 1000, old_tree)


def _byte_offset(text: str, offset: int) -> int:
    # isascii() is O(1) in CPython (a flag of the string): ASCII text needs no encoding at all.
    return offset if text.isascii() else len(text[:offset].encode())


def _byte_length(text: str, start: int, end: int) -> int:
    return end - start if text.isascii() else len(text[start:end].encode())


def _point_at(source: bytes, byte: int) -> tuple[int, int]:
    """The (row, byte column) of ``byte`` in ``source``."""
    return source.count(b"\n", 0, byte), byte - source.rfind(b"\n", 0, byte) - 1


def _point_after(added: bytes, start: tuple[int, int]) -> tuple[int, int]:
    """The (row, byte column) where ``added`` ends when it starts at ``start``."""
    newlines = added.count(b"\n")
    if not newlines:
        return start[0], start[1] + len(added)
    return start[0] + newlines, len(added) - added.rfind(b"\n") - 1
