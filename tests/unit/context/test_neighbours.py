"""Similar windows in other files: Jaccard similarity over word sets."""

from __future__ import annotations

import pytest

from copilot.context.neighbours import MAX_WINDOWS, jaccard, most_similar, windows_of, words


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [({"x", "y"}, {"x", "y"}, 1.0), ({"x"}, {"y"}, 0.0), ({"x", "y"}, {"y", "z"}, 1 / 3), (set(), {"x"}, 0.0)],
)
def test_jaccard(a: set[str], b: set[str], expected: float) -> None:
    assert jaccard(frozenset(a), frozenset(b)) == pytest.approx(expected)


def test_words_skip_keywords_that_every_file_has() -> None:
    assert words("def parse_header(self, data):\n    return data[0]") == {"parse_header", "data"}


def test_windows_overlap_and_cover_the_file() -> None:
    text = "\n".join(f"name{i} = value{i}" for i in range(45))
    windows = windows_of(text, window_lines=20, stride=10)
    assert [(w.start_line, w.end_line) for w in windows] == [(0, 19), (10, 29), (20, 39), (30, 44)]
    assert "name44" in windows[-1].words


def test_huge_files_are_sampled_to_a_bounded_number_of_windows() -> None:
    text = "\n".join(f"v{i} = {i}" for i in range(100_000))
    assert len(windows_of(text)) <= MAX_WINDOWS


def test_most_similar_finds_the_matching_window_one_per_document() -> None:
    target = "\n".join(["def load_config(path):", "    with open(path) as stream:", "        return toml.load(stream)"])
    filler = "\n".join("counter = counter + step" for _ in range(60))
    other = filler + "\n" + target + "\n" + filler
    docs = [("file:///other.py", windows_of(other)), ("file:///noise.py", windows_of(filler))]
    query = words("config = load_config(path)\nstream = open(path)\ntoml.load(stream)")
    found = most_similar(query, docs, limit=3)
    assert [m.uri for m in found] == ["file:///other.py"]
    assert found[0].start_line <= 60 <= found[0].end_line
    assert found[0].similarity > 0.15
