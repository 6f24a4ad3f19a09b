"""A JSON-RPC client for a server subprocess over stdio that can send any bytes at all:
broken headers, wrong lengths, bodies that are not JSON, requests with any params.

    with RawServer(SERVE, env, tmp_path / "server.log") as server:
        server.send_raw(b"Content-Length: 1e30\\r\\n\\r\\n")
        server.send({"jsonrpc": "2.0", "id": 1, "method": "shutdown"})
        assert server.response(1)["result"] is None

A reader thread keeps every message the server sends; requests from the server (progress
tokens, registrations) are answered with null so that it never waits on the test.
"""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path
from types import TracebackType
from typing import IO, Any

TIMEOUT_S = 120.0  # generous: the machine is shared; a timeout only bounds a hung server


def frame(message: dict[str, Any] | bytes) -> bytes:
    """A message as the LSP base protocol frames it."""
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def request(msg_id: int | str, method: str, params: Any = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
    return message if params is None else {**message, "params": params}


def notification(method: str, params: Any = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    return message if params is None else {**message, "params": params}


class RawServer:
    def __init__(self, command: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, env=env
        )
        self.received: list[dict[str, Any]] = []  # every message from the server, in order
        self._changed = threading.Condition()
        self._ended = False  # the server closed its stdout
        self._reader = threading.Thread(target=self._read, name="raw-lsp-reader", daemon=True)
        self._reader.start()

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def send_raw(self, data: bytes) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(data)
        stdin.flush()

    def send(self, message: dict[str, Any]) -> None:
        self.send_raw(frame(message))

    def response(self, msg_id: int | str | None, timeout: float = TIMEOUT_S) -> dict[str, Any]:
        """The server's answer to request ``msg_id`` (waiting for it)."""
        found = self._wait(lambda: self._answer(msg_id), timeout)
        assert found is not None, f"no answer to request {msg_id!r} within {timeout} s; log:\n{self.log()[-3000:]}"
        return found

    def answers(self, msg_id: int | str | None) -> list[dict[str, Any]]:
        with self._changed:
            return [m for m in self.received if "method" not in m and m.get("id") == msg_id]

    def notifications(self, method: str) -> list[dict[str, Any]]:
        with self._changed:
            return [m for m in self.received if m.get("method") == method and "id" not in m]

    def call(self, msg_id: int | str, method: str, params: Any = None) -> dict[str, Any]:
        """Send a request and wait for its answer."""
        self.send(request(msg_id, method, params))
        return self.response(msg_id)

    def wait_exit(self, timeout: float = TIMEOUT_S) -> int:
        return self.process.wait(timeout=timeout)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def close(self) -> int:
        """shutdown + exit if the server still runs; its exit status (killed if it hangs)."""
        try:
            if self.process.poll() is None:
                self.send(request("close-shutdown", "shutdown"))
                self._wait(lambda: self._answer("close-shutdown"), 60)
                self.send(notification("exit"))
            code = self.process.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            code = self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        self._reader.join(timeout=60)
        self._log.close()
        return code

    def _answer(self, msg_id: int | str | None) -> dict[str, Any] | None:
        return next((m for m in self.received if "method" not in m and m.get("id") == msg_id), None)

    def _wait(self, found: Any, timeout: float) -> Any:
        with self._changed:
            self._changed.wait_for(lambda: found() is not None or self._ended, timeout)
            return found()

    def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            while (message := read_message(stdout)) is not None:
                if "method" in message and "id" in message:  # a request from the server
                    self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})
                with self._changed:
                    self.received.append(message)
                    self._changed.notify_all()
        except (OSError, ValueError):
            pass
        finally:
            with self._changed:
                self._ended = True
                self._changed.notify_all()


def read_message(stream: IO[bytes]) -> dict[str, Any] | None:
    """One message from the server (its framing is trusted: this is not the code under test)."""
    length = None
    while True:
        line = stream.readline()
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode("ascii").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    if length is None:
        raise ValueError("the server sent a message without Content-Length")
    message: dict[str, Any] = json.loads(stream.read(length))
    return message
