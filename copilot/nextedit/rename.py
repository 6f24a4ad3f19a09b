"""Rename propagation: an identifier retyped at one place -> the same change at its other
occurrences that refer to the same thing, in this file and in the open files that import it.

Which occurrences refer to the same thing is decided on the tree-sitter tree, lexically, as
a reader would: the innermost function that binds the old name (a parameter, an assignment
or declaration there) is its scope, else the module; inside that scope, nested functions
that bind the name again are left out (they shadow it). An attribute (``obj.name``) goes with
attributes of the same object only. Nothing is suggested when the new name already occurs in
the scope (the rename would collide with or shadow it), nor for a name typed half-way into
nothing (the old or new text not an identifier).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import unquote, urlparse

import tree_sitter

from ..documents import Document
from ..syntax.tree import SyntaxTree
from .history import EditEvent

IDENTIFIER = re.compile(r"[A-Za-z_$][\w$]*\Z")
_WORD = re.compile(r"[\w$]")
MAX_OCCURRENCES = 200  # a name used more often than this is left to the editor's own rename
_FUNCTIONS = re.compile(r"function|method|lambda|closure|arrow|constructor")
_ATTRIBUTES = frozenset({"attribute", "member_expression", "field_expression", "selector_expression"})
_BINDING_PARENTS = re.compile(r"parameter|assignment|declarator|declaration|for_statement|for_in|as_pattern|import")
# What holds several targets of one binding: `a, b = ...`, `for i, row in ...`, `(x, y) = ...`
_UNPACKING = frozenset({"pattern_list", "tuple_pattern", "list_pattern", "list_splat_pattern", "tuple", "list"})


@dataclass(frozen=True)
class Rename:
    old: str
    new: str
    start: int  # where the new name is now
    end: int


@dataclass(frozen=True)
class Replacement:
    """``document.text[start:end]`` (the old name) becomes ``new``."""

    uri: str
    version: int
    start: int
    end: int
    new: str
    kind: str


def _names(event: EditEvent, text: str) -> tuple[str, str, int, int]:
    """The word around ``event``'s change before and after it, and where it is now."""
    start, end = event.start, event.end
    while start > 0 and _WORD.match(text[start - 1]):
        start -= 1
    while end < len(text) and _WORD.match(text[end]):
        end += 1
    return text[start : event.start] + event.old + text[event.end : end], text[start:end], start, end


def rename_of(event: EditEvent, text: str) -> Rename | None:
    """The rename ``event`` made, if its change lies inside one identifier before and after."""
    old, new, start, end = _names(event, text)
    if old == new or not IDENTIFIER.match(old) or not IDENTIFIER.match(new):
        return None
    return Rename(old, new, start, end)


def renaming(event: EditEvent, text: str) -> bool:
    """Whether ``event`` retypes a name (or has deleted it so far): then the rename, or
    nothing yet, is the next edit, never another kind of change."""
    old, new, _, _ = _names(event, text)
    return old != new and bool(IDENTIFIER.match(old)) and (new == "" or bool(IDENTIFIER.match(new)))


def propagate(
    event: EditEvent, document: Document, others: Iterable[Document], earlier: Iterable[EditEvent] = ()
) -> list[Replacement]:
    """The other occurrences of the renamed identifier, nearest first in this document, then
    those of the open documents that import it. ``earlier`` events that made the same rename
    elsewhere in the document (accepted suggestions, or the user's own) count as its
    occurrences, not as a collision with the new name."""
    syntax = document.syntax
    if syntax is None or syntax.tree is None:
        return []
    rename = rename_of(event, document.text)
    if rename is None:
        return []
    edited = _identifier_at(syntax, document.text, rename.start, rename.end)
    if edited is None:
        return []
    renamed = [edited]
    for previous in earlier:
        again = rename_of(previous, document.text) if previous.uri == document.uri else None
        if again is not None and (again.old, again.new) == (rename.old, rename.new):
            node = _identifier_at(syntax, document.text, again.start, again.end)
            if node is not None:
                renamed.append(node)
    scope = _scope(edited, rename.old, syntax, document.text, renamed)
    found = _occurrences(syntax, document.text, rename.old, scope, like=edited, renamed=renamed)
    if found is None or _occurs(syntax, document.text, rename.new, scope, skip=renamed):
        return []
    replacements = [
        Replacement(document.uri, document.version, start, start + len(rename.old), rename.new, "rename")
        for start in sorted(found, key=lambda start: abs(start - rename.start))
    ]
    if scope.parent is None and _defined_at_top(syntax, edited):
        for other in others:
            replacements += _importers(other, document.uri, rename)
    return replacements


