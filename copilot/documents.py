r"""The server's own copy of each open document, kept in step with the editor's edits.

Each document also keeps its tree-sitter tree (``syntax``), edited along with the text.

Positions arrive as (line, character) where ``character`` counts code units of the
negotiated position encoding: UTF-16 (the LSP default), UTF-8 or UTF-32. Lines end where
LSP says they do: at ``\n``, ``\r\n`` or a lone ``\r``, nowhere else (not at the other
characters ``str.splitlines`` breaks on). Only the edits the editor sends ever change a
document: the server never writes to it, and holds its only copy (see ``copilot.lsp.sync``).
"""

from __future__ import annotations

import logging
import re
import sys
import time
from pathlib import Path
from typing import Literal
from urllib.parse import quote, unquote, unquote_to_bytes, urlparse

import msgspec
import numpy as np
import numpy.typing as npt

from .errors import DocumentError
from .syntax.tree import SyntaxTree

log = logging.getLogger(__name__)

Encoding = Literal["utf-8", "utf-16", "utf-32"]
_CODECS = {"utf-8": ("utf-8", 1), "utf-16": ("utf-16-le", 2)}  # codec, bytes per code unit
FOLDS_CASE = sys.platform in ("win32", "darwin")  # their usual file systems: A.py and a.py are one file
_URI = re.compile(r"^(?:([^:/?#]+):)?(?://([^/?#]*))?([^?#]*)(\?[^#]*)?(#.*)?$", re.DOTALL)  # RFC 3986, appendix B


class Position(msgspec.Struct, frozen=True, kw_only=True):
    line: int
    character: int


class Change(msgspec.Struct, frozen=True, kw_only=True):
    """One content change: ``start``/``end`` None means the whole text is replaced."""

    text: str
    start: Position | None = None
    end: Position | None = None


class TextChange(msgspec.Struct, frozen=True):
    """A change as applied: ``before[start:end]`` (``before``: the whole text before it)
    became ``new``."""

    start: int
    end: int
    new: str
    before: str

    @property
    def old(self) -> str:
        return self.before[self.start : self.end]


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


def document_key(uri: str, fold_case: bool = FOLDS_CASE) -> str:
    """One spelling per document, for looking documents up: editors spell the same file
    differently (``a%20b.py`` / ``a b.py``, ``c%3A`` / ``C:``). The path is percent-decoded
    and re-encoded one way (bytes, so undecodable escapes stay distinct); a ``file`` URI's
    host and, where the platform's file systems ignore case, its path are lower-cased. The
    query and fragment are kept as sent: their escapes can carry meaning."""
    match = _URI.match(uri)
    assert match is not None  # every group is optional: any string matches
    scheme, authority, path, query, fragment = match.groups()
    scheme = (scheme or "").lower()
    decoded = unquote_to_bytes(path)
    if scheme == "file":
        authority = "" if (authority or "").lower() == "localhost" else (authority or "").lower()
        if fold_case:
            decoded = decoded.decode("utf-8", "surrogateescape").lower().encode("utf-8", "surrogateescape")
    key = f"{scheme}:" if scheme else ""
    if authority is not None:
        key += f"//{authority}"
    return key + quote(decoded, safe="/") + (query or "") + (fragment or "")


def _codes(text: str) -> npt.NDArray[np.uint8] | npt.NDArray[np.uint32]:
    """One number per character (vectorised scans: a 50 MB file has 2M lines)."""
    if text.isascii():
        return np.frombuffer(text.encode("ascii"), np.uint8)
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)


