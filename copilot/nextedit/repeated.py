"""Repeated changes: one token-level transformation the user made on a line, generalised and
matched where it applies again (after Blue-Pencil, Miltner et al., OOPSLA 2019, here from a
single example).

``print x`` -> ``print(x)``, ``foo(a)`` -> ``foo(a, timeout)``, ``x.get("k")`` -> ``x["k"]``:
the two versions of the edited line are tokenized and diffed; the changed tokens, grown until
their brackets pair up and, when that has no name of its own, widened to the bracket group
they sit in (with its callee) or else to their neighbours, are the pattern. In it, the
operands the new text carries over (names and literals that are not a callee, a member name
or a keyword) become holes that match any operand elsewhere (a name or literal with its ``.name``, ``(...)``
and ``[...]`` suffixes) and are carried into the new text; everything else must match as it
is. A pattern with no name or keyword of its own is too general to suggest, and one with no
operand carried over (a literal replaced by another) has nothing to generalise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .history import EditEvent
from .rename import Replacement

_TOKEN = re.compile(
    r"""(?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`\n]*`)"""
    r"|(?P<number>\d[\w.]*)"
    r"|(?P<name>[A-Za-z_$][\w$]*)"
    r"|(?P<op>==|!=|<=|>=|->|=>|::|\*\*|//|&&|\|\||[^\s\w])"
)
_OPEN, _CLOSE = "([{", ")]}"
KEYWORDS = frozenset({  # keywords of the usual languages: never an operand
    "and", "as", "assert", "async", "await", "break", "case", "catch", "class", "const", "continue", "def",
    "del", "elif", "else", "except", "export", "extends", "finally", "for", "from", "func", "function", "go",
    "if", "import", "in", "is", "lambda", "let", "match", "new", "not", "or", "pass", "print", "raise",
    "return", "static", "struct", "switch", "throw", "try", "type", "var", "while", "with", "yield",
})  # fmt: skip
MAX_LINES = 5000
MAX_MATCHES = 50


@dataclass(frozen=True)
class Token:
    text: str
    kind: str  # string, number, name, op
    start: int  # offset in the text it was read from
    end: int


def tokenize(text: str, offset: int = 0) -> list[Token]:
    return [Token(m.group(), m.lastgroup or "op", offset + m.start(), offset + m.end()) for m in _TOKEN.finditer(text)]


@dataclass(frozen=True)
class Pattern:
    """Tokens to match (a str must equal, an int is hole number k) and the new text: literal
    pieces and hole numbers."""

    match: tuple[str | int, ...]
    output: tuple[str | int, ...]
    line_start: bool = False  # the example's span began its line: so must a match's
    line_end: bool = False


def _line_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    return text.rfind("\n", 0, start) + 1, (text.find("\n", end) + 1 or len(text) + 1) - 1


def learn(event: EditEvent, text: str) -> Pattern | None:
    """The transformation ``event`` made on its line; None when it is not one line, has
    nothing to generalise (no operand carried over: a literal replacement), or would match
    nearly anything (no name or keyword of its own)."""
    line_start, line_end = _line_bounds(text, event.start, event.end)
    after_line = text[line_start:line_end]
    before_line = text[line_start : event.start] + event.old + text[event.end : line_end]
    if "\n" in before_line or "\n" in after_line:
        return None
    before, after = tokenize(before_line), tokenize(after_line)
    head = 0
    while head < min(len(before), len(after)) and before[head].text == after[head].text:
        head += 1
    tail = 0
    while tail < min(len(before), len(after)) - head and before[-1 - tail].text == after[-1 - tail].text:
        tail += 1
    if head == len(before) and head == len(after):
        return None  # only spacing changed
    first, last = _balance(before, head, len(before) - tail)
    grouped = True  # by its own brackets: no anchoring to the line
    if not _words(_classify(before, first, last, after, first, last - len(before) + len(after))[0]):
        first, last, grouped = _widen(before, first, last)
    after_first, after_last = first, last - len(before) + len(after)
    match, holes = _classify(before, first, last, after, after_first, after_last)
    if not holes or not _words(match):
        return None
    # The new text of the span: the after line from the span's first token to its last.
    if after_last <= after_first:
        piece_start = after[after_first - 1].end if after_first > 0 else 0
        piece_end = piece_start
    else:
        piece_start, piece_end = after[after_first].start, after[after_last - 1].end
    output: list[str | int] = []
    cursor = piece_start
    for token in after[after_first:after_last]:
        if token.text in holes and token.kind != "op":
            output += [after_line[cursor : token.start], holes[token.text]]
            cursor = token.end
    output.append(after_line[cursor:piece_end])
    output_pieces = tuple(piece for piece in output if piece != "")
    anchored = not grouped
    return Pattern(tuple(match), output_pieces, anchored and first == 0, anchored and last == len(before))


def _classify(
    before: list[Token], first: int, last: int, after: list[Token], after_first: int, after_last: int
) -> tuple[list[str | int], dict[str, int]]:
    """The span ``before[first:last]`` as a pattern: operands the new text carries over
    become holes; everything else (an operand the edit replaced too) must match as it is."""
    carried = {token.text for token in after[after_first:after_last] if token.kind != "op"}
    holes: dict[str, int] = {}
    match: list[str | int] = []
    for index in range(first, last):
        token = before[index]
        if _operand(before, index) and token.text in carried:
            match.append(holes.setdefault(token.text, len(holes)))
        else:
            match.append(token.text)
    return match, holes


def _words(match: list[str | int]) -> bool:
    """Whether a pattern has a name or keyword of its own (not only holes and punctuation)."""
    return any(isinstance(item, str) and (item[0].isalnum() or item[0] in "_$") for item in match)


def _balance(tokens: list[Token], start: int, end: int) -> tuple[int, int]:
    """``[start, end)`` grown until its brackets pair up, and over the arguments of a callee
    it ends with: a changed call is the whole call."""
    if start < end < len(tokens) and tokens[end].text in "([" and tokens[end - 1].kind == "name":
        end += 1
    while True:
        depth = lowest = 0
        for token in tokens[start:end]:
            if token.text in _OPEN:
                depth += 1
            elif token.text in _CLOSE:
                depth -= 1
                lowest = min(lowest, depth)
        if lowest < 0 and start > 0:
            start -= 1
        elif depth > lowest and end < len(tokens):
            end += 1
        else:
            return start, end


def _widen(tokens: list[Token], start: int, end: int) -> tuple[int, int, bool]:
    """The changed tokens ``[start, end)`` widened to the bracket group they sit in (with the
    name before it; True), else by one token each side (False)."""
    depth, opener = 0, -1
    for i in range(start - 1, -1, -1):
        text = tokens[i].text
        if text in _CLOSE:
            depth += 1
        elif text in _OPEN:
            if depth == 0:
                opener = i
                break
            depth -= 1
    if opener >= 0:
        depth, closer = 0, len(tokens)
        for i in range(opener + 1, len(tokens)):
            text = tokens[i].text
            if text in _OPEN:
                depth += 1
            elif text in _CLOSE:
                if depth == 0:
                    closer = i + 1
                    break
                depth -= 1
        callee = opener - 1 if opener > 0 and tokens[opener - 1].kind == "name" else opener
        return callee, max(closer, end), True
    return max(0, start - 1), min(len(tokens), max(end, start) + 1), False


def _operand(tokens: list[Token], i: int) -> bool:
    token = tokens[i]
    if token.kind in ("string", "number"):
        return True
    if token.kind != "name" or token.text in KEYWORDS:
        return False
    after = tokens[i + 1].text if i + 1 < len(tokens) else ""
    before = tokens[i - 1].text if i > 0 else ""
    return after != "(" and before not in (".", "->", "::")


def apply_elsewhere(pattern: Pattern, event: EditEvent, text: str, uri: str, version: int) -> list[Replacement]:
    """Where ``pattern`` matches in ``text`` outside the edited lines, nearest first."""
    edit_start, edit_end = _line_bounds(text, event.start, event.end)
    # Every match has the pattern's own words: a line without one of them is not tokenized.
    words = [item for item in pattern.match if isinstance(item, str) and (item[0].isalnum() or item[0] in "_$")]
    found: list[Replacement] = []
    line_start = 0
    for number, line in enumerate(text.split("\n")):
        if number >= MAX_LINES:
            break
        line_end = line_start + len(line)
        if not (line_end >= edit_start and line_start <= edit_end) and all(word in line for word in words):
            tokens = tokenize(line, line_start)
            i = 0
            while i < len(tokens) and not (pattern.line_start and i > 0):
                matched = _match(pattern, tokens, i, text)
                if matched is None:
                    i += 1
                    continue
                end, bound = matched
                new = "".join(piece if isinstance(piece, str) else bound[piece] for piece in pattern.output)
                if new != text[tokens[i].start : tokens[end - 1].end]:  # an edit that changes nothing is none
                    found.append(Replacement(uri, version, tokens[i].start, tokens[end - 1].end, new, "repeat"))
                i = end
        line_start = line_end + 1
    found.sort(key=lambda r: abs(r.start - event.start))
    return found[:MAX_MATCHES]


def _match(pattern: Pattern, tokens: list[Token], at: int, text: str) -> tuple[int, dict[int, str]] | None:
    """Where a match of ``pattern`` starting at token ``at`` ends, and the text of its holes
    (a hole takes the shortest operand that lets the rest match)."""

    def rest(k: int, i: int, bound: dict[int, str]) -> tuple[int, dict[int, str]] | None:
        if k == len(pattern.match):
            return None if pattern.line_end and i != len(tokens) else (i, bound)
        if i >= len(tokens):
            return None
        item = pattern.match[k]
        if isinstance(item, str):
            return rest(k + 1, i + 1, bound) if tokens[i].text == item else None
        for end in _operand_ends(tokens, i):
            piece = text[tokens[i].start : tokens[end - 1].end]
            if bound.get(item, piece) == piece:
                found = rest(k + 1, end, {**bound, item: piece})
                if found is not None:
                    return found
        return None

    return rest(0, at, {})


def _operand_ends(tokens: list[Token], i: int) -> list[int]:
    """The possible ends of an operand starting at token ``i``, shortest first: a name or
    literal, then any ``.name``, ``(...)`` and ``[...]``."""
    if tokens[i].kind == "op" or tokens[i].text in KEYWORDS:
        return []
    ends = [i + 1]
    i += 1
    while i < len(tokens):
        text = tokens[i].text
        if text == "." and i + 1 < len(tokens) and tokens[i + 1].kind == "name":
            i += 2
        elif text in ("(", "["):
            depth = 0
            for j in range(i, len(tokens)):
                if tokens[j].text in _OPEN:
                    depth += 1
                elif tokens[j].text in _CLOSE:
                    depth -= 1
                    if depth == 0:
                        break
            else:
                break
            i = j + 1
        else:
            break
        ends.append(i)
    return ends
