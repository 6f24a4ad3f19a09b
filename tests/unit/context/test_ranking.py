"""Ranking, deduplication and packing of context candidates (pure functions)."""

from __future__ import annotations

import pytest

from copilot.context.ranking import Candidate, Span, dedupe, pack, score, stable_order, trimmed


def candidate(
    text: str, score_: float = 1.0, uri: str = "file:///a.py", start: int = 0, kind: str = "definition", keep: int = 1
) -> Candidate:
    return Candidate(
        kind=kind,  # type: ignore[arg-type]
        path=uri.rsplit("/", 1)[-1],
        uri=uri,
        start_line=start,
        end_line=start + text.count("\n"),
        text=text,
        score=score_,
        reason="test",
        keep_lines=keep,
    )


def char_render(c: Candidate) -> list[int]:
    return [ord(ch) for ch in c.text]


@pytest.mark.parametrize(
    ("better", "worse"),
    [
        (dict(kind="definition"), dict(kind="import")),
        (dict(kind="definition", distance_rank=0), dict(kind="definition", distance_rank=3)),
        (dict(kind="similar", similarity=0.6), dict(kind="similar", similarity=0.2)),
        (dict(kind="edit", age=0), dict(kind="edit", age=4)),
        (dict(kind="scope", depth=0), dict(kind="scope", depth=2)),
        (dict(kind="definition", same_file=True), dict(kind="definition", same_file=False)),
    ],
)
def test_score_orders_candidates_by_kind_distance_similarity_recency_depth(better: dict, worse: dict) -> None:
    assert score(**better) > score(**worse)


def test_dedupe_drops_what_the_window_already_shows_but_keeps_other_files() -> None:
    window = Span(uri="file:///a.py", start_line=10, end_line=40)
    inside = candidate("def f():\n    pass", start=20)
    half_outside = candidate("x\ny\nz\nw", start=39)  # 2 of 4 lines in the window: not mostly
    other_file = candidate("def f():\n    pass", uri="file:///b.py", start=20)
    kept = dedupe([inside, half_outside, other_file], window)
    assert half_outside in kept and other_file in kept and inside not in kept


def test_dedupe_keeps_the_better_of_overlapping_candidates_and_drops_repeated_text() -> None:
    best = candidate("a\nb\nc", 0.9, start=5)
    overlapping = candidate("b\nc\nd", 0.5, start=6)
    same_text_elsewhere = candidate("a\n  b\nc", 0.4, uri="file:///c.py", start=0)  # whitespace aside, equal
    distinct = candidate("q\nr", 0.3, start=50)
    assert dedupe([overlapping, same_text_elsewhere, distinct, best]) == [best, distinct]


def test_dedupe_drops_empty_text() -> None:
    assert dedupe([candidate("  \n ")]) == []


@pytest.mark.parametrize("budget", [0, 1, 5, 17, 40, 100, 1000])
def test_pack_never_exceeds_the_budget(budget: int) -> None:
    pool = [candidate(f"def f{i}():\n" + "    x = 1\n" * i, 1.0 / (i + 1), start=100 * i) for i in range(8)]
    chosen = pack(pool, budget, char_render)
    assert sum(len(char_render(c)) for c in chosen) <= budget


def test_pack_takes_best_first_and_trims_keeping_the_header() -> None:
    header = "def long(a, b):"
    body = "\n".join(f"    line{i} = {i}" for i in range(20))
    big = candidate(f"{header}\n{body}", 1.0, keep=1)
    small = candidate("X = 1", 0.5, uri="file:///b.py")
    chosen = pack([small, big], 80, char_render)
    assert chosen[0].text.startswith(header) and chosen[0].text != big.text  # trimmed, header kept
    assert "trimmed" in chosen[0].reason
    assert chosen[0].end_line == chosen[0].text.count("\n")
    assert small in chosen  # what the trimmed candidate left still fits the next one


def test_pack_drops_a_candidate_that_cannot_keep_its_header() -> None:
    header = "\n".join(f"@decorator{i}" for i in range(6)) + "\ndef f():"
    assert pack([candidate(f"{header}\n    pass", keep=7)], 30, char_render) == []


def test_trimmed_keeps_leading_lines() -> None:
    c = trimmed(candidate("a\nb\nc\nd", start=3), 2)
    assert (c.text, c.start_line, c.end_line) == ("a\nb", 3, 4)


def test_stable_order_is_by_path_and_line_not_score() -> None:
    a = candidate("a", 0.1, uri="file:///z/a.py", start=9)
    b = candidate("b", 0.9, uri="file:///z/b.py", start=1)
    c = candidate("c", 0.5, uri="file:///z/a.py", start=2)
    assert stable_order([b, a, c]) == [c, a, b]
    assert stable_order([c, b, a]) == [c, a, b]
