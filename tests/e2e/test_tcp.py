"""`copilot-lsp serve --tcp` (what `make run` starts): an editor connects over TCP and completes
(many editors at once: test_tcp_sessions.py)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.lsp.client import LanguageClient


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def tcp_server(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    process = subprocess.Popen(
        [sys.executable, "-m", "copilot.lsp", "serve", "--tcp", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        yield port
    finally:
        process.terminate()  # the server outlives its clients: SIGTERM stops it, in one line
        _, stderr = process.communicate(timeout=30)
        assert b"Traceback" not in stderr, stderr.decode()
        assert process.returncode == 0 and stderr.decode().splitlines()[-1] == "copilot-lsp: terminated"


async def connect(port: int) -> LanguageClient:
    for _ in range(300):
        try:
            client = LanguageClient("tcp-test", "1")
            await client.start_tcp("127.0.0.1", port)
            return client
        except OSError:
            await asyncio.sleep(0.1)
    raise AssertionError(f"server never listened on port {port}")


async def test_standalone_server_completes_over_tcp(tcp_server: int) -> None:
    client = await connect(tcp_server)
    result = await client.initialize_async(types.InitializeParams(capabilities=types.ClientCapabilities()))
    assert result.capabilities.inline_completion_provider is not None
    uri = "file:///project/main.py"
    text = "def add(a, b):\n    return a"
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
        )
    )
    answer = await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=1, character=12),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
        )
    )
    assert isinstance(answer, types.InlineCompletionList)
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
