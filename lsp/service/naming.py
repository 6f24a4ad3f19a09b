"""Where the model service listens and how both ends recognise each other.

One service per user and model configuration: its socket is
``<folder>/service-<key>.sock``, the folder being the first usable of
``paths.service_dir_candidates`` (``$XDG_RUNTIME_DIR/copilot-lsp``, else a private folder
under the cache dir, else one in the temporary folder; always 0700 and this user's), and
``key`` a short hash of the version, of what ``copilot/assembly.py``'s ``EngineKey`` holds
(the model file resolved, the model and speculative settings) and of where the service
reads its config and writes its cache (the config file, the XDG folders). The lock, the log
and the socket of one service share that name.

Handshake: the front writes one JSON line ``{"copilot-lsp": VERSION, "key": KEY, "pid": PID}``
(with ``"log_level"``: its ``--log-level``, the level of the log lines its session sends it)
and the service answers one line with its own version, key and pid and ``"ok"`` (or
``"ok": false`` and an ``"error"``); then the connection carries LSP. A control connection
writes ``{"copilot-lsp": VERSION, "control": "status" | "stop"}`` instead and gets one JSON
line back. Both ends check who is on the other side (``SO_PEERCRED``: this user only), and
a front refuses a socket file that is not this user's or that others may open.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import struct
import time
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from copilot import __version__, paths
from copilot.config import Config
from copilot.errors import CopilotError

VERSION_ENV = "COPILOT_LSP_VERSION_OVERRIDE"  # tests only: this process acts as another version
SERVICE_ENV = "COPILOT_LSP_SERVICE"  # "0": stdio `serve` runs the whole server itself (per window)
# Where the service finds its config and puts its cache, state and statistics: fronts that
# differ in these get services of their own (a test's isolated folders, another HOME).
ENVIRONMENT = ("HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR")
HANDSHAKE_TIMEOUT_S = 10.0
MAX_LINE_BYTES = 64 * 1024
PREFIX = "service-"


class ServiceUnavailable(CopilotError):
    """No service can be used or started (the reason says why)."""


def version() -> str:
    """The version both ends compare: the package's, unless a test makes this process another."""
    return os.environ.get(VERSION_ENV) or __version__


def service_enabled(config: Config) -> bool:
    """Whether stdio ``serve`` forwards to the service: ``service.enabled``, unless the
    environment says ``COPILOT_LSP_SERVICE=0``."""
    return config.service.enabled and os.environ.get(SERVICE_ENV, "").strip().lower() not in ("0", "false", "no", "off")


def _resolved(path: Path) -> str:
    try:
        return str(path.expanduser().resolve())
    except (OSError, RuntimeError):
        return str(path.expanduser())


def service_key(config: Config, config_file: Path | None = None) -> str:
    """16 hex digits naming the version and the model configuration (two fronts share a
    service exactly when they would load the same engine), and what the service reads and
    writes besides: the config file (each session's settings start from it) and the
    environment that places the cache, the state and the statistics (``ENVIRONMENT``)."""
    speculative = msgspec.to_builtins(config.speculative)
    if config.speculative.draft_model:
        speculative["draft_model"] = _resolved(Path(config.speculative.draft_model))
    settings = msgspec.to_builtins(config.model)
    del settings["path"]  # the file itself, resolved, is "model"
    environment = {name: os.environ.get(name, "") for name in ENVIRONMENT}
    environment.update(
        (name, value)
        for name, value in os.environ.items()
        if name.startswith("COPILOT_LSP_") and name not in (VERSION_ENV, SERVICE_ENV)
    )
    identity = {
        "version": version(),
        "model": _resolved(paths.model_path(config)),
        "settings": settings,
        "speculative": speculative,
        "config_file": _resolved(config_file or paths.config_file()),
        "environment": environment,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


class Address(NamedTuple):
    folder: Path
    key: str

    @property
    def socket(self) -> Path:
        return self.folder / f"{PREFIX}{self.key}.sock"

    @property
    def lock(self) -> Path:
        return self.folder / f"{PREFIX}{self.key}.lock"

    @property
    def log(self) -> Path:
        return self.folder / f"{PREFIX}{self.key}.log"


def service_folder() -> Path:
    """The folder of the services' sockets; ServiceUnavailable saying why none is usable."""
    folder, problems = paths.service_dir()
    if folder is None:
        raise ServiceUnavailable("no folder for the service's socket: " + "; ".join(problems))
    return folder


def address(config: Config, config_file: Path | None = None) -> Address:
    return Address(service_folder(), service_key(config, config_file))


def key_of(socket_path: Path) -> str:
    return socket_path.name.removeprefix(PREFIX).removesuffix(".sock")


def socket_problem(path: Path) -> str:
    """Why the socket file at ``path`` must not be used ("" when it may): it must be a socket
    of this user that no one else may open. FileNotFoundError when there is none."""
    info = path.lstat()
    if not stat.S_ISSOCK(info.st_mode):
        return f"{path} is not a socket"
    if info.st_uid != os.getuid():
        return f"{path} belongs to another user (uid {info.st_uid})"
    if info.st_mode & 0o077:
        return f"{path} has mode {stat.S_IMODE(info.st_mode):04o}: other users may connect to it"
    return ""


class Peer(NamedTuple):
    pid: int
    uid: int
    gid: int


def peer_of(sock: socket.socket) -> Peer | None:
    """Who is at the other end of a Unix socket (None where the system cannot say)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    size = struct.calcsize("3i")
    return Peer(*struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, option, size)))


def line(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def hello(key: str, log_level: str | None = None) -> bytes:
    message: dict[str, Any] = {"copilot-lsp": version(), "key": key, "pid": os.getpid()}
    if log_level is not None:
        message["log_level"] = log_level
    return line(message)


def control(command: str) -> bytes:
    return line({"copilot-lsp": version(), "control": command, "pid": os.getpid()})


def parse_line(data: bytes) -> dict[str, Any] | None:
    """One handshake line as a JSON object, or None when it is not one."""
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def read_line(sock: socket.socket, timeout: float = HANDSHAKE_TIMEOUT_S) -> tuple[dict[str, Any] | None, bytes]:
    """The other end's line (None when it is not a JSON object, or the connection ended
    first) and the bytes that came after it (the start of the LSP stream). Blocking."""
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no answer within {timeout:g} s")
        sock.settimeout(left)
        chunk = sock.recv(4096)
        if not chunk:
            return None, b""
        data += chunk
        if len(data) > MAX_LINE_BYTES:
            return None, b""
    first, _, rest = data.partition(b"\n")
    return parse_line(first), rest
