"""How long a request that missed every cache waits for typing to pause.

Pure logic (no clocks read here: the caller passes the time), unit-tested directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PAUSE_S = 1.5  # a gap longer than this is a pause, not the typing rhythm
SMOOTHING = 0.3  # weight of the newest observation in the moving averages


@dataclass
class Debounce:
    """How long a request that missed every cache waits before it goes to the model.

    Waiting is only worth it when the model is slower than the user's typing: a request
    started now would be superseded by the next keystroke anyway. Then the wait is a
    little longer than the usual gap between keys (a pause means the user wants a
    suggestion), never longer than ``max_ms``. When the model answers within a keystroke
    gap, requests start at once: a wait would let the next key supersede an answer that
    was on time, so the user would see nothing while typing and wait longer at a pause.
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
        if self.model_ms is not None and self.model_ms < gap:
            return 0.0
        return min(self.max_ms, gap * 1.25)
