"""Where things are: per-user directories (XDG base directory spec, resolved at call time so
tests can redirect), the configured model and cache, and the embedded default model."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Config

APP = "copilot-lsp"
DEFAULT_MODEL_FILE = "copilot-default.gguf"
UNIX_PATH_MAX = 107  # bytes of a Unix socket's path (sun_path, less its terminating NUL)
SOCKET_NAME_MAX = 32  # the longest file name put in the service folder (lsp/service/naming.py)


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


def service_dir_candidates() -> list[Path]:
    """Where the model service's socket may live, best first: ``$XDG_RUNTIME_DIR/copilot-lsp``,
    a private folder under the cache dir, then one in the temporary folder (a short path:
    a Unix socket's path holds at most 107 bytes)."""
    candidates = []
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if os.path.isabs(runtime):
        candidates.append(Path(runtime) / APP)
    candidates.append(cache_dir() / "run")
    candidates.append(Path(tempfile.gettempdir()) / f"{APP}-{os.getuid()}")
    return candidates


def private_dir_problem(folder: Path, make_parents: bool = True) -> str:
    """Why ``folder`` cannot hold the service's socket ("" when it can): it must be a folder
    (not a link) of this user that no one else may enter (0700: group/other bits of our own
    folder are removed), with room for a socket's name under the Unix path limit. It is
    created when missing (its parents too, with ``make_parents``)."""
    if len(os.fsencode(folder)) + 1 + SOCKET_NAME_MAX > UNIX_PATH_MAX:
        return f"{folder} is too long a path for a Unix socket ({UNIX_PATH_MAX} bytes at most)"
    try:
        if make_parents:
            folder.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)
        info = folder.lstat()
    except OSError as exc:
        return f"{folder} cannot be created or read ({exc.strerror})"
    if not stat.S_ISDIR(info.st_mode):
        return f"{folder} is not a folder"
    if info.st_uid != os.getuid():
        return f"{folder} belongs to another user (uid {info.st_uid})"
    if stat.S_IMODE(info.st_mode) != 0o700:
        try:
            folder.chmod(0o700)
        except OSError as exc:
            return f"{folder} has mode {stat.S_IMODE(info.st_mode):o} and cannot be made private ({exc.strerror})"
    return ""


def service_dir() -> tuple[Path | None, list[str]]:
    """The first usable folder of ``service_dir_candidates`` (created when missing; None when
    none is usable) and why each one before it was not."""
    problems: list[str] = []
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    for folder in service_dir_candidates():
        problem = private_dir_problem(folder, make_parents=folder.parent != Path(runtime))  # never $XDG_RUNTIME_DIR
        if not problem:
            return folder, problems
        problems.append(problem)
    return None, problems


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


def pulled_models_dir() -> Path:
    """Where ``copilot-lsp models pull`` puts models."""
    return data_dir() / "models"


def next_edit_model_path(config: Config) -> Path | None:
    """The next-edit model ``next_edit.model`` names (a catalogue name resolves to where
    ``models pull`` puts it); None when none is set."""
    from .inference.catalogue import models

    name = config.next_edit.model
    if not name:
        return None
    entry = models().get(name)
    if entry is not None and not entry.embedded:
        return pulled_models_dir() / entry.file
    return Path(os.path.expanduser(name))


def completion_cache_dir(config: Config) -> Path:
    """The LMDB completion cache's folder: ``cache.dir``, or the per-user cache directory."""
    return Path(os.path.expanduser(config.cache.dir)) if config.cache.dir else cache_dir() / "completions"
