"""The completion cache: an in-memory LRU in front of a shared LMDB store.

Typing-through (``typing_through.py``) and attaching to a generation still streaming
(``inflight.py``) sit in front of both in the pipeline; keys and matching
rules are in ``keys.py``. The store (``store.py``) shares one environment per directory
within a process (``envs.py``); its files are checked, in a child process where a damaged
page may crash, after a shutdown that was not clean (``verify.py``, ``markers.py``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import CacheUnavailable
from .keys import CachedCompletion, GenerationParams, context_key, continue_from, exact_key
from .memory import MemoryLRU
from .store import LmdbStore

__all__ = [
    "CachedCompletion",
    "CompletionCache",
    "GenerationParams",
    "LmdbStore",
    "context_key",
    "continue_from",
    "exact_key",
    "open_cache",
]

log = logging.getLogger(__name__)

MEMORY_ENTRIES = 4096


class CompletionCache:
    """Memory first, then LMDB (when it could be opened); hits on disk are kept in memory."""

    def __init__(self, store: LmdbStore | None, memory_entries: int = MEMORY_ENTRIES) -> None:
        self.store = store
        self.memory = MemoryLRU(memory_entries)

    def get(self, key: bytes) -> tuple[CachedCompletion | None, str]:
        """The entry and the level that had it ("memory", "disk"), or (None, "")."""
        entry = self.memory.get(key)
        if entry is not None:
            return entry, "memory"
        if self.store is not None:
            entry = self.store.get(key)
            if entry is not None:
                self.memory.put(key, entry)
                return entry, "disk"
        return None, ""

    def put(self, keys: list[bytes], entry: CachedCompletion) -> None:
        for key in keys:
            self.memory.put(key, entry)
            if self.store is not None:
                self.store.put(key, entry)

    def count(self, outcome: str) -> None:
        """Record a lookup outcome (hit level or miss) in the shared store's counters."""
        if self.store is not None:
            self.store.count(outcome)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def open_cache(directory: Path | None, max_size_mb: int, memory_entries: int = MEMORY_ENTRIES) -> CompletionCache:
    """The cache; memory only (with one log line saying why) when LMDB cannot be used,
    and nothing at all with no directory and no memory entries (caching disabled)."""
    store = None
    if directory is not None:
        try:
            store = LmdbStore(directory, max_size_mb)
        except CacheUnavailable as exc:
            log.error("%s (the in-memory cache still works)", exc)
    return CompletionCache(store, memory_entries)
