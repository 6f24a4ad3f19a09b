"""Shared fixtures: every test gets its own cache and config directories."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import pytest

# The shared helpers assert too (tests/support/lsp_client.py): let pytest explain their failures.
pytest.register_assert_rewrite("tests.support")

_SERVICES_BEFORE = pytest.StashKey[set[int]]()


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    # `serve` over stdio runs the whole server in the process the test starts (its stderr, its
    # exit): the shared model service has tests of its own (tests/e2e/test_service.py), and a
    # service per test would outlive the test by service.idle_shutdown_s.
    monkeypatch.setenv("COPILOT_LSP_SERVICE", "0")
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    return tmp_path


def _model_services() -> set[int]:
    """Pids of running ``copilot-lsp service run`` processes that tests started: their cache
    folder is a temporary one (a user's own service, with its real folders, is never counted)."""
    found = set()
    temporary = os.fsencode(f"XDG_CACHE_HOME={tempfile.gettempdir()}")
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                ours = any(arg.endswith((b"copilot-lsp", b"copilot.lsp")) for arg in argv)
                service = ours and b"service" in argv and b"run" in argv
                environ = (entry / "environ").read_bytes().split(b"\0") if service else []
                if any(var.startswith(temporary) for var in environ):
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_SERVICES_BEFORE] = _model_services()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A test that starts a model service must stop it: one left behind keeps running (and
    holding its model) for ``service.idle_shutdown_s`` after the run."""
    deadline = time.monotonic() + 10  # a service asked to stop may still be leaving
    left = _model_services() - session.config.stash[_SERVICES_BEFORE]
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = _model_services() - session.config.stash[_SERVICES_BEFORE]
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    if left:
        print(f"\nerror: the tests left model services running (pids {sorted(left)}; stopped now)", file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
