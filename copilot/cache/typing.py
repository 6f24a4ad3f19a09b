"""Typing-through: the user types the start of the suggestion on screen. Pure logic.

The server remembers, per document, the last suggestion it showed and the text around it.
When the next request's text is the same except for characters typed at the cursor, and
those characters are the start of the suggestion, the answer is the rest of it: no model.
"""

from __future__ import annotations

import msgspec


class Shown(msgspec.Struct, frozen=True, kw_only=True):
    """A suggestion shown at a cursor: the text before and after it, and the suggestion."""

    prefix: str
    suffix: str
    text: str


def type_through(shown: Shown, prefix: str, suffix: str) -> str:
    """The rest of ``shown`` after what the user typed since, or "" when it no longer fits
    (or nothing was typed: the same request again is the cache's to answer)."""
    if suffix != shown.suffix or len(prefix) < len(shown.prefix) or not prefix.startswith(shown.prefix):
        return ""
    typed = prefix[len(shown.prefix) :]
    if 0 < len(typed) < len(shown.text) and shown.text.startswith(typed):
        return shown.text[len(typed) :]
    return ""
