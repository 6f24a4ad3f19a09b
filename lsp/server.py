"""The pygls language server. Handlers are thin: convert in, call the core, convert out.

Document sync handlers are synchronous, so edits apply in message order; completion is
an asyncio task, so ``$/cancelRequest`` cancels it and the model stops within a token.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import msgspec
from lsprotocol import types
from pygls.lsp.server import LanguageServer

from copilot import __version__
from copilot import config as config_mod
from copilot.documents import DocumentStore, Encoding
from copilot.errors import CopilotError
from copilot.pipeline import Pipeline
from copilot.session import build_pipeline

from . import convert

log = logging.getLogger(__name__)

STATS_METHOD = "copilot/stats"
PARTIAL_METHOD = "copilot/partialCompletion"
PARTIAL_INTERVAL_S = 0.03  # at most ~30 partial notifications a second per request
LIVE_SECTIONS = ("completion", "log")  # the others need a restart


class CopilotServer(LanguageServer):
    def __init__(self, config: config_mod.Config) -> None:
        super().__init__("copilot-lsp", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.documents = DocumentStore()
        self.pipeline: Pipeline | None = None
        self.tcp = False  # set by the CLI: a standalone server serves one client session
        self.base_config = config  # defaults + file; + initializationOptions once initialized

    @property
    def encoding(self) -> Encoding:
        return convert.encoding(self.workspace.position_encoding)

    def start_pipeline(self, options: Any) -> None:
        overrides = msgspec.to_builtins(options) if options is not None else None
        if overrides is not None and not isinstance(overrides, dict):
            log.error("initializationOptions must be an object, got %s: ignoring them", type(overrides).__name__)
            overrides = None
        try:
            config = config_mod.apply_layer(self.base_config, overrides, "initializationOptions")
        except CopilotError as exc:
            log.error("%s", exc)
            config = self.base_config
        logging.getLogger("copilot").setLevel(config.log.level.upper())
        self.base_config = config
        self.pipeline = build_pipeline(config)

    def apply_settings(self, settings: Any) -> None:
        """workspace/didChangeConfiguration: completion and log settings apply at once."""
        layer = msgspec.to_builtins(settings) if settings is not None else None
        if isinstance(layer, dict) and isinstance(layer.get("copilot"), dict):
            layer = layer["copilot"]
        if not isinstance(layer, dict) or self.pipeline is None:
            return
        try:
            updated = config_mod.apply_layer(self.base_config, layer, "didChangeConfiguration")
        except CopilotError as exc:
            log.error("%s", exc)
            return
        current = self.pipeline.config
        if any(getattr(updated, s) != getattr(current, s) for s in ("model", "cache", "speculative")):
            log.warning("model, cache and speculative settings take effect when the server restarts")
        self.pipeline.config = msgspec.structs.replace(
            current, **{section: getattr(updated, section) for section in LIVE_SECTIONS}
        )
        logging.getLogger("copilot").setLevel(updated.log.level.upper())

    def partial_sender(self, uri: str, version: int, request_id: int) -> Callable[[str], None]:
        """A callback for the inference thread that streams text to the client, throttled."""
        loop = asyncio.get_running_loop()
        last_sent = 0.0

        def send(text: str) -> None:
            nonlocal last_sent
            now = time.monotonic()
            if now - last_sent >= PARTIAL_INTERVAL_S:
                last_sent = now
                loop.call_soon_threadsafe(self.notify_partial, uri, version, request_id, text, False)

        return send

    def notify_partial(self, uri: str, version: int, request_id: int, text: str, done: bool) -> None:
        self.protocol.notify(
            PARTIAL_METHOD, {"requestId": request_id, "uri": uri, "version": version, "text": text, "done": done}
        )

    def stop_pipeline(self) -> None:
        if self.pipeline is not None:
            self.pipeline.close()
        self.pipeline = None


def create_server(config: config_mod.Config) -> CopilotServer:
    server = CopilotServer(config)

    @server.feature(types.INITIALIZE)
    def initialize(ls: CopilotServer, params: types.InitializeParams) -> None:
        ls.start_pipeline(params.initialization_options)

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: CopilotServer, params: None) -> None:
        ls.stop_pipeline()

    @server.feature(types.EXIT)
    def exit_server(ls: CopilotServer, params: None) -> None:
        ls.stop_pipeline()
        if ls.tcp:
            # pygls would raise SystemExit inside the TCP connection callback, where the
            # event loop reports it as an unhandled error; leave cleanly instead.
            logging.shutdown()
            os._exit(0 if ls.protocol._shutdown else 1)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: CopilotServer, params: types.DidOpenTextDocumentParams) -> None:
        doc = params.text_document
        try:
            ls.documents.open(doc.uri, doc.language_id, doc.version, doc.text)
        except CopilotError as exc:
            log.error("%s", exc)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: CopilotServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        try:
            ls.documents.get(uri).apply(
                convert.changes(params.content_changes), params.text_document.version, ls.encoding
            )
        except CopilotError as exc:
            log.error("%s", exc)
            ls.documents.close(uri)  # out of step with the editor: forget it until it is reopened

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: CopilotServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.documents.close(params.text_document.uri)
        if ls.pipeline:
            ls.pipeline.forget(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(ls: CopilotServer, params: types.InlineCompletionParams) -> types.InlineCompletionList:
        if ls.pipeline is None:
            return convert.inline_items("", params.position)
        try:
            document = ls.documents.get(params.text_document.uri)
            snapshot = document.snapshot(convert.position(params.position), ls.encoding)
        except CopilotError as exc:
            log.warning("%s", exc)
            return convert.inline_items("", params.position)
        request_id = ls.pipeline.next_request_id()
        result = await ls.pipeline.complete(
            snapshot,
            request_id,
            is_current=lambda: document.version == snapshot.version and snapshot.uri in ls.documents,
            on_partial=ls.partial_sender(snapshot.uri, snapshot.version, request_id),
        )
        if result.source in ("model", "stream"):
            ls.notify_partial(snapshot.uri, snapshot.version, request_id, result.text, True)
        return convert.inline_items(result.text, params.position)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(ls: CopilotServer, params: types.DidChangeConfigurationParams) -> None:
        ls.apply_settings(params.settings)

    @server.feature(STATS_METHOD)
    def stats(ls: CopilotServer, params: Any) -> dict[str, Any]:
        """Counters, stage medians, the last ``recent`` request records (default 20) and
        the sizes of the server's per-document state."""
        if ls.pipeline is None:
            return {}
        recent = getattr(params, "recent", 20) if params is not None else 20
        recent = recent if isinstance(recent, int) else 20
        return {
            **ls.pipeline.metrics.snapshot(recent),
            "state": {**ls.pipeline.state_sizes(), "open_documents": len(ls.documents)},
        }

    return server
