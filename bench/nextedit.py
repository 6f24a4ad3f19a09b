"""nextedit: next-edit suggestions without a model (``copilot/nextedit``): renames, repeated
changes from real release diffs, and edits that should get no suggestion; exact edit match,
location accuracy, false positives and latency per kind.

Every edit goes through ``Document.apply`` and ``NextEdits.changed`` one key at a time, as an
editor sends it, on a simulated clock (``KEY_S`` a key, ``THINK_S`` for a pause, which is longer
than the history's ``PAUSE_S`` and so ends an edit); ``NextEdits.suggest`` is timed with
``perf_counter``. A fresh ``NextEdits`` per case: nothing rejected or accepted carries over.

- ``rename``: held-out standard-library files (the default model's held-out split,
  ``copilot.models.recipe.data.is_held_out``). A case is a function's parameter or local that is
  used >= 3 times there, bound nowhere else in it (no nested function, comprehension, ``global``,
  ``except ... as``, import or keyword argument default that rebinds or reads it from outside).
  Its binding (the parameter, else the first assignment) is renamed as a user does: the old name
  deleted key by key, then a fresh word (not in the file) typed key by key, with a request after
  every key. A step is eligible when the name now at the binding is an identifier, not a keyword,
  not the old name, and no variable of the function is called that (``eligible``). Expected: the
  other occurrences (``ast`` names, not keyword-argument names, attributes, strings) on other lines
  than the binding's (the server never suggests on the line being typed). Exact edit match: the
  first suggestion replaces exactly the nearest expected occurrence (nearest to the binding, the
  order the server promises) by the name typed so far. Location: the first suggestion's range is
  one of the expected occurrences. Recall: at the last step, the expected occurrences suggested
  with the right text, over min(expected, ``MAX_SUGGESTIONS``). Wrong: suggestions at eligible
  steps that are not an expected edit.
- ``repeat``: two consecutive releases of several packages (sdists, ``pip download``, cached under
  ``~/.cache/copilot-lsp/bench-nextedit``; a later run needs no network). Python files are diffed
  line by line (``difflib``; lines of unequal replaced blocks paired by similarity). A group is one
  file's changed lines that made the same change, two definitions: ``token``: the same token-level
  change (common tokens stripped from both ends, operands present on both sides abstracted), which
  does not depend on the code under test; ``learner``: the issue's definition, the lines where
  ``repeated.learn`` on the group's first change and ``apply_elsewhere`` reproduce the new release's
  line. The group's first change is typed into the old file, then one request. Exact: the first
  suggestion turns its line into the new release's line (a real change, in the group or not).
  Location: the first suggestion is on a line the new release changed. Recall: the group's other
  places suggested exactly, over min(others, ``MAX_SUGGESTIONS``). Wrong: suggestions whose result
  the new release does not contain.
- no-edit (a suggestion there is a false positive): ``typing``: a held-out function's body deleted,
  a pause, then retyped key by key (Enter with the indentation, then each character; a pause
  before 30 % of the lines), a request after every key; ``one-off``: one number or operator changed
  at one place (``<`` to ``<=``, ``3`` to ``4``...), a request after every key; ``switch`` (not in
  the target's figure): one use of a variable retyped as another variable of the same function,
  asked once the other name is complete (a rename into a name in use must not be suggested).
- ``2,000-line``: a held-out file cut to <= 2,000 lines; renames of its most-used locals and of its
  most-used module-level names typed key by key, ``suggest`` timed at each key; and one-off edits.

The model row: no next-edit model can be fetched on this machine (``--model`` is not built yet).
"""

from __future__ import annotations

import argparse
import ast
import difflib
import io
import keyword
import os
import random
import re
import subprocess
import sys
import tarfile
import time
import tokenize
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from copilot.documents import Change, Document
from copilot.errors import CopilotError
from copilot.inference.vocabulary import Vocabulary
from copilot.models.recipe.data import MAX_FILE_BYTES, is_held_out, stdlib_root
from copilot.nextedit import suggest as suggest_module
from copilot.nextedit.history import PAUSE_S, EditEvent
from copilot.nextedit.rename import Replacement
from copilot.nextedit.repeated import apply_elsewhere, learn
from copilot.nextedit.repeated import tokenize as tokens_of
from copilot.nextedit.suggest import MAX_SUGGESTIONS, NextEdits

from . import rewrites
from .report import percentiles, write

