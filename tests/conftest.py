"""Shared fixtures: every test gets its own cache and config directories."""

from __future__ import annotations

from pathlib import Path

import pytest

# The shared helpers assert too (tests/support/lsp_client.py): let pytest explain their failures.
pytest.register_assert_rewrite("tests.support")


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
