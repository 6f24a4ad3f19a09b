import pytest

from copilot.cache.keys import (
    CachedCompletion,
    GenerationParams,
    context_key,
    continue_from,
    exact_key,
    look_back_stems,
    split_anchor,
)
from copilot.cache.typing_through import Shown, type_through

PARAMS = GenerationParams(max_tokens=64, max_lines=4)


def entry(anchor: str, text: str) -> CachedCompletion:
    return CachedCompletion(anchor=anchor, text=text, created=0.0)


def test_exact_key_depends_on_model_prompt_and_parameters() -> None:
    base = exact_key("model-a", [1, 2, 3], PARAMS)
    assert base == exact_key("model-a", [1, 2, 3], PARAMS)
    variants = {
        exact_key("model-b", [1, 2, 3], PARAMS),
        exact_key("model-a", [1, 2, 4], PARAMS),
        exact_key("model-a", [1, 2, 3, 0], PARAMS),
        exact_key("model-a", [1, 2, 3], GenerationParams(max_tokens=65, max_lines=4)),
        exact_key("model-a", [1, 2, 3], GenerationParams(max_tokens=64, max_lines=0)),
    }
    assert base not in variants and len(variants) == 5


@pytest.mark.parametrize(
    ("prefix", "stem", "anchor"),
    [
        ("x = foo.ba", "x = foo.", "ba"),
        ("x = foo.bar  ", "x = foo.", "bar  "),
        ("call(", "call(", ""),
        ("    ", "", "    "),
        ("a\n    ret", "a\n    ", "ret"),
    ],
)
def test_split_anchor_cuts_the_partial_word_and_blanks(prefix: str, stem: str, anchor: str) -> None:
    assert split_anchor(prefix) == (stem, anchor)


def test_context_key_sees_only_lines_near_the_cursor() -> None:
    far_edit = "changed\n" + "".join(f"line {i}\n" for i in range(40))
    near = "".join(f"line {i}\n" for i in range(40))
    assert context_key("m", PARAMS, "old\n" + near + "x = ", "") == context_key("m", PARAMS, far_edit + "x = ", "")
    assert context_key("m", PARAMS, near + "x = ", "") != context_key("m", PARAMS, near + "y = ", "")
    assert context_key("m", PARAMS, near, "after") != context_key("m", PARAMS, near, "other")
    assert context_key("m", PARAMS, near, "") != context_key("n", PARAMS, near, "")


@pytest.mark.parametrize(
    ("anchor", "text", "now", "expected"),
    [
        ("ba", "r(1)", "ba", "r(1)"),  # same cursor
        ("ba", "r(1)", "bar", "(1)"),  # typed on, matching
        ("ba", "r(1)", "b", "ar(1)"),  # backspaced
        ("ba", "r(1)", "baz", None),  # typed something else
        ("ba", "r(1)", "bar(1)", None),  # typed all of it
        ("ba", "", "ba", ""),  # an empty answer is an answer, at its own cursor
        ("ba", "", "b", None),
    ],
)
def test_continue_from(anchor: str, text: str, now: str, expected: str | None) -> None:
    assert continue_from(entry(anchor, text), now) == expected


def test_look_back_offers_earlier_cursors_on_the_same_line_only() -> None:
    pairs = look_back_stems("def f():\n    x = foo(ab", limit=16)
    # the cursor's own stem ("...foo(") is not repeated; stems always end before a word
    assert pairs[0] == ("def f():\n    x = ", "foo(ab")
    assert ("def f():\n    ", "x = foo(ab") in pairs
    assert all("\n" not in anchor for _, anchor in pairs)
    assert len({stem for stem, _ in pairs}) == len(pairs)


@pytest.mark.parametrize(
    ("prefix", "suffix", "expected"),
    [
        ("x = fo", "\n", "o(1)\nbar()"),
        ("x = foo(", "\n", "1)\nbar()"),
        ("x = foo(1)\nb", "\n", "ar()"),  # across a line break of a multi-line suggestion
        ("x = fox", "\n", ""),  # typed something else
        ("x = foo(1)\nbar()", "\n", ""),  # typed all of it
        ("x = fo", "\nchanged", ""),  # text after the cursor changed
        ("y = f", "\n", ""),  # text before the cursor changed
        ("x = f", "\n", ""),  # nothing typed
    ],
)
def test_type_through(prefix: str, suffix: str, expected: str) -> None:
    shown = Shown(prefix="x = f", suffix="\n", text="oo(1)\nbar()")
    assert type_through(shown, prefix, suffix) == expected
