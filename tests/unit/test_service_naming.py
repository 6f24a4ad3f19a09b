"""Where the model service listens, who may use its socket, and how a front recognises the
right service (lsp/service/naming.py, client.py; copilot/paths.py's folder choice)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from copilot import __version__, paths
from copilot.config import Config
from copilot.lsp.service import client, naming
from copilot.lsp.service.naming import Address, ServiceUnavailable


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A folder with a short path: a Unix socket's path holds at most 107 bytes."""
    folder = Path(tempfile.mkdtemp(prefix="cl", dir="/tmp"))
    folder.chmod(0o700)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def with_changes(**tables: dict[str, object]) -> Config:
    return msgspec.convert(tables, Config)


def test_the_key_names_the_version_the_model_and_where_the_service_reads_and_writes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    base = naming.service_key(Config())
    assert len(base) == 16 and base == naming.service_key(Config())
    same_engine = with_changes(completion={"max_tokens": 12}, cache={"enabled": False}, service={"enabled": False})
    assert naming.service_key(same_engine) == base  # the settings each session layers itself
    assert naming.service_key(with_changes(model={"n_ctx": 1024})) != base
    assert naming.service_key(with_changes(model={"path": "/m/other.gguf"})) != base
    assert naming.service_key(with_changes(speculative={"max_draft": 3})) != base
    assert naming.service_key(Config(), tmp_path / "other.toml") != base
    default = with_changes(model={"path": str(paths.default_model())})
    assert naming.service_key(default) == base  # the same file however it is named
    monkeypatch.setenv(naming.VERSION_ENV, "0.0.0-old")
    assert naming.version() == "0.0.0-old" and naming.service_key(Config()) != base
    monkeypatch.delenv(naming.VERSION_ENV)
    assert naming.version() == __version__
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "elsewhere"))
    assert naming.service_key(Config()) != base


def test_the_service_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(naming.SERVICE_ENV, raising=False)  # tests/conftest.py turns it off for the suite
    assert naming.service_enabled(Config())
    assert not naming.service_enabled(with_changes(service={"enabled": False}))
    for value in ("0", "false", "No", " off "):
        monkeypatch.setenv(naming.SERVICE_ENV, value)
        assert not naming.service_enabled(Config())
    for value in ("", "1", "yes"):
        monkeypatch.setenv(naming.SERVICE_ENV, value)
        assert naming.service_enabled(Config())


def test_the_socket_folder_is_private_and_short(
    monkeypatch: pytest.MonkeyPatch, short_dir: Path, tmp_path: Path
) -> None:
    runtime = short_dir / "run"
    runtime.mkdir(mode=0o755)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    (runtime / "copilot-lsp").mkdir(mode=0o755)  # as another tool (or publish.py's parents) made it
    folder, problems = paths.service_dir()
    assert folder == runtime / "copilot-lsp" and problems == []
    assert folder.stat().st_mode & 0o777 == 0o700
    assert paths.private_dir_problem(short_dir / ("x" * 90)).startswith(f"{short_dir}/{'x' * 90} is too long")
    (short_dir / "file").write_text("")
    assert paths.private_dir_problem(short_dir / "file") == f"{short_dir}/file is not a folder"
    (short_dir / "link").symlink_to(runtime)
    assert paths.private_dir_problem(short_dir / "link") == f"{short_dir}/link is not a folder"
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(short_dir / "gone" / "run") + "/")
    assert paths.service_dir()[0] != short_dir / "gone" / "run" / "copilot-lsp"
    assert not (short_dir / "gone").exists()  # a missing XDG_RUNTIME_DIR is not made up
    # An unusable XDG_RUNTIME_DIR (a file here): the private folder under the cache dir.
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(short_dir / "file"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(short_dir / "cache"))
    folder, problems = paths.service_dir()
    assert folder == short_dir / "cache" / "copilot-lsp" / "run" and len(problems) == 1
    # A cache dir too deep for a socket's path: the folder in the temporary folder.
    monkeypatch.setenv("XDG_CACHE_HOME", str(short_dir / ("deep" * 20)))
    folder, problems = paths.service_dir()
    assert folder == Path(tempfile.gettempdir()) / f"copilot-lsp-{os.getuid()}" and len(problems) == 2


def listening(path: Path, mode: int = 0o600) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    path.chmod(mode)
    sock.listen(4)
    return sock


def answer_once(sock: socket.socket, answer: dict[str, object]) -> threading.Thread:
    def serve() -> None:
        connection, _ = sock.accept()
        with connection:
            connection.recv(4096)
            connection.sendall(json.dumps(answer).encode() + b"\n")
            time.sleep(0.2)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_a_front_refuses_what_is_not_its_service(short_dir: Path) -> None:
    address = Address(short_dir, "0123456789abcdef")
    assert client.try_connect(address) == client.Obstacle("absent")
    with listening(address.socket, 0o666):  # others may connect: not used, whatever answers
        found = client.try_connect(address)
        assert isinstance(found, client.Obstacle) and found.kind == "refused"
        assert found.reason == f"{address.socket} has mode 0666: other users may connect to it"
    address.socket.unlink()
    with listening(address.socket) as sock:
        answer_once(sock, {"copilot-lsp": "0.0.0-old", "key": address.key, "pid": 1, "ok": True})
        found = client.try_connect(address)
        assert found == client.Obstacle(
            "stale",
            f"the service at {address.socket} is version 0.0.0-old with key {address.key} (pid 1), "
            f"not version {__version__}",
        )
        answer_once(sock, {"copilot-lsp": __version__, "key": address.key, "pid": 42, "ok": True, "x": 1})
        found = client.try_connect(address)
        assert isinstance(found, client.Link) and found.pid == 42 and not found.started
        found.sock.close()
    # The listener is closed and its file is left: a dead service's socket.
    found = client.try_connect(address)
    assert isinstance(found, client.Obstacle) and found.kind == "dead"
    client.clear(address, found)
    assert not address.socket.exists()


def test_a_file_that_is_not_a_socket_is_refused(short_dir: Path) -> None:
    address = Address(short_dir, "0123456789abcdef")
    address.socket.write_text("")
    address.socket.chmod(0o600)
    assert client.try_connect(address) == client.Obstacle("refused", f"{address.socket} is not a socket")


def test_the_lock_is_taken_once(short_dir: Path) -> None:
    lock = short_dir / "service.lock"
    with client.locked(lock, time.monotonic() + 1):
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable, match="stayed locked"), client.locked(lock, time.monotonic() + 0.3):
            pass
        assert time.monotonic() - started >= 0.3
    with client.locked(lock, time.monotonic()):  # free again
        pass


def test_a_service_that_cannot_start_is_one_error_with_its_log(short_dir: Path) -> None:
    address = Address(short_dir, "0123456789abcdef")
    command = ["/bin/sh", "-c", "echo 'no model here' >&2; exit 3"]
    with pytest.raises(ServiceUnavailable, match=r"exit status 3\) before it listened; its log .*: no model here"):
        client.connect(address, command, timeout=30)
    command = ["/bin/sh", "-c", "sleep 30"]
    with pytest.raises(ServiceUnavailable, match=r"did not answer within 0\.5 s"):
        client.connect(address, command, timeout=0.5)
    assert address.log.with_name(address.log.name + ".1").read_text() == "no model here\n"  # the log before