CACHE = Path.home() / ".cache" / "copilot-lsp" / "bench-nextedit"
# (package, old release, the next release): pure-Python packages, releases with real changes.
PACKAGES = (
    ("six", "1.15.0", "1.16.0"),
    ("idna", "2.10", "3.0"),
    ("requests", "2.27.1", "2.28.0"),
    ("markupsafe", "1.1.1", "2.0.0"),
    ("jinja2", "2.11.3", "3.0.0"),
    ("click", "7.1.2", "8.0.0"),
    ("attrs", "21.4.0", "22.1.0"),
    ("packaging", "21.3", "22.0"),
)
WORDS = (
    "amount", "payload", "target", "quantity", "marker", "record", "widget", "counter", "holder", "bucket",
    "cursor", "summary", "fragment", "snapshot", "outcome", "ledger", "parcel", "vessel", "beacon", "harvest",
)  # fmt: skip
Examples = dict[str, list[dict[str, Any]]]  # kind -> examples of misses and wrong suggestions
KEY_S = 0.15  # simulated seconds a key
THINK_S = PAUSE_S + 0.5  # a pause that ends an edit
LINE_PAUSE_SHARE = 0.3
MAX_DIFF_LINES = 5000
MAX_GROUPS_PER_FILE = 10
MAX_GROUPS_PER_PACKAGE = 60
MAX_LEARNER_TRIES_PER_FILE = 300
MAX_EXAMPLES = 40
BIG_FILE = "test/support/__init__.py"  # held out; cut to BIG_LINES
BIG_LINES = 2000
MODEL_ROW = (
    "not measurable here: no next-edit model can be fetched on this machine; run "
    "`copilot-lsp models pull sweep-next-edit-0.5b` then `python -m bench nextedit --model ...`"
)
_SWAPS = {"<": "<=", ">": ">=", "<=": "<", ">=": ">", "==": "!=", "!=": "==", "+": "-", "-": "+", "*": "/"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--renames-per-file", type=int, default=6)
    parser.add_argument("--typing-functions", type=int, default=30, help="function bodies retyped key by key")
    parser.add_argument("--one-off", type=int, default=150, help="single number/operator edits")
    parser.add_argument("--switches", type=int, default=80, help="uses retyped as another variable")
    parser.add_argument("--offline", action="store_true", help="never download: use the cached releases only")
    parser.add_argument(
        "--model", default="", help="a next-edit GGUF of the Sweep format: its rewrites after the renames, measured"
    )


# -- editing, key by key, on a simulated clock -------------------------------------------------


class Editor:
    """One document edited as an editor sends edits, with ``NextEdits`` on a simulated clock."""

    def __init__(self, uri: str, text: str) -> None:
        self.now = 1000.0
        self.document = Document(uri, "python", 1, text)
        self.edits = NextEdits()
        self.apply_ms: list[float] = []

    @contextmanager
    def _clock(self) -> Iterator[None]:
        real = getattr(suggest_module, "time")  # noqa: B009 (the module's ``time``: patched, put back)
        setattr(suggest_module, "time", SimpleNamespace(monotonic=lambda: self.now))  # noqa: B010
        try:
            yield
        finally:
            setattr(suggest_module, "time", real)  # noqa: B010

    def change(self, start: int, end: int, text: str, seconds: float = KEY_S) -> None:
        self.now += seconds
        document = self.document
        begin, finish = document.position_at(start, "utf-16"), document.position_at(end, "utf-16")
        started = time.perf_counter()
        applied = document.apply([Change(text=text, start=begin, end=finish)], document.version + 1, "utf-16")
        self.apply_ms.append((time.perf_counter() - started) * 1000)
        with self._clock():
            self.edits.changed(document.uri, applied, document.version)

    def pause(self, seconds: float = THINK_S) -> None:
        self.now += seconds

    def ask(self) -> tuple[list[Replacement], float]:
        with self._clock():
            started = time.perf_counter()
            _, found = self.edits.suggest(self.document, [])
            elapsed = (time.perf_counter() - started) * 1000
        return found, elapsed

    def retype(self, at: int, old: str, new: str) -> Iterator[str]:
        """Delete ``old`` at ``at`` key by key (backspace), then type ``new``; yields the text
        written at ``at`` after each key."""
        assert self.document.text[at : at + len(old)] == old
        for i in range(len(old), 0, -1):
            self.change(at + i - 1, at + i, "")
            yield old[: i - 1]
        for i, char in enumerate(new):
            self.change(at + i, at + i, char)
            yield new[: i + 1]

    def line_of(self, offset: int) -> int:
        return self.document.text.count("\n", 0, offset)


# -- held-out code -------------------------------------------------------------------------------


def held_out_files() -> dict[str, str]:
    """The held-out standard-library sources (relative path -> text) that parse."""
    root = stdlib_root()
    files = {}
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if "site-packages" in relative or not is_held_out(relative) or path.stat().st_size > MAX_FILE_BYTES:
            continue
        try:
            text = path.read_text(encoding="utf-8")
            ast.parse(text)
        except (UnicodeDecodeError, OSError, SyntaxError, ValueError):
            continue
        files[relative] = text.replace("\r\n", "\n")
    return files


class Offsets:
    """``ast`` positions (line from 1, UTF-8 byte column) as string offsets."""

    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line) + 1)

    def at(self, line: int, column: int) -> int:
        text = self.lines[line - 1]
        if text.isascii():
            return self.starts[line - 1] + column
        return self.starts[line - 1] + len(text.encode()[:column].decode("utf-8", "replace"))

    def line_start(self, line: int) -> int:
        return self.starts[line - 1]

    def line_end(self, line: int) -> int:
        return self.starts[line] - 1


@dataclass(frozen=True)
class RenameCase:
    path: str
    function: str
    old: str
    binding: int  # string offset of the renamed occurrence
    expected: tuple[int, ...]  # other occurrences on other lines (offsets in the original text)
    same_line: tuple[int, ...]  # other occurrences on the binding's line (never suggested)
    keyword_args: tuple[int, ...]  # ``f(old=...)``: a parameter of the callee, not this variable
    variables: frozenset[str]  # the function's variable names: a rename into one collides
    other_words: frozenset[str]  # attribute and keyword-argument names in the function
    span: tuple[int, int] = (0, 0)  # the function's text (its ``def`` line to its last line)
    new: str = ""


_NESTED = (
    ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef,
    ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp,
)  # fmt: skip
_FUNCTION = (ast.FunctionDef, ast.AsyncFunctionDef)


def _own_scope(nodes: list[ast.AST]) -> Iterator[ast.AST]:
    """The nodes of ``nodes``' scope (nested scopes' nodes themselves, not their insides)."""
    stack = list(reversed(nodes))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, _NESTED):
            stack.extend(reversed(list(ast.iter_child_nodes(node))))


def _arguments(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.arg]:
    a = function.args
    return [*a.posonlyargs, *a.args, *([a.vararg] if a.vararg else []), *a.kwonlyargs, *([a.kwarg] if a.kwarg else [])]


