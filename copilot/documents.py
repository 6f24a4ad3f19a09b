"""The server's own copy of each open document, kept in step with the editor's edits.

Each document also keeps its tree-sitter tree (``syntax``), edited along with the text.

Positions arrive as (line, character) where ``character`` counts code units of the
negotiated position encoding: UTF-16 (the LSP default), UTF-8 or UTF-32. Only the
edits the editor sends ever change a document: the server never writes to it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlparse

import msgspec
import numpy as np
import numpy.typing as npt

from .errors import DocumentError
from .syntax.tree import SyntaxTree

Encoding = Literal["utf-8", "utf-16", "utf-32"]


class Position(msgspec.Struct, frozen=True, kw_only=True):
    line: int
    character: int


class Change(msgspec.Struct, frozen=True, kw_only=True):
    """One content change: ``start``/``end`` None means the whole text is replaced."""

    text: str
    start: Position | None = None
    end: Position | None = None


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    """An immutable view of a document at one version, with the cursor as a string offset."""

    uri: str
    version: int
    language_id: str
    text: str
    offset: int

    @property
    def prefix(self) -> str:
        return self.text[: self.offset]

    @property
    def suffix(self) -> str:
        return self.text[self.offset :]


def _units(char: str, encoding: Encoding) -> int:
    if encoding == "utf-32":
        return 1
    code = ord(char)
    if encoding == "utf-16":
        return 2 if code > 0xFFFF else 1
    return 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4


def check_text(uri: str, text: str) -> None:
    """Refuse text that cannot be UTF-8 (lone surrogates from a non-UTF-8 file)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise DocumentError(
            f"{uri} is not valid Unicode text ({exc.reason} at {exc.start}); no completions for it"
        ) from None


def uri_path(uri: str) -> Path | None:
    """The local file a ``file://`` URI names; None for any other scheme (``untitled:``, ...)."""
    parsed = urlparse(uri)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else None


class Document:
    def __init__(self, uri: str, language_id: str, version: int, text: str) -> None:
        check_text(uri, text)
        self.uri = uri
        self.language_id = language_id
        self.version = version
        self.text = text
        self._line_starts = self._index(text)
        started = time.perf_counter()
        # None: no grammar, too large, or a parse past its time budget; plain-text context until reopened.
        self.syntax = SyntaxTree.create(language_id, text)
        self.syntax_ms = (time.perf_counter() - started) * 1000  # the last syntax update, for logs and benchmarks

    @staticmethod
    def _index(text: str) -> npt.NDArray[np.int64]:
        """The string offset where each line starts (vectorised: a 10 MB file has 400k lines)."""
        if text.isascii():
            codes: npt.NDArray[np.uint8] | npt.NDArray[np.uint32] = np.frombuffer(text.encode("ascii"), np.uint8)
        else:
            codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)
        return np.concatenate(([0], np.flatnonzero(codes == 10) + 1)).astype(np.int64)

    def _reindex(self, start: int, end: int, inserted: str) -> None:
        """Line starts after ``text[start:end]`` became ``inserted``: only the changed lines are
        looked at; the starts after them move by the change in length."""
        starts = self._line_starts
        first = int(np.searchsorted(starts, start, side="right")) - 1  # the line holding ``start``
        last = int(np.searchsorted(starts, end, side="right")) - 1
        added = [start + i + 1 for i, char in enumerate(inserted) if char == "\n"]
        moved = starts[last + 1 :] + (len(inserted) - (end - start))
        self._line_starts = np.concatenate((starts[: first + 1], np.array(added, dtype=np.int64), moved))

    @property
    def line_count(self) -> int:
        return len(self._line_starts)

    def offset_at(self, position: Position, encoding: Encoding, strict: bool = True) -> int:
        """String offset of ``position``. ``strict`` refuses positions outside the text;
        otherwise they clamp to the line's or the document's end, as LSP asks for edits."""
        if position.line >= self.line_count or position.line < 0:
            if strict:
                raise DocumentError(
                    f"position {position.line + 1}:{position.character + 1} is past the end of {self.uri} "
                    f"({self.line_count} lines)"
                )
            return len(self.text) if position.line >= 0 else 0
        start = int(self._line_starts[position.line])
        end = int(self._line_starts[position.line + 1]) - 1 if position.line + 1 < self.line_count else len(self.text)
        if encoding == "utf-32" or self.text.isascii():
            column = position.character
        else:
            column, units = 0, 0
            while units < position.character and start + column < end:
                units += _units(self.text[start + column], encoding)
                column += 1
        if column > end - start and strict:
            raise DocumentError(
                f"position {position.line + 1}:{position.character + 1} is past the end of its line in {self.uri}"
            )
        return start + min(column, end - start)

    def apply(self, changes: list[Change], version: int, encoding: Encoding) -> None:
        """Apply the changes of one didChange, in order (each is relative to the previous)."""
        for change in changes:
            check_text(self.uri, change.text)
        text = self.text
        edits: list[tuple[int, int, str, str] | str] = []  # for the syntax tree: a str replaces the whole text
        for change in changes:
            if change.start is None or change.end is None:
                edits.append(change.text)
                text = change.text
                self._line_starts = self._index(text)
            else:
                start = self.offset_at(change.start, encoding, strict=False)
                end = max(start, self.offset_at(change.end, encoding, strict=False))
                edits.append((start, end, change.text, text))
                text = text[:start] + change.text + text[end:]
                self._reindex(start, end, change.text)
            self.text = text
        self.version = version
        self._update_syntax(edits)

    def _update_syntax(self, edits: list[tuple[int, int, str, str] | str]) -> None:
        """Edit the tree along with the text, then re-parse once. A document that lost its tree keeps
        plain-text context: re-parsing it on each keystroke would cost the same time budget each time."""
        if self.syntax is None:
            return
        started = time.perf_counter()
        for edit in edits:
            if self.syntax is None:
                break
            if isinstance(edit, str):
                self.syntax = SyntaxTree.create(self.language_id, edit)
            else:
                self.syntax.edit(*edit)
        if self.syntax is not None:
            self.syntax.reparse()
            if self.syntax.tree is None:
                self.syntax = None
        self.syntax_ms = (time.perf_counter() - started) * 1000

    def snapshot(self, position: Position, encoding: Encoding) -> Snapshot:
        offset = self.offset_at(position, encoding)
        return Snapshot(uri=self.uri, version=self.version, language_id=self.language_id, text=self.text, offset=offset)


class DocumentStore:
    """Open documents by URI."""

    def __init__(self) -> None:
        self._documents: dict[str, Document] = {}

    def open(self, uri: str, language_id: str, version: int, text: str) -> Document:
        document = Document(uri, language_id, version, text)
        self._documents[uri] = document
        return document

    def close(self, uri: str) -> None:
        self._documents.pop(uri, None)

    def get(self, uri: str) -> Document:
        try:
            return self._documents[uri]
        except KeyError:
            raise DocumentError(f"{uri} was never opened (no didOpen): no completions for it") from None

    def uris(self) -> list[str]:
        return list(self._documents)

    def __contains__(self, uri: str) -> bool:
        return uri in self._documents

    def __len__(self) -> int:
        return len(self._documents)
