"""`copilot-lsp complete`, `doctor`, `cache` and `serve` as a user runs them, and how every
command ends on Ctrl-C, a busy port or a reader that closes its output."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from subprocess import PIPE

import pytest

from tests.support.gguf_files import write_chat_model_without_fim
from tests.support.interrupt import INTERRUPTED, first_line, sigint_reaches_children

CLI = [sys.executable, "-m", "copilot.lsp"]


def run(*args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    extra = ["--config", str(config)] if config else []
    return subprocess.run([*CLI, *extra, *args], capture_output=True, text=True, timeout=300)


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "walk.py"
    path.write_text(
        "import os\n\n\ndef list_files(root):\n    for dirpath, dirnames, filenames in os.walk(root):\n"
        "        for name in filenames:\n            path = os.path.\n"
    )
    return path


def test_complete_prints_the_completion_then_answers_from_the_cache(tmp_path: Path, source: Path) -> None:
    # No time budgets: an answer cut short by a busy machine is (rightly) not cached.
    config = write_config(tmp_path, "[completion]\nmax_prefill_ms = 60000\nmax_decode_ms = 60000\n")
    first = run("complete", f"{source}:7:{len('            path = os.path.') + 1}", config=config)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip()
    assert "[model," in first.stderr
    second = run("complete", f"{source}:7:{len('            path = os.path.') + 1}", config=config)
    assert second.stdout == first.stdout
    assert "[disk," in second.stderr  # a new process: the answer came from LMDB


def test_complete_explains_bad_input(tmp_path: Path, source: Path) -> None:
    latin1 = tmp_path / "latin1.py"
    latin1.write_bytes(b"name = '\xe9t\xe9'\n")
    result = run("complete", f"{latin1}:1:1")
    assert result.returncode == 1 and "is not UTF-8 text" in result.stderr
    result = run("complete", f"{source}:99:1")
    assert result.returncode == 1 and "past the end" in result.stderr
    result = run("complete", "no-position.py")
    assert result.returncode == 2 and "FILE:LINE:COL" in result.stderr


def test_doctor_passes_on_a_fresh_install() -> None:
    result = run("doctor")
    assert result.returncode == 0, result.stdout
    assert "all checks passed" in result.stdout
    assert "[ok] model weights" in result.stdout


def test_doctor_recommends_a_real_model_for_this_machine() -> None:
    result = run("doctor")
    line = next(line for line in result.stdout.splitlines() if "model size" in line)
    assert line.startswith("[ok] model size: for this machine: qwen2.5-coder-")
    name = line.split("for this machine: ")[1].split(" ")[0]
    assert f"fix: copilot-lsp models pull {name} && copilot-lsp models use {name}" in result.stdout


def test_doctor_names_each_problem_and_its_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    config = write_config(tmp_path, f'[model]\npath = "{tmp_path}/missing.gguf"\n[cache]\ndir = "{blocker}/sub"\n')
    result = run("doctor", config=config)
    assert result.returncode == 1
    assert "[FAIL] model: model file not found" in result.stdout
    assert "[FAIL] cache:" in result.stdout
    assert result.stdout.count("fix:") == 2
    assert "2 problem(s) found" in result.stdout


def test_chat_model_without_fim_tokens_is_refused_with_advice(tmp_path: Path, source: Path) -> None:
    model = write_chat_model_without_fim(tmp_path / "tiny-chat.gguf")
    config = write_config(tmp_path, f'[model]\npath = "{model}"\n')
    result = run("doctor", config=config)
    assert result.returncode == 1
    assert "has no fill-in-the-middle tokens" in result.stdout and "Qwen2.5-Coder" in result.stdout
    completion = run("complete", f"{source}:1:1", config=config)
    assert completion.returncode == 1 and "no fill-in-the-middle tokens" in completion.stderr


def test_unknown_config_key_is_reported_by_doctor(tmp_path: Path) -> None:
    config = write_config(tmp_path, "[completion]\nmax_tokenz = 3\n")
    result = run("doctor", config=config)
    assert "[FAIL] config:" in result.stdout and "max_tokenz" in result.stdout


def test_cache_stats_and_clear(source: Path) -> None:
    assert run("complete", f"{source}:7:{len('            path = os.path.') + 1}").returncode == 0
    stats = json.loads(run("cache", "stats", "--json").stdout)
    assert stats["entries"] >= 2  # exact and context keys
    assert stats["count.miss"] >= 1
    readable = run("cache", "stats")
    assert "entries" in readable.stdout and "miss" in readable.stdout
    assert run("cache", "clear").returncode == 0
    assert json.loads(run("cache", "stats", "--json").stdout)["entries"] == 0


def test_doctor_reports_a_truncated_cache(source: Path, isolated_dirs: Path) -> None:
    from copilot.cache.keys import CachedCompletion
    from copilot.cache.store import LmdbStore

    directory = isolated_dirs / "xdg_cache_home" / "copilot-lsp" / "completions"
    store = LmdbStore(directory, 16)
    for i in range(2000):
        store.put(f"k{i}".encode(), CachedCompletion(anchor="", text="x" * 300, created=0.0))
    store.close()
    data = directory / "data.mdb"
    with data.open("r+b") as file:
        file.truncate(data.stat().st_size // 2)
    result = run("doctor")
    assert "[FAIL] cache:" in result.stdout and "truncated" in result.stdout
    assert run("complete", f"{source}:1:1").returncode == 0  # the server side rebuilds it
    assert "[ok] cache" in run("doctor").stdout


def test_cache_stats_counts_in_mib(tmp_path: Path) -> None:
    result = run("cache", "stats")
    assert re.search(r"^size +0\.0 MiB of 256 MiB$", result.stdout, re.M), result.stdout  # cache.max_size_mb
    config = write_config(tmp_path, f'[cache]\nmax_size_mb = 64\ndir = "{tmp_path / "small"}"\n')
    other = run("cache", "stats", config=config)
    assert re.search(r"^size +0\.0 MiB of 64 MiB$", other.stdout, re.M), other.stdout


def test_complete_in_an_ignored_file_says_which_rule_ignores_it(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".copilotignore").write_text("secrets/\n")
    secret = tmp_path / "secrets" / "keys.py"
    secret.parent.mkdir()
    secret.write_text("import os\nAPI_KEY = os.\n")
    result = run("complete", f"{secret}:2:14")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # no empty line for a completion that was never asked for
    assert f"no completion: {secret} never enters a prompt (ignored by .copilotignore: secrets/)" in result.stderr
    env_file = tmp_path / ".env"
    env_file.write_text("TOKEN=\n")
    result = run("complete", f"{env_file}:1:7")
    assert result.returncode == 0 and "(ignored by default: .env)" in result.stderr


def test_a_busy_port_is_one_line_and_nothing_says_listening() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--tcp", f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"error: port {port} on 127.0.0.1 is already in use" in result.stderr
    assert f"make run PORT={port + 1}" in result.stderr and f"serve --tcp 127.0.0.1:{port + 1}" in result.stderr
    assert "listening" not in result.stderr


@pytest.mark.parametrize("spec", ["2087", "localhost:http", "127.0.0.1:70000"])
def test_a_tcp_address_that_is_not_host_port_is_one_line(spec: str) -> None:
    result = run("serve", "--tcp", spec)
    assert result.returncode == 2
    assert result.stderr == (
        f"error: --tcp expects HOST:PORT with a port from 1 to 65535 (e.g. 127.0.0.1:2087), got {spec!r}\n"
    )


@pytest.mark.parametrize("command", [["models", "list", "--json"], ["stats", "--json"], ["doctor"]])
def test_a_reader_that_closes_early_ends_the_command_quietly(command: list[str]) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before the first byte, as `| head -c 0` does
    try:
        result = subprocess.run([*CLI, *command], stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=300)
    finally:
        os.close(write_end)
    assert result.stderr == ""  # neither a traceback nor Python's "Exception ignored" at exit
    assert result.returncode == 141  # as a process ended by SIGPIPE


def connect_within(port: int, seconds: float = 60.0) -> socket.socket:
    """A client connection to the server on ``port`` (it binds just after saying "listening")."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=seconds)
        except ConnectionRefusedError:
            assert time.monotonic() < deadline, f"nothing listened on port {port}"
            time.sleep(0.1)


