"""lsprotocol <-> core values. The only module that knows both sides."""

from __future__ import annotations

from collections.abc import Sequence

from lsprotocol import types

from copilot.documents import Change, Encoding, Position

ENCODINGS: dict[str, Encoding] = {
    types.PositionEncodingKind.Utf8: "utf-8",
    types.PositionEncodingKind.Utf16: "utf-16",
    types.PositionEncodingKind.Utf32: "utf-32",
}


def encoding(kind: str | None) -> Encoding:
    return ENCODINGS.get(kind or types.PositionEncodingKind.Utf16, "utf-16")


def position(pos: types.Position) -> Position:
    return Position(line=pos.line, character=pos.character)


def changes(events: Sequence[types.TextDocumentContentChangeEvent]) -> list[Change]:
    out = []
    for event in events:
        if isinstance(event, types.TextDocumentContentChangePartial):
            out.append(Change(text=event.text, start=position(event.range.start), end=position(event.range.end)))
        else:
            out.append(Change(text=event.text))
    return out


ACCEPT_COMMAND = "copilot.accepted"  # LSP 3.18: the client runs an item's command when it is accepted


def inline_items(text: str, at: types.Position, request_id: int | None = None) -> types.InlineCompletionList:
    if not text:
        return types.InlineCompletionList(items=[])
    command = None
    if request_id is not None:
        command = types.Command(title="Accept suggestion", command=ACCEPT_COMMAND, arguments=[request_id])
    return types.InlineCompletionList(
        items=[types.InlineCompletionItem(insert_text=text, range=types.Range(start=at, end=at), command=command)]
    )
