import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from copilot.documents import Change, Document, DocumentStore, Position, document_key
from copilot.errors import DocumentError


def edit(doc: Document, sl: int, sc: int, el: int, ec: int, text: str, encoding: str = "utf-16") -> None:
    change = Change(text=text, start=Position(line=sl, character=sc), end=Position(line=el, character=ec))
    doc.apply([change], doc.version + 1, encoding)  # type: ignore[arg-type]


def test_incremental_insert_delete_and_replace() -> None:
    doc = Document("file:///a.py", "python", 1, "def f():\n    pass\n")
    edit(doc, 1, 4, 1, 8, "return 1")
    edit(doc, 0, 4, 0, 5, "g")
    edit(doc, 2, 0, 2, 0, "x = g()\n")
    assert doc.text == "def g():\n    return 1\nx = g()\n"
    assert doc.version == 4


def test_several_changes_in_one_notification_apply_in_order() -> None:
    doc = Document("file:///a.py", "python", 1, "abc")
    changes = [
        Change(text="X", start=Position(line=0, character=0), end=Position(line=0, character=1)),
        Change(text="Y", start=Position(line=0, character=2), end=Position(line=0, character=3)),
    ]
    doc.apply(changes, 2, "utf-16")
    assert doc.text == "XbY"


@pytest.mark.parametrize(("encoding", "column"), [("utf-16", 3), ("utf-8", 5), ("utf-32", 2)])
def test_columns_count_code_units_of_the_negotiated_encoding(encoding: str, column: int) -> None:
    # "a" + U+1F600 (outside the BMP: 2 UTF-16 units, 4 UTF-8 bytes) then "b".
    doc = Document("file:///a.txt", "plaintext", 1, "a\U0001f600b\n")
    edit(doc, 0, column, 0, column, "!", encoding)
    assert doc.text == "a\U0001f600!b\n"


def test_whole_document_change_replaces_text() -> None:
    doc = Document("file:///a.py", "python", 1, "old")
    doc.apply([Change(text="new\ntext")], 2, "utf-16")
    assert doc.text == "new\ntext" and doc.line_count == 2


def test_snapshot_offset_and_position_past_the_end() -> None:
    doc = Document("file:///a.py", "python", 3, "ab\ncd")
    snap = doc.snapshot(Position(line=1, character=1), "utf-16")
    assert (snap.prefix, snap.suffix, snap.version) == ("ab\nc", "d", 3)
    with pytest.raises(DocumentError, match="past the end"):
        doc.snapshot(Position(line=5, character=0), "utf-16")
    with pytest.raises(DocumentError, match="past the end of its line"):
        doc.snapshot(Position(line=0, character=9), "utf-16")


def test_text_that_is_not_unicode_is_refused_and_the_document_kept() -> None:
    with pytest.raises(DocumentError, match="not valid Unicode"):
        Document("file:///bad.py", "python", 1, "x = '\udcff'")
    doc = Document("file:///a.py", "python", 1, "ok")
    with pytest.raises(DocumentError):
        edit(doc, 0, 0, 0, 0, "\ud800")
    assert doc.text == "ok" and doc.version == 1


def test_store_names_documents_it_never_saw() -> None:
    store = DocumentStore()
    with pytest.raises(DocumentError, match="never opened"):
        store.get("file:///nope.py")


# --- line ends: LSP's (\n, \r\n, lone \r), nothing else -----------------------------------