def _bound_names(node: ast.AST) -> set[str]:
    """Names a node binds other than by a plain ``Name`` store or a parameter."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Global, ast.Nonlocal)):
        return set(node.names)
    if isinstance(node, ast.ExceptHandler) and node.name:
        return {node.name}
    if isinstance(node, ast.alias):
        return {(node.asname or node.name).split(".")[0]}
    if isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
        return {node.name}
    if isinstance(node, ast.MatchMapping) and node.rest:
        return {node.rest}
    return set()


def name_tokens(text: str) -> list[tuple[int, int, str, bool]]:
    """(line, column, name, after a dot) of each NAME token."""
    found = []
    previous = ""
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.NAME:
                found.append((token.start[0], token.start[1], token.string, previous == "."))
            if token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT):
                previous = token.string
    except (tokenize.TokenError, SyntaxError):
        return []
    return found


def rename_cases(path: str, text: str) -> list[RenameCase]:
    """The renameable parameters and locals of the file's functions (module docstring: rules)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    offsets = Offsets(text)
    tokens = name_tokens(text)
    cases = []
    for function in ast.walk(tree):
        if not isinstance(function, _FUNCTION) or function.end_lineno is None:
            continue
        body: list[ast.AST] = list(function.body)
        everything = [node for statement in body for node in ast.walk(statement)]
        arguments = {argument.arg: argument for argument in _arguments(function)}
        own_stores: dict[str, list[ast.Name]] = {}
        for node in _own_scope(body):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                own_stores.setdefault(node.id, []).append(node)
        nested_binds: set[str] = set()
        other_binds: set[str] = set()
        for node in _own_scope(body):
            if isinstance(node, _NESTED):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.arg):
                        nested_binds.add(inner.arg)
                    elif isinstance(inner, ast.Name) and isinstance(inner.ctx, ast.Store):
                        nested_binds.add(inner.id)
        for node in everything:
            other_binds |= _bound_names(node)
        outside = [*function.decorator_list, *function.args.defaults, *function.args.kw_defaults]
        outside += [argument.annotation for argument in _arguments(function)] + [function.returns]
        outside_names = {
            n.id for part in outside if part is not None for n in ast.walk(part) if isinstance(n, ast.Name)
        }
        variables = {n.id for n in everything if isinstance(n, ast.Name)} | set(arguments) | other_binds
        variables |= {n.arg for n in everything if isinstance(n, ast.arg)}
        other_words = {n.attr for n in everything if isinstance(n, ast.Attribute)}
        other_words |= {n.arg for n in everything if isinstance(n, ast.keyword) and n.arg}
        for name in sorted(set(arguments) | set(own_stores)):
            if (
                name in ("self", "cls", function.name)
                or name in nested_binds
                or name in other_binds
                or name in outside_names
            ):
                continue
            uses = [n for n in everything if isinstance(n, ast.Name) and n.id == name]
            keywords = [n for n in everything if isinstance(n, ast.keyword) and n.arg == name]
            binding_node: ast.arg | ast.Name = (
                arguments[name] if name in arguments else min(own_stores[name], key=lambda n: (n.lineno, n.col_offset))
            )
            nodes: list[ast.arg | ast.Name] = [binding_node] + [n for n in uses if n is not binding_node]
            places = [offsets.at(n.lineno, n.col_offset) for n in nodes]
            keyword_places = [offsets.at(n.lineno, n.col_offset) for n in keywords]
            if any(text[at : at + len(name)] != name for at in places + keyword_places):
                continue
            spelled = sum(
                1
                for line, _, token, after_dot in tokens
                if token == name and not after_dot and function.lineno <= line <= function.end_lineno
            )
            if spelled > len(places) + len(keyword_places) or len(places) < 3:
                continue
            binding = places[0]
            binding_line = text.count("\n", 0, binding)
            others = sorted(set(places[1:]))
            expected = tuple(at for at in others if text.count("\n", 0, at) != binding_line)
            same_line = tuple(at for at in others if text.count("\n", 0, at) == binding_line)
            if len(expected) < 2:
                continue
            cases.append(
                RenameCase(
                    path,
                    function.name,
                    name,
                    binding,
                    expected,
                    same_line,
                    tuple(sorted(keyword_places)),
                    frozenset(variables),
                    frozenset(other_words),
                    (offsets.line_start(function.lineno), offsets.line_end(function.end_lineno)),
                )
            )
    return cases


def eligible(partial: str, old: str, variables: frozenset[str] | set[str]) -> bool:
    """Whether a rename of ``old`` into ``partial`` (the name as typed so far) is one to suggest:
    an identifier, not a keyword, a change, and no variable of the scope is called that."""
    return partial.isidentifier() and not keyword.iskeyword(partial) and partial != old and partial not in variables


def fresh_word(text: str, rng: random.Random) -> str:
    words = [w for w in WORDS if not re.search(rf"\b{w}\b", text)]
    return rng.choice(words or [f"renamed_{rng.randrange(10**6)}"])


# -- renames ---------------------------------------------------------------------------------------


@dataclass
class Tally:
    """Counts and latencies of one kind."""

    cases: int = 0
    asks: int = 0
    exact: int = 0
    exact_any: int = 0
    location: int = 0
    answered: int = 0  # asks with any suggestion
    suggestions: int = 0
    wrong: int = 0
    recall_found: int = 0
    recall_wanted: int = 0
    latency_ms: list[float] = field(default_factory=list)
    extra: dict[str, int] = field(default_factory=dict)

    def bump(self, key: str, by: int = 1) -> None:
        self.extra[key] = self.extra.get(key, 0) + by

    def summary(self) -> dict[str, Any]:
        def share(part: int, whole: int) -> float | None:
            return round(100 * part / whole, 1) if whole else None

        return {
            "cases": self.cases,
            "asks": self.asks,
            "exact_pct": share(self.exact, self.asks),
            "exact_any_pct": share(self.exact_any, self.asks),
            "location_pct": share(self.location, self.asks),
            "any_suggestion_pct": share(self.answered, self.asks),
            "recall_pct": share(self.recall_found, self.recall_wanted),
            "wrong_pct_of_suggestions": share(self.wrong, self.suggestions),
            "suggestions": self.suggestions,
            "wrong": self.wrong,
            "latency_ms": percentiles(self.latency_ms),
            **self.extra,
        }


def run_renames(cases: list[RenameCase], files: dict[str, str], examples: Examples) -> tuple[Tally, Tally]:
    """(eligible steps, ineligible steps)."""
    steps, other = Tally(), Tally()
    for case in cases:
        text = files[case.path]
        editor = Editor(f"file:///heldout/{case.path}", text)
        steps.cases += 1
        binding_line = text.count("\n", 0, case.binding) + 1
        partial = case.old
        for partial in editor.retype(case.binding, case.old, case.new):
            found, ms = editor.ask()
            shift = len(partial) - len(case.old)
            expected = {(at + shift if at > case.binding else at) for at in case.expected}
            wanted = {(at, at + len(case.old), partial) for at in expected}
            if not eligible(partial, case.old, case.variables):
                other.asks += 1
                other.latency_ms.append(ms)
                if found:
                    other.answered += 1
                    reason = "collides" if partial.isidentifier() and not keyword.iskeyword(partial) else "not a name"
                    other.bump(f"answered_when_{reason.replace(' ', '_')}")
                continue
            steps.asks += 1
            steps.latency_ms.append(ms)
            distance = min(abs(at - case.binding) for at in expected)
            nearest = {(at, at + len(case.old), partial) for at in expected if abs(at - case.binding) == distance}
            first = found[0] if found else None
            got = (first.start, first.end, first.new) if first else None
            steps.answered += bool(found)
            steps.exact += got in nearest
            steps.exact_any += got in wanted
            steps.location += first is not None and (first.start, first.end) in {(s, e) for s, e, _ in wanted}
            steps.suggestions += len(found)
            wrong = [r for r in found if (r.start, r.end, r.new) not in wanted]
            steps.wrong += len(wrong)
            if got not in nearest:
                if first is None:
                    why = "no suggestion"
                    if partial in case.other_words:
                        why += " (the name typed is an attribute or keyword-argument name in the function)"
                elif got in wanted:
                    why = "another expected occurrence first"
                else:
                    why = f"wrong first suggestion: {_rename_wrong(first, case, shift)}"
                steps.bump(f"miss: {why}")
                _example(examples, "rename_misses", editor, case, binding_line, partial, why, first, expected)
            for r in wrong:
                why = _rename_wrong(r, case, shift)
                steps.bump(f"wrong: {why}")
                _example(examples, "rename_wrong", editor, case, binding_line, partial, why, r, expected)
        if partial == case.new:  # the last step: recall
            steps.recall_wanted += min(len(expected), MAX_SUGGESTIONS)
            steps.recall_found += len({(r.start, r.end, r.new) for r in found} & wanted)
    return steps, other


