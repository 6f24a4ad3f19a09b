"""Clean a raw completion before it is shown, and tell the pipeline whether to ask for one line or a block.

Pure functions, text in and text out (only tree-sitter parsers are cached). ``clean`` applies, in this order:

1. cut back-to-back repetition (a looping model);
2. keep one line when text follows the cursor on its line, unless the cursor sits in an empty ``{}``;
3. stop where the indentation drops below the block the cursor is in;
4. drop trailing lines that repeat the text after the cursor;
5. keep brackets and quotes balanced with what follows the cursor on its line;
6. for several lines in a language with a grammar, drop the last lines while they add syntax errors;
7. drop what is left blank; end a block written between ``{`` and ``}`` with a line break.

Only a window of the document around the cursor is looked at (``Cursor``), so the cost does not grow with the file.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import tree_sitter

from ..languages import GRAMMARS
from ..syntax import parsing as syntax_check

LINES_BEFORE = 80
LINES_AFTER = 40
# All the parses of one syntax check together; past it the suggestion is kept as it is.
SYNTAX_BUDGET_S = 0.02

_BRACE_LANGUAGES = frozenset(GRAMMARS) - {"python"}
_CLOSING = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = ")]}"
# The text fallback when tree-sitter cannot tell whether a Python ``:`` ends a block header.
_PYTHON_HEADER = re.compile(
    r"\s*(?:async\s+)?(?:def|class|if|elif|else|for|while|with|try|except|finally|match|case)\b"
)


def drop_suffix_overlap(completion: str, suffix: str) -> str:
    """Cut trailing lines of ``completion`` that repeat the text already after the cursor.

    Small models often write the next existing line again; showing it would duplicate code.
    """
    following = suffix.lstrip("\n")
    if not following.strip():
        return completion
    lines = completion.split("\n")
    for cut in range(1, len(lines)):
        tail = "\n".join(lines[cut:]).strip()
        if tail and following.lstrip().startswith(tail):
            return "\n".join(lines[:cut])
    return completion


MAX_WINDOW_CHARS = 20_000  # of a cursor's window, each side: a minified file is one line of megabytes

# A unit of 4 to 40 characters, then two more copies of it.
_LOOP = re.compile(r"(.{4,40}?)\1\1", re.DOTALL)


def cut_repetition(completion: str) -> str:
    """Keep one copy of a unit that repeats back to back (``os.path.join(os.path.join(``):
    a small model that loops writes it until the token limit."""
    position = 0
    while (match := _LOOP.search(completion, position)) is not None:
        if match.group(1).strip():  # indentation repeats blanks: that is not a loop
            return completion[: match.end(1)]
        position = match.start() + 1
    return completion


# --- where the completion goes --------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """Where a completion goes: a bounded window of the document around the cursor, and its language."""

    before: str  # the cursor line up to the cursor, after at most LINES_BEFORE lines
    after: str  # the rest of the cursor line, then at most LINES_AFTER lines
    language_id: str
    whole_prefix: bool  # ``before`` starts at the top of the document, so it holds every open bracket

    @classmethod
    def at(cls, prefix: str, suffix: str, language_id: str = "plaintext") -> Cursor:
        top_level = _top_level_line(language_id)
        start = max(_window_start(prefix, LINES_BEFORE, top_level), len(prefix) - MAX_WINDOW_CHARS)
        end = min(_window_end(suffix, LINES_AFTER, top_level), MAX_WINDOW_CHARS)
        return cls(prefix[start:], suffix[:end], language_id, start == 0)

    @property
    def line_before(self) -> str:
        return self.before[self.before.rfind("\n") + 1 :]

    @property
    def line_after(self) -> str:
        return self.after.split("\n", 1)[0]

    @functools.cached_property
    def tree(self) -> tree_sitter.Tree | None:
        """The window without a completion; None without a grammar or when the parse fails."""
        return syntax_check.parse(self.language_id, self.before + self.after)

    @functools.cached_property
    def open_items(self) -> tuple[str, ...]:
        """Brackets open at the cursor, innermost last, with the string or comment the cursor is in on top."""
        stack: list[str] = []
        for _ in _walk(self.before, _lexicon(self.language_id), stack):
            pass
        return tuple(stack)


# Lines that start a statement in well-formatted code. A window cut there does not start or end inside a string,
# where a parse goes wrong, and slow. Python's are stricter, as its docstrings hold text at column 0, and may be
# indented: the cursor may sit deep in a long class.
_TOP_LEVEL_LINE = re.compile(r"^[A-Za-z_#@]", re.MULTILINE)
_PYTHON_TOP_LEVEL_LINE = re.compile(
    r"^[ \t]*(?:(?:async )?def |class |@\w)|^(?:import \w|from \S+ import )", re.MULTILINE
)


def _top_level_line(language_id: str) -> re.Pattern[str]:
    return _PYTHON_TOP_LEVEL_LINE if language_id == "python" else _TOP_LEVEL_LINE


def _window_start(prefix: str, lines: int, top_level: re.Pattern[str]) -> int:
    """Where the window begins: the first top-level line among the last ``lines`` lines of ``prefix``."""
    start = len(prefix)
    for _ in range(lines + 1):
        start = prefix.rfind("\n", 0, start)
        if start < 0:
            return 0
    match = top_level.search(prefix, start + 1)
    return start + 1 if match is None else match.start()


def _window_end(suffix: str, lines: int, top_level: re.Pattern[str]) -> int:
    """Where the window ends: before the last top-level line among the first ``lines`` lines of ``suffix`` (not
    one that follows a decorator), but never inside the cursor's line."""
    end = -1
    for _ in range(lines + 1):
        end = suffix.find("\n", end + 1)
        if end < 0:
            return len(suffix)
    matches = top_level.finditer(suffix, suffix.find("\n") + 1, end)
    starts = [match.start() for match in matches if not _follows_decorator(suffix, match.start())]
    return starts[-1] if starts else end


def _follows_decorator(text: str, line_start: int) -> bool:
    """Whether the line before the one at ``line_start`` is a decorator: a window must not end between them."""
    return text[text.rfind("\n", 0, line_start - 1) + 1 : line_start].lstrip().startswith("@")


def _indent(line: str) -> int:
    expanded = line.expandtabs(4)
    return len(expanded) - len(expanded.lstrip(" "))


def _last_text_line(text: str) -> str | None:
    """The last line of ``text`` that is not blank, without its trailing blanks."""
    stripped = text.rstrip()
    return stripped[stripped.rfind("\n") + 1 :] if stripped else None


def _first_text_line(lines: Sequence[str]) -> str:
    return next((line for line in lines if line.strip()), "")


def _ends_block_header(line: str, language_id: str) -> bool:
    """By text alone: Python blocks open with ``:``, C-like ones with ``{``; an unknown language with either."""
    if language_id == "python":
        openers = ":"
    elif language_id in _BRACE_LANGUAGES:
        openers = "{"
    else:
        openers = "{:"
    return line.rstrip()[-1:] in tuple(openers)


# --- rule: one line or a block --------------------------------------------------------------


def wants_block(prefix: str, suffix: str, language_id: str) -> bool:
    """Whether to ask the model for several lines: the cursor sits right after a block header (``def f():``,
    ``if (x) {``), or in a block that is still empty (``{`` cursor ``}``, a header then only blank lines). Text after
    the cursor on its line, or a cursor in the middle of a statement, asks for one line."""
    return _wants_block(Cursor.at(prefix, suffix, language_id))


def _wants_block(cursor: Cursor) -> bool:
    rest = cursor.line_after.strip()
    in_braces = rest.startswith("}") and cursor.language_id != "python"
    if rest and not in_braces:
        return False
    header = _last_text_line(cursor.before)
    if header is None or not _ends_block_header(header, cursor.language_id):
        return False
    if in_braces and not header.endswith("{"):
        return False
    if not cursor.line_before.strip() and not in_braces and not _block_is_empty(header, cursor.after):
        return False
    return _header_opens_block(cursor, header)


def _block_is_empty(header: str, after: str) -> bool:
    """After a header and a blank cursor line: nothing follows, or a closer, or a line no deeper than the header."""
    following = _first_text_line(after.split("\n")[1:])
    return not following or following.lstrip()[0] in _CLOSERS or _indent(following) <= _indent(header)


def _header_opens_block(cursor: Cursor, header: str) -> bool:
    """Ask tree-sitter whether the header character is code that opens a block (not in a string or comment, not a
    slice or lambda ``:``); without an answer, trust the text (a Python line must start with a block keyword)."""
    if cursor.tree is not None:
        offset = len(cursor.before.rstrip().encode()) - 1
        verdict = syntax_check.opens_block(cursor.tree, offset, cursor.language_id)
        if verdict is not None:
            return verdict
    return cursor.language_id != "python" or _PYTHON_HEADER.match(header) is not None


def _one_line_unless_block(completion: str, cursor: Cursor) -> str:
    """With text after the cursor on its line, a suggestion of several lines would push that text to its end:
    keep the first line, unless the cursor sits in an empty block (``{`` cursor ``}``)."""
    if cursor.line_after.strip() and "\n" in completion.rstrip() and not _wants_block(cursor):
        return completion.split("\n", 1)[0]
    return completion


# --- rule: stay in the block ----------------------------------------------------------------


def cut_at_dedent(completion: str, cursor: Cursor) -> str:
    """Cut a completion of several lines where the indentation drops below the block the cursor is in: the
    suggestion wandered out of it. A dedented line that starts with a closer ends that block: it stays, and the
    cut comes after it."""
    lines = completion.split("\n")
    if len(lines) < 2:
        return completion
    floor = _block_indent(lines, cursor)
    for number, line in enumerate(lines[1:], start=1):
        if not line.strip() or _ignores_indentation(line, cursor.language_id):
            continue
        if _indent(line) < floor:
            keep = number + 1 if line.lstrip()[0] in _CLOSERS else number
            return "\n".join(lines[:keep])
    return completion


def _block_indent(lines: Sequence[str], cursor: Cursor) -> int:
    """The least indentation a line of the completion may have and stay in the cursor's block."""
    line_before = cursor.line_before
    if line_before.strip():
        if not lines[0].strip() and _ends_block_header(line_before, cursor.language_id):
            # The cursor ends a header: the completion is its body, deeper than the header.
            return max(_indent(_first_text_line(lines[1:])), _indent(line_before) + 1)
        return _indent(line_before)  # the completion continues this line's statement
    # On a blank line, the completion's first line sets the block's indentation.
    return _indent(line_before + lines[0] if lines[0].strip() else _first_text_line(lines[1:]))


def _ignores_indentation(line: str, language_id: str) -> bool:
    return language_id in ("c", "cpp") and line.lstrip().startswith("#")  # preprocessor lines sit at column 0


# --- rule: balanced brackets and quotes -----------------------------------------------------


@dataclass(frozen=True)
class _Lexicon:
    """What opens a comment or string in a language, so that brackets inside them are not counted."""

    line_comment: str = ""
    block_comment: bool = False
    quotes: tuple[str, ...] = ('"',)  # longest first
    multiline_quotes: frozenset[str] = frozenset()


_C_LIKE = _Lexicon("//", True, ('"', "'"))
_LEXICONS = {
    "python": _Lexicon("#", False, ('"""', "'''", '"', "'"), frozenset({'"""', "'''"})),
    "javascript": _Lexicon("//", True, ('"', "'", "`"), frozenset({"`"})),
    "go": _Lexicon("//", True, ('"', "'", "`"), frozenset({"`"})),
    "rust": _Lexicon("//", True, ('"',), frozenset({'"'})),  # a lone ' is a lifetime
    "java": _Lexicon("//", True, ('"""', '"', "'"), frozenset({'"""'})),
}
_LEXICONS.update(dict.fromkeys(["javascriptreact", "typescript", "typescriptreact"], _LEXICONS["javascript"]))
_LEXICONS.update(dict.fromkeys(["c", "cpp"], _C_LIKE))
_PLAIN = _Lexicon()  # unknown languages: brackets and double quotes (a ' is as often an apostrophe)


def _lexicon(language_id: str) -> _Lexicon:
    return _LEXICONS.get(language_id, _PLAIN)


@functools.cache
def _patterns(lexicon: _Lexicon) -> dict[str, re.Pattern[str]]:
    """For each state of the scan (top of the stack; "" when nothing is open) the tokens that matter in it."""
    comments = [lexicon.line_comment] if lexicon.line_comment else []
    comments += ["/*"] if lexicon.block_comment else []
    code = re.compile("|".join([*map(re.escape, [*comments, *lexicon.quotes]), r"[()\[\]{}]"]))
    patterns = dict.fromkeys(["", *_CLOSING], code)
    patterns.update({"/*": re.compile(r"\*/"), "#": re.compile("\n"), "//": re.compile("\n")})
    for quote in lexicon.quotes:
        # A string ends at its delimiter (escapes skipped), a one-line string also at the end of the line.
        line_end = "" if quote in lexicon.multiline_quotes else "|\n"
        patterns[quote] = re.compile(r"\\.|" + re.escape(quote) + line_end, re.DOTALL)
    return patterns


def _closing(item: str) -> str:
    if item in _CLOSING:
        return _CLOSING[item]
    return {"/*": "*/", "#": "\n", "//": "\n"}.get(item, item)  # a quote closes itself


class _Close(NamedTuple):
    offset: int  # where the closer starts
    depth: int  # items open when it comes: the one it closes is on top
    matched: bool  # False: nothing is open, or the top is another kind of bracket


def _walk(text: str, lexicon: _Lexicon, stack: list[str]) -> Iterator[_Close]:
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
        in_code = top == "" or top in _CLOSING
        if in_code and token in _CLOSERS:
            matched = top != "" and _CLOSING[top] == token
            yield _Close(match.start(), len(stack), matched)
            if matched:
                stack.pop()
        elif in_code:
            stack.append(token)  # an opening bracket, quote or comment
        elif token.startswith("\\"):
            continue  # an escaped character in a string
        elif token == "\n" or top == "/*":
            stack.pop()  # the line ends a comment, or a string left open; a block comment ends
        else:
            yield _Close(match.start(), len(stack), True)
            stack.pop()


def _suffix_closes(stack: Sequence[str], line_after: str) -> tuple[int, tuple[str, ...]]:
    """How many characters at the start of ``line_after`` close items of ``stack``, and the items left open then."""
    position, depth = 0, len(stack)
    while depth:
        item = stack[depth - 1]
        start = position
        while item in _CLOSING and line_after[start : start + 1] in (" ", "\t"):
            start += 1
        if not line_after.startswith(_closing(item), start):
            break
        position, depth = start + len(_closing(item)), depth - 1
    return position, tuple(stack[:depth])


def balance_brackets(completion: str, cursor: Cursor) -> str:
    """Keep brackets and quotes balanced with the rest of the cursor line.

    A closer with nothing open to close, or closing another kind of bracket, is cut with all that follows it.
    When the rest of the line already closes brackets or a string, the completion is cut before it closes them
    again (``foo(`` cursor ``)`` with ``a, b)`` gives ``a, b``); closing something the suffix leaves open stays.
    """
    stack = list(cursor.open_items)
    context = len(stack)  # items opened before the cursor that are still open
    cuts: list[tuple[int, tuple[str, ...]]] = []  # (offset, stack there) where it closes an item opened before
    end = len(completion)
    for close in _walk(completion, _lexicon(cursor.language_id), stack):
        if not close.matched:
            if close.depth == 0 and not cursor.whole_prefix:
                continue  # its opener may lie above the window
            end = close.offset
            break
        if close.depth <= context:
            cuts.append((close.offset, tuple(stack)))
            context = close.depth - 1
    wanted = _suffix_closes(cursor.open_items, cursor.line_after)
    if wanted[0] == 0:
        return completion[:end]
    # The longest text after which the rest of the line closes the same items as it did without the completion.
    for offset, state in [(end, tuple(stack)), *reversed(cuts)]:
        if _suffix_closes(state, cursor.line_after) == wanted:
            return completion[:offset]
    return completion[:end]


def _closers_left_open(completion: str, cursor: Cursor) -> str:
    """The closers for what ``completion`` opens and leaves open, innermost first."""
    stack = list(cursor.open_items)
    kept = len(stack)
    for close in _walk(completion, _lexicon(cursor.language_id), stack):
        if close.matched:
            kept = min(kept, close.depth - 1)
    return "".join(_closing(item) for item in reversed(stack[kept:]))


# --- rule: no new syntax errors -------------------------------------------------------------


def trim_syntax_errors(completion: str, cursor: Cursor) -> str:
    """Drop the last lines of a completion of several lines, one at a time, while the window around the cursor
    parses with more tree-sitter errors than without it; drop it all when even its first line adds errors.

    Brackets it opens and leaves open are closed for the check only: a block cut by the line limit is unfinished,
    not wrong. Kept as it is without a grammar, or when a parse fails or the checks run out of time.
    """
    if "\n" not in completion or cursor.tree is None:
        return completion
    deadline = time.perf_counter() + SYNTAX_BUDGET_S
    baseline = syntax_check.error_count(cursor.tree)
    lines = completion.split("\n")
    while lines:
        candidate = "\n".join(lines)
        inserted = candidate + _closers_left_open(candidate, cursor)
        errors = syntax_check.errors_with_insertion(
            cursor.language_id, cursor.tree, cursor.before, inserted, cursor.after, deadline
        )
        if errors is None:
            return completion
        if errors <= baseline:
            return candidate
        lines.pop()
        while lines and not lines[-1].strip():
            lines.pop()
    return ""


def _closer_on_own_line(completion: str, cursor: Cursor) -> str:
    """A block written between ``{`` and ``}`` ends with a line break, so that ``}`` lands on its own line,
    indented like the line it closes."""
    rest = cursor.line_after.lstrip()
    if "\n" not in completion or rest[:1] not in tuple(_CLOSERS):
        return completion
    line_before = cursor.line_before
    return completion + "\n" + line_before[: len(line_before) - len(line_before.lstrip())]


def clean(completion: str, prefix: str, suffix: str, language_id: str = "plaintext") -> str:
    """The text to show for ``completion`` between ``prefix`` and ``suffix``; empty when nothing is worth showing.
    No loops, no repeated suffix, no trailing blanks (but a line break before a ``}`` that follows the cursor)."""
    cursor = Cursor.at(prefix, suffix, language_id)
    text = _one_line_unless_block(cut_repetition(completion), cursor)
    text = drop_suffix_overlap(cut_at_dedent(text, cursor), suffix).rstrip()
    text = balance_brackets(text, cursor).rstrip()
    text = trim_syntax_errors(text, cursor)
    return _closer_on_own_line(text, cursor) if text.strip() else ""


__all__ = [
    "Cursor",
    "balance_brackets",
    "clean",
    "cut_at_dedent",
    "cut_repetition",
    "drop_suffix_overlap",
    "trim_syntax_errors",
    "wants_block",
]