# Every character Python's str.splitlines breaks on that is no line end for LSP.
SPLITLINES_ONLY = ["\f", "\v", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


def test_those_are_all_the_characters_str_splitlines_breaks_on_besides_lsps() -> None:
    breaking = {chr(code) for code in range(0x110000) if len(f"a{chr(code)}b".splitlines()) > 1}
    assert breaking - {"\n", "\r"} == set(SPLITLINES_ONLY)


@pytest.mark.parametrize("char", SPLITLINES_ONLY)
def test_characters_str_splitlines_breaks_on_do_not_end_lines(char: str) -> None:
    doc = Document("file:///a.py", "python", 1, f"ab{char}cd\nxyz\n")
    assert doc.line_count == 3
    edit(doc, 0, 5, 0, 5, "X")
    assert doc.text == f"ab{char}cdX\nxyz\n"
    edit(doc, 1, 1, 1, 1, char)  # typed, it does not start a line either
    assert doc.text == f"ab{char}cdX\nx{char}yz\n" and doc.line_count == 3


def test_a_lone_cr_ends_a_line() -> None:
    doc = Document("file:///a.py", "python", 1, "a1\rb2\rc3\n")
    assert doc.line_count == 4
    edit(doc, 1, 1, 1, 1, "X")
    assert doc.text == "a1\rbX2\rc3\n"
    edit(doc, 2, 2, 2, 2, "Y")
    assert doc.text == "a1\rbX2\rc3Y\n"


def test_a_character_past_a_crlf_lines_end_lands_before_its_cr() -> None:
    doc = Document("file:///a.py", "python", 1, "a\r\nb\r\n")
    assert doc.line_count == 3
    edit(doc, 0, 9, 0, 9, "X")
    edit(doc, 1, 9, 1, 9, "Y")
    assert doc.text == "aX\r\nbY\r\n"


def test_edits_that_join_or_split_a_crlf_move_the_lines() -> None:
    doc = Document("file:///a.py", "python", 1, "a\rb")
    edit(doc, 1, 0, 1, 0, "\n")  # the \r and the typed \n are one line end
    assert doc.text == "a\r\nb" and doc.line_count == 2
    edit(doc, 1, 0, 1, 0, "Y")
    assert doc.text == "a\r\nYb"
    edit(doc, 0, 1, 1, 0, "\r")  # the CRLF becomes a lone CR: still one line end
    assert doc.text == "a\rYb" and doc.line_count == 2
    edit(doc, 0, 1, 0, 1, "Z\r")  # an \r typed before an existing one: two line ends
    assert doc.text == "aZ\r\rYb" and doc.line_count == 3
    doc2 = Document("file:///b.py", "python", 1, "a\nb")
    edit(doc2, 0, 1, 0, 1, "\r")  # typed before a \n: joins it
    assert doc2.text == "a\r\nb" and doc2.line_count == 2
    edit(doc2, 0, 9, 0, 9, "X")
    assert doc2.text == "aX\r\nb"


def test_a_cr_at_the_end_ends_a_line() -> None:
    doc = Document("file:///a.py", "python", 1, "a\r")
    assert doc.line_count == 2
    edit(doc, 1, 0, 1, 0, "b")
    assert doc.text == "a\rb"


# --- clamping: as LSP says for edits --------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32"])
@pytest.mark.parametrize("text", ["abc\nd", "a\U0001f600c\nd", "aé中\nd"])
def test_a_character_past_the_lines_end_clamps_to_it_in_every_encoding(encoding: str, text: str) -> None:
    doc = Document("file:///a.txt", "plaintext", 1, text)
    edit(doc, 0, 10, 0, 10, "X", encoding)
    assert doc.text == text.replace("\n", "X\n")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32"])
def test_a_line_past_the_end_clamps_to_the_end_of_the_document(encoding: str) -> None:
    doc = Document("file:///a.txt", "plaintext", 1, "a\U0001f600\nb")
    edit(doc, 7, 3, 9, 0, "X", encoding)
    assert doc.text == "a\U0001f600\nbX"
    edit(doc, 1, 1, 5, 0, "", encoding)  # a range to past the end deletes to the end
    assert doc.text == "a\U0001f600\nb"


@pytest.mark.parametrize(("encoding", "start", "end"), [("utf-16", 1, 3), ("utf-8", 1, 5), ("utf-32", 1, 2)])
def test_a_range_over_text_outside_the_bmp_replaces_whole_characters(encoding: str, start: int, end: int) -> None:
    doc = Document("file:///a.txt", "plaintext", 1, "a\U0001f600\U0001d11eb")
    edit(doc, 0, start, 0, end, "é", encoding)
    assert doc.text == "aé\U0001d11eb"


def test_a_cursor_past_the_lines_end_is_refused_with_the_lines_length() -> None:
    doc = Document("file:///a.txt", "plaintext", 1, "a\U0001f600\r\nb")
    assert doc.snapshot(Position(line=0, character=3), "utf-16").offset == 2
    with pytest.raises(DocumentError, match=r"past the end of its line .*\(3 utf-16 code units\)"):
        doc.snapshot(Position(line=0, character=4), "utf-16")


def lsp_position(text: str, offset: int) -> Position:
    """The UTF-32 position of ``offset``, by LSP's line ends (written apart from Document)."""
    breaks = [m.end() for m in re.finditer(r"\r\n|\r|\n", text) if m.end() <= offset]
    start = breaks[-1] if breaks else 0
    return Position(line=len(breaks), character=offset - start)


ATOMS = ["a", "é", "中", "\U0001f600", "\n", "\r", "\r\n", *SPLITLINES_ONLY]


@settings(max_examples=300, deadline=None)
@given(
    initial=st.lists(st.sampled_from(ATOMS), max_size=12).map("".join),
    edits=st.lists(
        st.tuples(st.integers(0, 14), st.integers(0, 14), st.lists(st.sampled_from(ATOMS), max_size=4).map("".join)),
        min_size=1,
        max_size=8,
    ),
)
def test_incremental_line_index_equals_a_fresh_one(initial: str, edits: list[tuple[int, int, str]]) -> None:
    doc = Document("file:///a.txt", "plaintext", 1, initial)
    for a, b, new in edits:
        start, end = sorted((min(a, len(doc.text)), min(b, len(doc.text))))
        if doc.text[start - 1 : start + 1] == "\r\n" or doc.text[end - 1 : end + 1] == "\r\n":
            continue  # no position names the gap inside a CRLF
        expected = doc.text[:start] + new + doc.text[end:]
        first, last = lsp_position(doc.text, start), lsp_position(doc.text, end)
        doc.apply([Change(text=new, start=first, end=last)], doc.version + 1, "utf-32")
        assert doc.text == expected
        fresh = Document("file:///b.txt", "plaintext", 1, doc.text)
        assert [doc.line_span(i) for i in range(doc.line_count)] == [
            fresh.line_span(i) for i in range(fresh.line_count)
        ]


# --- one key per file -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("file:///p/a%20b.py", "file:///p/a b.py"),
        ("file:///p/%61.py", "file:///p/a.py"),
        ("file:///p/%c3%a9.py", "file:///p/é.py"),
        ("file:///p/%C3%A9.py", "file:///p/%c3%a9.py"),
        ("file:///c%3A/x.py", "file:///c:/x.py"),
        ("FILE:///p/a.py", "file:///p/a.py"),
        ("file://localhost/p/a.py", "file:///p/a.py"),
        ("untitled:Untitled%201", "untitled:Untitled 1"),
    ],
)
def test_spellings_of_one_uri_share_a_key(a: str, b: str) -> None:
    assert document_key(a, fold_case=False) == document_key(b, fold_case=False)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("file:///p/A.py", "file:///p/a.py"),  # Linux file systems keep case
        ("file:///p/%FF.py", "file:///p/%FE.py"),  # undecodable bytes stay apart
        ("file:///p/a.py", "file:///q/a.py"),
        ("git:/p/a.py?%7B%22ref%22%3A%22HEAD%22%7D", "git:/p/a.py?%7B%22ref%22%3A%22main%22%7D"),
        ("file://host/p/a.py", "file:///p/a.py"),
    ],
)
def test_different_documents_keep_different_keys(a: str, b: str) -> None:
    assert document_key(a, fold_case=False) != document_key(b, fold_case=False)


