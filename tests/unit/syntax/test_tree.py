"""The tree kept in step with a document's edits: random edits against a fresh parse, and the cases that
leave a document without a tree."""

import logging

import pytest
import tree_sitter
from hypothesis import given, settings
from hypothesis import strategies as st

from copilot.documents import Change, Document, DocumentStore, Encoding, Position
from copilot.syntax.tree import SyntaxTree

# Code pieces of both languages, and characters of 2, 3 and 4 UTF-8 bytes (the last two: 2 UTF-16 units).
PIECES = [
    "def ", "class ", "function ", "const ", "return ", "if ", "f", "x", "1", "(", ")", "{", "}", "[", "]",
    ":", ";", "=", "=>", ",", ".", " ", "    ", "\n", "\n\n", "'", '"', "#", "//", "/*", "*/", "\\",
    "é", "中", "😀", "𝔘",
]  # fmt: skip

code = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)
inserts = st.lists(st.sampled_from(PIECES), max_size=6).map("".join)


def position(text: str, offset: int, encoding: Encoding) -> Position:
    """The client's view of a string offset: a line and a column in code units of ``encoding``."""
    line_start = text.rfind("\n", 0, offset) + 1
    column = text[line_start:offset]
    units = len(column.encode("utf-16-le")) // 2 if encoding == "utf-16" else len(column.encode())
    return Position(line=text.count("\n", 0, offset), character=units)


def nodes(tree: tree_sitter.Tree) -> list[tuple[str, int, int, tuple[int, int], tuple[int, int]]]:
    """Every node with its byte range and points, in order: positions a reused subtree got wrong show up here
    (an S-expression holds no positions)."""
    found = []
    cursor = tree.walk()
    while True:
        node = cursor.node
        assert node is not None
        found.append((node.type, node.start_byte, node.end_byte, tuple(node.start_point), tuple(node.end_point)))
        if cursor.goto_first_child():
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return found


def assert_same_as_fresh(syntax: SyntaxTree | None, language_id: str, text: str) -> None:
    fresh = SyntaxTree.create(language_id, text)
    assert syntax is not None and syntax.tree is not None
    assert fresh is not None and fresh.tree is not None
    assert syntax.source == text.encode()
    assert str(syntax.tree.root_node) == str(fresh.tree.root_node)
    assert syntax.tree.root_node.byte_range == fresh.tree.root_node.byte_range
    assert nodes(syntax.tree) == nodes(fresh.tree)


@pytest.mark.parametrize("language_id", ["python", "javascript"])
@settings(max_examples=150, deadline=None)
@given(data=st.data(), encoding=st.sampled_from(["utf-16", "utf-8"]), text=code)
def test_random_edits_keep_the_tree_equal_to_a_fresh_parse(
    language_id: str, data: st.DataObject, encoding: Encoding, text: str
) -> None:
    doc = Document("file:///fuzz", language_id, 1, text)
    for version in range(2, 2 + data.draw(st.integers(1, 5), label="notifications")):
        changes: list[Change] = []
        for _ in range(data.draw(st.integers(1, 3), label="changes")):
            new = data.draw(inserts, label="inserted")
            if data.draw(st.integers(0, 19), label="whole") == 0:
                changes.append(Change(text=new))
                text = new
                continue
            start = data.draw(st.integers(0, len(text)), label="start")
            end = data.draw(st.integers(start, min(len(text), start + 12)), label="end")
            changes.append(Change(text=new, start=position(text, start, encoding), end=position(text, end, encoding)))
            text = text[:start] + new + text[end:]
        doc.apply(changes, version, encoding)
        assert doc.text == text
        assert_same_as_fresh(doc.syntax, language_id, text)


def change(line: int, start: int, end: int, text: str) -> Change:
    """Replace columns ``start:end`` of ``line``."""
    return Change(text=text, start=Position(line=line, character=start), end=Position(line=line, character=end))


def point_of(source: bytes, byte: int) -> tuple[int, int]:
    return source.count(b"\n", 0, byte), byte - source.rfind(b"\n", 0, byte) - 1


@settings(max_examples=150, deadline=None)
@given(data=st.data(), text=code)
def test_an_edit_moves_the_points_after_it(data: st.DataObject, text: str) -> None:
    # A re-parse re-lexes around an edit and so hides points edited wrong: look before re-parsing.
    syntax = SyntaxTree.create("javascript", text)
    assert syntax is not None
    start = data.draw(st.integers(0, len(text)), label="start")
    end = data.draw(st.integers(start, len(text)), label="end")
    new = data.draw(inserts, label="inserted")
    syntax.edit(start, end, new, text)
    assert syntax.tree is not None
    source = syntax.source
    after = len((text[:start] + new).encode())
    for _, start_byte, end_byte, start_point, end_point in nodes(syntax.tree):
        if start_byte >= after:
            assert start_point == point_of(source, start_byte)
        if end_byte >= after:
            assert end_point == point_of(source, end_byte)


