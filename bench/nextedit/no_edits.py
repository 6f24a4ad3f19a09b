"""Edits that should get no suggestion: retyping a function body, one-off edits, a use switched to
another variable."""

from __future__ import annotations

import ast
import io
import random
import tokenize

from copilot.nextedit.rename import Replacement

from .cases import _FUNCTION, Offsets, RenameCase
from .common import _SWAPS, LINE_PAUSE_SHARE, MAX_EXAMPLES, Editor, Examples, Tally

# -- no-edit cases ---------------------------------------------------------------------------------


def typing_cases(files: dict[str, str], rng: random.Random, count: int) -> list[tuple[str, int, int]]:
    """(path, body start, body end): function bodies of 3 to 30 lines; the start is the newline
    before the body's first line."""
    found = []
    for path, text in files.items():
        offsets = Offsets(text)
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, _FUNCTION) and node.end_lineno and node.body[0].lineno > node.lineno:
                first, last = node.body[0].lineno, node.end_lineno
                if 3 <= last - first + 1 <= 30:
                    found.append((path, offsets.line_start(first) - 1, offsets.line_end(last)))
    rng.shuffle(found)
    return found[:count]


def run_typing(
    cases: list[tuple[str, int, int]], files: dict[str, str], rng: random.Random, stride: int, examples: Examples
) -> Tally:
    tally = Tally()
    for path, start, end in cases:
        text = files[path]
        body = text[start:end]
        editor = Editor(f"file:///heldout/{path}", text)
        tally.cases += 1
        editor.change(start, end, "")  # the body selected and deleted
        editor.pause()
        at, keys, answered = start, 0, False
        for line in body.split("\n")[1:]:
            content = line.lstrip()
            indent = line[: len(line) - len(content)]
            if rng.random() < LINE_PAUSE_SHARE:
                editor.pause()
            typed = ["\n" + indent, *content]
            for piece in typed:
                editor.change(at, at, piece)
                at += len(piece)
                keys += 1
                if keys % stride == 0:
                    answered = bool(_no_edit_ask(tally, editor, examples, "typing", path)) or answered
        tally.bump("cases_answered", answered)
        assert editor.document.text == text, "retyping did not give the file back"
    return tally


def _no_edit_ask(tally: Tally, editor: Editor, examples: Examples, kind: str, path: str) -> list[Replacement]:
    found, ms = editor.ask()
    tally.asks += 1
    tally.latency_ms.append(ms)
    tally.suggestions += len(found)
    tally.bump("no-op suggestions", sum(editor.document.text[r.start : r.end] == r.new for r in found))
    if found:
        tally.answered += 1
        tally.bump(f"answered_by_{found[0].kind}")
        bucket = examples.setdefault(f"false_positives_{kind}", [])
        event = editor.edits.history.newest()
        text = editor.document.text
        where = f"{path}:{editor.line_of(found[0].start) + 1}"
        if len(bucket) < MAX_EXAMPLES and event is not None and all(e["where"] != where for e in bucket):
            line = editor.line_of(event.start)
            bucket.append(
                {
                    "where": where,
                    "kind": found[0].kind,
                    "edit_line": f"{path}:{line + 1}: {text.split(chr(10))[line].strip()}",
                    "edit": f"{event.old!r} -> {event.new!r}",
                    "got": f"{text[found[0].start : found[0].end]!r} -> {found[0].new!r}",
                    "got_line_text": text.split("\n")[editor.line_of(found[0].start)].strip(),
                    "suggestions": len(found),
                }
            )
    return found


def one_off_sites(files: dict[str, str], rng: random.Random, count: int) -> list[tuple[str, int, str, str]]:
    """(path, offset, old, new): a number or an operator changed at one place."""
    sites = []
    for path, text in files.items():
        offsets = Offsets(text)
        try:
            tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
        except (tokenize.TokenError, SyntaxError):
            continue
        for token in tokens:
            (line, column) = token.start
            at = offsets.starts[line - 1] + column  # tokenize columns count characters
            if token.type == tokenize.NUMBER and token.string.isdigit():
                sites.append((path, at, token.string, str(int(token.string) + 1)))
            elif token.type == tokenize.OP and token.string in _SWAPS:
                sites.append((path, at, token.string, _SWAPS[token.string]))
    rng.shuffle(sites)
    return sites[:count]


def run_one_off(sites: list[tuple[str, int, str, str]], files: dict[str, str], examples: Examples) -> Tally:
    """Every key asked; ``cases_answered``: cases with a suggestion at some key, ``done_*``: the
    request after the last key (the edit complete)."""
    tally = Tally()
    for path, at, old, new in sites:
        editor = Editor(f"file:///heldout/{path}", files[path])
        tally.cases += 1
        answered = False
        found: list[Replacement] = []
        for _ in editor.retype(at, old, new):
            found = _no_edit_ask(tally, editor, examples, "one_off", path)
            answered = answered or bool(found)
        tally.bump("cases_answered", answered)
        tally.bump("done_answered", bool(found))
    return tally


def switch_cases(cases: list[RenameCase], rng: random.Random, count: int) -> list[tuple[RenameCase, int, str]]:
    """(case, use offset, other variable): a use of ``case.old`` (not on the binding's line)
    retyped as another parameter or local of the same function (a name in use there)."""
    scopes: dict[tuple[str, str, frozenset[str]], list[str]] = {}
    for case in cases:
        scopes.setdefault((case.path, case.function, case.variables), []).append(case.old)
    found = []
    for case in cases:
        others = [name for name in scopes[(case.path, case.function, case.variables)] if name != case.old]
        if others:
            found.append((case, rng.choice(case.expected), rng.choice(others)))
    rng.shuffle(found)
    return found[:count]


def run_switches(cases: list[tuple[RenameCase, int, str]], files: dict[str, str], examples: Examples) -> Tally:
    tally = Tally()
    for case, use, other in cases:
        editor = Editor(f"file:///heldout/{case.path}", files[case.path])
        tally.cases += 1
        for partial in editor.retype(use, case.old, other):
            if partial == other:
                _no_edit_ask(tally, editor, examples, "switch", case.path)
            elif partial.isidentifier() and partial.startswith(other[:1]):
                found, _ = editor.ask()
                tally.bump("mid_typing_asks")
                tally.bump("mid_typing_answered", bool(found))
    return tally
