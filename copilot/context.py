"""The local window around the cursor, trimmed to a token budget.

The prefix keeps the lines nearest the cursor and the suffix the lines right after it;
both are cut at line boundaries so the model sees whole lines (except the cursor's own).
The prefix's first line moves in steps of ``START_STRIDE_LINES``, not with every keystroke,
so consecutive prompts share their tokens up to the cursor (KV reuse).
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

Tokenize = Callable[[str], list[int]]

CHARS_PER_TOKEN_CEILING = 8  # no code tokenizer packs more: bounds the text we tokenize
START_STRIDE_LINES = 16  # the prefix window starts on a multiple of this many lines


class Window(msgspec.Struct, frozen=True, kw_only=True):
    prefix: list[int]
    suffix: list[int]
    prefix_chars: int  # how much of the text before the cursor the window covers
    suffix_chars: int


def _fit_tail(text: str, budget: int, tokenize: Tokenize) -> tuple[list[int], int]:
    """Tokens of the longest run of whole trailing lines of ``text`` within ``budget``."""
    text = text[-budget * CHARS_PER_TOKEN_CEILING :] if budget else ""
    while text:
        tokens = tokenize(text)
        if len(tokens) <= budget:
            return tokens, len(text)
        # Drop leading lines in proportion to the overshoot (at least one line).
        keep = int(len(text) * budget / len(tokens) * 0.95)
        cut = text.find("\n", len(text) - keep)
        text = text[cut + 1 :] if 0 <= cut < len(text) - 1 else text[len(text) - keep :]
    return [], 0


def _fit_head(text: str, budget: int, tokenize: Tokenize) -> tuple[list[int], int]:
    """Tokens of the longest run of whole leading lines of ``text`` within ``budget``."""
    text = text[: budget * CHARS_PER_TOKEN_CEILING] if budget else ""
    while text:
        tokens = tokenize(text)
        if len(tokens) <= budget:
            return tokens, len(text)
        keep = int(len(text) * budget / len(tokens) * 0.95)
        cut = text.rfind("\n", 0, keep)
        text = text[: cut + 1] if cut > 0 else text[:keep]
    return [], 0


def _stable_start(prefix: str, start: int) -> int:
    """Move a window start forward to the next line whose number is a multiple of
    ``START_STRIDE_LINES``, so that it stays put while the user types and the model's KV
    cache keeps the whole prompt (a start that slides each keystroke re-evaluates it all)."""
    line = prefix.count("\n", 0, start)
    if start > 0 and prefix[start - 1] != "\n":
        line += 1  # a cut inside a line: the next whole line
    target = -(-line // START_STRIDE_LINES) * START_STRIDE_LINES
    position = start if prefix[start - 1 : start] in ("", "\n") else prefix.find("\n", start) + 1
    for _ in range(target - line):
        position = prefix.find("\n", position) + 1
        if position <= 0:  # not that many lines before the cursor: keep the fitted start
            return start
    return position if position > 0 else start


def local_window(prefix: str, suffix: str, budget: int, suffix_share: float, tokenize: Tokenize) -> Window:
    """Split ``budget`` tokens between the text before and after the cursor.

    The suffix gets at most ``suffix_share`` of the budget; what it leaves unused goes
    to the prefix, which matters most for a left-to-right model.
    """
    suffix_tokens, suffix_chars = _fit_head(suffix, int(budget * suffix_share), tokenize)
    prefix_tokens, prefix_chars = _fit_tail(prefix, budget - len(suffix_tokens), tokenize)
    if 0 < prefix_chars < len(prefix):
        start = _stable_start(prefix, len(prefix) - prefix_chars)
        if start != len(prefix) - prefix_chars:
            prefix_chars = len(prefix) - start
            prefix_tokens = tokenize(prefix[start:])
    return Window(prefix=prefix_tokens, suffix=suffix_tokens, prefix_chars=prefix_chars, suffix_chars=suffix_chars)
