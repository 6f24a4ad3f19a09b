"""The job queue's order and the debounce policy (pure logic, no model)."""

from __future__ import annotations

import threading

import pytest

from copilot.scheduler import Debounce, JobQueue


def test_a_newer_job_replaces_the_waiting_one_of_its_document() -> None:
    jobs: JobQueue[str] = JobQueue()
    assert jobs.put("a.py", "a1") == []
    assert jobs.put("a.py", "a2") == ["a1"]
    assert len(jobs) == 1
    assert jobs.get() == "a2"


def test_documents_take_turns_in_order_of_arrival() -> None:
    jobs: JobQueue[str] = JobQueue()
    jobs.put("a.py", "a1")
    jobs.put("b.py", "b1")
    jobs.put("a.py", "a2")  # replaces a1 and keeps a's place: b does not overtake
    jobs.put("c.py", "c1")
    assert [jobs.get() for _ in range(3)] == ["a2", "b1", "c1"]


def test_background_jobs_wait_for_interactive_ones_and_are_superseded_by_them() -> None:
    jobs: JobQueue[str] = JobQueue()
    jobs.put("a.py", "prefetch-a", background=True)
    jobs.put("b.py", "prefetch-b", background=True)
    jobs.put("c.py", "c1")
    assert jobs.put("b.py", "b1") == ["prefetch-b"]  # the document's own request wins
    assert [jobs.get() for _ in range(3)] == ["c1", "b1", "prefetch-a"]


def test_get_blocks_until_a_job_arrives_and_close_wakes_it() -> None:
    jobs: JobQueue[str] = JobQueue()
    got: list[str | None] = []
    worker = threading.Thread(target=lambda: got.extend([jobs.get(), jobs.get()]))
    worker.start()
    jobs.put("a.py", "a1")
    jobs.close()
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert got == ["a1", None]


def typing(debounce: Debounce, document: str, gaps_ms: list[float]) -> None:
    now = 100.0
    debounce.keystroke(document, now)
    for gap in gaps_ms:
        now += gap / 1000
        debounce.keystroke(document, now)


@pytest.mark.parametrize(
    ("gaps_ms", "model_ms", "max_ms", "expected"),
    [
        ([], 200.0, 75.0, 0.0),  # the first key after a pause: the user is waiting now
        ([40, 40, 40], 10.0, 75.0, 0.0),  # the model answers well within a keystroke gap: no wait
        ([40, 40, 40], 200.0, 75.0, 50.0),  # slow model, fast typist: wait a bit longer than a gap
        ([120, 120, 120], 200.0, 75.0, 75.0),  # never longer than the configured maximum
        ([40, 40, 40], None, 75.0, 50.0),  # model speed unknown yet: assume it is slow
        ([40, 40, 40], 200.0, 0.0, 0.0),  # debounce off
        ([40, 3000], 200.0, 75.0, 0.0),  # typing again after a pause: the first key starts at once
        ([40, 3000, 40], 200.0, 75.0, 50.0),  # ...and the pause does not count as the typing rhythm
    ],
)
def test_debounce_waits_only_when_the_model_is_slower_than_typing(
    gaps_ms: list[float], model_ms: float | None, max_ms: float, expected: float
) -> None:
    debounce = Debounce(max_ms=max_ms)
    if model_ms is not None:
        debounce.model_time(model_ms)
    typing(debounce, "a.py", gaps_ms)
    assert debounce.delay_ms("a.py") == pytest.approx(expected)


def test_debounce_tracks_each_document_and_forgets_closed_ones() -> None:
    debounce = Debounce(max_ms=75.0)
    debounce.model_time(500.0)
    typing(debounce, "a.py", [30, 30])
    assert debounce.delay_ms("a.py") > 0
    assert debounce.delay_ms("b.py") == 0.0
    debounce.forget("a.py")
    assert debounce.delay_ms("a.py") == 0.0