def _identifier_at(syntax: SyntaxTree, text: str, start: int, end: int) -> tree_sitter.Node | None:
    tree = syntax.tree
    assert tree is not None
    first, last = syntax.byte_offset(start), syntax.byte_offset(end)
    node = tree.root_node.descendant_for_byte_range(first, last)
    if node is None or not node.type.endswith("identifier") or (node.start_byte, node.end_byte) != (first, last):
        return None
    return node


def _functions_around(node: tree_sitter.Node) -> Iterator[tree_sitter.Node]:
    parent = node.parent
    while parent is not None:
        if _FUNCTIONS.search(parent.type):
            yield parent
        parent = parent.parent


def _is_binding(node: tree_sitter.Node) -> bool:
    """A parameter, an assignment's target, a declaration's name, a loop variable, an import
    (one of several unpacked targets too)."""
    parent = node.parent
    while parent is not None and parent.type in _UNPACKING:
        parent = parent.parent
    if parent is None or not _BINDING_PARENTS.search(parent.type):
        return False
    if "parameter" in parent.type or "import" in parent.type:
        return True
    target = parent.child_by_field_name("left") or parent.child_by_field_name("name") or parent.children[0]
    return target is not None and target.start_byte <= node.start_byte and node.end_byte <= target.end_byte


def _binds(
    function: tree_sitter.Node, name: str, syntax: SyntaxTree, text: str, renamed: Sequence[tree_sitter.Node]
) -> bool:
    """Whether ``function`` itself (not a function nested in it) binds ``name`` (``renamed``:
    occurrences that spelled it before the rename)."""
    for node in _named(syntax, text, name, function, extra=renamed):
        if node.parent == function:
            continue  # the function's own name: bound where the function is defined
        if _is_binding(node) and next(_functions_around(node), None) == function:
            return True
    return False


def _scope(
    edited: tree_sitter.Node, old: str, syntax: SyntaxTree, text: str, renamed: Sequence[tree_sitter.Node]
) -> tree_sitter.Node:
    for function in _functions_around(edited):
        if _binds(function, old, syntax, text, renamed):
            return function
    assert syntax.tree is not None
    return syntax.tree.root_node


def _named(
    syntax: SyntaxTree, text: str, name: str, within: tree_sitter.Node, extra: Sequence[tree_sitter.Node] = ()
) -> Iterator[tree_sitter.Node]:
    """The identifier nodes spelling ``name`` inside ``within`` (not in strings or comments),
    and those of ``extra`` (renamed occurrences: they spelled ``name``) that lie inside."""
    tree = syntax.tree
    assert tree is not None
    source = syntax.source
    needle = name.encode()
    at = source.find(needle, within.start_byte)
    while at >= 0 and at + len(needle) <= within.end_byte:
        after = at + len(needle)
        whole = (at == 0 or not _is_word_byte(source[at - 1])) and (
            after >= len(source) or not _is_word_byte(source[after])
        )
        if whole:
            node = tree.root_node.descendant_for_byte_range(at, after)
            if node is not None and node.type.endswith("identifier") and node.start_byte == at and not _label(node):
                yield node
        at = source.find(needle, at + 1)
    for node in extra:
        if within.start_byte <= node.start_byte and node.end_byte <= within.end_byte:
            yield node


def _label(node: tree_sitter.Node) -> bool:
    """A keyword argument's name (``f(name=...)``) or an object literal's key: a label, not
    a use of a variable."""
    parent = node.parent
    if parent is None or parent.type not in ("keyword_argument", "pair"):
        return False
    return node in (parent.child_by_field_name("name"), parent.child_by_field_name("key"))


def _is_word_byte(byte: int) -> bool:
    return byte >= 0x80 or chr(byte).isalnum() or byte in (0x5F, 0x24)  # _ $


def _attribute_object(node: tree_sitter.Node) -> str | None:
    """``obj`` when ``node`` is the name in ``obj.name``; None for a plain name."""
    parent = node.parent
    if parent is None or parent.type not in _ATTRIBUTES or parent.children[0] == node:
        return None
    obj = parent.children[0]
    return obj.text.decode("utf-8", "replace") if obj.text is not None else ""