def _rename_wrong(r: Replacement, case: RenameCase, shift: int) -> str:
    """Why a suggestion made during a rename is not one of its edits."""
    original = r.start - shift if r.start > case.binding else r.start
    if r.kind != "rename":
        return f"a {r.kind} suggestion"
    if original in case.keyword_args:
        return "a keyword argument's name"
    if not case.span[0] <= original < case.span[1]:
        return "outside the function"
    if original in case.same_line:
        return "on the line being typed"
    return "not an occurrence of the variable"


def _example(
    examples: Examples,
    key: str,
    editor: Editor,
    case: RenameCase,
    line: int,
    partial: str,
    why: str,
    got: Replacement | None,
    expected: set[int],
) -> None:
    bucket = examples.setdefault(key, [])
    if len(bucket) >= MAX_EXAMPLES or any(e["where"] == f"{case.path}:{line}" for e in bucket):
        return
    text = editor.document.text
    nearest = min(expected, key=lambda at: abs(at - case.binding))
    entry = {
        "where": f"{case.path}:{line}",
        "function": case.function,
        "rename": f"{case.old} -> {partial}",
        "why": why,
        "expected_first_line": editor.line_of(nearest) + 1,
        "expected_lines": sorted(editor.line_of(at) + 1 for at in expected),
    }
    if got is not None:
        entry["got"] = (
            f"line {editor.line_of(got.start) + 1}: {text[got.start : got.end]!r} -> {got.new!r} ({got.kind})"
        )
        entry["got_line_text"] = text.split("\n")[editor.line_of(got.start)].strip()
    bucket.append(entry)


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


# -- repeated changes from release diffs -----------------------------------------------------------


@dataclass(frozen=True)
class LineChange:
    line: int  # 0-based, in the old file
    old: str
    new: str


def line_changes(old_text: str, new_text: str) -> tuple[list[LineChange], dict[int, set[str]]]:
    """The old file's lines changed one-to-one (in order), and for every old line the new
    release changed or removed, the lines it may have become (empty: removed)."""
    old, new = old_text.split("\n"), new_text.split("\n")
    pairs: list[LineChange] = []
    truth: dict[int, set[str]] = {}
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "delete":
            for i in range(i1, i2):
                truth[i] = set()
        elif tag == "replace":
            for i in range(i1, i2):
                truth[i] = set(new[j1:j2])
            if i2 - i1 == j2 - j1:
                pairs += [LineChange(i1 + k, old[i1 + k], new[j1 + k]) for k in range(i2 - i1)]
            elif (i2 - i1) * (j2 - j1) <= 2500:
                pairs += _similar_pairs(old, new, i1, i2, j1, j2)
    for change in pairs:
        truth[change.line] = {change.new}
    return pairs, truth


def _similar_pairs(old: list[str], new: list[str], i1: int, i2: int, j1: int, j2: int) -> list[LineChange]:
    """Lines of a replaced block of unequal sizes paired in order when they are alike."""
    pairs, j = [], j1
    for i in range(i1, i2):
        best, best_ratio = -1, 0.75
        for k in range(j, j2):
            matcher = difflib.SequenceMatcher(None, old[i].strip(), new[k].strip())
            if matcher.real_quick_ratio() > best_ratio and matcher.ratio() > best_ratio:
                best, best_ratio = k, matcher.ratio()
        if best >= 0:
            pairs.append(LineChange(i, old[i], new[best]))
            j = best + 1
    return pairs


