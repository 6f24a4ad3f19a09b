"""What is offered: rejected places never again, never where the user types, bounded on bad input."""

from __future__ import annotations

import time

from copilot.documents import Position
from copilot.nextedit import suggest
from copilot.nextedit.suggest import NextEdits

from .helpers import open_doc, suggested, type_over

TEXT = "def f(value):\n    a = value + 1\n    b = value * 2\n    return value\n"


def test_a_rejected_suggestion_is_not_offered_again_at_that_place() -> None:
    edits = NextEdits()
    doc = open_doc(TEXT)
    type_over(edits, doc, TEXT.index("value"), "value", "amount")
    request_id, first = edits.suggest(doc, [])
    assert len(first) == 3
    assert edits.rejected(request_id)  # the one shown: the nearest
    assert [line for _, line, _, _ in suggested(edits, doc)] == [2, 3]  # the others, not seen, stay
    request_id, _ = edits.suggest(doc, [])
    assert edits.rejected(request_id, 1) and edits.rejected(edits.suggest(doc, [])[0])
    assert suggested(edits, doc) == []
    # the same rename elsewhere, later, is still offered there
    other = open_doc(TEXT, "file:///w/second.py")
    type_over(edits, other, TEXT.index("value"), "value", "amount")
    assert len(suggested(edits, other)) == 3


def test_an_accepted_edit_continues_the_rename_from_there() -> None:
    edits = NextEdits()
    doc = open_doc(TEXT)
    type_over(edits, doc, TEXT.index("value"), "value", "amount")
    request_id, found = edits.suggest(doc, [])
    assert edits.accepted(request_id)
    nearest = found[0]
    type_over(edits, doc, nearest.start, "value", "amount")  # as the editor applies it
    assert [line for _, line, _, _ in suggested(edits, doc)] == [2, 3]


def test_never_on_the_line_being_typed() -> None:
    text = "def f(value):\n    return value + value\n"
    edits = NextEdits()
    doc = open_doc(text)
    type_over(edits, doc, text.index("value + "), "value", "x")
    # the parameter, not the other use on the line being typed
    assert [line for _, line, _, _ in suggested(edits, doc)] == [0]


def test_files_without_a_tree_and_binary_content_get_no_wrong_suggestion() -> None:
    plain = open_doc("count = 1\nprint(count)\n", "file:///w/notes.txt", "plaintext")
    edits = NextEdits()
    type_over(edits, plain, 0, "count", "n")
    assert suggested(edits, plain) == []
    binary = "\x00\x01\x02count\x00 = 1\x00count\x7f\n" * 20
    doc = open_doc(binary)
    type_over(edits, doc, binary.index("count"), "count", "n")
    suggested(edits, doc)  # anything or nothing, but an answer


def test_deleting_most_of_the_file_suggests_nothing() -> None:
    edits = NextEdits()
    doc = open_doc(TEXT)
    start = doc.position_at(0, "utf-16")
    from copilot.documents import Change

    applied = doc.apply([Change(text="", start=start, end=doc.position_at(len(TEXT) - 5, "utf-16"))], 2, "utf-16")
    edits.changed(doc.uri, applied, 2)
    assert suggested(edits, doc) == []


def test_a_huge_file_is_answered_in_bounded_time() -> None:
    body = "".join(f"def f{i}(value):\n    return value + {i}\n\n\n" for i in range(4000))
    doc = open_doc(body)
    edits = NextEdits()
    type_over(edits, doc, body.index("value"), "value", "amount")
    started = time.perf_counter()
    found = suggested(edits, doc)
    assert [line for _, line, _, _ in found] == [1]
    assert time.perf_counter() - started < 5  # a sanity bound; the benchmark measures the real figure
    too_big = open_doc("x = 1\n" * (suggest.MAX_TEXT // 6 + 1))
    type_over(edits, too_big, 0, "x", "y")
    assert suggested(edits, too_big) == []


def test_one_didchange_of_several_small_changes_is_one_edit() -> None:
    """VS Code sends an accepted `net_price` -> `price_after_tax` as a minimal diff."""
    text = "def net_price(x):\n    return x\n\n\nnet_price(1)\n"
    doc = open_doc(text)
    edits = NextEdits()
    from copilot.documents import Change

    def at(offset: int) -> Position:
        return doc.position_at(offset, "utf-16")

    changes = [
        Change(text="", start=at(4), end=at(8)),  # "net_" away: "price"
        Change(text="e_aft", start=at(8), end=at(8)),  # "pric" + "e_aft" + "e"
        Change(text="r_tax", start=at(14), end=at(14)),  # "price_afte" + "r_tax"
    ]
    applied = doc.apply(changes, 2, "utf-16")
    assert doc.text.startswith("def price_after_tax(x):")
    edits.changed(doc.uri, applied, 2)
    assert [(line, old, new) for _, line, old, new in suggested(edits, doc)] == [(4, "net_price", "price_after_tax")]


def test_an_edit_that_extends_the_typed_line_can_be_an_inline_completion() -> None:
    from copilot.nextedit.rename import Replacement
    from copilot.nextedit.suggest import extending

    text = "x = foo(a\ny = 1\n"
    cursor = text.index("\n")
    on_line = Replacement("u", 1, 4, cursor, "foo(a, timeout)", "model")
    elsewhere = Replacement("u", 1, text.index("1"), text.index("1") + 1, "2", "model")
    rewriting = Replacement("u", 1, 4, cursor, "bar(a, timeout)", "model")  # would change what is typed
    assert extending(text, cursor, [elsewhere, rewriting, on_line]) == on_line
    assert extending(text, cursor, [elsewhere, rewriting]) is None
    assert extending(text, cursor, [Replacement("u", 1, 4, cursor, "foo(a,\n  b)", "model")]) is None
