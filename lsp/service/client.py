"""The front's side of the rendezvous: connect to the service of this model configuration,
or start it, once, however many editors start at the same moment.

``connect`` tries the socket; when no usable service answers it takes the service's lock
(``fcntl.flock`` on ``service-<key>.lock``), tries again (another front may have started it
meanwhile), clears what is in the way and starts ``copilot-lsp service run`` detached (a
session of its own, stdin and stdout on /dev/null, stderr into ``service-<key>.log``), then
waits, still holding the lock, until it answers the handshake. What is in the way:

- a socket file whose service is gone (connecting fails with ECONNREFUSED): removed when it
  is this user's;
- a socket file of another user, one others may open, or a listener of another user:
  refused with one log line, and replaced;
- a service of another version or key (the handshake says so): refused with one log line,
  and replaced (it keeps serving its own sessions until it is idle, then leaves without
  touching the new socket).

Blocking code: the front runs it on a thread.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, NamedTuple

from copilot import locking
from copilot.locking import POLL_S

from . import naming
from .naming import Address, ServiceUnavailable

log = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0  # from taking the lock to the new service's answer
LOG_TAIL_BYTES = 2000


class Link(NamedTuple):
    """A connection past the handshake: LSP from here on."""

    sock: socket.socket
    pid: int  # the service's
    leftover: bytes  # what came after the handshake line (the start of the LSP stream)
    started: bool  # this front started the service


class Obstacle(NamedTuple):
    kind: Literal["absent", "dead", "refused", "stale", "closing"]
    reason: str = ""


def try_connect(address: Address, log_level: str | None = None) -> Link | Obstacle:
    """The service at ``address`` past the handshake, or what is there instead; ``log_level``:
    the level of the log lines the service sends this front (None: the session's log.level)."""
    path = address.socket
    try:
        problem = naming.socket_problem(path)
    except FileNotFoundError:
        return Obstacle("absent")
    except OSError as exc:
        raise ServiceUnavailable(f"cannot read {path}: {exc.strerror}") from None
    if problem:
        return Obstacle("refused", problem)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        found = _handshake(sock, address, log_level)
    except BaseException:
        sock.close()
        raise
    if not isinstance(found, Link):
        sock.close()
    return found


def _handshake(sock: socket.socket, address: Address, log_level: str | None) -> Link | Obstacle:
    path = address.socket
    sock.settimeout(naming.HANDSHAKE_TIMEOUT_S)
    try:
        sock.connect(str(path))
    except FileNotFoundError:
        return Obstacle("absent")
    except ConnectionRefusedError:
        return Obstacle("dead", f"nothing listens on {path}")
    except OSError as exc:
        raise ServiceUnavailable(f"cannot connect to {path}: {exc.strerror}") from None
    peer = naming.peer_of(sock)
    if peer is not None and peer.uid != os.getuid():
        return Obstacle("refused", f"the process listening on {path} (pid {peer.pid}) belongs to uid {peer.uid}")
    try:
        sock.sendall(naming.hello(address.key, log_level))
        answer, leftover = naming.read_line(sock)
    except TimeoutError:
        raise ServiceUnavailable(f"the service at {path} does not answer (pid {peer.pid if peer else '?'})") from None
    except OSError as exc:  # it closed the connection: it is stopping
        return Obstacle("closing", f"the service at {path} closed the connection ({exc.strerror})")
    if answer is None:
        return Obstacle("closing", f"the service at {path} closed the connection without answering")
    theirs = f"version {answer.get('copilot-lsp')!s} with key {answer.get('key')!s} (pid {answer.get('pid')!s})"
    if answer.get("copilot-lsp") != naming.version() or answer.get("key") != address.key:
        return Obstacle("stale", f"the service at {path} is {theirs}, not version {naming.version()}")
    if answer.get("ok") is not True:
        return Obstacle("stale", f"the service at {path} ({theirs}) refused us: {answer.get('error')!s}")
    pid = answer.get("pid")
    sock.settimeout(None)
    return Link(sock, pid if isinstance(pid, int) else peer.pid if peer else 0, leftover, False)


def service_command(key: str, config_file: Path | None, idle_shutdown_s: float) -> list[str]:
    """How a front starts the service for ``key`` (the interpreter running the front). Not
    its --log-level: that is its own session's (the handshake's), not the service's."""
    command = [sys.executable, "-m", "copilot.lsp"]
    if config_file is not None:
        command += ["--config", str(config_file)]
    return [*command, "service", "run", "--key", key, "--idle-shutdown-s", f"{idle_shutdown_s:g}"]


def connect(
    address: Address, command: list[str], timeout: float = START_TIMEOUT_S, log_level: str | None = None
) -> Link:
    """The service for ``address``, started with ``command`` when none usable answers."""
    found = try_connect(address, log_level)
    if isinstance(found, Link):
        return found
    deadline = time.monotonic() + timeout
    with locked(address.lock, deadline):
        found = try_connect(address, log_level)
        if isinstance(found, Link):
            return found
        clear(address, found)
        process = start(address, command)
        while True:
            found = try_connect(address, log_level)
            if isinstance(found, Link):
                # Reaped by a thread when it ends (it stays a child of this front until then).
                threading.Thread(target=process.wait, name="service-reaper", daemon=True).start()
                return found._replace(started=True)
            if process.poll() is not None:
                raise ServiceUnavailable(
                    f"the service stopped (exit status {process.returncode}) before it listened; "
                    f"its log {address.log}: {log_tail(address.log)}"
                )
            if found.kind in ("refused", "stale"):
                raise ServiceUnavailable(f"a service was started, but {found.reason}")
            if time.monotonic() > deadline:
                process.kill()  # hung: the next front starts another
                process.wait()
                raise ServiceUnavailable(
                    f"the service (pid {process.pid}) did not answer within {timeout:g} s; its log: {address.log}"
                )
            time.sleep(POLL_S)


@contextlib.contextmanager
def locked(path: Path, deadline: float) -> Iterator[None]:
    """``path`` locked by this process until the block ends; ServiceUnavailable past
    ``deadline``."""
    try:
        with locking.exclusive(path, deadline):
            yield
    except TimeoutError:
        raise ServiceUnavailable(f"{path} stayed locked (another front starting the service?)") from None


def clear(address: Address, obstacle: Obstacle) -> None:
    """Make way for a new service: remove the socket file of one that is gone, and refuse
    (one log line) and remove one that must not be used."""
    path = address.socket
    if obstacle.kind == "dead":
        with contextlib.suppress(FileNotFoundError):
            if path.lstat().st_uid == os.getuid():
                log.info("removing %s: its service is gone", path)
                path.unlink()
    elif obstacle.kind in ("refused", "stale"):
        log.warning("refusing %s: starting a service of our own", obstacle.reason)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise ServiceUnavailable(f"{obstacle.reason}, and it cannot be removed ({exc.strerror})") from None


def start(address: Address, command: list[str]) -> subprocess.Popen[bytes]:
    """The service, detached from the front's session and terminal; its output in its log
    (the previous log kept as ``.log.1``)."""
    with contextlib.suppress(OSError):
        if address.log.stat().st_size:
            os.replace(address.log, address.log.with_name(address.log.name + ".1"))
    fd = os.open(address.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        log.info("starting the model service: %s", " ".join(command))
        return subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, start_new_session=True, close_fds=True
        )
    finally:
        os.close(fd)


def log_tail(path: Path) -> str:
    try:
        with path.open("rb") as file:
            file.seek(max(0, path.stat().st_size - LOG_TAIL_BYTES))
            lines = file.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(lines[-5:]) or "(empty)"


def ask(path: Path, command: str, timeout: float = naming.HANDSHAKE_TIMEOUT_S) -> dict[str, Any]:
    """A control request (``status``, ``stop``) to the service at ``path``: its answer.
    FileNotFoundError / ConnectionRefusedError when none is there; ServiceUnavailable when
    the socket or its answer is not to be trusted."""
    problem = naming.socket_problem(path)
    if problem:
        raise ServiceUnavailable(problem)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        peer = naming.peer_of(sock)
        if peer is not None and peer.uid != os.getuid():
            raise ServiceUnavailable(f"the process listening on {path} belongs to uid {peer.uid}")
        sock.sendall(naming.control(command))
        try:
            answer, _ = naming.read_line(sock, timeout)
        except TimeoutError:
            raise ServiceUnavailable(f"the service at {path} does not answer") from None
    if answer is None:
        raise ServiceUnavailable(f"the service at {path} gave no answer")
    return answer


def remove_if_dead(path: Path) -> bool:
    """Remove ``path`` when nothing listens on it and it is this user's; whether it was."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(str(path))
        return False
    except ConnectionRefusedError:
        pass
    except OSError as exc:
        return exc.errno == errno.ENOENT
    with contextlib.suppress(OSError):
        if path.lstat().st_uid == os.getuid():
            path.unlink()
            return True
    return False
