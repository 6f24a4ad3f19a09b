"""The debounce policy (pure logic, no model)."""

from __future__ import annotations

import pytest

from copilot.pipeline.debounce import Debounce


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
        ([120, 120, 120], 90.0, 75.0, 0.0),  # ...or just within it: a wait would make it late
        ([120, 120, 120], 130.0, 75.0, 75.0),  # slower than the typing: the next key would supersede it
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
