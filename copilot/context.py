"""The local window around the cursor, trimmed to a token budget.

The prefix keeps the lines nearest the cursor and the suffix the lines right after it;
both are cut at line boundaries so the model sees whole lines (except the cursor's own).
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

Tokenize = Callable[[str], list[int]]

CHARS_PER_TOKEN_CEILING = 8  # no code tokenizer packs more: bounds the text we tokenize


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


def local_window(prefix: str, suffix: str, budget: int, suffix_share: float, tokenize: Tokenize) -> Window:
    """Split ``budget`` tokens between the text before and after the cursor.

    The suffix gets at most ``suffix_share`` of the budget; what it leaves unused goes
    to the prefix, which matters most for a left-to-right model.
    """
    suffix_tokens, suffix_chars = _fit_head(suffix, int(budget * suffix_share), tokenize)
    prefix_tokens, prefix_chars = _fit_tail(prefix, budget - len(suffix_tokens), tokenize)
    return Window(prefix=prefix_tokens, suffix=suffix_tokens, prefix_chars=prefix_chars, suffix_chars=suffix_chars)
