"""A real OpenAI-compatible HTTP server for tests: llama-cpp-python's own `llama_cpp.server`,
run as a subprocess on loopback and serving a GGUF under a fixed model alias.

    with start_openai_server(DEFAULT_MODEL_PATH) as server:
        httpx.post(f"{server.base_url}/completions", json={...})

Needs the `llama-cpp-python[server]` packages (uvicorn, fastapi, pydantic-settings,
sse-starlette, starlette-context, PyYAML) in the environment.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from copilot.models import DEFAULT_MODEL_PATH

HOST = "127.0.0.1"
# No proxy for loopback, whatever http_proxy says.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port(host: str = HOST) -> int:
    """A port that was free a moment ago: racy, hence the retry in start_openai_server."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class OpenAIServer:
    """A running `python -m llama_cpp.server`; a context manager that stops it on exit."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log_path: Path, model_alias: str) -> None:
        self.process = process
        self.port = port
        self.log_path = log_path
        self.model_alias = model_alias

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process.wait()  # reap it: an unwaited Popen is a ResourceWarning

    def __enter__(self) -> OpenAIServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _launch(model: Path, port: int, model_alias: str, n_ctx: int, log_path: Path, extra: Sequence[str]) -> OpenAIServer:
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model),
        "--host", HOST,
        "--port", str(port),
        "--model_alias", model_alias,
        "--n_ctx", str(n_ctx),
        *extra,
    ]  # fmt: skip
    with log_path.open("wb") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    return OpenAIServer(process, port, log_path, model_alias)


def _wait_ready(server: OpenAIServer, deadline: float) -> str | None:
    """None once GET /v1/models answers 200; otherwise why not (the process died or time ran out)."""
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return f"exited with status {server.process.returncode}"
        try:
            with _OPENER.open(f"{server.base_url}/models", timeout=2) as response:
                if response.status == 200:
                    return None
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    return "did not answer GET /v1/models in time"


def start_openai_server(
    model: Path = DEFAULT_MODEL_PATH,
    port: int | None = None,
    model_alias: str = "copilot-remote",
    n_ctx: int = 512,
    *,
    log_path: Path | None = None,
    extra_args: Sequence[str] = (),
    startup_timeout: float = 60.0,
) -> OpenAIServer:
    """Start llama_cpp.server on 127.0.0.1 and return once GET /v1/models answers.

    `extra_args` go to the server as they are (e.g. ["--interrupt_requests", "False"]). The log
    (stdout and stderr) goes to `log_path`, by default a new file in the temporary directory.
    """
    if log_path is None:
        fd, name = tempfile.mkstemp(prefix="llama-server-", suffix=".log")
        os.close(fd)
        log_path = Path(name)
    attempts = 1 if port is not None else 3  # a free port can be taken between probe and bind
    for attempt in range(attempts):
        server = _launch(Path(model), port or free_port(), model_alias, n_ctx, log_path, extra_args)
        problem = _wait_ready(server, time.monotonic() + startup_timeout)
        if problem is None:
            return server
        server.stop()
        tail = server.log_tail()
        if "address already in use" in tail.lower() and attempt + 1 < attempts:
            continue
        raise RuntimeError(f"llama_cpp.server {problem}; log {log_path}:\n{tail}")
    raise AssertionError("unreachable")