def _occurrences(
    syntax: SyntaxTree,
    text: str,
    name: str,
    scope: tree_sitter.Node,
    like: tree_sitter.Node,
    renamed: Sequence[tree_sitter.Node],
) -> list[int] | None:
    """String offsets of ``name``'s occurrences in ``scope`` that mean what ``like`` meant;
    None when there are too many to be a rename worth suggesting."""
    target_object = _attribute_object(like)
    starts = []
    for node in _named(syntax, text, name, scope):
        if _attribute_object(node) != target_object:
            continue
        if target_object is None and _shadowed(node, scope, name, syntax, text, renamed):
            continue
        starts.append(node.start_byte)
        if len(starts) > MAX_OCCURRENCES:
            return None
    return _text_offsets(syntax, text, starts)


def _shadowed(
    node: tree_sitter.Node,
    scope: tree_sitter.Node,
    name: str,
    syntax: SyntaxTree,
    text: str,
    renamed: Sequence[tree_sitter.Node] = (),
) -> bool:
    """Whether a function between ``node`` and ``scope`` binds ``name`` again."""
    for function in _functions_around(node):
        if function == scope:
            return False
        if _binds(function, name, syntax, text, renamed):
            return True
    return False


def _occurs(
    syntax: SyntaxTree, text: str, name: str, scope: tree_sitter.Node, skip: Sequence[tree_sitter.Node] = ()
) -> bool:
    return any(node not in skip and _attribute_object(node) is None for node in _named(syntax, text, name, scope))


def _defined_at_top(syntax: SyntaxTree, edited: tree_sitter.Node) -> bool:
    """Whether the renamed thing is the module's own (a top-level function, class or
    assignment): then other files may import it."""
    assert syntax.tree is not None
    root = syntax.tree.root_node
    definition = edited.parent
    if definition is not None and definition.child_by_field_name("name") == edited:
        return next(_functions_around(definition), None) is None and _top_level(definition, root)
    return _is_binding(edited) and next(_functions_around(edited), None) is None


def _top_level(node: tree_sitter.Node, root: tree_sitter.Node) -> bool:
    parent = node.parent
    while parent is not None and parent != root:
        if parent.type not in ("decorated_definition", "export_statement", "expression_statement"):
            return False
        parent = parent.parent
    return True


def _text_offsets(syntax: SyntaxTree, text: str, starts: list[int]) -> list[int]:
    """String offsets of byte offsets ``starts``, in one pass over the source."""
    if text.isascii():
        return starts
    by_byte: dict[int, int] = {}
    at = offset = 0
    for byte in sorted(set(starts)):
        offset += len(syntax.source[at:byte].decode("utf-8", "replace"))
        by_byte[byte], at = offset, byte
    return [by_byte[byte] for byte in starts]


def _module_name(uri: str) -> str:
    return PurePosixPath(unquote(urlparse(uri).path)).stem


def _importers(other: Document, uri: str, rename: Rename) -> list[Replacement]:
    """``rename`` in ``other`` where it imports the name from the renamed module: the import
    itself and the module-level uses (``module.name`` too, after ``import module``)."""
    syntax = other.syntax
    module = _module_name(uri)
    if other.uri == uri or syntax is None or syntax.tree is None or not module:
        return []
    text = other.text
    named = rf"\b{re.escape(module)}\b"
    old = re.escape(rename.old)
    from_import = re.search(rf"from\s+[\w.]*{named}\s+import\s+(?:\([^)]*|[^\n]*)\b{old}\b", text)
    js_import = re.search(rf"import\s*{{[^}}]*\b{old}\b[^}}]*}}\s*from\s*['\"][^'\"]*{named}", text)
    module_import = re.search(rf"^\s*import\s+[\w.]*{named}\s*$", text, re.MULTILINE)
    if not (from_import or js_import or module_import):
        return []
    root = syntax.tree.root_node
    if _occurs(syntax, text, rename.new, root):
        return []  # the new name is taken there
    starts = []
    for node in _named(syntax, text, rename.old, root):
        obj = _attribute_object(node)
        direct = obj is None and (from_import or js_import) and not _shadowed(node, root, rename.old, syntax, text)
        if direct or (obj == module and module_import):
            starts.append(node.start_byte)
    return [
        Replacement(other.uri, other.version, start, start + len(rename.old), rename.new, "rename")
        for start in _text_offsets(syntax, text, starts[:MAX_OCCURRENCES])
    ]
