"""One completion request as it goes through the pipeline's tiers.

A ``Request`` carries what every tier reads (the snapshot, the flags, the callbacks, the
generation parameters, the cursor's cache anchor) and what they write (the request's
``RequestRecord``: where the answer came from, token counts and per-stage timings). The
facts that cost something (the block decision parses the window around the cursor) are
computed once, on first use.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .. import postprocess
from ..cache.keys import MAX_KEY_CHARS, GenerationParams
from ..config import CompletionSettings
from ..documents import Snapshot
from ..inference.jobs import Generation
from ..metrics import RequestRecord
from ..prompt.healing import split_anchor

Partial = Callable[[str], None]


def _always() -> bool:
    return True


@dataclass(eq=False)
class Request:
    snapshot: Snapshot
    id: int
    settings: CompletionSettings
    explicit: bool = False  # the user asked for a generation: no cache, no debounce, no line limit
    is_current: Callable[[], bool] = _always  # whether the document is still at the snapshot's version
    on_partial: Partial | None = None  # the raw text so far, on the inference thread
    record: RequestRecord = field(init=False)
    started: float = field(default_factory=time.perf_counter)
    _mark: float = field(init=False)  # where the current stage began

    def __post_init__(self) -> None:
        self.record = RequestRecord(request_id=self.id, language=self.snapshot.language_id)
        self._mark = self.started

    @property
    def uri(self) -> str:
        return self.snapshot.uri

    @property
    def timings(self) -> dict[str, float]:
        return self.record.timings_ms

    @functools.cached_property
    def prefix(self) -> str:
        """The text before the cursor (a copy: made once per request)."""
        return self.snapshot.prefix

    @functools.cached_property
    def suffix(self) -> str:
        """The text after the cursor."""
        return self.snapshot.suffix

    @functools.cached_property
    def key_prefix(self) -> str:
        """The end of the text before the cursor: all that the cache keys hash."""
        return self.prefix[-2 * MAX_KEY_CHARS :]

    @functools.cached_property
    def stem_and_anchor(self) -> tuple[str, str]:
        """The text before the cursor without, and with only, the half-typed word at its end."""
        return split_anchor(self.key_prefix)

    @functools.cached_property
    def wants_block(self) -> bool:
        """After a block header or in an empty body: a block to fill (the syntax decides)."""
        return postprocess.wants_block(self.prefix, self.suffix, self.snapshot.language_id)

    @functools.cached_property
    def params(self) -> GenerationParams:
        """One line, unless the syntax at the cursor asks for a block: then up to
        ``completion.max_lines`` (0: no line limit at all). An explicit generation has no line limit."""
        settings = self.settings
        if settings.max_lines == 0 or self.explicit:
            return GenerationParams(max_tokens=settings.max_tokens, max_lines=0)
        block = settings.max_lines > 1 and self.wants_block
        return GenerationParams(max_tokens=settings.max_tokens, max_lines=settings.max_lines if block else 1)

    def start_clock(self) -> None:
        """The stages are timed from now on (what came before is the caller's bookkeeping)."""
        self._mark = time.perf_counter()

    def lap(self, stage: str, add: bool = False) -> None:
        """End the current stage: its time goes to ``stage`` (added to what it had with ``add``)."""
        now = time.perf_counter()
        self.timings[stage] = (self.timings.get(stage, 0.0) if add else 0.0) + (now - self._mark) * 1000
        self._mark = now

    def answered_by(self, generation: Generation) -> None:
        """The local model's statistics for this request."""
        self.timings.update(queue=generation.queue_ms, prefill=generation.prefill_ms, decode=generation.decode_ms)
        if generation.generated_tokens:
            self.timings["first_token"] = generation.first_token_ms
        record = self.record
        record.stop_reason = generation.stop_reason
        record.prompt_tokens = generation.prompt_tokens
        record.reused_tokens = generation.reused_tokens
        record.generated_tokens = generation.generated_tokens
        record.mean_logprob = round(generation.mean_logprob, 4)
        record.draft_tokens = generation.draft_tokens
        record.accepted_tokens = generation.accepted_tokens
        record.target_forwards = generation.target_forwards
        record.preempted = generation.preempted

    def finish(self, text: str) -> str:
        """Close the record (the total time, the outcome) and return what may be shown:
        nothing once the document moved on from the snapshot."""
        self.timings["total"] = (time.perf_counter() - self.started) * 1000
        record = self.record
        if text and not self.is_current():
            text = ""
            record.outcome = "stale"
        if not record.outcome:
            record.outcome = "shown" if text else "empty"
        record.chars = len(text)
        return text
