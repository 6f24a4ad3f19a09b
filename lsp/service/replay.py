r"""What a front keeps so that a restarted service can take over its editor's session: the
``initialize`` request, the ``initialized`` notification, the last
``workspace/didChangeConfiguration`` and every open document with its current text and
version, kept in step with ``didChange`` exactly as the server's own copy
(``copilot/documents.py``: lines end at ``\n``, ``\r\n`` or a lone ``\r``; a character past
its line's end means that end, a line past the last one the document's end; positions in
the negotiated encoding), but without tree-sitter or numpy: the front stays light.

Replaying is ``initialize`` (under an id of the front's own, its answer swallowed), then
``initialized``, the configuration and one ``didOpen`` per open document.
"""

from __future__ import annotations

import bisect
import logging
import re
import sys
from typing import Any
from urllib.parse import quote, unquote_to_bytes

log = logging.getLogger(__name__)

BREAK = re.compile(r"\r\n|\r|\n")
CODECS = {"utf-8": ("utf-8", 1), "utf-16": ("utf-16-le", 2)}
FOLDS_CASE = sys.platform in ("win32", "darwin")
_URI = re.compile(r"^(?:([^:/?#]+):)?(?://([^/?#]*))?([^?#]*)(\?[^#]*)?(#.*)?$", re.DOTALL)
REPLAY_ID_PREFIX = "copilot-lsp-front/replay-"


def document_key(uri: str) -> str:
    """One spelling per document, as ``copilot.documents.document_key`` (which the server
    uses; a unit test holds the two equal)."""
    match = _URI.match(uri)
    assert match is not None
    scheme, authority, path, query, fragment = match.groups()
    scheme = (scheme or "").lower()
    decoded = unquote_to_bytes(path)
    if scheme == "file":
        authority = "" if (authority or "").lower() == "localhost" else (authority or "").lower()
        if FOLDS_CASE:
            decoded = decoded.decode("utf-8", "surrogateescape").lower().encode("utf-8", "surrogateescape")
    key = f"{scheme}:" if scheme else ""
    if authority is not None:
        key += f"//{authority}"
    return key + quote(decoded, safe="/") + (query or "") + (fragment or "")


class OpenDocument:
    def __init__(self, uri: str, language_id: str, version: int, text: str) -> None:
        self.uri = uri
        self.language_id = language_id
        self.version = version
        self.text = text
        self.starts = [0, *(m.end() for m in BREAK.finditer(text))]  # where each line starts

    def _line_end(self, line: int) -> int:
        if line + 1 >= len(self.starts):
            return len(self.text)
        end = self.starts[line + 1] - 1
        if end > self.starts[line] and self.text[end] == "\n" and self.text[end - 1] == "\r":
            end -= 1
        return end

    def offset(self, position: Any, encoding: str) -> int:
        """The string offset of an LSP position, clamped as the server clamps an edit's."""
        line, character = position["line"], position["character"]
        if not isinstance(line, int) or not isinstance(character, int):
            raise ValueError("a position of integers")
        if line < 0:
            return 0
        if line >= len(self.starts):
            return len(self.text)
        start, end = self.starts[line], self._line_end(line)
        character = max(character, 0)
        if encoding == "utf-32" or encoding not in CODECS:
            return start + min(character, end - start)
        piece = self.text[start : min(end, start + character)]
        if piece.isascii():
            return start + len(piece)
        codec, size = CODECS[encoding]
        cut = piece.encode(codec, "surrogatepass")[: character * size]
        column = len(cut.decode(codec, "ignore"))
        if len(piece[:column].encode(codec, "surrogatepass")) < len(cut):
            column += 1  # a position inside a character counts it whole
        return start + column

    def apply(self, changes: list[Any], version: int, encoding: str) -> None:
        for change in changes:
            text = change["text"]
            if not isinstance(text, str):
                raise ValueError("a change's text is a string")
            edit = change.get("range")
            if edit is None:
                self.text = text
                self.starts = [0, *(m.end() for m in BREAK.finditer(text))]
                continue
            start = self.offset(edit["start"], encoding)
            end = max(start, self.offset(edit["end"], encoding))
            self.text = self.text[:start] + text + self.text[end:]
            self._reindex(start, end, text)
        self.version = version

    def _reindex(self, start: int, end: int, inserted: str) -> None:
        """As ``copilot.documents.Document._reindex``: only the line starts around the edit
        are looked for again; the later ones move by the change in length."""
        new_end = start + len(inserted)
        low, high = max(start - 1, 0), min(new_end + 1, len(self.text))
        first = max(start, 1)
        found = [low + m.end() for m in BREAK.finditer(self.text[low:high])]
        found = [offset for offset in found if first <= offset <= new_end]
        kept = self.starts[: bisect.bisect_left(self.starts, first)]
        shift = new_end - end
        moved = [offset + shift for offset in self.starts[bisect.bisect_left(self.starts, end + 1) :]]
        self.starts = kept + found + moved


