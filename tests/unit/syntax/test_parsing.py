"""Parsing with a time budget, and the syntax-error counts post-processing asks for."""

import time
import tracemalloc

import pytest
import tree_sitter
from hypothesis import given, settings
from hypothesis import strategies as st

from copilot.syntax import parsing
from copilot.syntax.tree import SyntaxTree


def test_parse_gives_up_past_its_deadline_and_the_parser_still_works() -> None:
    text = "def f():\n    return 1\n" * 50
    assert parsing.parse("python", text, deadline=time.perf_counter() - 1) is None
    tree = parsing.parse("python", text)
    assert tree is not None and parsing.error_count(tree) == 0


@pytest.mark.parametrize(
    ("language_id", "text", "errors"),
    [
        ("python", "x = 1\n", 0),
        ("python", "x = = 1\n", 1),
        ("javascript", "function f() {", 1),  # a MISSING }
        ("plaintext", "x", None),
    ],
)
def test_syntax_errors(language_id: str, text: str, errors: int | None) -> None:
    assert parsing.syntax_errors(language_id, text) == errors


@pytest.mark.parametrize(
    ("before", "inserted", "after"),
    [
        ("def f():\n    ", "x = 1\n    return x", "\n\ndef g():\n    pass\n"),
        ("def f():\n    ", "x = = 1\n    return x", "\n\ndef g():\n    pass\n"),
        ('s = "é"\nt = "日本"; u = ', "(1,\n  2", "\nv = 3\n"),  # byte columns differ from characters
        ("x = 1\n", "", "y = 2\n"),
    ],
)
def test_errors_with_insertion_agrees_with_a_fresh_parse(before: str, inserted: str, after: str) -> None:
    tree = parsing.parse("python", before + after)
    assert tree is not None
    fresh = parsing.syntax_errors("python", before + inserted + after)
    assert parsing.errors_with_insertion("python", tree, before, inserted, after) == fresh


def test_parsed_trees_keep_their_text() -> None:
    tree = parsing.parse("python", "x = (1,\n")  # the callback parse once crashed on Node.text
    assert tree is not None and tree.root_node.text == b"x = (1,\n"


def test_parsers_are_cached_per_language() -> None:
    assert parsing.parser_for("python") is parsing.parser_for("python")
    assert parsing.parser_for("go") is not parsing.parser_for("python")
    assert parsing.parser_for("plaintext") is None


def nodes(tree: tree_sitter.Tree) -> list[tuple[str, int, int]]:
    found = []
    pending = [tree.root_node]
    while pending:
        node = pending.pop()
        found.append((node.type, node.start_byte, node.end_byte))
        pending.extend(reversed(node.children))
    return found


# A multi-byte character at the end of the source or across a read boundary (64 KiB, and the smaller
# power-of-two reads that make up a source's tail): the timed parse must see the same text as a parse of
# the bytes themselves.
@settings(max_examples=60, deadline=None)
@given(
    head=st.sampled_from([0, 1, 2, 3, 4, 5, 7, 8, 65_530, 65_533, 65_534, 65_535, 65_536, 65_537]),
    char=st.sampled_from(["a", "é", "€", "日", "😀"]),
    tail=st.sampled_from(["", "\n", " = 1\n", "\nx = 'é'\n" * 3]),
)
def test_a_timed_parse_reads_the_same_text_as_the_bytes_form(head: int, char: str, tail: str) -> None:
    source = ("#" + "x" * head + "\n" + "s = '" + char * 3 + "'  # " + char + "\nv = " + char * 2 + tail).encode()
    parser = parsing.parser_for("python")
    assert parser is not None
    tree = parsing.parse_until(parser, source, time.perf_counter() + 10)
    assert tree is not None
    assert nodes(tree) == nodes(parser.parse(source))
    assert tree.root_node.text == source  # Node.text after the parse reads the source itself


def test_re_parsing_keeps_no_copy_of_the_source() -> None:
    # py-tree-sitter 0.26.1 never releases what a read callback returns: fresh slices of the source
    # leaked about a document per keystroke. tracemalloc sees them (tree-sitter's own allocations too).
    text = "def f(x):\n    return x + 1\n\n" * 2_500  # 70 KB: more than one read per parse
    syntax = SyntaxTree.create("python", text, timeout_ms=10_000)
    assert syntax is not None

    def type_and_delete(keys: int) -> None:
        nonlocal text
        middle = len(text) // 2
        for key in range(keys):
            typed = key % 2 == 0
            new_text, old_end = ("y", middle) if typed else ("", middle + 1)
            assert syntax is not None
            syntax.edit(middle, old_end, new_text, text)
            text = text[:middle] + new_text + text[old_end:]
            syntax.reparse()

    type_and_delete(10)
    tracemalloc.start()
    try:
        type_and_delete(4)  # the tree itself is re-allocated once tracing starts
        before = tracemalloc.get_traced_memory()[0]
        type_and_delete(30)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert syntax.tree is not None
    assert grown < len(text) // 2  # leaking, 30 re-parses kept 1 MB
