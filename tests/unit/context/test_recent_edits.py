"""The ring of recently edited regions."""

from __future__ import annotations

from copilot.context.recent_edits import EditRing


def spans(ring: EditRing) -> list[tuple[str, int, int]]:
    return [(r.uri, r.start_line, r.end_line) for r in ring.newest_first()]


def test_typing_on_one_line_is_one_region() -> None:
    ring = EditRing()
    for _ in range(30):
        ring.record("a", 7, 0, "x")
    assert spans(ring) == [("a", 7, 7)]


def test_nearby_edits_merge_and_distant_ones_do_not() -> None:
    ring = EditRing()
    ring.record("a", 10, 0, "x\n")  # a new line: region 10..11
    ring.record("a", 12, 0, "y")
    ring.record("a", 40, 0, "z")
    ring.record("b", 12, 0, "w")
    assert spans(ring) == [("b", 12, 12), ("a", 40, 40), ("a", 10, 12)]


def test_regions_below_an_edit_move_with_the_text() -> None:
    ring = EditRing()
    ring.record("a", 50, 0, "x")
    ring.record("a", 5, 0, "one\ntwo\nthree\n")  # 3 lines inserted above
    ring.record("a", 20, 2, "")  # 2 lines deleted above
    assert spans(ring)[-1] == ("a", 51, 51)


def test_capacity_and_forget() -> None:
    ring = EditRing(capacity=3)
    for line in range(0, 100, 20):
        ring.record("a", line, 0, "x")
    ring.record("b", 0, 0, "x")
    assert len(ring.newest_first()) == 3
    ring.forget("a")
    assert spans(ring) == [("b", 0, 0)]
