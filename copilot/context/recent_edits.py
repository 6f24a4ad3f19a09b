"""A ring of the regions the user edited last, across documents.

What was just written elsewhere (a new function, a changed signature) is often what the
next line uses. Consecutive edits close together merge into one region, so typing a line
character by character takes one slot, not one per key.
"""

from __future__ import annotations

from collections import deque

import msgspec

MERGE_LINES = 3  # edits this close to a region extend it
MAX_REGION_LINES = 12


class Region(msgspec.Struct, kw_only=True):
    uri: str
    start_line: int  # 0-based, inclusive, in the document as it was after the edit
    end_line: int


class EditRing:
    def __init__(self, capacity: int = 16) -> None:
        self._regions: deque[Region] = deque(maxlen=capacity)

    def record(self, uri: str, start_line: int, removed_lines: int, inserted_text: str) -> None:
        """One content change: ``removed_lines`` newlines were replaced by ``inserted_text``
        from ``start_line`` on. Regions below it in the same document move with the text."""
        added = inserted_text.count("\n")
        shift = added - removed_lines
        end_line = start_line + added
        for region in self._regions:
            if region.uri == uri and region.start_line > start_line and shift:
                region.start_line = max(start_line, region.start_line + shift)
                region.end_line = max(region.start_line, region.end_line + shift)
        newest = self._regions[-1] if self._regions else None
        if (
            newest is not None
            and newest.uri == uri
            and start_line <= newest.end_line + MERGE_LINES
            and end_line >= newest.start_line - MERGE_LINES
        ):
            newest.start_line = max(min(newest.start_line, start_line), end_line - MAX_REGION_LINES + 1)
            newest.end_line = max(newest.end_line, end_line)
            return
        self._regions.append(Region(uri=uri, start_line=start_line, end_line=end_line))

    def forget(self, uri: str) -> None:
        kept = [region for region in self._regions if region.uri != uri]
        self._regions.clear()
        self._regions.extend(kept)

    def newest_first(self) -> list[Region]:
        return [msgspec.structs.replace(region) for region in reversed(self._regions)]
