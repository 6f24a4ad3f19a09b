"""The local window around the cursor, trimmed to a token budget.

The prefix keeps the lines nearest the cursor and the suffix the lines right after it;
both are cut at line boundaries so the model sees whole lines (except the cursor's own).
The prefix's first line moves in steps of ``START_STRIDE_LINES`` lines (smaller ones when few
lines fit: a step never drops half of the lines the budget holds), not with every keystroke,
so consecutive prompts share their tokens up to the cursor (KV reuse).

Tokenizing is the expensive part (a few MB/s), so lines are measured with per-line token
counts that are remembered (``Encoder``), and the window's text is tokenized once, with
the part up to the indentation of the last indented line remembered too: typing within an
indented line tokenizes that line (at top level, the lines since the last indented one). The
tokens are always the whole text's, as the model's own server would make them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import msgspec

Tokenize = Callable[[str], list[int]]

CHARS_PER_TOKEN_CEILING = 8  # no code tokenizer packs more: bounds the text we tokenize
START_STRIDE_LINES = 16  # the prefix window starts on a multiple of this many lines
HEADS = 64  # texts remembered by ``Encoder`` (before their last newline)
LINE_COUNTS = 50_000  # lines whose token count ``Encoder`` remembers


class Window(msgspec.Struct, frozen=True, kw_only=True):
    prefix: list[int]
    suffix: list[int]
    prefix_chars: int  # how much of the text before the cursor the window covers
    suffix_chars: int


def _cut(text: str) -> int:
    """Where ``text`` splits into a head that stays the same while the user types on the
    last line and a tail, such that tokenizing the two gives the whole text's tokens: in the
    indentation of the last indented line that has text, right before its last blank.
    Byte-level BPE pre-tokenizers (GPT-2's, StarCoder's, DeepSeek's and the GPT-4-style ones
    of Qwen2.5-Coder and Llama 3) split there too: the last space goes with the word after
    it. Not at a line break (Qwen's keeps ``"):\n"`` and ``"\n\n"`` whole), nor before a
    digit (StarCoder's and DeepSeek's leave the space with the indentation). 0: no such place."""
    end = len(text)
    while (start := text.rfind("\n", 0, end) + 1) > 0:
        line = text[start:end]
        indent = len(line) - len(line.lstrip(" \t"))
        if 0 < indent < len(line) and not line[indent].isdigit():
            return start + indent - 1
        end = start - 1  # a blank, unindented or digit-led line: look further back
    return 0


class Encoder:
    """A tokenizer that remembers: the tokens of a text up to the indentation of its last
    line (the part that stays the same while the user types on that line, see ``_cut``)
    and the token count of single lines."""

    def __init__(self, encode: Tokenize) -> None:
        self._encode = encode
        self._heads: OrderedDict[str, list[int]] = OrderedDict()
        self._counts: dict[str, int] = {}

    def __call__(self, text: str) -> list[int]:
        cut = _cut(text)
        if cut <= 0 or not self._clean_cut(text, cut):
            return self._encode(text)
        head = text[:cut]
        tokens = self._heads.get(head)
        if tokens is None:
            tokens = self._heads[head] = self._encode(head)
            if len(self._heads) > HEADS:
                self._heads.popitem(last=False)
        else:
            self._heads.move_to_end(head)
        return tokens + self._encode(text[cut:])

    def _clean_cut(self, text: str, cut: int) -> bool:
        """Whether this tokenizer splits at ``cut`` too, tried on the line before it and the
        line of the cut: pre-tokenizers differ in corners (DeepSeek's keeps the last blank
        with the indentation before a backtick, SentencePiece merges runs of blanks), and the
        prompt must be the whole text's tokens, as the model's own server makes it."""
        start = text.rfind("\n", 0, max(0, text.rfind("\n", 0, cut))) + 1
        end = text.find("\n", cut)
        local = text[start : end if end >= 0 else len(text)]
        return self._encode(local[: cut - start]) + self._encode(local[cut - start :]) == self._encode(local)

    def line_tokens(self, line: str) -> int:
        """Tokens of ``line`` with its newline."""
        count = self._counts.get(line)
        if count is None:
            if len(self._counts) >= LINE_COUNTS:
                self._counts.clear()
            count = self._counts[line] = len(self._encode(line + "\n"))
        return count


def _line_tokens(tokenize: Tokenize) -> Callable[[str], int]:
    if isinstance(tokenize, Encoder):
        return tokenize.line_tokens
    return lambda line: len(tokenize(line + "\n"))


def _tail_start(text: str, budget: int, tokenize: Tokenize) -> int:
    """Where the longest run of whole trailing lines of ``text`` within ``budget`` starts,
    by line token counts (an estimate: tokens can merge across a line break)."""
    count = _line_tokens(tokenize)
    longest = budget * CHARS_PER_TOKEN_CEILING  # a longer line cannot fit: never tokenize it
    start = text.rfind("\n") + 1  # the cursor's own line, partly typed
    if len(text) - start > longest or (used := len(tokenize(text[start:]))) > budget:
        return -1
    while start > 0:
        previous = text.rfind("\n", 0, start - 1) + 1
        if start - 1 - previous > longest:
            break
        used += count(text[previous : start - 1])
        if used > budget:
            break
        start = previous
    return start


def _head_end(text: str, budget: int, tokenize: Tokenize) -> int:
    """Where the longest run of whole leading lines of ``text`` within ``budget`` ends."""
    count = _line_tokens(tokenize)
    longest = budget * CHARS_PER_TOKEN_CEILING  # a longer line cannot fit: never tokenize it
    end, used = 0, 0
    while end < len(text):
        newline = text.find("\n", end, end + longest + 1)
        if newline < 0 and len(text) - end > longest:
            break
        if newline < 0:
            cost = len(tokenize(text[end:]))
            if used + cost <= budget:
                end, used = len(text), used + cost
            break
        used += count(text[end:newline])
        if used > budget:
            break
        end = newline + 1
    return end


def _fit_tail(text: str, budget: int, tokenize: Tokenize) -> tuple[list[int], int]:
    """Tokens of the longest run of whole trailing lines of ``text`` within ``budget``."""
    if budget <= 0 or not text:
        return [], 0
    start = _tail_start(text, budget, tokenize)
    if start < 0:  # the cursor's line alone is over budget: keep its end
        text = text[-budget * CHARS_PER_TOKEN_CEILING :]
        while text:
            tokens = tokenize(text)
            if len(tokens) <= budget:
                return tokens, len(text)
            keep = int(len(text) * budget / len(tokens) * 0.95)
            text = text[len(text) - min(max(keep, 1), len(text) - 1) :]  # shorter each time, down to one character
        return [], 0
    return _exact_tail(text, start, budget, tokenize)


def _exact_tail(text: str, start: int, budget: int, tokenize: Tokenize) -> tuple[list[int], int]:
    """Tokens of ``text[start:]``, dropping leading lines should the estimate have been short."""
    while True:
        tokens = tokenize(text[start:])
        if len(tokens) <= budget or start >= len(text):
            return tokens, len(text) - start
        newline = text.find("\n", start)
        start = newline + 1 if newline >= 0 else len(text)


def _fit_head(text: str, budget: int, tokenize: Tokenize) -> tuple[list[int], int]:
    """Tokens of the longest run of whole leading lines of ``text`` within ``budget``."""
    if budget <= 0 or not text:
        return [], 0
    end = _head_end(text, budget, tokenize)
    while end > 0:
        tokens = tokenize(text[:end])
        if len(tokens) <= budget:
            return tokens, end
        end = text.rfind("\n", 0, end - 1) + 1
    return [], 0


def _stable_start(prefix: str, start: int) -> int:
    """Move the window start ``start`` (a line start) forward to the next line whose number
    is a multiple of ``START_STRIDE_LINES``, so that it stays put while the user types and the
    model's KV cache keeps the whole prompt (a start that slides each keystroke re-evaluates it
    all). The move may drop fewer than half of the whole lines that fit: past that, the next
    multiple of the largest power of two under 16 that keeps them (with few lines fitting, a
    fixed 16 could move the start onto the cursor's own line and leave no prefix at all).
    Powers of two share their multiples, so the start still stays put while it can."""
    fitting = prefix.count("\n", start)  # whole lines from ``start`` to the cursor's line
    line = prefix.count("\n", 0, start)
    stride = START_STRIDE_LINES
    while stride > 1 and -line % stride >= max(1, fitting // 2):
        stride //= 2
    position = start
    for _ in range(-line % stride):  # fewer lines than ``fitting``: each has its newline
        position = prefix.find("\n", position) + 1
    return position


def local_window(prefix: str, suffix: str, budget: int, suffix_share: float, tokenize: Tokenize) -> Window:
    """Split ``budget`` tokens between the text before and after the cursor.

    The suffix gets at most ``suffix_share`` of the budget; what it leaves unused goes
    to the prefix, which matters most for a left-to-right model. ``tokenize`` may be an
    ``Encoder`` (what the server uses) or any function from text to tokens.
    """
    suffix_tokens, suffix_chars = _fit_head(suffix, int(budget * suffix_share), tokenize)
    prefix_budget = budget - len(suffix_tokens)
    if prefix_budget <= 0 or not prefix:
        return Window(prefix=[], suffix=suffix_tokens, prefix_chars=0, suffix_chars=suffix_chars)
    start = _tail_start(prefix, prefix_budget, tokenize)
    if start < 0:
        prefix_tokens, prefix_chars = _fit_tail(prefix, prefix_budget, tokenize)
    else:
        if start > 0:
            start = _stable_start(prefix, start)
        prefix_tokens, prefix_chars = _exact_tail(prefix, start, prefix_budget, tokenize)
    return Window(prefix=prefix_tokens, suffix=suffix_tokens, prefix_chars=prefix_chars, suffix_chars=suffix_chars)
