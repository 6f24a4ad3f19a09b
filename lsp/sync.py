"""Text document sync with one copy of each document: the server's ``DocumentStore``.

pygls' built-in ``didOpen``/``didChange``/``didClose`` handlers first update pygls' own
workspace, then call the server's handlers. That shadow copy splits lines with
``str.splitlines`` (which also breaks at ``\\f``, ``\\v``, ``\\x1c``-``\\x1e``, U+0085,
U+2028, U+2029, where LSP does not), writes its clamped ``character`` back into the
``Position`` objects the server's handler then applies, keys documents by the unquoted URI
(a change after a close under another spelling raises before the server's handler runs),
and copies the whole text on every keystroke (about 1 s in a 50 MB document). The server
never reads it: ``OwnDocumentsProtocol`` skips it and calls the server's handlers only.

``register_test_requests`` adds ``copilot/_documentText`` (the server's copy of a document)
when ``COPILOT_LSP_TEST_REQUESTS=1``: the end-to-end tests compare it with the editor's.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Generator
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from copilot.documents import DocumentStore
from copilot.errors import CopilotError

log = logging.getLogger(__name__)

TEXT_METHOD = "copilot/_documentText"  # tests only: {"textDocument": {"uri"}} -> {"uri", "version", "text"}
TEST_REQUESTS_ENV = "COPILOT_LSP_TEST_REQUESTS"

# What pygls' generator handlers yield: the handler to run next, its args and kwargs.
Step = Generator[tuple[Callable[..., Any], tuple[Any, ...], None], Any, None]


class OwnDocumentsProtocol(LanguageServerProtocol):
    """pygls' protocol without its workspace's document copies: the text-sync notifications go
    straight to the server's handlers (pygls' workspace keeps its folders and the negotiated
    position encoding, which the server reads)."""

    def _server_handler(self, method: str, params: Any) -> Step:
        if (handler := self.fm.features.get(method)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams) -> Step:
        yield from self._server_handler(types.TEXT_DOCUMENT_DID_OPEN, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> Step:
        yield from self._server_handler(types.TEXT_DOCUMENT_DID_CHANGE, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams) -> Step:
        yield from self._server_handler(types.TEXT_DOCUMENT_DID_CLOSE, params)


def register_test_requests(server: LanguageServer, documents: DocumentStore) -> None:
    """``copilot/_documentText`` for the tests, only when they ask for it: editors never need
    the server to send a whole document back."""
    if os.environ.get(TEST_REQUESTS_ENV) != "1":
        return
    log.info("%s: answering %s", TEST_REQUESTS_ENV, TEXT_METHOD)

    @server.feature(TEXT_METHOD)
    def document_text(ls: LanguageServer, params: Any) -> dict[str, Any]:
        uri = _field(_field(params, "textDocument"), "uri")
        if not isinstance(uri, str):
            return {"error": f"{TEXT_METHOD} needs textDocument.uri"}
        try:
            document = documents.get(uri)
        except CopilotError as exc:
            return {"error": str(exc)}
        return {"uri": document.uri, "version": document.version, "text": document.text}


def _field(value: Any, name: str) -> Any:
    """A field of custom params, which pygls hands over as a dict or as a named tuple."""
    return value.get(name) if isinstance(value, dict) else getattr(value, name, None)
