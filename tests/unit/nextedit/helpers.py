"""Documents edited the way an editor sends edits, for the next-edit tests."""

from __future__ import annotations

from copilot.documents import Change, Document, Position
from copilot.nextedit.suggest import NextEdits


def open_doc(text: str, uri: str = "file:///w/app.py", language_id: str = "python") -> Document:
    return Document(uri, language_id, 1, text)


def type_over(edits: NextEdits, document: Document, at: int, old: str, new: str, now: float | None = None) -> None:
    """Replace ``old`` at string offset ``at`` by ``new`` as a user does: delete it character by
    character, then type ``new`` one character at a time (one didChange per key)."""
    assert document.text[at : at + len(old)] == old
    for i in range(len(old), 0, -1):
        _change(edits, document, at + i - 1, at + i, "")
    for i, char in enumerate(new):
        _change(edits, document, at + i, at + i, char)


def _change(edits: NextEdits, document: Document, start: int, end: int, text: str) -> None:
    begin, finish = document.position_at(start, "utf-16"), document.position_at(end, "utf-16")
    change = Change(text=text, start=Position(line=begin.line, character=begin.character), end=finish)
    applied = document.apply([change], document.version + 1, "utf-16")
    edits.changed(document.uri, applied, document.version)


def suggested(edits: NextEdits, document: Document, *others: Document) -> list[tuple[str, int, str, str]]:
    """(uri, line, replaced text, new text) of each suggestion, in order."""
    texts = {d.uri: d for d in (document, *others)}
    _, found = edits.suggest(document, others)
    return [
        (r.uri, texts[r.uri].position_at(r.start, "utf-16").line, texts[r.uri].text[r.start : r.end], r.new)
        for r in found
    ]