def _breaks(text: str) -> npt.NDArray[np.int64]:
    r"""The offsets just after each line break of ``text`` (``\n``, ``\r\n``, or ``\r`` not
    followed by ``\n``; a ``\r`` at the very end of ``text`` counts as a break)."""
    codes = _codes(text)
    if not len(codes):
        return np.empty(0, np.int64)
    lf = codes == 10
    cr = codes == 13
    after = lf.copy()
    after[:-1] |= cr[:-1] & ~lf[1:]
    after[-1] |= cr[-1]
    return np.flatnonzero(after).astype(np.int64) + 1


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
        """The string offset where each line starts."""
        return np.concatenate((np.zeros(1, np.int64), _breaks(text)))

    def _reindex(self, start: int, end: int, inserted: str) -> None:
        r"""Line starts after ``text[start:end]`` became ``inserted`` (``self.text`` is already the
        new text). Whether a line starts at offset p depends on the characters at p - 1 and p
        only, so only the starts from ``start`` to the end of the insertion are looked for again
        (an ``\r`` before the edit can meet an inserted ``\n``); the later ones move by the change
        in length."""
        starts = self._line_starts
        new_end = start + len(inserted)
        lo, hi = max(start - 1, 0), min(new_end + 1, len(self.text))
        found = _breaks(self.text[lo:hi]) + lo
        found = found[(found >= max(start, 1)) & (found <= new_end)]
        kept = starts[: int(np.searchsorted(starts, max(start, 1)))]
        moved = starts[int(np.searchsorted(starts, end + 1)) :] + (new_end - end)
        self._line_starts = np.concatenate((kept, found, moved))

    @property
    def line_count(self) -> int:
        return len(self._line_starts)

    def line_span(self, line: int) -> tuple[int, int]:
        """The string offsets where ``line`` starts and where its text ends (before its break)."""
        start = int(self._line_starts[line])
        if line + 1 >= self.line_count:
            return start, len(self.text)
        end = int(self._line_starts[line + 1]) - 1
        if end > start and self.text[end] == "\n" and self.text[end - 1] == "\r":
            end -= 1
        return start, end

    def _column(self, start: int, end: int, character: int, encoding: Encoding) -> int:
        """How many characters of the line ``text[start:end]`` ``character`` code units span, or
        the line's length when it is shorter. A position inside a character (half a surrogate
        pair, part of a UTF-8 sequence) counts that character whole."""
        if encoding == "utf-32" or self.text.isascii():
            return min(character, end - start)
        piece = self.text[start : min(end, start + character)]  # a character is at least one code unit
        if piece.isascii():
            return len(piece)
        codec, size = _CODECS[encoding]
        cut = piece.encode(codec)[: character * size]
        column = len(cut.decode(codec, "ignore"))
        if len(piece[:column].encode(codec)) < len(cut):
            column += 1
        return column

    def offset_at(self, position: Position, encoding: Encoding, strict: bool = True) -> int:
        """String offset of ``position``. ``strict`` refuses positions outside the text;
        otherwise they clamp as LSP says: a character past its line's end to that end, a line
        past the last one to the end of the document (and negative values to 0)."""
        if position.line >= self.line_count or position.line < 0:
            if strict:
                raise DocumentError(
                    f"position {position.line + 1}:{position.character + 1} is past the end of {self.uri} "
                    f"({self.line_count} lines)"
                )
            return len(self.text) if position.line >= 0 else 0
        start, end = self.line_span(position.line)
        if strict and position.character > (units := self._units(start, end, encoding)):
            raise DocumentError(
                f"position {position.line + 1}:{position.character + 1} is past the end of its line in {self.uri} "
                f"({units} {encoding} code units)"
            )
        return start + self._column(start, end, max(position.character, 0), encoding)

    def position_at(self, offset: int, encoding: Encoding) -> Position:
        """The (line, character) of string offset ``offset``, ``character`` in ``encoding``'s
        code units (the inverse of ``offset_at``)."""
        offset = min(max(offset, 0), len(self.text))
        line = int(np.searchsorted(self._line_starts, offset, side="right")) - 1
        start = int(self._line_starts[line])
        return Position(line=line, character=self._units(start, offset, encoding))

    def _units(self, start: int, end: int, encoding: Encoding) -> int:
        line = self.text[start:end]
        if encoding == "utf-32" or line.isascii():
            return len(line)
        codec, size = _CODECS[encoding]
        return len(line.encode(codec)) // size

    def apply(self, changes: list[Change], version: int, encoding: Encoding) -> list[TextChange]:
        """Apply the changes of one didChange, in order (each is relative to the previous);
        what each replaced, in string offsets."""
        for change in changes:
            check_text(self.uri, change.text)
        edits: list[tuple[int, int, str, str] | str] = []  # for the syntax tree: a str replaces the whole text
        applied = []
        for change in changes:
            if change.start is None or change.end is None:
                edits.append(change.text)
                applied.append(TextChange(0, len(self.text), change.text, self.text))
                self.text = change.text
                self._line_starts = self._index(change.text)
            else:
                start = self.offset_at(change.start, encoding, strict=False)
                end = max(start, self.offset_at(change.end, encoding, strict=False))
                edits.append((start, end, change.text, self.text))
                applied.append(TextChange(start, end, change.text, self.text))
                self.text = self.text[:start] + change.text + self.text[end:]
                self._reindex(start, end, change.text)
        self.version = version
        self._update_syntax(edits)
        return applied

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
    """Open documents by URI, each under one key however the editor spells its URI (``document_key``).
    A document keeps the spelling of the ``didOpen`` that opened it (``Document.uri``): the server's
    notifications and its per-document state use that one."""

    def __init__(self) -> None:
        self._documents: dict[str, Document] = {}

    def open(self, uri: str, language_id: str, version: int, text: str) -> Document:
        """Open (or, when the editor opens it again without closing it, replace) a document. Text the
        server cannot hold closes any earlier copy too: a stale copy would be worse than none."""
        key = document_key(uri)
        previous = self._documents.get(key)
        try:
            document = Document(previous.uri if previous else uri, language_id, version, text)
        except DocumentError:
            self._documents.pop(key, None)
            raise
        if previous is not None and previous.uri != uri:
            log.debug("%s was opened again as %s: keeping the first spelling", previous.uri, uri)
        self._documents[key] = document
        return document

    def close(self, uri: str) -> Document | None:
        """Forget the document; the one closed (its ``uri`` is the spelling it was opened with), or None."""
        return self._documents.pop(document_key(uri), None)

    def get(self, uri: str) -> Document:
        try:
            return self._documents[document_key(uri)]
        except KeyError:
            raise DocumentError(f"{uri} was never opened (no didOpen): no completions for it") from None

    def uris(self) -> list[str]:
        return [document.uri for document in self._documents.values()]

    def __contains__(self, uri: str) -> bool:
        return document_key(uri) in self._documents

    def __len__(self) -> int:
        return len(self._documents)