def test_where_the_platform_ignores_case_the_path_is_folded() -> None:
    assert document_key("file:///C:/Users/Me/A.py", fold_case=True) == document_key(
        "file:///c%3A/users/me/a.py", fold_case=True
    )
    assert document_key("untitled:A", fold_case=True) != document_key("untitled:a", fold_case=True)


def test_store_finds_a_document_under_any_spelling_and_keeps_the_one_it_was_opened_with() -> None:
    store = DocumentStore()
    store.open("file:///p/a%20b.py", "python", 1, "x")
    assert "file:///p/a b.py" in store and len(store) == 1
    assert store.get("file:///p/a b.py").uri == "file:///p/a%20b.py"
    store.open("file:///p/a b.py", "python", 2, "y")  # opened again without a close: replaced
    assert len(store) == 1 and store.get("file:///p/a%20b.py").text == "y"
    assert store.uris() == ["file:///p/a%20b.py"]
    closed = store.close("file:///p/a b.py")
    assert closed is not None and closed.uri == "file:///p/a%20b.py" and len(store) == 0
    assert store.close("file:///p/a b.py") is None


def test_reopening_with_text_the_server_cannot_hold_drops_the_stale_copy() -> None:
    store = DocumentStore()
    store.open("file:///p/a.py", "python", 1, "old")
    with pytest.raises(DocumentError, match="not valid Unicode"):
        store.open("file:///p/a.py", "python", 2, "\udcff")
    assert "file:///p/a.py" not in store
