"""Who the inference worker serves next, and how long a request waits for typing to pause.

Pure logic apart from the queue's lock (no threads, no clocks read here), so both
policies are unit-tested directly.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


class JobQueue(Generic[T]):
    """The jobs waiting for the one inference worker.

    - One waiting job per owner (a document): a newer job replaces the older one, which
      ``put`` hands back so the caller can answer it as cancelled (latest wins).
    - Owners are served round-robin in order of arrival, so one busy document cannot
      starve another, whichever client it belongs to.
    - Background jobs (prefetch) run only when no interactive job waits.
    """

    def __init__(self) -> None:
        self._interactive: OrderedDict[str, T] = OrderedDict()
        self._background: OrderedDict[str, T] = OrderedDict()
        self._closed = False
        self._ready = threading.Condition()

    def put(self, owner: str, job: T, background: bool = False) -> list[T]:
        """Queue ``job``; returns the jobs it replaced (the owner's older waiting jobs)."""
        replaced: list[T] = []
        with self._ready:
            if not background and owner in self._background:
                replaced.append(self._background.pop(owner))
            lane = self._background if background else self._interactive
            if owner in lane:
                replaced.append(lane[owner])
            lane[owner] = job  # a replaced job's owner keeps its place in the round
            self._ready.notify()
        return replaced

    def get(self) -> T | None:
        """The next job, blocking until there is one; None once closed and drained."""
        with self._ready:
            while not self._interactive and not self._background and not self._closed:
                self._ready.wait()
            for lane in (self._interactive, self._background):
                if lane:
                    return lane.popitem(last=False)[1]
            return None

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()

    def __len__(self) -> int:
        with self._ready:
            return len(self._interactive) + len(self._background)


PAUSE_S = 1.5  # a gap longer than this is a pause, not the typing rhythm
SMOOTHING = 0.3  # weight of the newest observation in the moving averages


@dataclass
class Debounce:
    """How long a request that missed every cache waits before it goes to the model.

    Waiting is only worth it when the model is slower than the user's typing: a request
    started now would be superseded by the next keystroke anyway. Then the wait is a
    little longer than the usual gap between keys (a pause means the user wants a
    suggestion), never longer than ``max_ms``. When the model answers within about half
    a keystroke gap, requests start at once.
    """

    max_ms: float = 75.0
    typing_gap_ms: dict[str, float] = field(default_factory=dict)  # per document, moving average
    model_ms: float | None = None  # moving average of model time (queue + prefill + decode)
    _last_key: dict[str, float] = field(default_factory=dict)
    _after_pause: set[str] = field(default_factory=set)  # documents whose last key followed a pause

    def keystroke(self, document: str, now_s: float) -> None:
        last = self._last_key.get(document)
        self._last_key[document] = now_s
        if last is None or now_s - last > PAUSE_S:
            self._after_pause.add(document)
            return
        self._after_pause.discard(document)
        gap = (now_s - last) * 1000
        previous = self.typing_gap_ms.get(document)
        self.typing_gap_ms[document] = gap if previous is None else previous + SMOOTHING * (gap - previous)

    def model_time(self, ms: float) -> None:
        self.model_ms = ms if self.model_ms is None else self.model_ms + SMOOTHING * (ms - self.model_ms)

    def forget(self, document: str) -> None:
        self.typing_gap_ms.pop(document, None)
        self._last_key.pop(document, None)
        self._after_pause.discard(document)

    def delay_ms(self, document: str) -> float:
        if self.max_ms <= 0:
            return 0.0
        gap = self.typing_gap_ms.get(document)
        if gap is None or document in self._after_pause:  # the first key after a pause: the user waits now
            return 0.0
        if self.model_ms is not None and self.model_ms < gap / 2:
            return 0.0
        return min(self.max_ms, gap * 1.25)
