"""Which document holds which KV sequence of the context (``KvSlots``), and the KV states
of documents pushed out of theirs, kept within a byte budget (``SavedStates``).

Pure bookkeeping (no llama.cpp calls here): the worker saves and restores the states;
unit-tested directly.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Collection

MIN_SHARED = 32  # prompt tokens a sequence must share with a new document's prompt to be chosen for it


class KvSlots:
    """Which KV sequence holds which document: least recently used goes first."""

    def __init__(self, n: int) -> None:
        self.size = n
        self._owners: OrderedDict[str, int] = OrderedDict()
        self._free = list(range(n))

    def slot_for(
        self, owner: str, busy: Collection[int] = (), shared: Callable[[int], int] | None = None
    ) -> tuple[int, bool, str | None]:
        """The owner's slot; whether the owner just got it (its state is not there); and
        the owner it was taken from, if any. A new owner never takes a ``busy`` slot (one
        generating); it takes the idle slot whose tokens share the longest prefix with its
        prompt (``shared(slot)``: a file open in two editors, the same repository preamble)
        when that prefix is at least ``MIN_SHARED`` tokens, else a free slot, else the least
        recently used idle one."""
        if owner in self._owners:
            self._owners.move_to_end(owner)
            return self._owners[owner], False, None
        idle = [slot for slot in self._free if slot not in busy]
        idle += [slot for slot in self._owners.values() if slot not in busy]
        if not idle:
            raise RuntimeError("every KV sequence is generating")  # the engine admits at most one job per slot
        best = max(idle, key=shared) if shared is not None else idle[0]
        slot = best if shared is not None and shared(best) >= MIN_SHARED else idle[0]
        evicted = next((name for name, held in self._owners.items() if held == slot), None)
        if evicted is not None:
            del self._owners[evicted]
        else:
            self._free.remove(slot)
        self._owners[owner] = slot
        return slot, True, evicted

    def release(self, prefix: str) -> list[int]:
        """Free the slots of every owner whose name starts with ``prefix`` (an editor that
        left): they go first to the next documents, whose state replaces theirs."""
        freed = [slot for owner, slot in self._owners.items() if owner.startswith(prefix)]
        for owner in [owner for owner in self._owners if owner.startswith(prefix)]:
            del self._owners[owner]
        self._free[:0] = sorted(freed)
        return freed

    def owners(self) -> dict[str, int]:
        """Owner -> slot, least recently used first."""
        return dict(self._owners)


class SavedStates:
    """KV states of documents pushed out of their sequence, newest kept, within a byte
    budget: restoring one costs milliseconds where evaluating the prompt again costs its
    whole prefill (BENCHMARKS.md, "KV reuse")."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget = budget_bytes
        self._states: OrderedDict[str, tuple[bytearray, list[int]]] = OrderedDict()
        self._bytes = 0

    def put(self, owner: str, state: bytearray, tokens: list[int]) -> None:
        self.take(owner)
        if len(state) > self.budget:
            return
        self._states[owner] = (state, list(tokens))
        self._bytes += len(state)
        while self._bytes > self.budget:
            _, (old, _) = self._states.popitem(last=False)
            self._bytes -= len(old)

    def drop(self, prefix: str) -> None:
        for owner in [owner for owner in self._states if owner.startswith(prefix)]:
            self.take(owner)

    def take(self, owner: str) -> tuple[bytearray, list[int]] | None:
        entry = self._states.pop(owner, None)
        if entry is not None:
            self._bytes -= len(entry[0])
        return entry
