"""The user's edits as events: what text was replaced by what, where, grouped the way a person
makes one edit (a word typed key by key, a name retyped), per document, kept across documents.

A content change joins the newest event when it is in the same document, comes within
``PAUSE_S`` of it and touches the text that event wrote; otherwise it starts a new event.
Offsets are string offsets into the document as it is now: a change earlier in a document
moves that document's older events with the text.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ..documents import TextChange

PAUSE_S = 2.0  # a pause longer than this ends an edit
MAX_EVENTS = 32


@dataclass
class EditEvent:
    """``old`` was replaced by ``new``, which now starts at ``start`` in ``uri``."""

    uri: str
    start: int
    old: str
    new: str
    version: int
    at: float  # time.monotonic() of its last change

    @property
    def end(self) -> int:
        return self.start + len(self.new)


class EditHistory:
    def __init__(self, capacity: int = MAX_EVENTS) -> None:
        self._events: deque[EditEvent] = deque(maxlen=capacity)

    def record(self, uri: str, change: TextChange, version: int, now: float) -> None:
        if change.old == change.new:
            return
        shift = len(change.new) - (change.end - change.start)
        newest = self._events[-1] if self._events else None
        joins = (
            newest is not None
            and newest.uri == uri
            and now - newest.at <= PAUSE_S
            and change.start <= newest.end
            and change.end >= newest.start
        )
        for event in self._events:
            if event.uri == uri and event is not (newest if joins else None) and event.start >= change.end:
                event.start += shift
        if not joins or newest is None:
            self._events.append(EditEvent(uri, change.start, change.old, change.new, version, now))
            return
        # The change overlaps or touches what the newest event wrote: one event. What it replaced
        # outside that text was original text, so it joins the event's ``old``.
        before, after = change.before[change.start : newest.start], change.before[newest.end : change.end]
        written_from, written_to = max(change.start, newest.start), min(change.end, newest.end)
        kept_head = newest.new[: max(0, written_from - newest.start)]
        kept_tail = newest.new[max(0, written_to - newest.start) :] if change.end < newest.end else ""
        newest.old = before + newest.old + after
        newest.new = kept_head + change.new + kept_tail
        newest.start = min(change.start, newest.start)
        newest.version, newest.at = version, now
        if newest.old == newest.new:
            self._events.pop()  # typed and taken back: no edit

    def newest(self) -> EditEvent | None:
        return self._events[-1] if self._events else None

    def events(self) -> list[EditEvent]:
        """Newest first."""
        return list(reversed(self._events))

    def forget(self, uri: str) -> None:
        kept = [event for event in self._events if event.uri != uri]
        self._events.clear()
        self._events.extend(kept)
