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


def typed_since(old_prefix: str, old_suffix: str, prefix: str, suffix: str) -> str | None:
    """What was typed at the old cursor to get from the old text to the new one, or None
    when the document changed in any other way."""
    if suffix != old_suffix or not prefix.startswith(old_prefix):
        return None
    return prefix[len(old_prefix) :]


def type_through(shown: Shown, prefix: str, suffix: str) -> str:
    """The rest of ``shown`` after what the user typed since, or "" when it no longer fits
    (or nothing was typed: the same request again is the cache's to answer)."""
    typed = typed_since(shown.prefix, shown.suffix, prefix, suffix)
    if typed and len(typed) < len(shown.text) and shown.text.startswith(typed):
        return shown.text[len(typed) :]
    return ""
