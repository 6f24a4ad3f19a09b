"""The front's copy of the editor's documents (lsp/service/replay.py) stays equal to the
server's (copilot/documents.py) under any edits, and the replay brings a new service to the
same session."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from copilot.documents import Change, Document, Position, document_key
from copilot.lsp.service import replay

TEXT = st.lists(st.sampled_from(["a", "b", " ", "\n", "\r", "\r\n", "é", "😀", "\t"]), max_size=30).map("".join)
POSITION = st.fixed_dictionaries({"line": st.integers(-1, 8), "character": st.integers(-1, 12)})
CHANGE = st.one_of(
    st.fixed_dictionaries({"text": TEXT}),
    st.fixed_dictionaries({"text": TEXT, "range": st.fixed_dictionaries({"start": POSITION, "end": POSITION})}),
)


def as_change(change: dict[str, Any]) -> Change:
    edit = change.get("range")
    if edit is None:
        return Change(text=change["text"])
    start, end = (Position(line=edit[k]["line"], character=edit[k]["character"]) for k in ("start", "end"))
    return Change(text=change["text"], start=start, end=end)


@settings(max_examples=300, deadline=None)
@given(
    text=TEXT,
    edits=st.lists(st.lists(CHANGE, min_size=1, max_size=3), max_size=6),
    encoding=st.sampled_from(["utf-8", "utf-16", "utf-32"]),
)
def test_the_fronts_copy_follows_edits_as_the_servers_does(
    text: str, edits: list[list[dict[str, Any]]], encoding: str
) -> None:
    server = Document("file:///a.txt", "plaintext", 1, text)
    front = replay.OpenDocument("file:///a.txt", "plaintext", 1, text)
    for version, changes in enumerate(edits, 2):
        server.apply([as_change(change) for change in changes], version, encoding)  # type: ignore[arg-type]
        front.apply(changes, version, encoding)
        assert front.text == server.text
        assert front.starts == [int(start) for start in server._line_starts]
        assert front.version == server.version


def test_document_keys_are_the_servers() -> None:
    for uri in ("file:///a%20b.py", "file:///a b.py", "file://LOCALHOST/x.py", "untitled:Untitled-1", "file:///c%3A/x"):
        assert replay.document_key(uri) == document_key(uri)


def message(method: str, params: Any, msg_id: int | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
    return found if msg_id is None else {**found, "id": msg_id}


def test_the_replay_is_initialize_then_the_state_the_editor_left() -> None:
    session = replay.Session()
    initialize = message("initialize", {"capabilities": {}, "initializationOptions": {"completion": {}}}, 1)
    session.from_editor(initialize)
    session.initialize_answered({"capabilities": {"positionEncoding": "utf-8"}})
    session.from_editor(message("initialized", {}))
    session.from_editor(message("workspace/didChangeConfiguration", {"settings": {"completion": {"max_lines": 1}}}))
    session.from_editor(message("workspace/didChangeConfiguration", {"settings": {"completion": {"max_lines": 2}}}))
    item = {"uri": "file:///p/a.py", "languageId": "python", "version": 1, "text": "é = 1\nx"}
    session.from_editor(message("textDocument/didOpen", {"textDocument": item}))
    closed = {**item, "uri": "file:///p/b.py"}
    session.from_editor(message("textDocument/didOpen", {"textDocument": closed}))
    session.from_editor(message("textDocument/didClose", {"textDocument": {"uri": "file:///p/b.py"}}))
    at = {"line": 0, "character": 2}  # after "é" in UTF-8 code units: the encoding the service chose
    change = {"range": {"start": at, "end": at}, "text": "x"}
    session.from_editor(
        message(
            "textDocument/didChange",
            {"textDocument": {"uri": "file:///p/a%2Epy", "version": 2}, "contentChanges": [change]},
        )
    )
    first, second = session.replay(), session.replay()
    assert first[0]["id"] != second[0]["id"] != 1  # the front's own ids: their answers are swallowed
    assert first[0]["params"] == initialize["params"]
    assert [m["method"] for m in first] == [
        "initialize",
        "initialized",
        "workspace/didChangeConfiguration",
        "textDocument/didOpen",
    ]
    assert first[2]["params"]["settings"]["completion"]["max_lines"] == 2
    assert first[3]["params"]["textDocument"] == {**item, "version": 2, "text": "éx = 1\nx"}


def test_a_change_that_cannot_apply_forgets_the_document() -> None:
    session = replay.Session()
    item = {"uri": "file:///a.py", "languageId": "python", "version": 1, "text": "a"}
    session.from_editor(message("textDocument/didOpen", {"textDocument": item}))
    session.from_editor(
        message(
            "textDocument/didChange",
            {"textDocument": {"uri": "file:///a.py", "version": 2}, "contentChanges": [{"text": 3}]},
        )
    )
    assert session.documents == {}
    assert session.replay() == []  # no initialize seen: nothing to replay


def test_nothing_malformed_raises() -> None:
    session = replay.Session()
    for bad in (
        message("textDocument/didOpen", None),
        message("textDocument/didOpen", {"textDocument": {"uri": 1}}),
        message("textDocument/didChange", {"textDocument": {}}),
        message("textDocument/didClose", []),
        {"method": "initialize"},
    ):
        session.from_editor(bad)
    session.initialize_answered(None)
    assert session.documents == {} and session.encoding == "utf-16"
