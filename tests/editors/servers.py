"""A standalone server for the editor tests that connect over TCP: `copilot-lsp serve --tcp`
(or `make run`, whose banner says how to connect), started as a process of its own with the
test's private XDG folders, before the editor. One editor connects to each server."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COPILOT_LSP = ROOT / ".venv" / "bin" / "copilot-lsp"
# The editor tests' settings that keep a slow shared machine from cutting answers short
# (tests/editors/nvim/harness.lua, H.write_config), for servers started without init_options.
CONFIG_TOML = """[completion]
max_prefill_ms = 0
max_decode_ms = 0
debounce_ms = 0
[cache]
prefetch = false
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def private_env(base: Path, settings: bool = False) -> dict[str, str]:
    """os.environ with XDG folders under ``base``; with ``settings``, a config.toml there with
    the settings above."""
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(base / "config"),
        "XDG_DATA_HOME": str(base / "data"),
        "XDG_STATE_HOME": str(base / "state"),
        "XDG_CACHE_HOME": str(base / "cache"),
    }
    if settings:
        config = base / "config" / "copilot-lsp" / "config.toml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(CONFIG_TOML)
    return env


@dataclass
class Server:
    address: str
    stdout: Path
    stderr: Path

    def output(self) -> str:
        out, err = self.stdout.read_text()[-2000:], self.stderr.read_text()[-3000:]
        return f"--- server stdout ---\n{out}\n--- server stderr ---\n{err}"


@contextmanager
def tcp_server(base: Path, env: dict[str, str], *, make_run: bool = False) -> Iterator[Server]:
    """`.venv/bin/copilot-lsp serve --tcp 127.0.0.1:PORT` on a free port, or with ``make_run``
    `make run HOST=127.0.0.1 PORT=PORT` (not reinstalling: the checkout's .venv is used as it
    is); yielded once it listens, stopped (its process group) afterwards."""
    port = free_port()
    address = f"127.0.0.1:{port}"
    if make_run:
        # -o: the install stamp counts as up to date (the tests run in the installed .venv).
        command = ["make", "--no-print-directory", "-o", ".venv/.installed-run", "run"]
        command += ["HOST=127.0.0.1", f"PORT={port}"]
        env = {k: v for k, v in env.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    else:
        assert COPILOT_LSP.exists(), f"{COPILOT_LSP} is missing: the TCP tests need the checkout's venv (make run)"
        command = [str(COPILOT_LSP), "serve", "--tcp", address]
    server = Server(address, base / f"server-{port}.out", base / f"server-{port}.err")
    with server.stdout.open("w") as out, server.stderr.open("w") as err:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 120
        while "listening on" not in server.stderr.read_text():
            assert process.poll() is None, f"the server exited with {process.returncode}\n{server.output()}"
            assert time.monotonic() < deadline, f"the server did not listen in 120 s\n{server.output()}"
            time.sleep(0.1)
        yield server
    finally:
        # The whole group: make and its server, or the server and any child of its own.
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)


def banner_line(server: Server, editor: str) -> str:
    """What `make run`'s banner says after ``editor:`` (e.g. "Neovim")."""
    for line in server.stdout.read_text().splitlines():
        found = re.match(rf"\s*{re.escape(editor)}:\s*(.+?)\s*$", line)
        if found:
            return found.group(1)
    raise AssertionError(f"make run's banner has no {editor}: line\n{server.output()}")
