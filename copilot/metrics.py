"""Counters and recent timings of the completion pipeline (first version; kept on the machine)."""

from __future__ import annotations

import statistics
from collections import Counter, deque
from typing import Any

import msgspec

from .engine import Generation, GenerationJob

RECENT = 512  # requests whose timings are kept: memory stays bounded


class RequestRecord(msgspec.Struct, frozen=True, kw_only=True):
    request_id: int
    language: str
    source: str  # "cache", "model", "none"
    outcome: str  # "shown", "empty", "cancelled", "stale", "error"
    stop_reason: str = ""
    prompt_tokens: int = 0
    reused_tokens: int = 0
    generated_tokens: int = 0
    mean_logprob: float = 0.0  # confidence of the model's text
    draft_tokens: int = 0
    accepted_tokens: int = 0
    target_forwards: int = 0
    preempted: bool = False  # arrived while the worker ran this document's superseded job
    timings_ms: dict[str, float] = {}


class Metrics:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.recent: deque[RequestRecord] = deque(maxlen=RECENT)

    def record(self, record: RequestRecord) -> None:
        counts = self.counts
        counts["requests"] += 1
        counts[f"source_{record.source}"] += 1
        counts[f"outcome_{record.outcome}"] += 1
        if record.stop_reason:
            counts[f"stop_{record.stop_reason}"] += 1
        counts["tokens_prompt"] += record.prompt_tokens
        counts["tokens_reused"] += record.reused_tokens
        counts["tokens_generated"] += record.generated_tokens
        counts["tokens_drafted"] += record.draft_tokens
        counts["tokens_draft_accepted"] += record.accepted_tokens
        counts["target_forwards"] += record.target_forwards
        self.recent.append(record)

    def record_cancelled_generation(self, job: GenerationJob, generation: Generation) -> None:
        """What the worker did for a request whose client went away (engine callback)."""
        self.counts["cancel_jobs"] += 1
        self.counts["cancel_generated_tokens"] += generation.generated_tokens
        if generation.stop_reason == "cancelled":
            self.counts["cancel_stopped_early"] += 1

    def snapshot(self, recent: int = 20) -> dict[str, Any]:
        """Counters, the median of each stage's timing over the recent requests, and the
        last ``recent`` request records."""
        stages: dict[str, list[float]] = {}
        for record in self.recent:
            for stage, ms in record.timings_ms.items():
                stages.setdefault(stage, []).append(ms)
        return {
            "counts": dict(sorted(self.counts.items())),
            "p50_ms": {stage: round(statistics.median(values), 3) for stage, values in sorted(stages.items())},
            "recent": [msgspec.to_builtins(r) for r in list(self.recent)[-recent:]] if recent > 0 else [],
        }
