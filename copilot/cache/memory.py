"""The first cache level: a bounded in-memory LRU of recent entries."""

from __future__ import annotations

from collections import OrderedDict

from .keys import CachedCompletion


class MemoryLRU:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[bytes, CachedCompletion] = OrderedDict()

    def get(self, key: bytes) -> CachedCompletion | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: bytes, entry: CachedCompletion) -> None:
        if self.capacity <= 0:
            return
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
