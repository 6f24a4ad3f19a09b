"""The front (lsp/front.py) answers every request the editor sends, whatever happens to the
service or to its own forwarding loop: the service's end is a socket pair here."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from copilot.config import Config
from copilot.lsp import front as front_module
from copilot.lsp.front import Front
from copilot.lsp.service import client, naming
from copilot.lsp.service.stdio import frame

COMPLETION = {
    "textDocument": {"uri": "file:///p/a.py"},
    "position": {"line": 0, "character": 0},
    "context": {"triggerKind": 1},
}


def messages(data: bytes) -> list[Any]:
    found = []
    while data:
        header, _, rest = data.partition(b"\r\n\r\n")
        size = int(header.split(b":")[1])
        found.append(json.loads(rest[:size]))
        data = rest[size:]
    return found


async def received(service: socket.socket) -> list[Any]:
    """What the front wrote to the service's end so far."""
    await asyncio.sleep(0.05)
    service.setblocking(False)
    try:
        return messages(service.recv(1 << 16))
    except BlockingIOError:
        return []


def test_a_failure_of_the_forwarding_loop_answers_what_waits_and_reconnects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(front_module, "RETRY_DELAYS_S", (0.0, 0.0, 0.0))
    editor_end, stdout = os.pipe()
    first, first_service = socket.socketpair()
    second, second_service = socket.socketpair()

    async def main() -> None:
        front = Front(stdin=None, config=Config(), stdout=stdout)  # type: ignore[arg-type]
        front.address = naming.Address(Path("/nonexistent"), "key")
        monkeypatch.setattr(front, "_connect", lambda: client.Link(second, 2, b"", False))
        await front._attach(client.Link(first, 1, b"", False))
        loop = asyncio.ensure_future(front.serve_service())
        request = {"jsonrpc": "2.0", "id": 7, "method": "textDocument/inlineCompletion", "params": COMPLETION}
        await front.from_editor(request)
        assert [m["id"] for m in await received(first_service)] == [7]

        forward, failures = front.from_service, []

        def broken_once(message: Any) -> None:
            if not failures:
                failures.append(message)
                raise RuntimeError("a bug")
            forward(message)

        front.from_service = broken_once  # type: ignore[method-assign]
        first_service.sendall(frame({"jsonrpc": "2.0", "method": "window/logMessage", "params": {}}))
        async with asyncio.timeout(5):
            while front.link is None or front.link.pid != 2 or not front.ready.is_set():
                await asyncio.sleep(0.01)  # reconnected (to the second socket pair)
        await front.from_editor({**request, "id": 8})
        assert [m["id"] for m in await received(second_service)] == [8]
        front.closing = True
        loop.cancel()
        front._drop_link()
        await asyncio.sleep(0.01)  # the transports finish closing

    asyncio.run(main())
    os.close(stdout)
    answers = messages(os.read(editor_end, 1 << 16))
    assert answers == [{"jsonrpc": "2.0", "id": 7, "result": {"items": []}}]
    for sock in (first, first_service, second, second_service):
        sock.close()
    os.close(editor_end)
