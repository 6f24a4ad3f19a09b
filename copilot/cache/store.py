"""The second cache level: LMDB in the user's cache directory, shared by every server.

- Opening checks the files before any read: garbage fails LMDB's own checks, and a
  truncated data file (which LMDB would otherwise map and then crash on with SIGBUS) is
  caught by comparing its size with the environment's last page. Either way the cache is
  rebuilt empty, with one log line. A schema version other than ours wipes it.
- Reads happen inline (microseconds). Writes go through one writer thread in batches,
  with ``sync=False`` and a periodic sync: a crash loses at most the last moments.
- The map is bounded: before it fills, the least recently used entries are evicted in
  small transactions (a large delete can itself need free pages).
- Any LMDB or decoding error while serving is a miss, never a crash.
"""

from __future__ import annotations

import logging
import queue
import shutil
import struct
import threading
import time
from collections import Counter
from pathlib import Path

import lmdb
import msgspec

from ..errors import CacheUnavailable
from .keys import SCHEMA_VERSION, CachedCompletion

log = logging.getLogger(__name__)

HIGH_WATER = 0.60  # evict when more than this share of the map holds live pages...
LOW_WATER = 0.45  # ... down to this share: copy-on-write needs the headroom
EVICT_BATCH = 64
WRITE_BATCH = 128
SYNC_EVERY_S = 5.0
_SEQ = struct.Struct(">Q")

_encode = msgspec.msgpack.Encoder().encode
_decode_entry = msgspec.msgpack.Decoder(CachedCompletion).decode


def check_files(directory: Path) -> str:
    """Why the files in ``directory`` cannot be used safely ("" when they can)."""
    data = directory / "data.mdb"
    if not data.exists():
        return ""
    try:
        env = lmdb.open(str(directory), readonly=True, lock=False, max_dbs=4)
    except lmdb.Error as exc:
        return f"unreadable ({exc})"
    try:
        needed = (env.info()["last_pgno"] + 1) * env.stat()["psize"]
    finally:
        env.close()
    size = data.stat().st_size
    return f"truncated ({size} bytes, needs {needed})" if size < needed else ""


