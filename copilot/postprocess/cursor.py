"""Where a completion goes: a bounded window of the document around the cursor (``Cursor``), so that the cost of
post-processing does not grow with the file, and the line and indentation helpers the rules share."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import tree_sitter

from .. import languages
from ..syntax import parsing
from .lexer import walk

LINES_BEFORE = 80
LINES_AFTER = 40
MAX_WINDOW_CHARS = 20_000  # of a cursor's window, each side: a minified file is one line of megabytes


@dataclass(frozen=True)
class Cursor:
    """Where a completion goes: a bounded window of the document around the cursor, and its language."""

    before: str  # the cursor line up to the cursor, after at most LINES_BEFORE lines
    after: str  # the rest of the cursor line, then at most LINES_AFTER lines
    language_id: str
    whole_prefix: bool  # ``before`` starts at the top of the document, so it holds every open bracket

    @classmethod
    def at(cls, prefix: str, suffix: str, language_id: str = "plaintext") -> Cursor:
        # Cut at lines that start a statement: a window cut there does not start or end inside a string.
        top_level = languages.language(language_id).top_level_line
        start = max(_window_start(prefix, LINES_BEFORE, top_level), len(prefix) - MAX_WINDOW_CHARS)
        end = min(_window_end(suffix, LINES_AFTER, top_level), MAX_WINDOW_CHARS)
        return cls(prefix[start:], suffix[:end], language_id, start == 0)

    @property
    def language(self) -> languages.Language:
        return languages.language(self.language_id)

    @property
    def line_before(self) -> str:
        return self.before[self.before.rfind("\n") + 1 :]

    @property
    def line_after(self) -> str:
        return self.after.split("\n", 1)[0]

    @functools.cached_property
    def tree(self) -> tree_sitter.Tree | None:
        """The window without a completion; None without a grammar or when the parse fails."""
        return parsing.parse(self.language_id, self.before + self.after)

    @functools.cached_property
    def open_items(self) -> tuple[str, ...]:
        """Brackets open at the cursor, innermost last, with the string or comment the cursor is in on top."""
        stack: list[str] = []
        for _ in walk(self.before, self.language.lexicon, stack):
            pass
        return tuple(stack)


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


def indentation(line: str) -> int:
    expanded = line.expandtabs(4)
    return len(expanded) - len(expanded.lstrip(" "))


def last_text_line(text: str) -> str | None:
    """The last line of ``text`` that is not blank, without its trailing blanks."""
    stripped = text.rstrip()
    return stripped[stripped.rfind("\n") + 1 :] if stripped else None


def first_text_line(lines: Sequence[str]) -> str:
    return next((line for line in lines if line.strip()), "")


def ends_block_header(line: str, language_id: str) -> bool:
    """By text alone: Python blocks open with ``:``, C-like ones with ``{``; an unknown language with either."""
    return line.rstrip()[-1:] in tuple(languages.language(language_id).block_openers)
