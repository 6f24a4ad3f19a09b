"""The model service (``copilot-lsp service run``): every editor session of one user and
model configuration in one process, behind a Unix socket.

The socket is bound under a temporary name, made 0600 and renamed into place, so it is
never reachable with other permissions and a stale file of a dead service is replaced in
one step. Each connection is checked (``SO_PEERCRED``: this user only) and starts with the
handshake (``naming``); an LSP connection then becomes one session of the ``SessionHost``
(its own server, documents and pipeline; the engine shared and pinned: the model stays
loaded between sessions; its log lines sent to its front at the level the front or the
session's settings ask for: ``session_logs.py``), a control connection gets its answer
(``status``, ``stop``).
After ``service.idle_shutdown_s`` without any session, or on ``stop``, SIGTERM or SIGINT,
the service removes its socket (only if it is still the file it bound: a newer service may
have replaced it) and leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

import msgspec

from copilot import config as config_mod
from copilot import paths
from copilot.config import Config

from ..host import SessionHost
from . import naming
from .naming import Address
from .session_logs import SessionLogs

log = logging.getLogger(__name__)

LOG_LEVELS = ("debug", "info", "warning", "error")


def rss_bytes(pid: int | str = "self") -> int:
    """The resident memory of a process (``VmRSS`` in /proc), 0 where it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


