"""The files of a workspace worth indexing: source in a known language, written by people.

Vendored, generated and tool folders are pruned whole; so are directories the ignore rules
name, and symlinks are never followed (no loops, nothing from outside the workspace).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from ..languages import language_for_path
from .privacy import IgnoreRules

log = logging.getLogger(__name__)

SKIPPED_DIRS: frozenset[str] = frozenset(
    {
        *(".git", ".hg", ".svn"),
        *("node_modules", "bower_components", "vendor", "third_party", "site-packages"),
        *("__pycache__", ".venv", "venv", ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache"),
        *("build", "dist", "target", "out", ".next", ".nuxt", "coverage", ".gradle"),
        *(".idea", ".vscode"),
    }
)
SKIPPED_DIR_SUFFIXES = (".egg-info",)
VENV_MARKER = "pyvenv.cfg"  # a virtual environment, whatever its name

GENERATED_SUFFIXES = (".min.js", ".min.css", ".bundle.js", ".map", "_pb2.py", ".pb.go")
LOCK_FILES: frozenset[str] = frozenset(
    {"package-lock.json", "yarn.lock", "Cargo.lock", "poetry.lock", "pnpm-lock.yaml"}
)

BINARY_SNIFF_BYTES = 8192  # as git: a NUL byte in the first 8 KiB makes a file binary


def skipped_dir(name: str, path: str) -> bool:
    """A folder never walked: vendored code, build output, tool state, a virtual environment."""
    return (
        name in SKIPPED_DIRS or name.endswith(SKIPPED_DIR_SUFFIXES) or os.path.exists(os.path.join(path, VENV_MARKER))
    )


def generated_file(name: str) -> bool:
    """A file a tool wrote (minified, bundled, compiled protobuf, lock file), by its name."""
    return name.endswith(GENERATED_SUFFIXES) or name in LOCK_FILES or ".generated." in name


def walk_workspace(
    root: Path,
    rules: IgnoreRules,
    max_file_bytes: int = 1_000_000,
    max_files: int = 20_000,
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator[Path]:
    """The source files under ``root`` in a stable order (sorted, depth first), at most ``max_files``.

    ``should_stop`` is polled between entries, so a background walk ends soon after it says so.
    """
    if max_files <= 0:
        return
    count = 0
    stack = _sorted_entries(str(root))
    while stack and not should_stop():
        entry = stack.pop()
        if entry.is_dir(follow_symlinks=False):
            if not skipped_dir(entry.name, entry.path) and rules.ignored(Path(entry.path), is_dir=True) is None:
                stack += _sorted_entries(entry.path)
        elif _wanted_file(entry, rules, max_file_bytes):
            yield Path(entry.path)
            count += 1
            if count >= max_files:
                return


def read_source(path: Path, max_file_bytes: int) -> str | None:
    """The text of ``path``; None when it is binary, larger than ``max_file_bytes``, unreadable or not UTF-8."""
    try:
        with path.open("rb") as file:
            data = file.read(max_file_bytes + 1)
    except OSError as exc:
        log.debug("cannot read %s: %s", path, exc)
        return None
    if len(data) > max_file_bytes or b"\0" in data[:BINARY_SNIFF_BYTES]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _sorted_entries(directory: str) -> list[os.DirEntry[str]]:
    """The entries of ``directory``, last name first: popped from a stack, they come out sorted."""
    try:
        with os.scandir(directory) as entries:
            return sorted(entries, key=lambda entry: entry.name, reverse=True)
    except OSError as exc:  # vanished or unreadable: walk on
        log.debug("cannot list %s: %s", directory, exc)
        return []


def _wanted_file(entry: os.DirEntry[str], rules: IgnoreRules, max_file_bytes: int) -> bool:
    """Cheap checks first (name, size), the ignore rules, then a read for binary content."""
    if not entry.is_file(follow_symlinks=False) or generated_file(entry.name):
        return False
    path = Path(entry.path)
    if language_for_path(path) == "plaintext":
        return False
    try:
        if entry.stat(follow_symlinks=False).st_size > max_file_bytes:
            return False
    except OSError:
        return False
    return rules.ignored(path, is_dir=False) is None and not _binary(path)


def _binary(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            return b"\0" in file.read(BINARY_SNIFF_BYTES)
    except OSError:
        return True  # unreadable: nothing to index either