def test_byte_offsets_of_the_current_text() -> None:
    doc = Document("file:///a.py", "python", 1, "x = 1\n")
    assert doc.syntax is not None
    assert doc.syntax.byte_offset(4) == 4
    doc.apply([change(0, 4, 5, "'é😀'")], 2, "utf-16")
    assert doc.text == "x = 'é😀'\n"
    assert [doc.syntax.byte_offset(offset) for offset in (4, 5, 6, 7, 8, 9)] == [4, 5, 7, 11, 12, 13]
    assert doc.syntax_ms >= 0


def test_a_tree_handed_out_before_an_edit_is_left_as_it_was() -> None:
    doc = Document("file:///a.py", "python", 1, "def f():\n    pass\n")
    assert doc.syntax is not None
    before, before_source = doc.syntax.tree, doc.syntax.source
    assert before is not None
    shape = nodes(before)
    doc.apply([change(0, 0, 0, "x = 1\n")], 2, "utf-8")
    assert nodes(before) == shape and before_source == b"def f():\n    pass\n"
    assert_same_as_fresh(doc.syntax, "python", "x = 1\ndef f():\n    pass\n")


def test_a_language_without_a_grammar_has_no_tree() -> None:
    assert SyntaxTree.create("plaintext", "hello") is None
    assert SyntaxTree.create("cobol", "hello") is None
    doc = Document("file:///a.txt", "plaintext", 1, "hello")
    doc.apply([change(0, 5, 5, "!")], 2, "utf-16")
    assert doc.syntax is None and doc.text == "hello!"


def test_text_over_the_size_budget_has_no_tree() -> None:
    assert SyntaxTree.create("python", "x" * 51, max_bytes=50) is None
    assert SyntaxTree.create("python", "é" * 26, max_bytes=50) is None  # 26 characters, 52 bytes
    assert SyntaxTree.create("python", "é" * 25, max_bytes=50) is not None
    syntax = SyntaxTree.create("python", "x = 1", max_bytes=10)
    assert syntax is not None
    syntax.edit(5, 5, "234567", "x = 1")
    syntax.reparse()
    assert syntax.tree is None  # grown past the budget: dropped


PATHOLOGICAL = "x = [" * 50_000  # about a second to parse


def test_a_parse_past_its_time_budget_gives_no_tree(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="copilot.syntax.tree"):
        assert SyntaxTree.create("python", PATHOLOGICAL, timeout_ms=1) is None
    assert "plain-text context" in caplog.text
    # The shared parser was reset: the next document parses from its own start.
    assert_same_as_fresh(SyntaxTree.create("python", "y = 2\n"), "python", "y = 2\n")


def test_a_reparse_past_its_time_budget_drops_the_tree_for_good() -> None:
    doc = Document("file:///big.py", "python", 1, "x = 1\n" * 2000)
    assert doc.syntax is not None
    doc.syntax.timeout_ms = 0
    doc.apply([change(0, 0, 0, '"""')], 2, "utf-8")
    assert doc.syntax is None
    doc.apply([change(0, 0, 3, "")], 3, "utf-8")
    assert doc.syntax is None and doc.text == "x = 1\n" * 2000  # the text stays right; no parse is tried again
    doc.apply([Change(text="y = 2\n")], 4, "utf-8")
    assert doc.syntax is None


def test_a_document_reopened_with_another_language_gets_its_grammar() -> None:
    store = DocumentStore()
    store.open("file:///a", "python", 1, "x = 1\n")
    assert store.get("file:///a").syntax is not None
    store.open("file:///a", "javascript", 1, "let x = 1;\n")
    syntax = store.get("file:///a").syntax
    assert syntax is not None and syntax.tree is not None
    assert (syntax.language_id, syntax.tree.root_node.type) == ("javascript", "program")
    store.open("file:///a", "plaintext", 1, "let x = 1;\n")
    assert store.get("file:///a").syntax is None


def test_a_whole_text_change_parses_afresh() -> None:
    doc = Document("file:///a.js", "javascript", 1, "let x = 1;\n")
    changes = [
        Change(text="function f() {}\n"),
        change(0, 0, 0, "async "),
    ]
    doc.apply(changes, 2, "utf-16")
    assert_same_as_fresh(doc.syntax, "javascript", "async function f() {}\n")
