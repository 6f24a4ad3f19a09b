"""The second cache level: LMDB in the user's cache directory, shared by every server.

- Opening checks the files before any read (``envs.py``, ``verify.py``): a garbage or
  truncated file, or one left open by a process that is gone and then found damaged in a
  child process, is rebuilt empty with one log line. A schema version other than ours
  wipes it. Stores on one directory in one process share one environment.
- Reads happen inline (microseconds). Writes go through one writer thread per store in
  batches, with ``sync=False`` and a periodic sync: a crash loses at most the last moments.
- The map is bounded: before it fills, the least recently used entries are evicted in
  small transactions (a large delete can itself need free pages).
- Any LMDB or decoding error while serving is a miss, never a crash; a corruption error
  also has the writer thread rebuild the file (one log line), instead of missing forever.
"""

from __future__ import annotations

import logging
import queue
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import lmdb
import msgspec

from ..logs import session_thread
from . import envs
from .envs import Handles
from .keys import CachedCompletion
from .verify import check_files, is_corruption

__all__ = ["LmdbStore", "check_files"]

log = logging.getLogger(__name__)

HIGH_WATER = 0.60  # evict when more than this share of the map holds live pages...
LOW_WATER = 0.45  # ... down to this share: copy-on-write needs the headroom
EVICT_BATCH = 64
WRITE_BATCH = 128
SYNC_EVERY_S = 5.0
_SEQ = struct.Struct(">Q")
T = TypeVar("T")

_encode = msgspec.msgpack.Encoder().encode
_decode_entry = msgspec.msgpack.Decoder(CachedCompletion).decode

Op = tuple[str, bytes, bytes]  # ("put" | "touch" | "clear" | "rebuild", key, value)


