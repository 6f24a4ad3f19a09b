"""Held-out code for the nextedit bench, and the renames it holds (functions' parameters and locals)."""

from __future__ import annotations

import ast
import io
import keyword
import random
import re
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass

from copilot.models.recipe.data import MAX_FILE_BYTES, is_held_out, stdlib_root

from .common import WORDS

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