class Service:
    def __init__(
        self, host: SessionHost, address: Address, config: Config, idle_shutdown_s: float, config_file: Path | None
    ) -> None:
        self.host = host
        self.address = address
        self.config = config
        self.config_file = config_file  # read again for each session, as a window's own server would
        self.idle_shutdown_s = idle_shutdown_s
        self.started = time.time()
        self.live = 0  # LSP sessions connected now
        self.served = 0  # LSP sessions since start
        self.stopping = asyncio.Event()
        self._idle: asyncio.TimerHandle | None = None
        self._bound: tuple[int, int] | None = None  # (st_dev, st_ino) of the socket file bound

    async def run(self) -> int:
        """Listen until stopped; 0, or 1 when the socket cannot be bound."""
        try:
            listener = self._bind()
        except OSError as exc:
            log.error("cannot listen on %s: %s", self.address.socket, exc.strerror or exc)
            return 1
        server = await asyncio.start_unix_server(self._connection, sock=listener)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._on_signal, signum)
        log.info(
            "model service %s (key %s) listening on %s, pid %d; it stops after %g s without a session",
            naming.version(),
            self.address.key,
            self.address.socket,
            os.getpid(),
            self.idle_shutdown_s,
        )
        self._arm_idle()
        try:
            await self.stopping.wait()
        finally:
            server.close()
            self._remove_socket()
            self.host.close()
        log.info("model service stopped")
        return 0

    def _bind(self) -> socket.socket:
        final = self.address.socket
        temporary = final.with_name(f".{os.getpid()}-{self.address.key[:8]}.tmp")
        temporary.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(temporary))
            temporary.chmod(0o600)
            sock.listen(64)
            os.rename(temporary, final)  # atomic: a dead service's file is replaced in one step
        except OSError:
            sock.close()
            temporary.unlink(missing_ok=True)
            raise
        info = final.lstat()
        self._bound = (info.st_dev, info.st_ino)
        sock.setblocking(False)
        return sock

    def _remove_socket(self) -> None:
        with contextlib.suppress(OSError):
            info = self.address.socket.lstat()
            if (info.st_dev, info.st_ino) == self._bound:
                self.address.socket.unlink()

    def _on_signal(self, signum: int) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        self.stopping.set()

    def _arm_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if self.live == 0 and not self.stopping.is_set():
            self._idle = asyncio.get_running_loop().call_later(self.idle_shutdown_s, self._idle_expired)

    def _idle_expired(self) -> None:
        if self.live == 0:
            log.info("no editor session for %g s (service.idle_shutdown_s): stopping", self.idle_shutdown_s)
            self.stopping.set()

    def _ours(self) -> dict[str, Any]:
        return {"copilot-lsp": naming.version(), "key": self.address.key, "pid": os.getpid()}

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            peer = naming.peer_of(writer.get_extra_info("socket"))
        except OSError:
            peer = None
        if peer is not None and peer.uid != os.getuid():
            log.warning("refusing a connection from pid %d of uid %d: not this user", peer.pid, peer.uid)
            await _answer_and_close(writer, {**self._ours(), "ok": False, "error": "not this service's user"})
            return
        try:
            raw = await asyncio.wait_for(reader.readuntil(b"\n"), naming.HANDSHAKE_TIMEOUT_S)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            writer.close()
            return
        message = naming.parse_line(raw) or {}
        if "control" in message:
            await self._control(str(message["control"]), writer)
            return
        if message.get("copilot-lsp") != naming.version() or message.get("key") != self.address.key:
            error = f"this service is version {naming.version()} for key {self.address.key}"
            log.warning(
                "refusing a front of version %s with key %s (pid %s): %s",
                message.get("copilot-lsp"),
                message.get("key"),
                message.get("pid"),
                error,
            )
            await _answer_and_close(writer, {**self._ours(), "ok": False, "error": error})
            return
        if self.stopping.is_set():
            await _answer_and_close(writer, {**self._ours(), "ok": False, "error": "the service is stopping"})
            return
        self.live += 1
        self.served += 1
        self._arm_idle()
        front = message.get("pid") if isinstance(message.get("pid"), int) else peer.pid if peer else 0
        layered = config_mod.load_file(self.config_file)  # the file as it is now (problems: shown at initialize)
        self.host.config, self.host.problems = layered.config, list(layered.problems)
        try:
            writer.write(naming.line({**self._ours(), "ok": True}))
            await writer.drain()
            label = self.host.new_label(f"front{front}-s")
            level = message.get("log_level")  # the front's --log-level, for its session's lines
            level = level if level in LOG_LEVELS else None
            await self.host.serve_connection(reader, writer, label, front=True, log_level=level)
        except OSError as exc:
            log.debug("a front went away during the handshake: %s", exc)
            writer.close()
        finally:
            self.live -= 1
            self._arm_idle()

    async def _control(self, command: str, writer: asyncio.StreamWriter) -> None:
        if command == "status":
            await _answer_and_close(writer, {**self._ours(), "ok": True, **self.status()})
        elif command == "stop":
            log.info("asked to stop (copilot-lsp service stop)")
            await _answer_and_close(writer, {**self._ours(), "ok": True, "stopping": True})
            self.stopping.set()
        else:
            await _answer_and_close(writer, {**self._ours(), "ok": False, "error": f"unknown control {command!r}"})

    def status(self) -> dict[str, Any]:
        """What ``copilot-lsp service status`` shows of this service."""
        engines = []
        owners: dict[str, int] = {}
        for engine, users in self.host.shared.engines():
            held = engine.sequence_owners()
            owners.update(held)
            engines.append(
                {
                    "model": str(engine.vocabulary.path),
                    "users": users,
                    "kv_slots": engine.settings.kv_slots,
                    "sequences": held,
                }
            )
        sessions = []
        for info in self.host.sessions():
            prefix = f"{info.label} "
            held = {owner.removeprefix(prefix): slot for owner, slot in owners.items() if owner.startswith(prefix)}
            sessions.append({**msgspec.to_builtins(info), "kv_sequences": held})
        return {
            "socket": str(self.address.socket),
            "log": str(self.address.log),
            "model": engines[0]["model"] if engines else str(paths.model_path(self.config)),
            "started": self.started,
            "uptime_s": round(time.time() - self.started, 3),
            "rss_bytes": rss_bytes(),
            "idle_shutdown_s": self.idle_shutdown_s,
            "sessions_served": self.served,
            "sessions": sessions,
            "engines": engines,
        }


async def _answer_and_close(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    try:
        writer.write(naming.line(message))
        await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


def run(
    config: Config,
    problems: list[Any],
    key: str,
    idle_shutdown_s: float,
    log_level_from_cli: bool,
    config_file: Path | None = None,
) -> int:
    """``copilot-lsp service run``: serve until idle or stopped; the exit status."""
    try:
        address = Address(naming.service_folder(), key)
    except naming.ServiceUnavailable as exc:
        log.error("%s", exc)
        return 1
    # The service's own level (--log-level, else the config file's log.level) stays its log's.
    logs = SessionLogs(logging.getLogger("copilot").getEffectiveLevel())
    logs.install()
    host = SessionHost(config, problems, log_level_from_cli=log_level_from_cli, pin_engines=True, logs=logs)
    service = Service(host, address, config, idle_shutdown_s, config_file)
    try:
        return asyncio.run(service.run())
    finally:
        logs.uninstall()