def change_signature(old_line: str, new_line: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The token-level change: the tokens between the common head and tail, before and after,
    with the names and literals that are on both sides numbered (``#0``...); None when only
    spacing changed."""
    before, after = [t.text for t in tokens_of(old_line)], [t.text for t in tokens_of(new_line)]
    head = 0
    while head < min(len(before), len(after)) and before[head] == after[head]:
        head += 1
    tail = 0
    while tail < min(len(before), len(after)) - head and before[-1 - tail] == after[-1 - tail]:
        tail += 1
    removed, added = before[head : len(before) - tail], after[head : len(after) - tail]
    if not removed and not added:
        return None
    shared = {t for t in removed if t in added and (t[0].isalnum() or t[0] in "_$'\"")}
    numbers: dict[str, str] = {}
    for t in removed:
        if t in shared:
            numbers.setdefault(t, f"#{len(numbers)}")
    return tuple(numbers.get(t, t) for t in removed), tuple(numbers.get(t, t) for t in added)


def token_groups(pairs: list[LineChange]) -> list[list[LineChange]]:
    """Changed lines that made the same token-level change, two or more, in line order."""
    groups: dict[tuple[tuple[str, ...], tuple[str, ...]], list[LineChange]] = {}
    for change in pairs:
        signature = change_signature(change.old, change.new)
        if signature is not None:
            groups.setdefault(signature, []).append(change)
    return [sorted(g, key=lambda c: c.line) for g in groups.values() if len(g) >= 2]


def _replace_line(text: str, line: int, new_line: str) -> tuple[str, int]:
    lines = text.split("\n")
    start = sum(len(each) + 1 for each in lines[:line])
    lines[line] = new_line
    return "\n".join(lines), start


def learner_groups(
    old_text: str, pairs: list[LineChange], tries: int = MAX_LEARNER_TRIES_PER_FILE
) -> list[list[LineChange]]:
    """The issue's groups: a changed line whose transformation (``repeated.learn``) reproduces,
    by ``apply_elsewhere`` on the old file, the new release's text of other changed lines."""
    by_line = {change.line: change for change in pairs}
    grouped: set[int] = set()
    groups = []
    for change in pairs[:tries]:
        if change.line in grouped or change.old.strip() == change.new.strip():
            continue
        text, start = _replace_line(old_text, change.line, change.new)
        event = EditEvent("u", start, change.old, change.new, 2, 0.0)
        pattern = learn(event, text)
        if pattern is None:
            continue
        members = [change]
        lines = text.split("\n")
        for r in apply_elsewhere(pattern, event, text, "u", 2):
            line = text.count("\n", 0, r.start)
            line_start = sum(len(each) + 1 for each in lines[:line])
            result = text[line_start : r.start] + r.new + text[r.end : line_start + len(lines[line])]
            other = by_line.get(line)
            if other is not None and other.line not in grouped and result == other.new and other not in members:
                members.append(other)
        if len(members) >= 2:
            groups.append(sorted(members, key=lambda c: c.line))
            grouped |= {c.line for c in members}
    return groups


def _release_name(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def sdist(name: str, version: str, download: bool) -> Path | None:
    """The cached sdist of ``name==version``; downloaded once (``pip download``) when allowed."""
    folder = CACHE / "sdists"

    def cached() -> Path | None:
        if not folder.is_dir():
            return None
        for path in sorted(folder.iterdir()):
            stem = _release_name(path.name)
            if stem.startswith(f"{_release_name(name)}_{_release_name(version)}_") and path.name.endswith(
                (".tar.gz", ".zip", ".tar.bz2")
            ):
                return path
        return None

    found = cached()
    if found is not None or not download:
        return found
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", name]
    command += ["--dest", str(folder), f"{name}=={version}"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"nextedit: could not download {name}=={version}: {done.stderr.strip()[-500:]}")
    return cached()


def python_files(archive: Path) -> dict[str, str]:
    """The .py files of an sdist, by path below its top folder (without a leading ``src/``)."""
    files: dict[str, str] = {}
    members: list[tuple[str, bytes]] = []
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as opened:
            members = [(n, opened.read(n)) for n in opened.namelist() if n.endswith(".py")]
    else:
        with tarfile.open(archive) as opened:
            for member in opened.getmembers():
                if member.isfile() and member.name.endswith(".py") and member.size <= MAX_FILE_BYTES:
                    handle = opened.extractfile(member)
                    if handle is not None:
                        members.append((member.name, handle.read()))
    for name, data in members:
        relative = name.split("/", 1)[1] if "/" in name else name
        relative = relative.removeprefix("src/")
        try:
            files[relative] = data.decode("utf-8").replace("\r\n", "\n")
        except UnicodeDecodeError:
            continue
    return files


def replay(
    group: list[LineChange],
    old_text: str,
    truth: dict[int, set[str]],
    uri: str,
    tally: Tally,
    examples: Examples,
    where: str,
) -> None:
    """Type the group's first change into the old file, ask once, score against the new release."""
    first = group[0]
    editor = Editor(uri, old_text)
    prefix = 0
    while prefix < min(len(first.old), len(first.new)) and first.old[prefix] == first.new[prefix]:
        prefix += 1
    suffix = 0
    while (
        suffix < min(len(first.old), len(first.new)) - prefix
        and first.old[len(first.old) - 1 - suffix] == first.new[len(first.new) - 1 - suffix]
    ):
        suffix += 1
    line_start = sum(len(each) + 1 for each in old_text.split("\n")[: first.line])
    removed = first.old[prefix : len(first.old) - suffix]
    added = first.new[prefix : len(first.new) - suffix]
    for _ in editor.retype(line_start + prefix, removed, added):
        pass
    found, ms = editor.ask()
    text = editor.document.text
    lines = text.split("\n")
    starts = Offsets(text).starts
    tally.cases += 1
    tally.asks += 1
    tally.latency_ms.append(ms)
    tally.answered += bool(found)
    tally.suggestions += len(found)
    others = {c.line: c.new for c in group[1:]}
    hits: set[int] = set()
    for rank, r in enumerate(found):
        line = text.count("\n", 0, r.start)
        result = text[starts[line] : r.start] + r.new + text[r.end : starts[line] + len(lines[line])]
        real = result in truth.get(line, ())
        if text[r.start : r.end] == r.new:
            tally.bump("no-op suggestions")
        if others.get(line) == result:
            hits.add(line)
        if rank == 0:
            tally.bump(f"first suggestion: {r.kind}")
            tally.exact += real
            tally.location += line in truth
        if not real:
            tally.wrong += 1
            status = "changed differently" if truth.get(line) else "removed" if line in truth else "unchanged"
            tally.bump(f"wrong: line {status} in the new release")
            bucket = examples.setdefault("repeat_wrong", [])
            if len(bucket) < MAX_EXAMPLES and rank < 3:
                bucket.append(
                    {
                        "where": f"{where}:{line + 1}",
                        "edit": f"line {first.line + 1}: {first.old.strip()!r} -> {first.new.strip()!r}",
                        "got": f"{lines[line].strip()!r} -> {result.strip()!r}",
                        "new_release": sorted(t.strip() for t in truth.get(line, ()))[:1] or [lines[line].strip()],
                        "kind": r.kind,
                    }
                )
    tally.recall_wanted += min(len(others), MAX_SUGGESTIONS)
    tally.recall_found += len(hits)
    if not hits:
        bucket = examples.setdefault("repeat_missed", [])
        if len(bucket) < MAX_EXAMPLES:
            nearest = min(others, key=lambda line: abs(line - first.line))
            old_lines = old_text.split("\n")
            bucket.append(
                {
                    "where": f"{where}:{first.line + 1}",
                    "edit": f"{first.old.strip()!r} -> {first.new.strip()!r}",
                    "expected": f"line {nearest + 1}: {old_lines[nearest].strip()!r} -> {others[nearest].strip()!r}",
                    "places": len(group),
                    "suggestions": len(found),
                }
            )


def run_repeats(packages: list[tuple[str, str, str]], download: bool, examples: Examples) -> dict[str, Any]:
    tallies = {"token": Tally(), "learner": Tally()}
    rows = []
    for name, old_version, new_version in packages:
        archives = [sdist(name, version, download) for version in (old_version, new_version)]
        if archives[0] is None or archives[1] is None:
            rows.append({"package": name, "versions": f"{old_version} -> {new_version}", "missing": True})
            continue
        old_files, new_files = python_files(archives[0]), python_files(archives[1])
        row: dict[str, Any] = {"package": name, "versions": f"{old_version} -> {new_version}", "files": 0}
        row.update({"changed_lines": 0, "token_groups": 0, "learner_groups": 0, "skipped_files": 0})
        package = {kind: Tally() for kind in tallies}
        for path in sorted(set(old_files) & set(new_files)):
            old_text, new_text = old_files[path], new_files[path]
            if old_text == new_text:
                continue
            if max(old_text.count("\n"), new_text.count("\n")) > MAX_DIFF_LINES:
                row["skipped_files"] += 1
                continue
            row["files"] += 1
            pairs, truth = line_changes(old_text, new_text)
            row["changed_lines"] += len(pairs)
            found = {"token": token_groups(pairs), "learner": learner_groups(old_text, pairs)}
            for kind, groups in found.items():
                row[f"{kind}_groups"] += len(groups)
                for group in groups[:MAX_GROUPS_PER_FILE]:
                    if package[kind].cases >= MAX_GROUPS_PER_PACKAGE:
                        break
                    uri = f"file:///{name}/{path}"
                    replay(group, old_text, truth, uri, package[kind], examples, f"{name}-{old_version}/{path}")
        for kind, tally in package.items():
            row[kind] = tally.summary()
            total = tallies[kind]
            for key in ("cases", "asks", "exact", "location", "answered", "suggestions", "wrong"):
                setattr(total, key, getattr(total, key) + getattr(tally, key))
            total.recall_found += tally.recall_found
            total.recall_wanted += tally.recall_wanted
            total.latency_ms += tally.latency_ms
            for key, value in tally.extra.items():
                total.bump(key, value)
        rows.append(row)
    return {"packages": rows, "token": tallies["token"], "learner": tallies["learner"]}


# -- the 2,000-line file ---------------------------------------------------------------------------


def cut(text: str, lines: int) -> str:
    """``text`` up to the last top-level ``def``/``class``/decorator at or before line ``lines``."""
    kept = text.split("\n")
    for index in range(min(lines, len(kept)) - 1, 0, -1):
        if kept[index].startswith(("def ", "class ", "@", "async def ")):
            while index > 0 and kept[index - 1].startswith("@"):
                index -= 1
            return "\n".join(kept[:index]).rstrip("\n") + "\n"
    return text


def module_names(text: str, count: int) -> list[tuple[str, int]]:
    """The most used top-level function, class and variable names (name, offset of its binding)."""
    tree = ast.parse(text)
    offsets = Offsets(text)
    uses: dict[str, int] = {}
    for _, _, name, after_dot in name_tokens(text):
        if not after_dot:
            uses[name] = uses.get(name, 0) + 1
    found = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            line = offsets.lines[node.lineno - 1]
            match = re.search(rf"\b(?:def|class)\s+({re.escape(node.name)})\b", line)
            if match:
                found.append((node.name, offsets.line_start(node.lineno) + match.start(1)))
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target = node.targets[0]
            found.append((target.id, offsets.at(target.lineno, target.col_offset)))
    found = [(name, at) for name, at in found if 5 <= uses.get(name, 0) <= 200 and not name.startswith("__")]
    found.sort(key=lambda item: -uses[item[0]])
    return found[:count]


def _timed(editor: Editor, repeats: int) -> tuple[list[Replacement], float]:
    """The suggestions and the median time of ``repeats`` requests at this step (``propose``
    keeps no state, so repeating it measures the same work; the median damps other load)."""
    timings = []
    found: list[Replacement] = []
    for _ in range(repeats):
        found, ms = editor.ask()
        timings.append(ms)
    return found, sorted(timings)[len(timings) // 2]


def run_big_file(
    text: str, rng: random.Random, locals_count: int, module_count: int, edits: int, repeats: int = 3
) -> dict[str, Any]:
    rows = []
    local_cases = sorted(rename_cases(BIG_FILE, text), key=lambda c: -len(c.expected))[:locals_count]
    renames = [("local", c.function, c.old, c.binding, len(c.expected) + 1) for c in local_cases]
    module = module_names(text, module_count)
    uses = {name: 0 for name, _ in module}
    for _, _, name, after_dot in name_tokens(text):
        if name in uses and not after_dot:
            uses[name] += 1
    renames += [("module-level", "<module>", name, at, uses[name]) for name, at in module]
    all_ms: list[float] = []
    named_ms: list[float] = []  # steps where a name is written at the binding
    slowest: list[tuple[float, str]] = []
    for scope, function, old, at, occurrences in renames:
        editor = Editor(f"file:///heldout/{BIG_FILE}", text)
        new = fresh_word(text, rng)
        samples, offered = [], 0
        for partial in editor.retype(at, old, new):
            found, ms = _timed(editor, repeats)
            samples.append(ms)
            if partial.isidentifier():
                named_ms.append(ms)
            slowest.append(
                (ms, f"`{old}` -> `{partial}`: {len(found)} suggestions ({found[0].kind if found else '-'})")
            )
            offered = len(found)
        all_ms += samples
        rows.append(
            {
                "case": f"rename {scope} `{old}` ({function}, {occurrences} uses) -> {new}",
                "steps": len(samples),
                "suggested_at_last_step": offered,
                "suggest_ms": percentiles(samples),
                "max_ms": round(max(samples), 2),
                "apply_ms": percentiles(editor.apply_ms),
            }
        )
    one_off: list[float] = []
    for path, at, old, new in one_off_sites({BIG_FILE: text}, rng, edits):
        editor = Editor(f"file:///heldout/{path}", text)
        for partial in editor.retype(at, old, new):
            found, ms = _timed(editor, repeats)
            one_off.append(ms)
            slowest.append((ms, f"one-off `{old}` -> `{partial}`: {len(found)} suggestions"))
    rows.append(
        {
            "case": f"one-off number/operator edits ({edits})",
            "steps": len(one_off),
            "suggest_ms": percentiles(one_off),
            "max_ms": round(max(one_off), 2) if one_off else None,
        }
    )
    slowest.sort(key=lambda item: -item[0])
    return {
        "lines": text.count("\n"),
        "repeats_per_step": repeats,
        "rows": rows,
        "rename_ms": percentiles(all_ms),
        "rename_named_steps_ms": percentiles(named_ms),
        "slowest_steps": [f"{ms:.1f} ms: {what}" for ms, what in slowest[:10]],
    }


# -- the run ---------------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} %"


def _ms(tally_summary: dict[str, Any]) -> tuple[str, str]:
    latency = tally_summary["latency_ms"]
    return (f"{latency['p50']:.2f}", f"{latency['p95']:.2f}") if latency else ("—", "—")


def main(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    rng = random.Random(args.seed)
    files = held_out_files()
    if args.smoke:
        files = {path: files[path] for path in ("sched.py", "email/contentmanager.py", "chunk.py") if path in files}
    examples: Examples = {}

    # renames
    by_file = {path: rename_cases(path, text) for path, text in files.items()}
    cases = []
    per_file = 2 if args.smoke else args.renames_per_file
    for path, found in by_file.items():
        chosen = rng.sample(found, min(per_file, len(found)))
        cases += [RenameCase(**{**c.__dict__, "new": fresh_word(files[path], rng)}) for c in chosen]
    cases = cases[:5] if args.smoke else cases
    rename, ineligible = run_renames(cases, files, examples)
    drafts = lookup_drafts(cases, files)
    model_row = rewrites.model_on_renames(Path(args.model), cases, files) if args.model else None

    # no-edit
    bodies = typing_cases(files, rng, 2 if args.smoke else args.typing_functions)
    typing = run_typing(bodies, files, rng, 4 if args.smoke else 1, examples)
    one_off = run_one_off(one_off_sites(files, rng, 8 if args.smoke else args.one_off), files, examples)
    every_case = [case for found in by_file.values() for case in found]
    switches = run_switches(switch_cases(every_case, rng, 4 if args.smoke else args.switches), files, examples)

    # repeated changes from release diffs
    download = not (args.smoke or args.offline)
    packages = list(PACKAGES[:2] if args.smoke else PACKAGES)
    repeats = run_repeats(packages, download, examples)
    missing = [row["package"] for row in repeats["packages"] if row.get("missing")]

    # the 2,000-line file
    big_text = cut((stdlib_root() / BIG_FILE).read_text(encoding="utf-8"), BIG_LINES)
    big = run_big_file(big_text, rng, 1 if args.smoke else 5, 1 if args.smoke else 3, 2 if args.smoke else 20)

    summaries = {
        "rename": rename.summary(),
        "rename_ineligible_steps": ineligible.summary(),
        "repeat_token": repeats["token"].summary(),
        "repeat_learner": repeats["learner"].summary(),
        "no_edit_typing": typing.summary(),
        "no_edit_one_off": one_off.summary(),
        "no_edit_switch": switches.summary(),
    }
    fp = {  # the false-positive rates the target is read against, each no-edit kind on its own
        "typing, every key": summaries["no_edit_typing"]["any_suggestion_pct"],
        "one-off, every key": summaries["no_edit_one_off"]["any_suggestion_pct"],
        "one-off, edit complete": _share(one_off.extra.get("done_answered", 0), one_off.cases),
    }
    worst_fp = max((v for v in fp.values() if v is not None), default=None)
    seconds = time.perf_counter() - started

    print(
        f"\nnext edits without a model: {len(files)} held-out stdlib files, {len(cases)} renames, "
        f"{len(packages) - len(missing)} package release pairs; {seconds:.0f} s\n"
    )
    if missing:
        why = "smoke/offline run: not downloaded, not in the cache" if not download else "download failed"
        print(f"repeat: skipped {', '.join(missing)} ({why}: {CACHE / 'sdists'})\n")
    columns = ["kind", "cases", "asks", "exact", "location", "any suggestion", "recall (last step)"]
    print("| " + " | ".join([*columns, "wrong (of suggestions)", "p50 ms", "p95 ms"]) + " |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    labels = {
        "rename": "rename, eligible steps (rules)",
        "repeat_token": "repeat: same token change (rules)",
        "repeat_learner": "repeat: learner-checked groups (rules)",
        "no_edit_typing": "no-edit: retyping a body (rules)",
        "no_edit_one_off": "no-edit: one-off number/operator (rules)",
        "no_edit_switch": "no-edit: use switched to another variable (rules)",
    }
    for key, label in labels.items():
        s = summaries[key]
        p50, p95 = _ms(s)
        if key.startswith("no_edit"):
            cells = ["—", "—", f"**{_pct(s['any_suggestion_pct'])}** (false positives)", "—", "—"]
            if key == "no_edit_one_off":
                cells[2] += f"; edit complete: {_pct(fp['one-off, edit complete'])} of cases"
        else:
            cells = [_pct(s["exact_pct"]), _pct(s["location_pct"]), _pct(s["any_suggestion_pct"])]
            cells += [_pct(s["recall_pct"]), _pct(s["wrong_pct_of_suggestions"])]
        print(f"| {label} | {s['cases']} | {s['asks']} | " + " | ".join(cells) + f" | {p50} | {p95} |")
    if model_row is None:
        print(f"| any kind (next-edit model) | {MODEL_ROW} |  |  |  |  |  |  |  |  |")
    else:
        print(
            f"| rename rewrites (next-edit model {Path(args.model).name}) | {model_row['rewrites']} | "
            f"{model_row['rewrites']} | {_pct(model_row['exact_pct'])} | | | | | {model_row.get('p50', '-')} | "
            f"{model_row.get('p95', '-')} |"
        )
    if drafts.get("tokens_per_forward") is not None:
        print(
            f"\nprompt-lookup drafts on the rewrites a next-edit model should give after these renames (model-free, "
            f"Qwen2.5-Coder's tokenizer): {drafts['rewrites']} rewrites, {drafts['tokens_per_forward']} answer tokens "
            f"per target forward ({_pct(100 * drafts['drafted_share'])} of them drafted and accepted)"
        )
    elif drafts.get("skipped"):
        print(f"\nprompt-lookup drafts on rewrites: not measured ({drafts['skipped']})")

    s = summaries["rename_ineligible_steps"]
    print(
        f"\nrename: {s['asks']} ineligible steps (no name yet, a keyword, a name in use), "
        f"{_pct(s['any_suggestion_pct'])} with a suggestion; exact match at any expected occurrence "
        f"(not only the nearest): {_pct(summaries['rename']['exact_any_pct'])}"
    )
    misses = {k: v for k, v in summaries["rename"].items() if k.startswith("miss:")}
    if misses:
        print("rename misses (eligible steps): " + "; ".join(f"{k[6:]}: {v}" for k, v in sorted(misses.items())))
    wrong = {k: v for k, v in summaries["rename"].items() if k.startswith("wrong:")}
    if wrong:
        print(
            "rename wrong suggestions (eligible steps): " + "; ".join(f"{k[7:]}: {v}" for k, v in sorted(wrong.items()))
        )
    s = summaries["rename_ineligible_steps"]
    print(
        f"rename ineligible steps answered: {s.get('answered_when_not_a_name', 0)} with nothing or a non-name "
        f"typed, {s.get('answered_when_collides', 0)} with a name in use"
    )
    sw = summaries["no_edit_switch"]
    print(
        f"switch: answered by the repeat fallback: {sw.get('answered_by_repeat', 0)}, by rename: "
        f"{sw.get('answered_by_rename', 0)}; mid-typing (the other name half typed, a rename to it is "
        f"plausible): {sw.get('mid_typing_answered', 0)} of {sw.get('mid_typing_asks', 0)} asks answered"
    )
    oo = summaries["no_edit_one_off"]
    print(
        f"one-off: {oo.get('cases_answered', 0)} of {oo['cases']} cases got a suggestion at some key; no-op "
        f"suggestions (replacing a text by itself): {oo.get('no-op suggestions', 0)} of {oo['suggestions']}"
    )
    for key in ("repeat_token", "repeat_learner"):
        r = summaries[key]
        parts = [f"{k}: {v}" for k, v in sorted(r.items()) if k.startswith(("wrong:", "first suggestion:", "no-op"))]
        print(f"{key.replace('_', ' ')}: " + "; ".join(parts))

    print(f"\n2,000-line file ({BIG_FILE} cut to {big['lines']} lines): `NextEdits.suggest` per key\n")
    print("| case | steps | p50 ms | p95 ms | max ms |")
    print("|---|---|---|---|---|")
    for row in big["rows"]:
        latency = row["suggest_ms"]
        if latency:
            cells = [row["case"], row["steps"], latency["p50"], latency["p95"], row["max_ms"]]
            print("| " + " | ".join(str(cell) for cell in cells) + " |")
    big_p95 = big["rename_ms"].get("p95")
    named_p95 = big["rename_named_steps_ms"].get("p95")
    print(
        f"\nrename steps, all: p95 {big_p95} ms; steps with a name at the binding (not the empty or half-deleted "
        f"moment): p95 {named_p95} ms; median of {big['repeats_per_step']} requests a step; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores. Slowest steps:"
    )
    for line in big["slowest_steps"][:5]:
        print(f"- {line}")

    print("\nrepeat: per package (token groups / learner-checked groups)\n")
    print("| package | releases | files changed | changed lines | groups | exact | recall | wrong |")
    print("|---|---|---|---|---|---|---|---|")
    for row in repeats["packages"]:
        if row.get("missing"):
            print(f"| {row['package']} | {row['versions']} | not available | | | | | |")
            continue
        t, lr = row["token"], row["learner"]
        print(
            f"| {row['package']} | {row['versions']} | {row['files']} | {row['changed_lines']} | "
            f"{row['token_groups']} / {row['learner_groups']} | {_pct(t['exact_pct'])} / {_pct(lr['exact_pct'])} | "
            f"{_pct(t['recall_pct'])} / {_pct(lr['recall_pct'])} | "
            f"{_pct(t['wrong_pct_of_suggestions'])} / {_pct(lr['wrong_pct_of_suggestions'])} |"
        )

    rt, rl = summaries["repeat_token"], summaries["repeat_learner"]
    targets = [
        (
            "renames: exact edit match >= 95 % of eligible steps",
            _pct(summaries["rename"]["exact_pct"]),
            _met(summaries["rename"]["exact_pct"], lambda v: v >= 95),
        ),
        (
            "false positives <= 5 % of no-edit asks, each kind",
            "; ".join(f"{k}: {_pct(v)}" for k, v in fp.items()),
            _met(worst_fp, lambda v: v <= 5),
        ),
        (
            f"rename propagation p95 <= 20 ms on a {big['lines']}-line file",
            f"{big_p95} ms" if big_p95 else "—",
            _met(big_p95, lambda v: v <= 20),
        ),
        ("repeated changes from release diffs (token groups)", _repeat_figures(rt), "reported"),
        ("repeated changes from release diffs (learner-checked)", _repeat_figures(rl), "reported"),
    ]
    print("\n| target | measured | met |")
    print("|---|---|---|")
    for target, measured, met in targets:
        print(f"| {target} | {measured} | {met} |")

    for key in (
        "rename_misses",
        "rename_wrong",
        "repeat_missed",
        "repeat_wrong",
        "false_positives_one_off",
        "false_positives_typing",
        "false_positives_switch",
    ):
        shown = examples.get(key, [])[:4]
        if shown:
            print(f"\n{key.replace('_', ' ')} (first {len(shown)} of {len(examples[key])}; all in the JSON):")
            for example in shown:
                print("- " + "; ".join(f"{k}: {v}" for k, v in example.items()))

    write(
        "nextedit",
        {
            "smoke": args.smoke,
            "seed": args.seed,
            "seconds": round(seconds, 1),
            "held_out_files": sorted(files),
            "packages": [f"{n} {a} -> {b}" for n, a, b in packages],
            "missing_packages": missing,
            "kinds": summaries,
            "model": model_row or MODEL_ROW,
            "lookup_drafts_on_rewrites": drafts,
            "false_positive_pct": fp,
            "load_average": os.getloadavg()[0],
            "big_file": big,
            "repeat_packages": repeats["packages"],
            "examples": examples,
            "targets": [{"target": t, "measured": m, "met": met} for t, m, met in targets],
        },
        args.out,
    )


def lookup_drafts(cases: list[RenameCase], files: dict[str, str]) -> dict[str, Any]:
    """``rewrites.on_renames`` in Qwen2.5-Coder's tokens (the families fixture, built from
    the peer's vocabulary files); skipped, saying why, when those are not there."""
    from .families import family_model

    try:
        vocabulary = Vocabulary(family_model("qwen2_5_coder"))
    except (OSError, CopilotError, SystemExit) as exc:
        return {"skipped": f"no Qwen2.5-Coder vocabulary: {exc} (`python -m bench peer` fetches it)"}
    return rewrites.on_renames(cases, files, vocabulary)


def _repeat_figures(s: dict[str, Any]) -> str:
    return f"exact {_pct(s['exact_pct'])}, recall {_pct(s['recall_pct'])}, wrong {_pct(s['wrong_pct_of_suggestions'])}"


def _share(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _met(value: float | None, test: Any) -> str:
    return "—" if value is None else "yes" if test(value) else "**no**"
