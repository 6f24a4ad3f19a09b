"""Per-user directories (XDG base directory spec), resolved at call time so tests can redirect."""

from __future__ import annotations

import os
from pathlib import Path

APP = "copilot-lsp"


def _xdg(variable: str, fallback: str) -> Path:
    value = os.environ.get(variable, "")
    return Path(value) if os.path.isabs(value) else Path.home() / fallback


def cache_dir() -> Path:
    return _xdg("XDG_CACHE_HOME", ".cache") / APP


def config_file() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config") / APP / "config.toml"


def data_dir() -> Path:
    return _xdg("XDG_DATA_HOME", ".local/share") / APP


def state_dir() -> Path:
    return _xdg("XDG_STATE_HOME", ".local/state") / APP


def runtime_dir() -> Path:
    """Sockets of running servers: $XDG_RUNTIME_DIR when set, else the state dir."""
    value = os.environ.get("XDG_RUNTIME_DIR", "")
    return (Path(value) / APP if os.path.isabs(value) else state_dir()) / "servers"
