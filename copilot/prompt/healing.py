"""Token healing: let the model re-choose the tokens of a half-typed word.

A prompt that ends inside a word ("os.pa") ends on a token boundary the model rarely saw
in training ("pa" + "th" instead of "path"), and its suggestions suffer. Instead the
pipeline cuts the half-typed part (the *anchor*) off the prompt, and the first generated
tokens are constrained to spell it: at each step only tokens that agree with what is left
of the anchor may be chosen. The anchor is then removed from the text shown.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Sequence

import numpy as np

MAX_HEAL_BYTES = 32  # longer anchors (deep indentation) are left in the prompt
_PARTIAL_WORD = re.compile(r"[\w$]*[ \t]*\Z")


ANCHOR_SCAN = 256  # characters before the cursor searched for the anchor
# Blank anchors (after `x = `, `return `, or an indent) are the most common and match the
# most tokens (one space: about a third of a 150k vocabulary): precomputed per index.
_BLANK_RUNS = tuple(blank * n for blank in (b" ", b"\t") for n in range(1, MAX_HEAL_BYTES + 1))


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


def _successor(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string that starts with ``prefix`` (None
    when there is none: ``prefix`` is empty or all 0xff bytes)."""
    stem = prefix.rstrip(b"\xff")  # no byte follows 0xff: b"a\xff..." all sort below b"b"
    return stem[:-1] + bytes((stem[-1] + 1,)) if stem else None


class HealingIndex:
    """Token pieces sorted for prefix look-ups in both directions.

    The non-empty pieces are kept sorted (a piece that several tokens share appears once
    per token), with the token ids in one flat array in the same order. Pieces that start
    with what is left of the anchor are one contiguous run of the sorted list, found with
    two bisections and returned as a slice; pieces that are proper prefixes of it are at
    most ``len(pending) - 1`` more bisections. Results are read-only arrays: the ones for
    blank runs (the common anchors after ``x = `` or an indent, one space matching a third
    of a large vocabulary) are computed here, and the last ``MEMO_SIZE`` others are
    remembered, so a constrained step usually costs a dict look-up.
    """

    MEMO_SIZE = 256

    def __init__(self, pieces: Sequence[bytes]) -> None:
        # C loops only (one sort, one map): about 60 ms for 150k tokens.
        order = sorted(range(len(pieces)), key=pieces.__getitem__)  # stable: ids ascend per piece
        ordered = list(map(pieces.__getitem__, order))
        skip = bisect.bisect_right(ordered, b"")  # control tokens have no text: never part of an anchor
        self._pieces = ordered[skip:]
        self._ids = np.asarray(order[skip:], dtype=np.intc)
        self._ids.flags.writeable = False  # results are slices of it (or copies): read-only
        self._memo = functools.lru_cache(maxsize=self.MEMO_SIZE)(self._lookup)
        self._blank = {run: self._lookup(run) for run in _BLANK_RUNS}

    def candidates(self, pending: bytes) -> np.ndarray:
        """Tokens whose piece agrees with ``pending``: a prefix of it, or starting with it.

        A read-only ``np.intc`` array, in no particular order, without repeats."""
        found = self._blank.get(pending)
        return found if found is not None else self._memo(pending)

    def _lookup(self, pending: bytes) -> np.ndarray:
        pieces, ids = self._pieces, self._ids
        low = bisect.bisect_left(pieces, pending)  # pieces starting with it (itself included)
        upper = _successor(pending)
        high = len(pieces) if upper is None else bisect.bisect_left(pieces, upper, low)
        parts = [ids[low:high]] if high > low else []
        start = 0
        for end in range(1, len(pending)):  # pieces that are proper prefixes of it
            prefix = pending[:end]  # sorts after the shorter prefixes, before ``pending``
            start = bisect.bisect_left(pieces, prefix, start, low)
            if start < low and pieces[start] == prefix:
                parts.append(ids[start : bisect.bisect_right(pieces, prefix, start, low)])
        if len(parts) <= 1:
            return parts[0] if parts else ids[:0]  # slices of the read-only ids
        joined = np.concatenate(parts)
        joined.flags.writeable = False
        return joined


def heal_step(pending: bytes, piece: bytes) -> bytes:
    """What is left of the anchor after generating ``piece``."""
    return pending[len(piece) :] if pending.startswith(piece) else b""
