"""Checks of the cache's files that cannot crash the process that asks.

LMDB trusts its file: damaged data pages behind intact meta pages are not noticed when
the environment opens, and touching them later aborts the process (an assertion in
``mdb_page_touch``) or kills it with SIGBUS, neither catchable. So the whole file is
walked in a child process that is allowed to crash, on a scratch copy (the user's file is
only read): every key and value of every database, each value decoded; then, three
times, a committed write transaction that rewrites every value, which copies every page
(through ``mdb_page_touch``), frees each by the page number in its header (a wrong one
shows when that page is reused, two transactions later) and takes pages from the free
list, and the whole walk again. A crash there, or a corruption error, means the file must
be rebuilt; anything else (permissions, a lock, a timeout) means leave it alone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import lmdb
import msgspec

from ..errors import CacheUnavailable
from ..locking import exclusive

FILES = ("data.mdb", "lock.mdb")
SCRATCH = ".verify"  # the copy a check works on, in the cache directory (same disk)
LOCK_FILE = "rebuild.lock"
VERIFY_TIMEOUT_S = 30.0  # 150 MB of pages take about 3 s; past this, something blocks
LOCK_TIMEOUT_S = VERIFY_TIMEOUT_S + 10  # another process may be verifying meanwhile
MAX_DBS = 4

# Errors that only a damaged file explains: rebuilding it is the fix. Any other lmdb.Error
# (a permission, a full disk, "already open in this process") leaves the files alone.
CORRUPTION: tuple[type[Exception], ...] = (
    lmdb.CorruptedError,
    lmdb.PageNotFoundError,
    lmdb.InvalidError,
    lmdb.PageFullError,
    lmdb.CursorFullError,
    lmdb.BadTxnError,
    lmdb.IncompatibleError,
    lmdb.BadValsizeError,
    lmdb.VersionMismatchError,
)


class Finding(msgspec.Struct, frozen=True):
    """What a check found: ``problem`` is "" when the files can be used; ``corrupt`` says
    whether rebuilding is the fix (otherwise the files are left as they are)."""

    problem: str = ""
    corrupt: bool = False

    def __bool__(self) -> bool:
        return bool(self.problem)


def is_corruption(exc: BaseException) -> bool:
    return isinstance(exc, CORRUPTION)


def inspect_files(directory: Path) -> Finding:
    """The cheap check, in this process: LMDB's own header checks and the file's size
    (a truncated file opens fine and then dies with SIGBUS on the first read past its end)."""
    from .envs import is_open  # envs builds on this module

    data = directory / "data.mdb"
    if not data.exists() or is_open(directory):
        return Finding()  # an environment this process has open was checked when it opened
    try:
        env = lmdb.open(str(directory), readonly=True, lock=False, max_dbs=MAX_DBS)
    except lmdb.Error as exc:
        return Finding(f"unreadable ({exc})", corrupt=is_corruption(exc))
    try:
        needed = (env.info()["last_pgno"] + 1) * env.stat()["psize"]
    finally:
        env.close()
    size = data.stat().st_size
    return Finding(f"truncated ({size} bytes, needs {needed})", corrupt=True) if size < needed else Finding()


def check_files(directory: Path) -> str:
    """Why the files in ``directory`` cannot be used safely ("" when they can); cheap."""
    return inspect_files(directory).problem


def verify(directory: Path, timeout: float = VERIFY_TIMEOUT_S) -> Finding:
    """The full check (``inspect_files``, then the walk in a child process), for doctor."""
    if not (directory / "data.mdb").exists():
        return Finding()
    try:
        with directory_lock(directory):
            return inspect_files(directory) or walk_in_child(directory, timeout)
    except (OSError, CacheUnavailable) as exc:
        return Finding(f"not verified ({exc})")


def walk_in_child(directory: Path, timeout: float = VERIFY_TIMEOUT_S) -> Finding:
    """The walk alone; the caller holds ``directory_lock`` (the scratch copy is shared)."""
    shutil.rmtree(directory / SCRATCH, ignore_errors=True)
    try:
        return _run_child("child_walk", directory, timeout)
    finally:
        shutil.rmtree(directory / SCRATCH, ignore_errors=True)


def clear_files(directory: Path) -> str:
    """Empty the cache whatever state its files are in; what was done, in words.

    A sound file is emptied in place (running servers see that at once); a damaged one,
    or one that cannot be opened, is removed (servers that have it open keep their copy
    until they restart; new ones start a fresh file). CacheUnavailable when not even that
    is possible."""
    if not (directory / "data.mdb").exists():
        return f"{directory} is already empty"
    try:
        with directory_lock(directory):
            finding = inspect_files(directory) or walk_in_child(directory)
            if not finding.problem:
                finding = _run_child("child_clear", directory, VERIFY_TIMEOUT_S)
                if not finding.problem:
                    return f"cleared {directory}"
            remove_files(directory)
    except OSError as exc:
        raise CacheUnavailable(f"cannot clear {directory}: {exc}") from None
    return f"cleared {directory}: removed its files ({finding.problem})"


@contextlib.contextmanager
def directory_lock(directory: Path) -> Iterator[None]:
    """Between processes: one at a time checks, rebuilds or creates the files (an advisory
    lock on a file of its own: LMDB's lock file goes with the data on a rebuild). Not
    reentrant, even within one process."""
    try:
        with exclusive(directory / LOCK_FILE, time.monotonic() + LOCK_TIMEOUT_S, 0o644):
            yield
    except TimeoutError:
        raise CacheUnavailable(f"completion cache disabled: {directory} stayed locked by another process") from None


def remove_files(directory: Path) -> None:
    """Delete LMDB's files (the directory and the markers of live processes stay)."""
    for name in FILES:
        (directory / name).unlink(missing_ok=True)


def _run_child(function: str, directory: Path, timeout: float) -> Finding:
    """Run ``function`` of this module in a child process; its Finding, or what its end says."""
    code = f"from copilot.cache.verify import {function}; {function}()"
    # the child imports this package from where this process found it
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    try:
        result = subprocess.run(
            [sys.executable, "-c", code, str(directory)],
            capture_output=True,
            timeout=timeout,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return Finding(f"not verified: the check took more than {timeout:.0f} s")
    except OSError as exc:
        return Finding(f"not verified: cannot start the check ({exc})")
    if result.returncode < 0:
        return Finding(f"damaged (reading it crashed the check: {_signal_name(-result.returncode)})", corrupt=True)
    try:
        return msgspec.json.decode(result.stdout.splitlines()[-1], type=Finding)
    except (IndexError, msgspec.DecodeError, msgspec.ValidationError):
        last = result.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        return Finding(f"not verified: the check failed ({last[0]})")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


# --- the child processes ------------------------------------------------------------------


def child_walk() -> None:
    """Check the cache in ``sys.argv[1]``; print one Finding as JSON. May crash: that is the point."""
    directory = Path(sys.argv[1])
    try:
        finding = _check_copy(directory)
    except lmdb.Error as exc:
        finding = Finding(f"damaged ({exc})" if is_corruption(exc) else f"unusable ({exc})", is_corruption(exc))
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
        finding = Finding(f"damaged (a value does not decode: {exc})", corrupt=True)
    sys.stdout.buffer.write(msgspec.json.encode(finding) + b"\n")


def _check_copy(directory: Path) -> Finding:
    scratch = directory / SCRATCH
    scratch.mkdir()
    env = lmdb.open(str(directory), max_dbs=MAX_DBS, readonly=True)
    try:
        env.copy(str(scratch))  # a consistent snapshot, page for page (free pages too)
    finally:
        env.close()
    size = (scratch / "data.mdb").stat().st_size
    env = lmdb.open(str(scratch), max_dbs=MAX_DBS, map_size=4 * size + (64 << 20), sync=False, metasync=False)
    try:
        with env.begin() as txn:
            names = [bytes(name) for name, _ in txn.cursor()]
        dbs = {name: env.open_db(name, create=False) for name in names}
        finding = _read_all(env, dbs, decode_values=_ours(env, dbs))
        for _ in range(3):  # a page freed in one transaction is reused two transactions later
            finding = finding or _rewrite_all(env, dbs) or _read_all(env, dbs, decode_values=False)
        return finding
    finally:
        env.close()


def _ours(env: lmdb.Environment, dbs: dict[bytes, lmdb._Database]) -> bool:
    """Whether the values have our shape (another schema version's are restarted on open)."""
    from .keys import SCHEMA_VERSION

    if b"meta" not in dbs:
        return False
    with env.begin() as txn:
        return txn.get(b"schema", db=dbs[b"meta"]) == str(SCHEMA_VERSION).encode()


def _read_all(env: lmdb.Environment, dbs: dict[bytes, lmdb._Database], decode_values: bool) -> Finding:
    from .keys import CachedCompletion  # the real shape of a value

    decode = msgspec.msgpack.Decoder(CachedCompletion).decode
    with env.begin(buffers=True) as txn:
        for name, db in dbs.items():
            walked = 0
            for key, value in txn.cursor(db=db):
                walked += 1
                if name == b"entries" and decode_values:
                    decode(bytes(value)[8:])  # after the 8-byte recency sequence
                elif name == b"order" and len(key) <= 8:
                    return Finding("damaged (a short key in order)", corrupt=True)
            counted = txn.stat(db)["entries"]
            if walked != counted:
                return Finding(f"damaged ({name.decode()} holds {walked} entries, says {counted})", corrupt=True)
    return Finding()


def _rewrite_all(env: lmdb.Environment, dbs: dict[bytes, lmdb._Database]) -> Finding:
    txn = env.begin(write=True)
    try:
        for db in dbs.values():
            cursor = txn.cursor(db=db)
            for key, value in cursor:
                cursor.put(key, value)
    except lmdb.MapFullError:
        txn.abort()  # touched what fits: that part was checked
        return Finding()
    except BaseException:
        txn.abort()
        raise
    txn.commit()
    return Finding()


def child_clear() -> None:
    """Empty the cache in ``sys.argv[1]`` (dropping whole trees needs no new pages); print a Finding."""
    try:
        env = lmdb.open(sys.argv[1], max_dbs=MAX_DBS)
        with env.begin(write=True) as txn:
            for name in (b"entries", b"order"):
                txn.drop(env.open_db(name, txn=txn), delete=False)
        env.close()
        finding = Finding()
    except lmdb.Error as exc:
        finding = Finding(f"cannot empty it ({exc})", is_corruption(exc))
    sys.stdout.buffer.write(msgspec.json.encode(finding) + b"\n")
