"""A small LSP client that drives the real server over stdio, for the benchmarks."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient


class BenchClient:
    def __init__(self, options: dict[str, Any]) -> None:
        self.client = LanguageClient("copilot-bench", "1")
        self.options = options
        self.versions: dict[str, int] = {}
        self._first_partial: float | None = None

        @self.client.feature("copilot/status")
        def on_status(params: Any) -> None:  # the server's loading/ready notices: not measured here
            pass

        @self.client.feature("copilot/partialCompletion")
        def on_partial(params: Any) -> None:
            if self._first_partial is None and params.text:
                self._first_partial = time.perf_counter()

    async def start(self, *server_args: str, cache_dir: str, runtime_dir: str | None = None) -> None:
        """Start the server with its cache in ``cache_dir`` (a fresh one per run: results
        must not depend on what earlier runs left behind). Without ``runtime_dir``, the whole
        server runs in the spawned process (``serve --per-window``: the pipeline alone is
        measured); with it, ``serve`` is the light front of the shared model service whose
        socket is in ``runtime_dir`` (one per run: ``stop_services`` ends it)."""
        env = {**os.environ, "XDG_CACHE_HOME": cache_dir}
        serve = ["serve"]
        if runtime_dir is None:
            serve.append("--per-window")
        else:
            env["XDG_RUNTIME_DIR"] = runtime_dir
        await self.client.start_io(sys.executable, "-m", "copilot.lsp", *server_args, *serve, env=env)
        await self.client.initialize_async(
            types.InitializeParams(capabilities=types.ClientCapabilities(), initialization_options=self.options)
        )
        self.client.initialized(types.InitializedParams())

    async def stop(self) -> None:
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()

    def open(self, uri: str, text: str) -> None:
        self.versions[uri] = 1
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
            )
        )

    async def warm_up(self) -> None:
        """One untimed request on a throwaway document, so that a suite's clock starts with the
        model loaded and run once (as the peer's, measured only once its /health says ready)."""
        uri = "file:///bench/warm-up/warm_up.py"
        self.open(uri, "def main():\n    ")
        await self.complete(uri, 1, 4)
        self.client.text_document_did_close(
            types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )

    def insert(self, uri: str, line: int, character: int, text: str) -> None:
        self.replace(uri, line, character, character, text)

    def replace(self, uri: str, line: int, start: int, end: int, text: str) -> None:
        """Replace the characters start..end (UTF-16 columns) of a line with ``text``."""
        self.versions[uri] += 1
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri]),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(
                            start=types.Position(line=line, character=start),
                            end=types.Position(line=line, character=end),
                        ),
                        text=text,
                    )
                ],
            )
        )

    async def complete(self, uri: str, line: int, character: int) -> tuple[str, float, float | None]:
        """The suggestion at the position, the round trip and the time to the first streamed
        text (None when nothing was streamed: a cache hit or an empty answer), in ms."""
        self._first_partial = None
        started = time.perf_counter()
        result = await self.client.text_document_inline_completion_async(
            types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=line, character=character),
                context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
            )
        )
        elapsed = (time.perf_counter() - started) * 1000
        items = result.items if isinstance(result, types.InlineCompletionList) else (result or [])
        first = (self._first_partial - started) * 1000 if self._first_partial else None
        return ("".join(str(i.insert_text) for i in items[:1]), elapsed, first)

    def request(self, uri: str, line: int, character: int) -> Any:
        """Send an inline completion request now, without waiting for the answer (a task)."""
        return asyncio.ensure_future(
            self.client.text_document_inline_completion_async(
                types.InlineCompletionParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=types.Position(line=line, character=character),
                    context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
                )
            )
        )

    async def last_record(self) -> dict[str, Any]:
        """The server's record of the request answered last (its source, tokens, stages)."""
        return dict((await self.stats(1))["recent"][-1])

    async def stats(self, recent: int = 20) -> dict[str, Any]:
        result = await self.client.protocol.send_request_async("copilot/stats", {"recent": recent})
        return to_builtins(result)


def to_builtins(value: Any) -> Any:
    """pygls hands custom results over as namedtuples: back to plain JSON values."""
    if hasattr(value, "_asdict"):
        return {k: to_builtins(v) for k, v in value._asdict().items()}
    if isinstance(value, list | tuple):
        return [to_builtins(v) for v in value]
    return value
