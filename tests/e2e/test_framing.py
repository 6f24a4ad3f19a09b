"""The real server's framing over stdio and TCP: no header, length or body kills it or
loses its place. One server process takes a seeded run of corrupted messages (the kinds
the issue names, then random byte flips, insertions, deletions and truncations), each
followed by valid requests that must all be answered; huge lengths are one log line each."""

from __future__ import annotations

import json
import os
import random
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.lsp_client import server_env
from tests.support.raw_stdio import RawServer, frame, notification, read_message, request

SERVE = [sys.executable, "-m", "copilot.lsp", "serve"]
INIT_PARAMS = {"capabilities": {}, "initializationOptions": {"cache": {"enabled": False}}}
CASES = 50
# The corruptions; the first three are unambiguous, so the message itself is read.
NAMED = ["lower", "no-space", "lf-only", "non-numeric", "nul", "no-header", "long", "short"]
ACCEPTED = {"lower", "no-space", "lf-only"}
SALVAGED = {"long", "short", "no-header"}  # the JSON is whole: it is answered too


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RawServer]:
    tmp = tmp_path_factory.mktemp("framing")
    with RawServer(SERVE, server_env(tmp), tmp / "server.log") as raw:
        assert "result" in raw.call("init", "initialize", INIT_PARAMS)
        raw.send(notification("initialized", {}))
        yield raw
        log = raw.log()
        assert "Traceback" not in log, log[-3000:]


def corrupt(body: bytes, kind: str, rng: random.Random) -> bytes:
    framed = frame(body)
    at = rng.randrange(len(framed))
    named = {
        "lower": b"content-length: %d\r\n\r\n" % len(body) + body,
        "no-space": b"Content-Length:%d\r\n\r\n" % len(body) + body,
        "lf-only": b"Content-Length: %d\n\n" % len(body) + body,
        "non-numeric": b"Content-Length: twelve\r\n\r\n" + body,
        "nul": b"Content-Length: %d\x00\r\n\r\n" % len(body) + body,
        "no-header": body,
        "long": b"Content-Length: %d\r\n\r\n" % (len(body) + 100) + body,
        "short": b"Content-Length: %d\r\n\r\n" % (len(body) - 10) + body,
        "flip": framed[:at] + bytes([rng.randrange(256)]) + framed[at + 1 :],
        "insert": framed[:at] + rng.randbytes(rng.randint(1, 8)) + framed[at:],
        "delete": framed[:at] + framed[at + rng.randint(1, 12) :],
        "truncate": framed[:at],
    }
    return named[kind]


