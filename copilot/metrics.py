"""What the server measures, kept on the machine: a record per request, counters since
start, latency percentiles over a sliding window and since start, and the editor's
shown / accepted / dismissed events.

Memory stays bounded however long the server runs: the window is the last ``WINDOW``
records, and since-start percentiles come from fixed-size uniform reservoirs.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from .inference.jobs import Generation, GenerationJob

log = logging.getLogger(__name__)

WINDOW = 512  # records in the sliding window
RESERVOIR = 2048  # samples per since-start reservoir
EVENT_MEMORY = 4096  # recent request ids an editor event may still refer to
CACHE_ROUTES = ("typing", "stream", "memory", "disk")
EVENTS = ("shown", "accepted", "partial", "dismissed")
MIN_ALERT_SAMPLES = 20  # model answers in the window before a latency alert may fire


class RequestRecord(msgspec.Struct, kw_only=True):
    """What one request did. Filled in by its ``Request`` as the tiers run; never changed
    once it reached the metrics."""

    request_id: int
    language: str
    source: str = "none"  # "typing", "stream", "memory", "disk", "model", "remote" or "none"
    outcome: str = ""  # "shown", "empty", "cancelled", "superseded", "stale", "error", "ignored"; "": still running
    stop_reason: str = ""
    prompt_tokens: int = 0
    reused_tokens: int = 0  # of the prompt, kept in the KV cache; evaluated = prompt - reused
    shared_tokens: int = 0  # leading prompt tokens equal to the document's previous prompt
    context_snippets: int = 0  # snippets from outside the local window in the prompt
    context_tokens: int = 0  # their tokens
    generated_tokens: int = 0
    mean_logprob: float = 0.0  # confidence of the model's text
    draft_tokens: int = 0
    accepted_tokens: int = 0
    target_forwards: int = 0
    preempted: bool = False  # arrived while the worker ran this document's superseded job
    cost: float = 0.0  # estimated, in the remote's currency; local answers cost nothing
    cost_all_remote: float = 0.0  # what this answer would have cost from the remote model (model answers)
    route_reason: str = ""  # the router's decision: why local or remote
    remote_tokens_in: int = 0
    remote_tokens_out: int = 0
    chars: int = 0  # length of the suggestion shown
    timings_ms: dict[str, float] = {}

    @property
    def route(self) -> str:
        """Where the answer came from: a cache level, the local model, or nothing."""
        if self.source in CACHE_ROUTES:
            return self.source
        return "local" if self.source == "model" else self.source  # "remote" stays itself


def percentiles(values: Iterable[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {}

    def at(q: float) -> float:  # nearest rank: a value that really occurred
        return round(ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.999999) - 1))], 3)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "n": len(ordered)}


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def aggregate(records: Iterable[RequestRecord]) -> dict[str, Any]:
    """Percentiles per stage and per route, and the rates a user reads at a glance."""
    records = list(records)
    stages: dict[str, list[float]] = {}
    routes: dict[str, list[float]] = {}
    for record in records:
        for stage, ms in record.timings_ms.items():
            stages.setdefault(stage, []).append(ms)
        if "total" in record.timings_ms:
            routes.setdefault(record.route, []).append(record.timings_ms["total"])
    requests = len(records)
    by_route = Counter(record.route for record in records)
    prompt = sum(r.prompt_tokens for r in records)
    drafted = sum(r.draft_tokens for r in records)
    return {
        "requests": requests,
        "stage_ms": {stage: percentiles(values) for stage, values in sorted(stages.items())},
        "route_ms": {route: percentiles(values) for route, values in sorted(routes.items())},
        "routes": dict(sorted(by_route.items())),
        "cache_hit_rate": {level: _ratio(by_route[level], requests) for level in CACHE_ROUTES},
        "typing_through_share": _ratio(by_route["typing"], requests),
        "kv_reuse": _ratio(sum(r.reused_tokens for r in records), prompt),
        "draft_acceptance": _ratio(sum(r.accepted_tokens for r in records), drafted),
        "tokens": {
            route: {
                "prompt": sum(r.prompt_tokens for r in records if r.route == route),
                "generated": sum(r.generated_tokens for r in records if r.route == route),
                "remote_in": sum(r.remote_tokens_in for r in records if r.route == route),
                "remote_out": sum(r.remote_tokens_out for r in records if r.route == route),
                "cost": round(sum(r.cost for r in records if r.route == route), 6),
            }
            for route in sorted(by_route)
        },
        "error_rate": _ratio(sum(r.outcome == "error" for r in records), requests),
        "cancel_rate": _ratio(sum(r.outcome in ("cancelled", "superseded") for r in records), requests),
    }


@dataclass
class _Answer:
    """A suggestion shown to the editor, for the events that follow it."""

    language: str
    route: str
    chars: int
    events: set[str] = field(default_factory=set)  # each counted once


def as_dict(record: RequestRecord) -> dict[str, Any]:
    """The record as plain JSON values, with its route."""
    return {**msgspec.to_builtins(record), "route": record.route}


class Reservoir:
    """A uniform sample of everything offered, of at most ``size`` values (Vitter's R)."""

    def __init__(self, size: int = RESERVOIR, seed: int = 0) -> None:
        self.size = size
        self.seen = 0
        self.values: list[float] = []
        self._random = random.Random(seed)

    def offer(self, value: float) -> None:
        self.seen += 1
        if len(self.values) < self.size:
            self.values.append(value)
        elif (slot := self._random.randrange(self.seen)) < self.size:
            self.values[slot] = value


class Metrics:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.recent: deque[RequestRecord] = deque(maxlen=WINDOW)
        self._stages: dict[str, Reservoir] = {}  # since start, per stage
        self._routes: dict[str, Reservoir] = {}  # since start, total time per route
        self._answers: OrderedDict[int, _Answer] = OrderedDict()  # request id -> what was shown
        # Requests still being answered -> events that came first (a streaming client shows
        # the first partial text, and says so, before the final answer).
        self._pending: OrderedDict[int, list[tuple[str, int]]] = OrderedDict()
        self._events: Counter[tuple[str, str, str]] = Counter()  # (event, language, route)
        self._cost_by_day: dict[str, float] = {}  # the last two days, by UTC date
        self.spent = 0.0  # estimated remote cost since start
        self.spent_all_remote = 0.0  # ... had every model answer come from the remote model

    def started(self, request_id: int) -> None:
        """A request is being answered: editor events for it are kept until its record."""
        self._pending[request_id] = []
        while len(self._pending) > EVENT_MEMORY:
            self._pending.popitem(last=False)

    def record(self, record: RequestRecord) -> None:
        counts = self.counts
        counts["requests"] += 1
        counts[f"source_{record.source}"] += 1
        counts[f"outcome_{record.outcome}"] += 1
        if record.stop_reason:
            counts[f"stop_{record.stop_reason}"] += 1
        counts["tokens_prompt"] += record.prompt_tokens
        counts["tokens_reused"] += record.reused_tokens
        counts["tokens_shared"] += record.shared_tokens  # with the document's previous prompt
        counts["tokens_context"] += record.context_tokens  # from outside the local window
        counts["tokens_generated"] += record.generated_tokens
        counts["tokens_drafted"] += record.draft_tokens
        counts["tokens_draft_accepted"] += record.accepted_tokens
        counts["target_forwards"] += record.target_forwards
        counts["tokens_remote_in"] += record.remote_tokens_in
        counts["tokens_remote_out"] += record.remote_tokens_out
        self.spent += record.cost
        self.spent_all_remote += record.cost_all_remote
        self.recent.append(record)
        for stage, ms in record.timings_ms.items():
            self._stages.setdefault(stage, Reservoir()).offer(ms)
        if "total" in record.timings_ms:
            self._routes.setdefault(record.route, Reservoir()).offer(record.timings_ms["total"])
        if record.cost:
            day = time.strftime("%Y-%m-%d", time.gmtime())
            self._cost_by_day = {day: self._cost_by_day.get(day, 0.0) + record.cost}
        if record.outcome == "shown":
            self._answers[record.request_id] = _Answer(record.language, record.route, record.chars)
            while len(self._answers) > EVENT_MEMORY:
                self._answers.popitem(last=False)
        for event, chars in self._pending.pop(record.request_id, []):
            self.editor_event(record.request_id, event, chars)  # ignored unless it was shown

    def cost(self) -> dict[str, float | None]:
        """Estimated spending since start, what the same answers would have cost all from the
        remote model, and the share saved by answering locally."""
        return {
            "spent": round(self.spent, 6),
            "all_remote": round(self.spent_all_remote, 6),
            "saving": round(1 - self.spent / self.spent_all_remote, 4) if self.spent_all_remote else None,
        }

    def record_cancelled_generation(self, job: GenerationJob, generation: Generation) -> None:
        """What the worker did for a request whose client went away (engine callback)."""
        self.counts["cancel_jobs"] += 1
        self.counts["cancel_generated_tokens"] += generation.generated_tokens
        if generation.stop_reason == "cancelled":
            self.counts["cancel_stopped_early"] += 1

    def editor_event(self, request_id: int, event: str, accepted_chars: int = 0) -> bool:
        """A suggestion was shown, accepted (whole or in part) or dismissed in the editor.
        Events for a request still being answered wait for its record; events for unknown
        (or long forgotten) requests are ignored: False."""
        answer = self._answers.get(request_id)
        early = self._pending.get(request_id)
        if answer is None and early is not None and event in EVENTS and event not in {e for e, _ in early}:
            early.append((event, accepted_chars))  # counted when the request's answer is recorded
            return True
        if answer is None or event not in EVENTS or event in answer.events:
            self.counts["events_ignored"] += 1  # unknown, malformed, or already counted (command and event)
            return False
        answer.events.add(event)
        self._events[(event, answer.language, answer.route)] += 1
        self.counts[f"events_{event}"] += 1
        if event == "accepted":
            self.counts["chars_accepted"] += answer.chars
        elif event == "partial":
            self.counts["chars_accepted"] += min(max(0, accepted_chars), answer.chars)
        return True

    def acceptance(self) -> dict[str, dict[str, Any]]:
        """Per language and per route: shown, accepted (whole or partly), dismissed, and the
        acceptance rate (accepted or partly accepted, of those shown)."""
        table: dict[str, dict[str, Any]] = {}
        for by, index in (("language", 1), ("route", 2)):
            groups: dict[str, Counter[str]] = {}
            for key, n in self._events.items():
                groups.setdefault(key[index], Counter())[key[0]] += n
            table[by] = {
                name: {
                    **{event: counts[event] for event in EVENTS},
                    "rate": _ratio(counts["accepted"] + counts["partial"], counts["shown"]),
                }
                for name, counts in sorted(groups.items())
            }
        return table

    def cost_today(self) -> float:
        return self._cost_by_day.get(time.strftime("%Y-%m-%d", time.gmtime()), 0.0)

    def alerts(self, latency_target_ms: float, cost_budget_per_day: float) -> list[str]:
        """What is over its target now (empty when all is well)."""
        found = []
        if latency_target_ms > 0:
            totals = [r.timings_ms["total"] for r in self.recent if r.route == "local" and "total" in r.timings_ms]
            p95 = percentiles(totals).get("p95", 0.0) if len(totals) >= MIN_ALERT_SAMPLES else 0.0
            if p95 > latency_target_ms:
                found.append(f"model answers p95 {p95:.0f} ms is over the {latency_target_ms:.0f} ms target")
        if cost_budget_per_day > 0 and (spent := self.cost_today()) > cost_budget_per_day:
            found.append(f"estimated cost today {spent:.4f} is over the budget of {cost_budget_per_day:.4f}")
        return found

    def snapshot(self, recent: int = 20) -> dict[str, Any]:
        """Counters, the sliding window's aggregates, since-start percentiles, editor
        acceptance, the median of each stage over the window (``p50_ms``), and the last
        ``recent`` request records."""
        window = aggregate(self.recent)
        return {
            "counts": dict(sorted(self.counts.items())),
            "p50_ms": {stage: values["p50"] for stage, values in window["stage_ms"].items()},
            "window": window,
            "since_start": {
                "stage_ms": {stage: percentiles(r.values) for stage, r in sorted(self._stages.items())},
                "route_ms": {route: percentiles(r.values) for route, r in sorted(self._routes.items())},
            },
            "acceptance": self.acceptance(),
            "cost": self.cost(),
            "recent": [as_dict(r) for r in list(self.recent)[-recent:]] if recent > 0 else [],
        }
