"""One LMDB environment per cache directory per process, shared by every store on it.

LMDB refuses to open an environment twice in one process ("already open in this
process"), and closing one handle would pull the map from under the other. So stores on
the same directory (two pipelines after a second ``initialize``, a test and its server)
share one ``SharedEnv``, counted; the last one to close closes the environment.

The first open in a process checks the files (``verify.py``): a truncated or garbage file,
or one left open by a process that is gone (``markers.py``) and then found damaged by the
child-process walk, is rebuilt empty with one log line. An error that is not corruption
(a permission, a lock held too long) raises CacheUnavailable and deletes nothing.

A corruption error while serving swaps in a rebuilt environment: ``rebuild`` waits until no
thread is inside the environment (``use``), so none reads an unmapped page.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import lmdb

from ..errors import CacheUnavailable
from .keys import SCHEMA_VERSION
from .markers import mark_closed, mark_open, stale_markers
from .verify import MAX_DBS, directory_lock, inspect_files, is_corruption, remove_files, walk_in_child

log = logging.getLogger(__name__)


class Handles:
    """An open environment and its databases; replaced whole when the file is rebuilt."""

    def __init__(self, env: lmdb.Environment, generation: int, inode: int) -> None:
        self.env = env
        self.entries = env.open_db(b"entries")
        self.order = env.open_db(b"order")  # sequence + key, oldest first
        self.meta = env.open_db(b"meta")
        self.generation = generation  # how many rebuilds came before
        self.inode = inode  # of the data file: another process's rebuild changes it


class SharedEnv:
    def __init__(self, directory: Path, map_size: int) -> None:
        self.directory = directory
        self.map_size = map_size
        self.refs = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # signalled when the last user leaves
        self._users = 0
        self._waiting = False
        self._generation = 0
        self.marker = mark_open(directory)  # before the first access: a crash there counts too
        try:
            self._handles: Handles | None = self._open(0)
        except BaseException:
            if self.marker is not None:
                mark_closed(self.marker)
            raise

    def use(self) -> _Use:
        """``with shared.use() as handles``: the environment, neither closed nor swapped until
        the block ends; lmdb.Error when it is closed (a miss to callers). Blocks must not
        nest: a waiting ``_exclusive`` holds new ones back."""
        return _Use(self)

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """No other thread inside the environment meanwhile; new users wait (busy readers
        would starve it otherwise). Never from inside ``use``."""
        with self._lock:
            while self._waiting:  # another exclusive section goes first
                self._idle.wait()
            self._waiting = True
            try:
                while self._users:
                    self._idle.wait()
                yield
            finally:
                self._waiting = False
                self._idle.notify_all()

    def adopt_map_size(self) -> None:
        """Another process grew the map; set_mapsize needs no transaction open in this one."""
        with self._exclusive():
            if self._handles is not None:
                self._handles.env.set_mapsize(0)

    def rebuild(self, generation: int, reason: BaseException) -> None:
        """Replace a damaged file with an empty one, unless that happened since ``generation``
        (for another store of this process) or another process did it already (its new file
        is adopted, not deleted)."""
        with directory_lock(self.directory), self._exclusive():
            if self._generation != generation or self._handles is None:
                return
            self._generation += 1
            self._handles.env.close()
            try:
                if _inode(self.directory) == self._handles.inode:
                    log.warning("completion cache at %s is damaged (%s): rebuilding it empty", self.directory, reason)
                    remove_files(self.directory)
                else:
                    log.warning("completion cache at %s was rebuilt by another process: using it", self.directory)
                self._handles = self._open(self._generation)
            except (OSError, lmdb.Error) as exc:
                log.error("completion cache at %s cannot be rebuilt (%s): it stays off", self.directory, exc)
                self._handles = None

    def close(self) -> None:
        with self._exclusive():
            if self._handles is not None:
                try:
                    self._handles.env.sync(True)
                except lmdb.Error as exc:  # the file stays consistent; at worst the last writes are lost
                    log.warning("completion cache at %s: final sync failed: %s", self.directory, exc)
                self._handles.env.close()
                self._handles = None
        if self.marker is not None:
            mark_closed(self.marker)

    def _open(self, generation: int) -> Handles:
        env = lmdb.open(str(self.directory), map_size=self.map_size, max_dbs=MAX_DBS, sync=False, metasync=False)
        try:
            env.reader_check()  # clear slots left by readers that were killed
            if _schema(env) not in (None, str(SCHEMA_VERSION).encode()):
                # another layout or schema version: a cache of something else, start over
                log.info("completion cache at %s has another schema: starting it over", self.directory)
                env.close()
                remove_files(self.directory)
                env = lmdb.open(
                    str(self.directory), map_size=self.map_size, max_dbs=MAX_DBS, sync=False, metasync=False
                )
            handles = Handles(env, generation, _inode(self.directory))
            with env.begin(write=True) as txn:
                if txn.get(b"schema", db=handles.meta) is None:
                    txn.put(b"schema", str(SCHEMA_VERSION).encode(), db=handles.meta)
        except BaseException:
            env.close()
            raise
        return handles


class _Use:
    """The context of ``SharedEnv.use``: a class, not a generator, as it is on every read."""

    __slots__ = ("_shared",)

    def __init__(self, shared: SharedEnv) -> None:
        self._shared = shared

    def __enter__(self) -> Handles:
        shared = self._shared
        with shared._lock:
            while shared._waiting:
                shared._idle.wait()
            handles = shared._handles
            if handles is None:
                raise lmdb.Error(f"the completion cache at {shared.directory} is closed")
            shared._users += 1
        return handles

    def __exit__(self, *exc: object) -> None:
        shared = self._shared
        with shared._lock:
            shared._users -= 1
            if not shared._users and shared._waiting:
                shared._idle.notify_all()


_registry: dict[str, SharedEnv] = {}
_registry_lock = threading.RLock()  # acquire -> inspect_files -> is_open


def acquire(directory: Path, map_size: int) -> SharedEnv:
    """The process's environment for ``directory``, opened and checked on first use."""
    with _registry_lock:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            key = str(directory.resolve())
            shared = _registry.get(key)
            if shared is None:
                with directory_lock(directory):
                    _check_at_start(directory)
                    shared = _open_or_rebuild(directory, map_size)
                _registry[key] = shared
        except (OSError, lmdb.Error) as exc:
            raise CacheUnavailable(f"completion cache disabled: cannot use {directory}: {exc}") from None
        shared.refs += 1
        return shared