def test_ctrl_c_ends_a_tcp_server_in_one_line() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with (
        sigint_reaches_children(),
        subprocess.Popen([*CLI, "serve", "--tcp", f"127.0.0.1:{port}"], stderr=PIPE) as server,
    ):
        try:
            assert server.stderr is not None
            assert b"listening on" in first_line(server.stderr)
            with connect_within(port):  # a client session is open
                server.send_signal(signal.SIGINT)
                code = server.wait(60)
            rest = server.stderr.read().decode()
        finally:
            server.kill()
    assert code == 130
    assert rest == INTERRUPTED + "\n"  # nothing else: no traceback


def test_ctrl_c_ends_a_stdio_server_in_one_line_while_the_editor_keeps_stdin_open(tmp_path: Path) -> None:
    (tmp_path / "walk.py").write_text("import os\n")  # a workspace: its index is being built
    with sigint_reaches_children(), subprocess.Popen([*CLI, "serve"], stdin=PIPE, stdout=PIPE, stderr=PIPE) as server:
        try:
            assert server.stdin is not None and server.stdout is not None and server.stderr is not None
            params = {"processId": os.getpid(), "rootUri": tmp_path.as_uri(), "capabilities": {}}
            body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}).encode()
            server.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            server.stdin.flush()
            assert first_line(server.stdout).startswith(b"Content-Length:")  # initialized: the pipeline runs
            server.send_signal(signal.SIGINT)
            code = server.wait(60)  # stdin is still open: the server must not wait for it
            stderr = server.stderr.read().decode()  # to the end: no process of the server's is left holding it
        finally:
            server.kill()
    assert code == 130
    assert stderr.splitlines()[-1] == INTERRUPTED, stderr  # after what the server logged while it ran
    assert stderr.count(INTERRUPTED) == 1 and "Traceback" not in stderr and "Warning" not in stderr