class LmdbStore:
    def __init__(self, directory: Path, max_size_mb: int) -> None:
        self.directory = directory
        self.map_size = max_size_mb << 20
        try:
            directory.mkdir(parents=True, exist_ok=True)
            problem = check_files(directory)
            if problem:
                log.warning("completion cache at %s is %s: rebuilding it empty", directory, problem)
                self._wipe()
            self._open()
            if self._schema() not in (None, str(SCHEMA_VERSION).encode()):
                log.info("completion cache at %s has another schema: starting it over", directory)
                self._env.close()
                self._wipe()
                self._open()
        except (OSError, lmdb.Error) as exc:
            raise CacheUnavailable(f"completion cache disabled: cannot use {directory}: {exc}") from None
        self.errors = 0
        self._writes: queue.Queue[tuple[str, bytes, bytes] | None] = queue.Queue()
        self._counters: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._writer = threading.Thread(target=self._write_loop, name="copilot-cache-writer", daemon=True)
        self._writer.start()

    # --- reading (any thread) -------------------------------------------------------------

    def get(self, key: bytes) -> CachedCompletion | None:
        try:
            with self._env.begin(db=self._entries, buffers=True) as txn:
                raw = txn.get(key)
                entry = None if raw is None else _decode_entry(bytes(raw)[_SEQ.size :])
        except lmdb.MapResizedError:
            self._env.set_mapsize(0)  # another process grew the map
            return None
        except (lmdb.Error, msgspec.DecodeError, ValueError) as exc:
            self.errors += 1
            log.debug("cache read failed (%s): a miss", exc)
            return None
        if entry is not None:
            self._writes.put(("touch", key, b""))
        return entry

    def stats(self) -> dict[str, int]:
        with self._env.begin() as txn:
            entries = txn.stat(self._entries)["entries"]
            counters = {k.decode(): int(v) for k, v in txn.cursor(db=self._meta) if k.startswith(b"count.")}
        return {"entries": entries, "bytes_used": self._used_bytes(), "map_size": self.map_size, **counters}

    # --- writing (through the writer thread) ------------------------------------------------

    def put(self, key: bytes, entry: CachedCompletion) -> None:
        self._writes.put(("put", key, _encode(entry)))

    def count(self, name: str, amount: int = 1) -> None:
        """Add to a persistent counter (summed over every process that uses the cache)."""
        with self._lock:
            self._counters[name] += amount

    def clear(self) -> None:
        self._writes.put(("clear", b"", b""))
        self.flush()

    def flush(self) -> None:
        """Wait until every write queued so far is committed."""
        self._writes.join()

    def close(self) -> None:
        self._writes.put(None)
        self._writer.join(timeout=10)
        self._env.close()

    def _write_loop(self) -> None:
        last_sync = time.monotonic()
        while True:
            batch = [self._writes.get()]
            while not self._writes.empty() and len(batch) < WRITE_BATCH:
                batch.append(self._writes.get_nowait())
            closing = batch[-1] is None
            try:
                ops = [op for op in batch if op is not None]
                if self._used_bytes() > HIGH_WATER * self.map_size:
                    self._evict()
                try:
                    self._apply(ops)
                except lmdb.MapFullError:
                    self._evict()
                    self._apply(ops)
                except lmdb.MapResizedError:
                    self._env.set_mapsize(0)  # another process grew the map: adopt its size
                    self._apply(ops)
                if time.monotonic() - last_sync > SYNC_EVERY_S or closing:
                    self._env.sync(True)
                    last_sync = time.monotonic()
            except lmdb.Error as exc:
                self.errors += 1
                log.warning("cache write failed: %s", exc)
            finally:
                for _ in batch:
                    self._writes.task_done()
            if closing:
                return

    def _apply(self, ops: list[tuple[str, bytes, bytes]]) -> None:
        with self._lock:
            counters, self._counters = self._counters, Counter()
        with self._env.begin(write=True) as txn:
            for op, key, value in ops:
                if op == "put":
                    self._store(txn, key, value)
                elif op == "touch":
                    raw = txn.get(key, db=self._entries)
                    if raw is not None:
                        self._store(txn, key, raw[_SEQ.size :], old=raw[: _SEQ.size])
                elif op == "clear":
                    txn.drop(self._entries, delete=False)
                    txn.drop(self._order, delete=False)
            for name, amount in counters.items():
                meta_key = f"count.{name}".encode()
                txn.put(meta_key, str(int(txn.get(meta_key, b"0", db=self._meta)) + amount).encode(), db=self._meta)

    def _store(self, txn: lmdb.Transaction, key: bytes, value: bytes, old: bytes | None = None) -> None:
        if old is None:
            previous = txn.get(key, db=self._entries)
            old = bytes(previous[: _SEQ.size]) if previous is not None else None
        if old is not None:
            txn.delete(old + key, db=self._order)
        seq = _SEQ.pack(self._next_seq(txn))
        txn.put(key, seq + value, db=self._entries)
        txn.put(seq + key, b"", db=self._order)

    def _next_seq(self, txn: lmdb.Transaction) -> int:
        seq = int(txn.get(b"seq", b"0", db=self._meta)) + 1
        txn.put(b"seq", str(seq).encode(), db=self._meta)
        return seq

    def _evict(self) -> None:
        """Delete the least recently used entries, a small transaction at a time."""
        evicted = 0
        try:
            while self._used_bytes() > LOW_WATER * self.map_size:
                with self._env.begin(write=True) as txn:
                    cursor = txn.cursor(db=self._order)
                    if not cursor.first():
                        break
                    for _ in range(EVICT_BATCH):
                        txn.delete(cursor.key()[_SEQ.size :], db=self._entries)
                        evicted += 1
                        if not cursor.delete() or not cursor.key():
                            break
        except lmdb.MapFullError:
            # Too full even to delete a few entries: dropping whole trees needs no new pages.
            log.warning("completion cache %s is full: clearing it", self.directory)
            with self._env.begin(write=True) as txn:
                txn.drop(self._entries, delete=False)
                txn.drop(self._order, delete=False)
        log.debug("cache evicted %d least recently used entries", evicted)

    def _used_bytes(self) -> int:
        with self._env.begin() as txn:
            total = 0
            for db in (self._entries, self._order, self._meta):
                stat = txn.stat(db)
                total += (stat["branch_pages"] + stat["leaf_pages"] + stat["overflow_pages"]) * stat["psize"]
        return total

    def _open(self) -> None:
        self._env = lmdb.open(str(self.directory), map_size=self.map_size, max_dbs=4, sync=False, metasync=False)
        self._env.reader_check()  # clear slots left by readers that were killed
        with self._env.begin(write=True) as txn:
            if txn.get(b"meta") is None and txn.stat()["entries"] > 0:
                # keys in the main database that are not our sub-databases: a cache of
                # another layout; mark it so the caller starts over
                self._env.close()
                self._wipe()
                self._env = lmdb.open(
                    str(self.directory), map_size=self.map_size, max_dbs=4, sync=False, metasync=False
                )
        self._entries = self._env.open_db(b"entries")
        self._order = self._env.open_db(b"order")  # sequence + key, oldest first
        self._meta = self._env.open_db(b"meta")
        with self._env.begin(write=True) as txn:
            if txn.get(b"schema", db=self._meta) is None:
                txn.put(b"schema", str(SCHEMA_VERSION).encode(), db=self._meta)

    def _schema(self) -> bytes | None:
        with self._env.begin() as txn:
            value = txn.get(b"schema", db=self._meta)
            return None if value is None else bytes(value)

    def _wipe(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True, exist_ok=True)
