"""Aggregates, reservoirs, editor events and alerts, from known records (no server)."""

from __future__ import annotations

import pytest

from copilot.metrics import (
    EVENT_MEMORY,
    RESERVOIR,
    WINDOW,
    Metrics,
    RequestRecord,
    Reservoir,
    aggregate,
    percentiles,
)


def record(request_id: int, source: str = "model", total: float = 10.0, **fields: object) -> RequestRecord:
    defaults: dict[str, object] = dict(language="python", outcome="shown", chars=12, timings_ms={"total": total})
    return RequestRecord(request_id=request_id, source=source, **{**defaults, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], {}),
        ([5.0], {"p50": 5.0, "p95": 5.0, "p99": 5.0, "n": 1}),
        (list(range(1, 101)), {"p50": 50, "p95": 95, "p99": 99, "n": 100}),
        ([3.0, 1.0, 2.0, 100.0], {"p50": 2.0, "p95": 100.0, "p99": 100.0, "n": 4}),
    ],
)
def test_percentiles_are_nearest_rank(values: list[float], expected: dict[str, float]) -> None:
    assert percentiles(values) == expected


def test_aggregate_of_a_known_sequence() -> None:
    records = [
        record(1, "typing", 2.0),
        record(2, "typing", 4.0),
        record(3, "memory", 3.0),
        record(4, "model", 40.0, prompt_tokens=100, reused_tokens=90, draft_tokens=10, accepted_tokens=7),
        record(5, "model", 60.0, prompt_tokens=100, reused_tokens=50, outcome="error"),
        record(6, "model", 50.0, outcome="superseded"),
        record(7, "none", 1.0, outcome="empty"),
        record(8, "disk", 5.0),
    ]
    result = aggregate(records)
    assert result["requests"] == 8
    assert result["routes"] == {"disk": 1, "local": 3, "memory": 1, "none": 1, "typing": 2}
    assert result["cache_hit_rate"] == {"typing": 0.25, "stream": 0.0, "memory": 0.125, "disk": 0.125}
    assert result["typing_through_share"] == 0.25
    assert result["kv_reuse"] == 0.7  # (90 + 50) / 200
    assert result["draft_acceptance"] == 0.7
    assert result["error_rate"] == 0.125
    assert result["cancel_rate"] == 0.125
    assert result["route_ms"]["local"] == {"p50": 50.0, "p95": 60.0, "p99": 60.0, "n": 3}
    assert result["route_ms"]["typing"]["p50"] == 2.0
    assert result["tokens"]["local"] == {"prompt": 200, "generated": 0, "remote_in": 0, "remote_out": 0, "cost": 0.0}


def test_aggregate_of_nothing_has_no_rates() -> None:
    result = aggregate([])
    assert result["requests"] == 0 and result["kv_reuse"] is None and result["draft_acceptance"] is None


def test_a_reservoir_stays_bounded_and_representative() -> None:
    reservoir = Reservoir(size=500, seed=1)
    for value in range(100_000):
        reservoir.offer(float(value))
    assert len(reservoir.values) == 500 and reservoir.seen == 100_000
    assert 40_000 < percentiles(reservoir.values)["p50"] < 60_000


def test_memory_stays_bounded_over_a_long_run() -> None:
    metrics = Metrics()
    stages = {"cache": 0.1, "context": 1.0, "queue": 0.2, "prefill": 3.0, "decode": 9.0, "total": 14.0}
    for request_id in range(1, 30_001):
        metrics.record(record(request_id, timings_ms={**stages, "total": float(request_id % 97)}))
        metrics.editor_event(request_id, "shown")
    assert len(metrics.recent) == WINDOW
    assert all(len(r.values) <= RESERVOIR for r in metrics._stages.values())
    assert len(metrics._answers) == EVENT_MEMORY
    assert len(metrics._events) == 1  # one (event, language, route) key
    assert metrics.snapshot()["since_start"]["stage_ms"]["total"]["n"] == RESERVOIR


def test_editor_events_give_acceptance_per_language_and_route() -> None:
    metrics = Metrics()
    metrics.record(record(1, language="python"))
    metrics.record(record(2, language="python"))
    metrics.record(record(3, language="go", source="memory"))
    metrics.record(record(4, language="go", outcome="empty"))  # nothing shown: events for it are ignored
    for request_id in (1, 2, 3):
        assert metrics.editor_event(request_id, "shown")
    assert metrics.editor_event(1, "accepted")
    assert metrics.editor_event(2, "partial", accepted_chars=5)
    assert metrics.editor_event(3, "dismissed")
    assert not metrics.editor_event(4, "shown")
    assert not metrics.editor_event(99, "accepted")  # unknown request id
    assert not metrics.editor_event(1, "exploded")  # unknown event
    assert not metrics.editor_event(1, "accepted")  # the accept command and the event: counted once
    table = metrics.acceptance()
    assert table["language"]["python"]["rate"] == 1.0
    assert table["language"]["go"] == {"shown": 1, "accepted": 0, "partial": 0, "dismissed": 1, "rate": 0.0}
    assert table["route"]["local"]["accepted"] == 1 and table["route"]["memory"]["dismissed"] == 1
    assert metrics.counts["chars_accepted"] == 12 + 5
    assert metrics.counts["events_ignored"] == 4


def test_events_for_a_request_still_streaming_count_once_it_is_answered() -> None:
    metrics = Metrics()
    metrics.started(1)
    metrics.started(2)
    assert metrics.editor_event(1, "shown")  # the first partial text is on screen
    assert metrics.editor_event(1, "accepted")
    assert not metrics.editor_event(1, "accepted")  # counted once (the accept command and the event)
    assert metrics.editor_event(2, "shown")
    assert metrics.counts["events_shown"] == 0  # not yet: nothing is known of the answer
    metrics.record(record(1, chars=7))
    metrics.record(record(2, outcome="stale"))  # never shown in the end: its events are ignored
    assert metrics.counts["events_shown"] == 1 and metrics.counts["events_accepted"] == 1
    assert metrics.counts["chars_accepted"] == 7
    assert metrics.counts["events_ignored"] == 2  # the repeated accept, the stale answer's shown
    assert not metrics.editor_event(3, "shown")  # never started


def test_latency_alert_needs_enough_answers_and_clears() -> None:
    metrics = Metrics()
    for request_id in range(10):
        metrics.record(record(request_id, total=900.0))
    assert metrics.alerts(latency_target_ms=500, cost_budget_per_day=0) == []  # too few to judge
    for request_id in range(10, 30):
        metrics.record(record(request_id, total=900.0))
    (alert,) = metrics.alerts(latency_target_ms=500, cost_budget_per_day=0)
    assert "p95 900 ms" in alert
    assert metrics.alerts(latency_target_ms=0, cost_budget_per_day=0) == []  # no target
    for request_id in range(30, 30 + WINDOW):
        metrics.record(record(request_id, total=20.0))
    assert metrics.alerts(latency_target_ms=500, cost_budget_per_day=0) == []


def test_cost_budget_alert() -> None:
    metrics = Metrics()
    metrics.record(record(1, cost=0.4))
    assert metrics.alerts(0, cost_budget_per_day=1.0) == []
    metrics.record(record(2, cost=0.7))
    assert "over the budget" in metrics.alerts(0, cost_budget_per_day=1.0)[0]
