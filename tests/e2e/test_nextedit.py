"""Next-edit suggestions through the real server over stdio: ``textDocument/copilotInlineEdit``
after a rename typed key by key, across two open files; stale versions; rejection; stats."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.support.lsp_client import initialize_recording_partials, open_doc, server_env

_tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"copilot-nextedit-{os.getpid()}"
SERVER = [sys.executable, "-m", "copilot.lsp", "serve"]

LIB = "file:///w/shop/pricing.py"
MAIN = "file:///w/shop/main.py"
LIB_TEXT = "def net_price(price, rate):\n    taxed = price * (1 + rate)\n    return round(price, 2) + taxed * 0\n"
MAIN_TEXT = "from shop.pricing import net_price\n\n\nprint(net_price(10, 0.2))\n"


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER, server_env=server_env(_tmp)))
async def client(lsp_client: LanguageClient):
    await initialize_recording_partials(lsp_client, {"cache": {"enabled": False, "prefetch": False}})
    yield
    await lsp_client.shutdown_session()


def edit(client: LanguageClient, uri: str, version: int, line: int, start: int, end: int, text: str) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(
                        start=types.Position(line=line, character=start), end=types.Position(line=line, character=end)
                    ),
                    text=text,
                )
            ],
        )
    )


def retype(client: LanguageClient, uri: str, version: int, line: int, at: int, old: str, new: str) -> int:
    """Backspace over ``old`` and type ``new``, one didChange per key; the last version."""
    for i in range(len(old), 0, -1):
        version += 1
        edit(client, uri, version, line, at + i - 1, at + i, "")
    for i, char in enumerate(new):
        version += 1
        edit(client, uri, version, line, at + i, at + i, char)
    return version


async def inline_edits(client: LanguageClient, uri: str, version: int, line: int = 0, char: int = 0) -> list[Any]:
    params = {"textDocument": {"uri": uri, "version": version}, "position": {"line": line, "character": char}}
    result = await client.protocol.send_request_async("textDocument/copilotInlineEdit", params)
    return list(result.edits)


def spans(edits: list[Any]) -> list[tuple[str, int, int, int, str]]:
    return [
        (e.textDocument.uri, e.range.start.line, e.range.start.character, e.range.end.character, e.text) for e in edits
    ]


async def test_a_rename_propagates_through_the_file_and_to_the_importing_file(client: LanguageClient) -> None:
    open_doc(client, LIB, LIB_TEXT)
    open_doc(client, MAIN, MAIN_TEXT)
    version = retype(client, LIB, 1, 0, 14, "price", "amount")  # the parameter
    edits = await inline_edits(client, LIB, version)
    assert spans(edits) == [
        (LIB, 1, 12, 17, "amount"),
        (LIB, 2, 17, 22, "amount"),
    ]
    assert all(e.textDocument.version == version for e in edits)
    assert edits[0].command.command == "copilot.inlineEditAccepted"

    # the function's name: the file that imports it follows
    version = retype(client, LIB, version, 0, 4, "net_price", "price_after_tax")
    edits = await inline_edits(client, LIB, version)
    assert spans(edits) == [(MAIN, 0, 25, 34, "price_after_tax"), (MAIN, 3, 6, 15, "price_after_tax")]
    assert all(e.textDocument.version == 1 for e in edits)  # the importing file's own version


async def test_a_stale_version_gets_no_edits_and_a_rejected_one_is_not_offered_again(client: LanguageClient) -> None:
    open_doc(client, LIB, LIB_TEXT)
    version = retype(client, LIB, 1, 1, 4, "taxed", "gross")
    assert await inline_edits(client, LIB, version - 1) == []
    edits = await inline_edits(client, LIB, version)
    assert spans(edits) == [(LIB, 2, 29, 34, "gross")]
    request_id = edits[0].command.arguments[0]
    client.protocol.notify("copilot/inlineEditEvent", {"requestId": request_id, "event": "shown"})
    client.protocol.notify("copilot/inlineEditEvent", {"requestId": request_id, "event": "rejected"})
    assert await inline_edits(client, LIB, version) == []
    stats = await client.protocol.send_request_async("copilot/stats", {})
    counts = stats.next_edit
    assert (counts.stale, counts.events_shown, counts.events_rejected, counts.kind_rename) == (1, 1, 1, 1)
    assert (counts.requests, counts.latency_ms.n) == (3, 2)  # the stale one is not timed
    # and in the session's counters, which reach Prometheus and the process's totals
    assert (stats.counts.next_edit_events_rejected, stats.counts.next_edit_stale) == (1, 1)


async def test_a_repeated_change_is_offered_and_its_acceptance_is_counted(client: LanguageClient) -> None:
    text = "def run(fetch):\n    a = fetch(1)\n    b = fetch(2)\n    c = fetch(3)\n"
    open_doc(client, MAIN, text)
    edit(client, MAIN, 2, 1, 15, 15, ", timeout=5")
    edits = await inline_edits(client, MAIN, 2, 1, 26)
    assert spans(edits) == [
        (MAIN, 2, 8, 16, "fetch(2, timeout=5)"),
        (MAIN, 3, 8, 16, "fetch(3, timeout=5)"),
    ]
    command = edits[0].command
    await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command.command, arguments=command.arguments)
    )
    stats = await client.protocol.send_request_async("copilot/stats", {})
    assert (stats.next_edit.events_accepted, stats.next_edit.kind_repeat) == (1, 2)


async def test_malformed_requests_are_answered_empty(client: LanguageClient) -> None:
    assert list((await client.protocol.send_request_async("textDocument/copilotInlineEdit", {})).edits) == []
    unknown = {"textDocument": {"uri": "file:///nope.py", "version": 1}, "position": {"line": 0, "character": 0}}
    assert list((await client.protocol.send_request_async("textDocument/copilotInlineEdit", unknown)).edits) == []
    client.protocol.notify("copilot/inlineEditEvent", {"requestId": "x", "event": 3})
    stats = await client.protocol.send_request_async("copilot/stats", {})
    assert stats.next_edit.events_malformed == 1
