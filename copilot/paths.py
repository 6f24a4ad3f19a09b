"""Where things are: per-user directories (XDG base directory spec, resolved at call time so
tests can redirect), the configured model and cache, and the embedded default model."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Config

APP = "copilot-lsp"
DEFAULT_MODEL_FILE = "copilot-default.gguf"


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


def default_model() -> Path:
    """The embedded default model: a data file of the model tooling (folder ``models/default``,
    installed as ``copilot.models.default``). Found by the package's location, without importing
    the tooling: it imports the core, never the reverse."""
    spec = importlib.util.find_spec("copilot.models")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    folder = Path(locations[0]) if locations else Path(__file__).resolve().parent / "models"
    return folder / "default" / DEFAULT_MODEL_FILE


def model_path(config: Config) -> Path:
    """The model file the configuration names, or the embedded default."""
    return Path(os.path.expanduser(config.model.path)) if config.model.path else default_model()


def completion_cache_dir(config: Config) -> Path:
    """The LMDB completion cache's folder: ``cache.dir``, or the per-user cache directory."""
    return Path(os.path.expanduser(config.cache.dir)) if config.cache.dir else cache_dir() / "completions"