class Session:
    """The editor's session as far as a new service needs it."""

    def __init__(self) -> None:
        self.initialize: dict[str, Any] | None = None
        self.initialized: dict[str, Any] | None = None
        self.configuration: dict[str, Any] | None = None
        self.documents: dict[str, OpenDocument] = {}
        self.encoding = "utf-16"
        self.shutdown = False
        self._replays = 0

    def from_editor(self, message: dict[str, Any]) -> None:
        """Keep what ``message`` (from the editor, about to be forwarded) changes."""
        method = message.get("method")
        params: Any = message.get("params")
        try:
            if method == "initialize" and "id" in message:
                if self.initialize is None:
                    self.initialize = message
            elif method == "initialized":
                self.initialized = message
            elif method == "workspace/didChangeConfiguration":
                self.configuration = message
            elif method == "shutdown":
                self.shutdown = True
            elif method == "textDocument/didOpen":
                item = params["textDocument"]
                uri, text, version = item["uri"], item["text"], item["version"]
                if isinstance(uri, str) and isinstance(text, str) and isinstance(version, int):
                    language = str(item.get("languageId", ""))
                    self.documents[document_key(uri)] = OpenDocument(uri, language, version, text)
            elif method == "textDocument/didChange":
                self._change(params)
            elif method == "textDocument/didClose":
                self.documents.pop(document_key(params["textDocument"]["uri"]), None)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            log.debug("not tracking a malformed %s: %s", method, exc)

    def _change(self, params: Any) -> None:
        identifier = params["textDocument"]
        key = document_key(identifier["uri"])
        document = self.documents.get(key)
        if document is None:
            return
        try:
            version = identifier["version"]
            document.apply(list(params["contentChanges"]), version if isinstance(version, int) else 0, self.encoding)
        except (KeyError, TypeError, AttributeError, ValueError, UnicodeError) as exc:
            log.debug("%s: forgetting it after a change it cannot apply: %s", identifier["uri"], exc)
            del self.documents[key]  # the server forgets it too: out of step until reopened

    def initialize_answered(self, result: Any) -> None:
        """The service's answer to ``initialize``: the position encoding it chose."""
        try:
            encoding = result["capabilities"].get("positionEncoding")
        except (KeyError, TypeError, AttributeError):
            return
        if encoding in ("utf-8", "utf-16", "utf-32"):
            self.encoding = encoding

    def replay(self) -> list[dict[str, Any]]:
        """The messages that bring a new service to where the last one was."""
        if self.initialize is None:
            return []
        self._replays += 1
        messages = [{**self.initialize, "id": f"{REPLAY_ID_PREFIX}{self._replays}"}]
        messages += [message for message in (self.initialized, self.configuration) if message is not None]
        for document in self.documents.values():
            item = {
                "uri": document.uri,
                "languageId": document.language_id,
                "version": document.version,
                "text": document.text,
            }
            messages.append({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": item}})
        return messages
