"""What is offered as next edits: from the user's last edit, the edits that repeat it (a
rename's other occurrences, a repeated change's other places), nearest first; the model's
edits (``model.py``) pass the same filters.

Never where the user is typing (the lines of the edit in progress), never one the user
rejected at that place, never on a document version other than the one asked about.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from ..documents import Document, TextChange
from .history import EditEvent, EditHistory
from .rename import Replacement, propagate, renaming
from .repeated import apply_elsewhere, learn

MAX_SUGGESTIONS = 20
RECENT_S = 300.0  # an edit older than this is not what the user is doing now
MAX_TEXT = 1_000_000  # characters: past this, no suggestions (bounded time on huge files)
MAX_REJECTED = 1000
MAX_OFFERED = 256


class NextEdits:
    """Per editor session: the edit history, what was offered, what was rejected."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock  # when edits happen (a benchmark types on a simulated one)
        self.history = EditHistory()
        self._rejected: OrderedDict[tuple[str, str, str, str], None] = OrderedDict()
        self._offered: OrderedDict[int, list[tuple[str, str, str, str]]] = OrderedDict()
        self._next_id = 1

    def changed(self, uri: str, changes: list[TextChange], version: int) -> None:
        """One didChange. Its changes are one edit: an editor applying an accepted edit may send
        it as several small ones (VS Code's minimal diff of `net_price` -> `price_after_tax`)."""
        if changes:
            change = changes[0] if len(changes) == 1 else merged(changes)
            self.history.record(uri, change, version, self.clock())

    def forget(self, uri: str) -> None:
        self.history.forget(uri)

    def propose(self, document: Document, others: Iterable[Document]) -> list[Replacement]:
        """The edits that repeat the last edit in ``document`` (at its current version),
        nearest first (in this document first): a rename's, else a repeated change's."""
        event = self.recent(document)
        if event is None:
            return []
        earlier = self.history.events()[1:]
        found = [r for r in propagate(event, document, others, earlier) if not _typing_there(r, event, document)]
        if not found and not renaming(event, document.text):  # a name retyped: its rename or nothing
            pattern = learn(event, document.text)
            if pattern is not None:
                found = apply_elsewhere(pattern, event, document.text, document.uri, document.version)
        return found

    def recent(self, document: Document) -> EditEvent | None:
        """The user's last edit, when it was in ``document``, lately, and the file is not huge."""
        event = self.history.newest()
        if (
            event is None
            or event.uri != document.uri
            or self.clock() - event.at > RECENT_S
            or len(document.text) > MAX_TEXT
        ):
            return None
        return event

    def offer(self, found: list[Replacement], documents: Iterable[Document]) -> tuple[int, list[Replacement]]:
        """``found`` less what the user rejected at the same place, under a new request id
        (0 when nothing is left)."""
        texts = {d.uri: d.text for d in documents}
        offered = []
        for replacement in found:
            key = _place(replacement, texts.get(replacement.uri, ""))
            if key not in self._rejected:
                offered.append((replacement, key))
            if len(offered) == MAX_SUGGESTIONS:
                break
        if not offered:
            return 0, []
        request_id = self._next_id
        self._next_id += 1
        self._offered[request_id] = [key for _, key in offered]
        while len(self._offered) > MAX_OFFERED:
            self._offered.popitem(last=False)
        return request_id, [replacement for replacement, _ in offered]

    def suggest(self, document: Document, others: Iterable[Document]) -> tuple[int, list[Replacement]]:
        """``propose`` then ``offer``: the request id and the edits."""
        others = list(others)
        return self.offer(self.propose(document, others), [document, *others])

    def rejected(self, request_id: int, index: int = 0) -> bool:
        """The user dismissed the ``index``-th edit ``request_id`` offered (the one shown: the
        nearest, unless the editor says otherwise): never offer it at that place again. The
        others of the request, which the user may not have seen, stay offered."""
        keys = self._offered.pop(request_id, None)
        if keys is None or not 0 <= index < len(keys):
            return False
        self._rejected[keys[index]] = None
        while len(self._rejected) > MAX_REJECTED:
            self._rejected.popitem(last=False)
        return True

    def accepted(self, request_id: int) -> bool:
        return self._offered.pop(request_id, None) is not None


def extending(text: str, cursor: int, found: list[Replacement]) -> Replacement | None:
    """The first edit that a plain inline completion can carry: on the cursor's line, over the
    cursor, keeping what is typed before the cursor and adding to it."""
    line_start = text.rfind("\n", 0, cursor) + 1
    line_end = text.find("\n", cursor)
    line_end = len(text) if line_end < 0 else line_end
    for r in found:
        if line_start <= r.start <= cursor <= r.end <= line_end and "\n" not in r.new:
            typed = text[r.start : cursor]
            if r.new.startswith(typed) and len(r.new) > len(typed):
                return r
    return None


def merged(changes: list[TextChange]) -> TextChange:
    """Successive changes as one: the text before the first, and what differs after the last."""
    before, last = changes[0].before, changes[-1]
    after = last.before[: last.start] + last.new + last.before[last.end :]
    limit = min(len(before), len(after))
    start = _agreeing(limit, lambda n: before[:n] == after[:n])
    tail = _agreeing(limit - start, lambda n: before[len(before) - n :] == after[len(after) - n :])
    return TextChange(start, len(before) - tail, after[start : len(after) - tail], before)


def _agreeing(limit: int, same: Callable[[int], bool]) -> int:
    """The largest n <= ``limit`` with ``same(n)`` (true up to some n, false after), by
    bisection: whole slices compared in C, a 1 MB file in microseconds."""
    low, high = 0, limit
    while low < high:
        middle = (low + high + 1) // 2
        if same(middle):
            low = middle
        else:
            high = middle - 1
    return low


def touches_typing(replacement: Replacement, event: EditEvent) -> bool:
    """Whether ``replacement`` would change what the user just wrote."""
    return replacement.uri == event.uri and replacement.start < event.end and replacement.end > event.start


def _typing_there(replacement: Replacement, event: EditEvent, document: Document) -> bool:
    """Whether ``replacement`` touches the line the user is editing now."""
    if replacement.uri != event.uri:
        return False
    text = document.text
    line_start = text.rfind("\n", 0, event.start) + 1
    line_end = text.find("\n", event.end)
    line_end = len(text) if line_end < 0 else line_end
    return replacement.start <= line_end and replacement.end >= line_start


def _place(replacement: Replacement, text: str) -> tuple[str, str, str, str]:
    """A place as the user sees it: the document, the line's text, what is replaced, by what
    (offsets move as the user types; the line's text does not, until it is edited)."""
    line_start = text.rfind("\n", 0, replacement.start) + 1
    line_end = text.find("\n", replacement.end)
    line = text[line_start : len(text) if line_end < 0 else line_end]
    return replacement.uri, line, text[replacement.start : replacement.end], replacement.new