def release(shared: SharedEnv) -> None:
    with _registry_lock:
        shared.refs -= 1
        if shared.refs > 0:
            return
        _registry.pop(str(shared.directory.resolve()), None)
    shared.close()


def is_open(directory: Path) -> bool:
    """Whether this process has the environment open (LMDB allows no second open here)."""
    with _registry_lock:
        return str(directory.resolve()) in _registry


def _open_or_rebuild(directory: Path, map_size: int) -> SharedEnv:
    try:
        return SharedEnv(directory, map_size)
    except lmdb.Error as exc:
        if not is_corruption(exc):
            raise
        # damage the start-up checks did not look for (the last shutdown was clean)
        log.warning("completion cache at %s is damaged (%s): rebuilding it empty", directory, exc)
        remove_files(directory)
        return SharedEnv(directory, map_size)


def _check_at_start(directory: Path) -> None:
    finding = inspect_files(directory)
    stale = stale_markers(directory)
    if not finding.problem and stale and (directory / "data.mdb").exists():
        log.info("completion cache at %s was not closed cleanly: verifying it", directory)
        finding = walk_in_child(directory)
    if finding.problem and not finding.corrupt:
        raise CacheUnavailable(f"completion cache disabled: {directory} is {finding.problem}")
    if finding.problem:
        log.warning("completion cache at %s is %s: rebuilding it empty", directory, finding.problem)
        remove_files(directory)
    for marker in stale:  # handled: verified or rebuilt
        mark_closed(marker)


def _schema(env: lmdb.Environment) -> bytes | None:
    """The schema version; None for a new file, b"" for keys of another layout."""
    with env.begin() as txn:
        if txn.get(b"meta") is None:
            return b"" if txn.stat()["entries"] > 0 else None
    meta = env.open_db(b"meta")
    with env.begin() as txn:
        value = txn.get(b"schema", db=meta)
        return None if value is None else bytes(value)


def _inode(directory: Path) -> int:
    try:
        return (directory / "data.mdb").stat().st_ino
    except OSError:
        return 0