class LmdbStore:
    def __init__(self, directory: Path, max_size_mb: int) -> None:
        """CacheUnavailable when the files cannot be used (nothing is deleted then)."""
        self.directory = directory
        self.map_size = max_size_mb << 20
        self._shared = envs.acquire(directory, self.map_size)
        self.errors = 0
        self._rebuild_asked = -1
        self._writes: queue.Queue[Op | None] = queue.Queue()
        self._counters: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._closed = False
        # Its lines are the session's that opened the cache (a store is one pipeline's).
        self._writer = session_thread(self._write_loop, "copilot-cache-writer")
        self._writer.start()

    # --- reading (any thread) -------------------------------------------------------------

    def get(self, key: bytes) -> CachedCompletion | None:
        generation = -1
        try:
            with self._shared.use() as h, h.env.begin(db=h.entries, buffers=True) as txn:
                generation = h.generation
                raw = txn.get(key)
                entry = None if raw is None else _decode_entry(bytes(raw)[_SEQ.size :])
        except lmdb.MapResizedError:
            self._shared.adopt_map_size()  # another process grew the map
            return None
        except (lmdb.Error, msgspec.DecodeError, ValueError) as exc:
            self.errors += 1
            log.debug("cache read failed (%s): a miss", exc)
            if is_corruption(exc) and generation != self._rebuild_asked:
                self._rebuild_asked = generation
                self._writes.put(("rebuild", _SEQ.pack(generation), str(exc).encode()))
            return None
        if entry is not None:
            self._writes.put(("touch", key, b""))
        return entry

    def stats(self) -> dict[str, int]:
        def read(h: Handles) -> dict[str, int]:
            with h.env.begin() as txn:
                entries = txn.stat(h.entries)["entries"]
                counters = {k.decode(): int(v) for k, v in txn.cursor(db=h.meta) if k.startswith(b"count.")}
            return {"entries": entries, "bytes_used": self._used_bytes(h), "map_size": self.map_size, **counters}

        return self._run(read)

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
        if self._closed:
            return
        self._closed = True
        self._writes.put(None)
        self._writer.join(timeout=10)
        envs.release(self._shared)  # the environment closes with the last store on it

    def _run(self, work: Callable[[Handles], T]) -> T:
        """``work`` inside the environment; after a corruption error, once more on the rebuilt
        file; after another process grew the map, once more at its size."""
        for attempt in (1, 2):
            generation = -1
            try:
                with self._shared.use() as handles:
                    generation = handles.generation
                    return work(handles)
            except lmdb.MapResizedError:
                if attempt == 2:
                    raise
                self._shared.adopt_map_size()
            except (lmdb.Error, msgspec.DecodeError, ValueError) as exc:
                if attempt == 2 or not is_corruption(exc):
                    raise
                self._shared.rebuild(generation, exc)
        raise AssertionError("unreachable")

    def _write_loop(self) -> None:
        last_sync = time.monotonic()
        while True:
            batch = [self._writes.get()]
            while not self._writes.empty() and len(batch) < WRITE_BATCH:
                batch.append(self._writes.get_nowait())
            closing = batch[-1] is None
            try:
                ops = [op for op in batch if op is not None and op[0] != "rebuild"]
                for op in batch:
                    if op is not None and op[0] == "rebuild":  # a reader met a damaged page
                        self._shared.rebuild(_SEQ.unpack(op[1])[0], lmdb.Error(op[2].decode()))
                self._run(lambda h: self._write(h, ops))  # noqa: B023 - called at once
                if time.monotonic() - last_sync > SYNC_EVERY_S or closing:
                    self._run(lambda h: h.env.sync(True))
                    last_sync = time.monotonic()
            except (lmdb.Error, msgspec.DecodeError, ValueError) as exc:
                self.errors += 1
                log.warning("cache write failed: %s", exc)
            finally:
                for _ in batch:
                    self._writes.task_done()
            if closing:
                return

    def _write(self, h: Handles, ops: list[Op]) -> None:
        if self._used_bytes(h) > HIGH_WATER * self.map_size:
            self._evict(h)
        try:
            self._apply(h, ops)
        except lmdb.MapFullError:
            self._evict(h)
            self._apply(h, ops)

    def _apply(self, h: Handles, ops: list[Op]) -> None:
        with self._lock:
            counters, self._counters = self._counters, Counter()
        try:
            with h.env.begin(write=True) as txn:
                for op, key, value in ops:
                    if op == "put":
                        self._store(h, txn, key, value)
                    elif op == "touch":
                        raw = txn.get(key, db=h.entries)
                        if raw is not None:
                            self._store(h, txn, key, raw[_SEQ.size :], old=raw[: _SEQ.size])
                    elif op == "clear":
                        txn.drop(h.entries, delete=False)
                        txn.drop(h.order, delete=False)
                for name, amount in counters.items():
                    meta_key = f"count.{name}".encode()
                    txn.put(meta_key, str(int(txn.get(meta_key, b"0", db=h.meta)) + amount).encode(), db=h.meta)
        except BaseException:
            with self._lock:  # not committed: keep the counts for the next batch
                self._counters.update(counters)
            raise

    def _store(self, h: Handles, txn: lmdb.Transaction, key: bytes, value: bytes, old: bytes | None = None) -> None:
        if old is None:
            previous = txn.get(key, db=h.entries)
            old = bytes(previous[: _SEQ.size]) if previous is not None else None
        if old is not None:
            txn.delete(old + key, db=h.order)
        seq = int(txn.get(b"seq", b"0", db=h.meta)) + 1
        txn.put(b"seq", str(seq).encode(), db=h.meta)
        txn.put(key, _SEQ.pack(seq) + value, db=h.entries)
        txn.put(_SEQ.pack(seq) + key, b"", db=h.order)

    def _evict(self, h: Handles) -> None:
        """Delete the least recently used entries, a small transaction at a time."""
        evicted = 0
        try:
            while self._used_bytes(h) > LOW_WATER * self.map_size:
                with h.env.begin(write=True) as txn:
                    cursor = txn.cursor(db=h.order)
                    if not cursor.first():
                        break
                    for _ in range(EVICT_BATCH):
                        txn.delete(cursor.key()[_SEQ.size :], db=h.entries)
                        evicted += 1
                        if not cursor.delete() or not cursor.key():
                            break
        except lmdb.MapFullError:
            # Too full even to delete a few entries: dropping whole trees needs no new pages.
            log.warning("completion cache %s is full: clearing it", self.directory)
            with h.env.begin(write=True) as txn:
                txn.drop(h.entries, delete=False)
                txn.drop(h.order, delete=False)
        log.debug("cache evicted %d least recently used entries", evicted)

    def _used_bytes(self, h: Handles) -> int:
        with h.env.begin() as txn:
            total = 0
            for db in (h.entries, h.order, h.meta):
                stat = txn.stat(db)
                total += (stat["branch_pages"] + stat["leaf_pages"] + stat["overflow_pages"]) * stat["psize"]
        return total
