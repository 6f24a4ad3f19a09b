"""`copilot-lsp serve --tcp` serves any number of clients, each its own session (lsp/host.py):
against the real server process and its embedded default model, sessions see only their own
documents, outlive each other's departures (clean, abrupt, garbled or half-sent), the cache
keeps its entries through all of it, and SIGTERM / SIGINT end the process in one line. Then
SessionHost itself over in-process socket pairs."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from copilot import config as config_mod
from lsp.host import SessionHost
from tests.support.interrupt import INTERRUPTED, first_line, sigint_reaches_children
from tests.support.lsp_client import server_env
from tests.support.raw_stdio import frame, notification, read_message, request

CLI = [sys.executable, "-m", "copilot.lsp"]
TERMINATED = "copilot-lsp: terminated"  # lsp/exits.py
URI = "file:///project/shared.py"
ADD = "def add(a, b):\n    return a"
MUL = "def multiply(x, y):\n    return x"
TIMEOUT_S = 120.0  # bounds a hung server only: the machine is shared


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env_for(tmp: Path) -> dict[str, str]:
    return {**server_env(tmp), "XDG_STATE_HOME": str(tmp / "state"), "XDG_RUNTIME_DIR": str(tmp / "run")}


class Server:
    """The server process; a thread keeps its stderr lines (the log)."""

    def __init__(self, tmp: Path, *args: str) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.process = subprocess.Popen(
            [*CLI, *args, "serve", "--tcp", f"127.0.0.1:{self.port}"], env=env_for(tmp), stderr=subprocess.PIPE
        )
        assert self.process.stderr is not None
        assert b"listening on" in first_line(self.process.stderr)
        self.lines: list[str] = []
        self.clients: list[Client] = []
        self._reader = threading.Thread(target=self._read, args=(self.process.stderr,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[bytes]) -> None:
        for line in stream:
            self.lines.append(line.decode(errors="replace").rstrip("\n"))

    def connect(self) -> Client:
        deadline = time.monotonic() + TIMEOUT_S
        while True:  # the server binds just after saying "listening"
            try:
                client = Client(socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT_S))
                self.clients.append(client)
                return client
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, f"nothing listened on port {self.port}"
                time.sleep(0.05)

    def stop(self, signum: int, within: float = 5.0) -> tuple[int, float, list[str]]:
        """Send ``signum``: the exit status, how long it took and the log lines after it."""
        before = len(self.lines)
        started = time.monotonic()
        self.process.send_signal(signum)
        code = self.process.wait(within)
        took = time.monotonic() - started
        self._reader.join(10)
        return code, took, self.lines[before:]

    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, seconds: float = 30.0) -> None:
        deadline = time.monotonic() + seconds
        while text not in self.log():
            assert time.monotonic() < deadline, f"the log never said {text!r}:\n{self.log()}"
            time.sleep(0.02)

    def close(self) -> None:
        for client in self.clients:
            client.close()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._reader.join(10)
        assert self.process.stderr is not None
        self.process.stderr.close()


class Client:
    """One editor over a raw socket: any bytes can be sent; answers are read in order."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.stream = sock.makefile("rb")
        self._ids = iter(range(1, 1 << 30))

    def send(self, message: dict[str, Any] | bytes) -> None:
        self.sock.sendall(message if isinstance(message, bytes) else frame(message))

    def call(self, method: str, params: Any = None) -> dict[str, Any]:
        msg_id = next(self._ids)
        self.send(request(msg_id, method, params))
        while True:
            message = read_message(self.stream)
            assert message is not None, f"the server closed the connection before answering {method}"
            if message.get("id") == msg_id and "method" not in message:
                return message
            if "method" in message and "id" in message:  # a request of the server's: no answer expected
                self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})

    def start(self, uri: str, text: str, options: dict[str, Any] | None = None) -> None:
        assert "result" in self.call("initialize", {"capabilities": {}, "initializationOptions": options or {}})
        self.send(notification("initialized", {}))
        item = {"uri": uri, "languageId": "python", "version": 1, "text": text}
        self.send(notification("textDocument/didOpen", {"textDocument": item}))

    def complete(self, uri: str, line: int, character: int) -> str:
        params = {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}
        answer = self.call("textDocument/inlineCompletion", {**params, "context": {"triggerKind": 1}})
        items = answer["result"]["items"]
        return "".join(item["insertText"] for item in items)

    def prompt(self, uri: str, line: int, character: int) -> str:
        params = {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}
        report = self.call("copilot/inspectContext", params)["result"]
        assert "prompt" in report, report
        return str(report["prompt"])

    def close(self) -> None:
        self.stream.close()
        self.sock.close()


def cli(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env_for(tmp), capture_output=True, text=True, timeout=TIMEOUT_S)


