"""The job queue's order (pure logic, no model)."""

from __future__ import annotations

import threading

from copilot.inference.jobs import JobQueue


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
