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
    return tmp_path
