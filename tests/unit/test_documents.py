import pytest

from copilot.documents import Change, Document, DocumentStore, Position
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
