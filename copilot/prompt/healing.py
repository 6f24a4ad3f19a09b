"""Token healing: let the model re-choose the tokens of a half-typed word.

A prompt that ends inside a word ("os.pa") ends on a token boundary the model rarely saw
in training ("pa" + "th" instead of "path"), and its suggestions suffer. Instead the
pipeline cuts the half-typed part (the *anchor*) off the prompt, and the first generated
tokens are constrained to spell it: at each step only tokens that agree with what is left
of the anchor may be chosen. The anchor is then removed from the text shown.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

import numpy as np

MAX_HEAL_BYTES = 32  # longer anchors (deep indentation) are left in the prompt
_PARTIAL_WORD = re.compile(r"[\w$]*[ \t]*\Z")


ANCHOR_SCAN = 256  # characters before the cursor searched for the anchor


def split_anchor(prefix: str) -> tuple[str, str]:
    """(stem, anchor): the anchor is the partial word and blanks right before the cursor."""
    # Only the tail is searched: a regex search anchored at the end would otherwise try
    # every start position of a long file, on every keystroke.
    match = _PARTIAL_WORD.search(prefix, max(0, len(prefix) - ANCHOR_SCAN))
    cut = match.start() if match else len(prefix)
    return prefix[:cut], prefix[cut:]


def half_typed_word(text: str) -> str:
    """The word being typed at the end of ``text``: the anchor, unless blanks end it (then the
    word before them is complete and nothing is half-typed). It changes on every key, so
    context retrieval leaves it out of the names it looks up."""
    anchor = split_anchor(text)[1]
    return "" if anchor.endswith((" ", "\t")) else anchor


def split_heal(prefix: str) -> tuple[str, str]:
    """(prompt prefix, anchor to heal): the anchor when it is short enough, else nothing."""
    stem, anchor = split_anchor(prefix)
    if 0 < len(anchor.encode("utf-8", "surrogatepass")) <= MAX_HEAL_BYTES:
        return stem, anchor
    return prefix, ""


class HealingIndex:
    """Token pieces (bytes) sorted for prefix look-ups in both directions."""

    def __init__(self, pieces: Sequence[bytes]) -> None:
        self._by_piece: dict[bytes, list[int]] = {}
        for token, piece in enumerate(pieces):
            if piece:  # control tokens have no text: never part of an anchor
                self._by_piece.setdefault(piece, []).append(token)
        self._sorted = sorted(self._by_piece)

    def candidates(self, pending: bytes) -> np.ndarray:
        """Tokens whose piece agrees with ``pending``: a prefix of it, or starting with it."""
        found: list[int] = []
        for end in range(1, len(pending) + 1):  # pieces that are prefixes of what is left
            found.extend(self._by_piece.get(pending[:end], ()))
        start = bisect.bisect_right(self._sorted, pending)  # pieces that extend past it
        for piece in self._sorted[start:]:
            if not piece.startswith(pending):
                break
            found.extend(self._by_piece[piece])
        return np.asarray(found, dtype=np.intc)


def heal_step(pending: bytes, piece: bytes) -> bytes:
    """What is left of the anchor after generating ``piece``."""
    return pending[len(piece) :] if pending.startswith(piece) else b""
