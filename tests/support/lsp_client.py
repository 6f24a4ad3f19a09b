"""The editor's side of the end-to-end tests: the server's environment, the LSP requests and
notifications the tests send, and the documents several test modules complete in."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import LanguageClient


def server_env(tmp: Path) -> dict[str, str]:
    """The environment of a server under test: its own cache and config folders, and the
    whole server in the process the test starts (no shared model service: many of these are
    built when a module is imported, before the per-test fixtures set the same)."""
    env = {key: value for key, value in os.environ.items() if key != "XDG_RUNTIME_DIR"}
    env.update(XDG_CACHE_HOME=str(tmp / "cache"), XDG_CONFIG_HOME=str(tmp / "config"), COPILOT_LSP_SERVICE="0")
    return env


async def initialize_recording_partials(client: LanguageClient, options: dict[str, Any]) -> None:
    """Initialize with ``options``, keeping every ``copilot/partialCompletion`` in ``client.partials``."""
    client.partials = []  # type: ignore[attr-defined]

    @client.feature("copilot/partialCompletion")
    def on_partial(params: Any) -> None:
        client.partials.append(params)  # type: ignore[attr-defined]

    await client.initialize_session(
        types.InitializeParams(capabilities=types.ClientCapabilities(), initialization_options=options)
    )


def open_doc(client: LanguageClient, uri: str, text: str, language: str = "python") -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id=language, version=1, text=text)
        )
    )


def change(client: LanguageClient, uri: str, version: int, line: int, char: int, text: str) -> None:
    at = types.Position(line=line, character=char)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangePartial(range=types.Range(start=at, end=at), text=text)],
        )
    )


def inline_params(uri: str, line: int, char: int) -> types.InlineCompletionParams:
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=line, character=char),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
    )


async def complete(client: LanguageClient, uri: str, line: int, char: int) -> str:
    result = await client.text_document_inline_completion_async(inline_params(uri, line, char))
    assert isinstance(result, types.InlineCompletionList)
    return "".join(str(item.insert_text) for item in result.items)


async def stats(client: LanguageClient) -> dict[str, Any]:
    result = await client.protocol.send_request_async("copilot/stats", {})
    counts = result.counts
    return {key: getattr(counts, key) for key in counts._fields}


SOURCE = '''import os


def list_python_files(root):
    """Return the paths of the Python files under root."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            if name.endswith(".py"):
'''


REPETITIVE = "TABLE = [\n" + "".join(f"    {i},\n" for i in range(40))
