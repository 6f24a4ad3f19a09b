"""The bracket and string scan: which brackets, strings and comments a text opens and closes, by a language's
``Lexicon`` (regular expressions, no parse), so that brackets inside strings and comments are not counted."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import NamedTuple

from ..languages import Lexicon

CLOSING = {"(": ")", "[": "]", "{": "}"}
CLOSERS = ")]}"


@functools.cache
def _patterns(lexicon: Lexicon) -> dict[str, re.Pattern[str]]:
    """For each state of the scan (top of the stack; "" when nothing is open) the tokens that matter in it."""
    comments = [lexicon.line_comment] if lexicon.line_comment else []
    comments += ["/*"] if lexicon.block_comment else []
    code = re.compile("|".join([*map(re.escape, [*comments, *lexicon.quotes]), r"[()\[\]{}]"]))
    patterns = dict.fromkeys(["", *CLOSING], code)
    patterns.update({"/*": re.compile(r"\*/"), "#": re.compile("\n"), "//": re.compile("\n")})
    for quote in lexicon.quotes:
        # A string ends at its delimiter (escapes skipped), a one-line string also at the end of the line.
        line_end = "" if quote in lexicon.multiline_quotes else "|\n"
        patterns[quote] = re.compile(r"\\.|" + re.escape(quote) + line_end, re.DOTALL)
    return patterns


def closing(item: str) -> str:
    """What closes ``item``: a bracket's closer, a comment's end, or the quote itself."""
    if item in CLOSING:
        return CLOSING[item]
    return {"/*": "*/", "#": "\n", "//": "\n"}.get(item, item)  # a quote closes itself


class Close(NamedTuple):
    offset: int  # where the closer starts
    depth: int  # items open when it comes: the one it closes is on top
    matched: bool  # False: nothing is open, or the top is another kind of bracket


def walk(text: str, lexicon: Lexicon, stack: list[str]) -> Iterator[Close]:
    """Scan ``text`` from the state ``stack`` (open brackets, a string or comment on top), updating it. Yields
    each bracket closer and string end before applying it, so the caller sees the stack it meets."""
    patterns = _patterns(lexicon)
    position = 0
    while True:
        top = stack[-1] if stack else ""
        match = patterns[top].search(text, position)
        if match is None:
            return
        token, position = match.group(), match.end()
        in_code = top == "" or top in CLOSING
        if in_code and token in CLOSERS:
            matched = top != "" and CLOSING[top] == token
            yield Close(match.start(), len(stack), matched)
            if matched:
                stack.pop()
        elif in_code:
            stack.append(token)  # an opening bracket, quote or comment
        elif token.startswith("\\"):
            continue  # an escaped character in a string
        elif token == "\n" or top == "/*":
            stack.pop()  # the line ends a comment, or a string left open; a block comment ends
        else:
            yield Close(match.start(), len(stack), True)
            stack.pop()