def cache_entries(tmp: Path) -> int:
    result = cli(tmp, "cache", "stats", "--json")
    assert result.returncode == 0, result.stderr
    return int(json.loads(result.stdout)["entries"])


def live_sessions(tmp: Path) -> list[str]:
    result = cli(tmp, "stats", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    return sorted(str(entry.get("session")) for entry in json.loads(result.stdout))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path)
    try:
        yield running
    finally:
        running.close()


def test_clients_are_separate_sessions_that_outlive_each_other(server: Server, tmp_path: Path) -> None:
    first, second = server.connect(), server.connect()
    first.start(URI, ADD)
    second.start(URI, MUL)  # the same URI, other text: a document of its own
    first_prompt, second_prompt = first.prompt(URI, 1, 12), second.prompt(URI, 1, 12)
    assert "def add(a, b)" in first_prompt and "multiply" not in first_prompt
    assert "def multiply(x, y)" in second_prompt and "add" not in second_prompt
    first.complete(URI, 1, 12)
    second.complete(URI, 1, 12)
    assert live_sessions(tmp_path) == ["tcp-1", "tcp-2"]  # `copilot-lsp stats`: one entry per session
    deadline = time.monotonic() + 30
    while (entries := cache_entries(tmp_path)) == 0:  # written by the cache's own commits
        assert time.monotonic() < deadline, "no completion reached the cache"
        time.sleep(0.2)

    first.close()  # gone without shutdown or exit
    third = server.connect()
    third.start("file:///project/third.py", "import os\n\n\ndef walk(root):\n    for name in os.")
    assert "import os" in third.prompt("file:///project/third.py", 4, 19)
    third.complete("file:///project/third.py", 4, 19)

    garbage = server.connect()
    garbage.send(b"garbage\r\n\r\n{not json at all}\r\nContent-Length: 3\r\n\r\n[1]")
    assert "result" in garbage.call("initialize", {"capabilities": {}})  # its own session goes on too
    hanging = server.connect()
    hanging.send(frame(request(1, "initialize", {"capabilities": {}}))[:-20])  # half a message, then nothing
    leaving = server.connect()
    leaving.start(URI, ADD + " + b\n\ndef sub(a, b):\n    return a")
    leaving.send(
        request(
            9,
            "textDocument/inlineCompletion",
            {"textDocument": {"uri": URI}, "position": {"line": 4, "character": 12}, "context": {"triggerKind": 1}},
        )
    )
    leaving.close()  # mid-request

    assert "multiply" in second.prompt(URI, 1, 12)  # the others still answer, their documents intact
    second.complete(URI, 1, 12)
    assert "import os" in third.prompt("file:///project/third.py", 4, 19)
    assert "result" in garbage.call("copilot/stats", {})
    assert cache_entries(tmp_path) >= entries

    server.wait_for("session tcp-6: the client closed the connection")  # logged before the signal
    code, took, after = server.stop(signal.SIGTERM)  # sessions still open, one of them mid-message
    assert code == 0 and took < 2.0, (code, took)
    assert after == [TERMINATED], after
    log = server.log()
    assert "Traceback" not in log and "rebuilding it empty" not in log, log
    assert "framing: not a header line: garbage" in log  # what the garbage cost: log lines
    assert cache_entries(tmp_path) >= entries > 0  # every session's store closed, nothing emptied
    saved = cli(tmp_path, "stats", "--json")  # the process is gone: its saved snapshot lists its sessions
    (snapshot,) = json.loads(saved.stdout)
    assert {"tcp-1", "tcp-2", "tcp-3"} <= {entry["session"] for entry in snapshot["sessions"]}
    assert snapshot["counts"]["requests"] >= 4  # the process's: those of sessions gone before it too


def test_a_client_that_exits_ends_only_its_session(server: Server) -> None:
    leaving, staying = server.connect(), server.connect()
    leaving.start(URI, ADD)
    staying.start(URI, MUL)
    assert leaving.call("shutdown")["result"] is None
    leaving.send(notification("exit"))
    assert read_message(leaving.stream) is None  # the server closed that connection
    assert "multiply" in staying.prompt(URI, 1, 12)
    again = server.connect()  # and still listens
    again.start(URI, ADD)
    assert "def add" in again.prompt(URI, 1, 12)
    assert server.process.poll() is None


def test_one_prometheus_endpoint_for_the_process_labels_each_session(server: Server) -> None:
    port, other = free_port(), free_port()
    first, second = server.connect(), server.connect()
    first.start(URI, ADD, {"monitoring": {"prometheus_port": port}})
    second.start(URI, MUL, {"monitoring": {"prometheus_port": other}})  # the process has one already
    first.complete(URI, 1, 12)
    second.complete(URI, 1, 12)
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    assert 'copilot_events_total{name="requests"} 2.0' in body  # the process's
    assert 'copilot_session_events_total{name="requests",session="tcp-1"} 1.0' in body
    assert 'copilot_session_events_total{name="requests",session="tcp-2"} 1.0' in body
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{other}/metrics", timeout=10)


