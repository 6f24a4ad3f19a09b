"""A blocking LSP client for a server subprocess over stdio, for tests that drive many
messages from synchronous code (hypothesis examples): one process serves a whole module.

    with StdioServer([sys.executable, "-m", "copilot.lsp", "serve"], env) as server:
        server.request("initialize", {...})
        server.notify("textDocument/didOpen", {...})

A reader thread parses the server's messages; requests the server sends (progress tokens,
registrations) are answered with null so that it never waits on the test.
"""

from __future__ import annotations

import itertools
import json
import queue
import subprocess
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from .raw_stdio import read_message  # one reader of the server's frames for both clients

TIMEOUT_S = 120.0  # generous: the machine is shared, and a timeout only bounds a hung server


class ServerError(Exception):
    """The server answered a request with an error."""


class StdioServer:
    def __init__(self, command: list[str], env: dict[str, str], stderr: Path) -> None:
        self.log_path = stderr  # the server's stderr: its log
        self._stderr = stderr.open("wb")
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, env=env
        )
        self._ids = itertools.count(1)
        self._responses: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.notifications: queue.Queue[dict[str, Any]] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name="lsp-reader", daemon=True)
        self._reader.start()

    def __enter__(self) -> StdioServer:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        stdin.flush()

    def notify(self, method: str, params: Any) -> None:
        self._send({"method": method, "params": params})

    def request(self, method: str, params: Any, timeout: float = TIMEOUT_S) -> Any:
        msg_id = next(self._ids)
        box: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=1)
        with self._lock:
            self._responses[msg_id] = box
        self._send({"id": msg_id, "method": method, "params": params})
        try:
            response = box.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no answer to {method} within {timeout} s") from None
        if "error" in response:
            raise ServerError(f"{method}: {response['error']}")
        return response.get("result")

    def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        while (message := read_message(stdout)) is not None:
            if "method" in message and "id" in message:  # a request from the server
                self._send({"id": message["id"], "result": None})
            elif "method" in message:
                self.notifications.put(message)
            else:
                with self._lock:
                    box = self._responses.pop(message.get("id"), None)  # type: ignore[arg-type]
                if box is not None:
                    box.put(message)

    def close(self) -> int:
        """shutdown + exit; the exit code (the process is killed if it does not leave)."""
        try:
            if self.process.poll() is None:
                self.request("shutdown", None, timeout=60)
                self.notify("exit", None)
            if self.process.stdin is not None:
                self.process.stdin.close()
            code = self.process.wait(timeout=60)
        except (OSError, TimeoutError, ServerError, subprocess.TimeoutExpired):
            self.process.kill()
            code = self.process.wait()
        self._reader.join(timeout=60)
        for stream in (self.process.stdin, self.process.stdout, self._stderr):
            if stream is not None:
                stream.close()
        return code