def split(data: bytes, rng: random.Random) -> list[bytes]:
    """``data`` in one to three writes, as a client's writes may arrive."""
    cuts = sorted(rng.sample(range(1, len(data)), rng.randint(0, 2)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def test_no_corruption_stops_the_server_answering_the_requests_that_follow(server: RawServer) -> None:
    rng = random.Random(21)
    kinds = NAMED + [rng.choice(["flip", "insert", "delete", "truncate"]) for _ in range(CASES - len(NAMED))]
    for case, kind in enumerate(kinds):
        broken_id = 1000 + case
        if case % 2:
            body = json.dumps(request(broken_id, "copilot/stats", {"recent": case})).encode()
        else:
            body = json.dumps(notification("$/cancelRequest", {"id": broken_id})).encode()
        clean = [f"clean-{case}-a", f"clean-{case}-b"]
        stream = corrupt(body, kind, rng) + b"".join(frame(request(i, "copilot/stats", {"recent": 0})) for i in clean)
        for chunk in split(stream, rng):
            server.send_raw(chunk)
        for msg_id in clean:
            assert "result" in server.response(msg_id), (case, kind)
        if case % 2 and kind in ACCEPTED | SALVAGED:
            assert "result" in server.response(broken_id), (case, kind)
        assert server.process.poll() is None
    assert all(len(server.answers(f"clean-{c}-{x}")) == 1 for c in range(CASES) for x in "ab")
    assert server.notifications("window/showMessage") == []


@pytest.mark.parametrize(
    "header",
    [b"Content-Length: 100000000000", b"Content-Length: 1" + b"0" * 30, b"Content-Length: 1e30"],
)
def test_a_huge_content_length_is_one_log_line_and_the_next_request_is_answered(
    server: RawServer, header: bytes
) -> None:
    before = framing_lines(server)
    declared = header.split(b": ")[1].decode()
    skipped = json.dumps(request(f"skipped-{declared}", "copilot/stats", {})).encode()
    server.send_raw(header + b"\r\n\r\n" + skipped * 100)
    assert "result" in server.call(f"after-{declared}", "copilot/stats", {"recent": 0})
    new = framing_lines(server)[len(before) :]
    assert len(new) == 1 and declared in new[0], new
    assert server.answers(f"skipped-{declared}") == []


def framing_lines(server: RawServer) -> list[str]:
    return [line for line in server.log().splitlines() if "framing:" in line]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_tcp(tmp_path: Path) -> tuple[subprocess.Popen[bytes], socket.socket]:
    port = free_port()
    process = subprocess.Popen([*SERVE, "--tcp", f"127.0.0.1:{port}"], env=server_env(tmp_path), stderr=subprocess.PIPE)
    for _ in range(600):
        try:
            return process, socket.create_connection(("127.0.0.1", port), timeout=120)
        except OSError:
            time.sleep(0.1)  # the server is still starting
    process.kill()
    raise AssertionError(f"the server never listened on port {port}")


def stop_once_logged(process: subprocess.Popen[bytes], seen: str) -> tuple[int, str]:
    """The server outlives its clients (a session per client, lsp/host.py): once its log says
    ``seen``, SIGTERM ends it. Its exit status and its whole log."""
    assert process.stderr is not None
    log = b""
    deadline = time.monotonic() + 60
    try:
        while seen.encode() not in log:
            assert time.monotonic() < deadline, f"the log never said {seen!r}: {log.decode()}"
            if select.select([process.stderr], [], [], 1)[0]:
                log += os.read(process.stderr.fileno(), 1 << 16)
        process.terminate()
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        _, rest = process.communicate(timeout=60)
    return code, (log + rest).decode()


def test_over_tcp_a_broken_message_is_skipped_and_the_session_goes_on(tmp_path: Path) -> None:
    process, sock = start_tcp(tmp_path)
    with sock, sock.makefile("rb") as answers:

        def call(message: dict[str, Any], prefix: bytes = b"") -> dict[str, Any]:
            sock.sendall(prefix + frame(message))
            answer = read_message(answers)
            assert answer is not None
            return answer

        assert "result" in call(request(1, "initialize", INIT_PARAMS))
        assert "result" in call(request(2, "copilot/stats", {}), prefix=b"Content-Length: 10\r\n\r\n{broken")
        assert "result" in call(request(3, "copilot/stats", {}), prefix=b"content-length:5\n\n")
        assert call(request(4, "shutdown")) == {"jsonrpc": "2.0", "id": 4, "result": None}
        sock.sendall(frame(notification("exit")))
        assert read_message(answers) is None  # exit ends the session: the server closes the connection
    code, log = stop_once_logged(process, "framing: ")
    assert code == 0  # SIGTERM: the server itself kept listening
    assert "framing: " in log and "Traceback" not in log, log


def test_over_tcp_a_client_that_leaves_mid_message_ends_only_its_session(tmp_path: Path) -> None:
    """A session per client (README): when the client goes mid-message, its session ends with
    one log line and the server keeps listening."""
    process, sock = start_tcp(tmp_path)
    with sock, sock.makefile("rb") as answers:
        sock.sendall(frame(request(1, "initialize", INIT_PARAMS)))
        assert "result" in (read_message(answers) or {})
        sock.sendall(b"garbage\r\nContent-Length: 500\r\n\r\n{half")
    code, log = stop_once_logged(process, "the input ended 5 bytes into a message of 500")
    assert code == 0
    assert "framing: not a header line: garbage" in log and "the input ended 5 bytes into a message of 500" in log
    assert "Traceback" not in log, log