def test_sigint_ends_the_server_in_one_line(tmp_path: Path) -> None:
    with sigint_reaches_children():
        running = Server(tmp_path)
    try:
        client = running.connect()
        client.start(URI, ADD)
        client.complete(URI, 1, 12)  # a session with its pipeline and the model loaded
        code, took, after = running.stop(signal.SIGINT)
    finally:
        running.close()
    assert code == 130 and took < 2.0, (code, took)
    assert after == [INTERRUPTED], after
    assert "Traceback" not in running.log()


def test_a_remote_address_needs_allow_remote(tmp_path: Path) -> None:
    port = free_port()
    result = cli(tmp_path, "serve", "--tcp", f"0.0.0.0:{port}")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "0.0.0.0" in result.stderr and "no authentication" in result.stderr and "--allow-remote" in result.stderr
    assert "listening" not in result.stderr
    result = cli(tmp_path, "serve", "--allow-remote")  # over stdio it means nothing: said so
    assert result.returncode == 2 and result.stderr == "error: --allow-remote only applies to --tcp HOST:PORT\n"


# --- SessionHost in process -------------------------------------------------------------------


def no_model_config(tmp: Path) -> config_mod.Config:
    """No model (the pipeline answers nothing) and no cache: sessions without the weights."""
    layered = config_mod.apply(
        config_mod.Config(), {"model": {"path": str(tmp / "missing.gguf")}, "cache": {"enabled": False}}, "test"
    )
    return layered.config


async def open_pair() -> tuple[asyncio.StreamReader, asyncio.StreamWriter, asyncio.StreamReader, asyncio.StreamWriter]:
    """A connected Unix socket pair: (server reader, server writer, client reader, client writer)."""
    here, there = socket.socketpair()
    server_reader, server_writer = await asyncio.open_unix_connection(sock=here)
    client_reader, client_writer = await asyncio.open_unix_connection(sock=there)
    return server_reader, server_writer, client_reader, client_writer


async def answer(reader: asyncio.StreamReader, msg_id: int) -> dict[str, Any]:
    while True:
        header = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        length = int(header.split(b":")[1].split(b"\r\n")[0])
        message: dict[str, Any] = json.loads(await reader.readexactly(length))
        if message.get("id") == msg_id and "method" not in message:
            return message


async def test_session_host_serves_sessions_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # the statistics socket and snapshot
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    host = SessionHost(no_model_config(tmp_path))
    ended: list[str] = []
    host.on_session_end = ended.append
    pairs = [await open_pair() for _ in range(2)]
    tasks = [asyncio.ensure_future(host.serve_connection(reader, writer, "unit")) for reader, writer, _, _ in pairs]
    try:
        for index, (_, _, reader, writer) in enumerate(pairs):
            writer.write(frame(request(1, "initialize", {"capabilities": {}})))
            assert "result" in await answer(reader, 1)
            for n in range(index + 1):  # the first opens one document, the second two
                item = {"uri": f"file:///d{n}.py", "languageId": "python", "version": 1, "text": "x = 1\n"}
                writer.write(frame(notification("textDocument/didOpen", {"textDocument": item})))
            writer.write(b"Content-Length: 4\r\n\r\n{bad")  # a garbage message: a log line in its session
            writer.write(frame(request(2, "copilot/stats", {})))
            assert "result" in await answer(reader, 2)
        infos = sorted(host.sessions(), key=lambda info: info.open_documents)
        assert [info.open_documents for info in infos] == [1, 2]
        assert len({info.label for info in infos}) == 2 and all(" " not in info.label for info in infos)
        assert all(info.answered == 2 and not info.exited for info in infos)

        first_writer = pairs[0][3]
        first_writer.write(frame(notification("exit")))
        await asyncio.wait_for(tasks[0], 10)  # the session ended; serve_connection returned
        assert ended == [infos[0].label] and [info.label for info in host.sessions()] == [infos[1].label]

        second_writer = pairs[1][3]
        second_writer.write(b"Content-Length: 100\r\n\r\n{half")
        second_writer.close()  # gone mid-message
        await asyncio.wait_for(tasks[1], 10)
        assert host.sessions() == [] and len(ended) == 2
        assert [stats["ended"] for stats in host.statistics()["sessions"]] == [True, True]
        assert list((tmp_path / "run").rglob("*.sock"))  # the process's statistics socket, one for all
    finally:
        host.close()
        for task in tasks:
            task.cancel()
        for _, server_writer, _, client_writer in pairs:
            server_writer.close()
            client_writer.close()
