"""What a document's syntax tree says about its structure: the scopes around the cursor, the
imports, the named definitions.

Every language is a table of tree-sitter query patterns, not code: its record's
``definitions`` (from ``queries``). ``@def`` captures a definition, ``@name`` its name (or
``@declarator``: a C declarator chain that ends in the name), ``@body`` where its header
ends. Queries run in C without recursion, so deeply nested input costs no Python stack;
results are capped in number and size. A document without a tree (plain text, or a parse
past its time budget) gives empty lists: the caller falls back to lines. Lines are 0-based.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import msgspec
import numpy as np
import tree_sitter

from ..languages import Language, language
from .tree import SyntaxTree


class Scope(msgspec.Struct, frozen=True, kw_only=True):
    """A definition around the cursor; ``header`` is its text up to where its body starts."""

    kind: str
    name: str
    header: str
    start_line: int
    end_line: int


class Snippet(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    start_line: int
    end_line: int


class Definition(msgspec.Struct, frozen=True, kw_only=True):
    """A named definition; ``text`` is all of it (up to ``MAX_TEXT_BYTES``), for the caller to trim."""

    name: str
    kind: str
    header: str
    text: str
    start_line: int
    end_line: int


MAX_DEFINITIONS = 2000
MAX_IMPORTS = 1000
MAX_HEADER_BYTES = 1000  # a header without a body (a type alias) is its whole text: keep it a header
MAX_TEXT_BYTES = 65536  # more than any prompt budget
MAX_DEFINITION_DEPTH = 64  # tree depth below which definitions are not looked for
MAX_SCOPES = 32  # the innermost ones, for pathologically nested input
MAX_NESTING = 256  # brackets; deeper files get no definitions or imports (see _too_deep)
MAX_IMPORT_DEPTH = 6  # deep enough for an import in a method or under `if TYPE_CHECKING:` or `#ifdef`
_WINDOW_BYTES = 32768

# Kinds a "function" defined directly inside is a method of.
_CLASS_LIKE = frozenset({"class", "struct", "impl", "trait", "interface", "enum", "union", "record"})

# Nodes around a definition that belong to its header (decorators, export, const, template<...>, Go's
# `type`) when they wrap that definition alone.
_WRAPPERS = frozenset(
    {
        "decorated_definition",
        "export_statement",
        "lexical_declaration",
        "variable_declaration",
        "template_declaration",
        "type_declaration",
        "ambient_declaration",
    }
)
_MAX_WRAPPERS = 3


class _Queries:
    """The compiled queries of one language."""

    def __init__(self, grammar: tree_sitter.Language, record: Language) -> None:
        patterns, import_types = record.definitions, record.imports
        self.kinds = tuple(kind for _, kind in patterns)
        self.definitions = tree_sitter.Query(grammar, "\n".join(pattern for pattern, _ in patterns))
        self.imports = tree_sitter.Query(grammar, "[" + " ".join(f"({t})" for t in import_types) + "] @import")
        self.indented = record.indented
        # The node types patterns start at: each pattern is "(type ...".
        self.roots = frozenset(pattern[1:].split(maxsplit=1)[0] for pattern, _ in patterns)


_queries: dict[str, _Queries | None] = {}


_BRACKETS = np.zeros(256, dtype=np.int8)
_BRACKETS[[ord("("), ord("["), ord("{")]] = 1
_BRACKETS[[ord(")"), ord("]"), ord("}")]] = -1


def nesting(source: bytes) -> int:
    """The deepest bracket nesting of ``source`` (strings and comments counted too: a bound)."""
    if not source:
        return 0
    depth = np.cumsum(_BRACKETS[np.frombuffer(source, dtype=np.uint8)], dtype=np.int32)
    return int(depth.max(initial=0))


def _too_deep(syntax: SyntaxTree) -> bool:
    """Whether the whole-file queries would take too long: tree-sitter's query cursor costs
    the depth of the tree at every step, so a file nested thousands deep (generated data, a
    fuzzer's input) would take seconds. Checked once per source."""
    if "too_deep" not in syntax.memo:
        syntax.memo["too_deep"] = nesting(syntax.source) > MAX_NESTING
    return bool(syntax.memo["too_deep"])


def _queries_for(syntax: SyntaxTree | None) -> tuple[_Queries, tree_sitter.Tree] | None:
    if syntax is None or syntax.tree is None:
        return None
    language_id = syntax.language_id
    if language_id not in _queries:
        record = language(language_id)
        _queries[language_id] = _Queries(syntax.tree.language, record) if record.definitions else None
    queries = _queries[language_id]
    return None if queries is None else (queries, syntax.tree)


class _Found:
    """One matched definition, before it becomes a Scope or a Definition."""

    __slots__ = ("_header_start", "body_start", "end", "kind", "name", "node", "pattern")

    def __init__(self, node: tree_sitter.Node, pattern: int, kind: str, name: str, body_start: int | None) -> None:
        self.node = node
        self.pattern = pattern
        self.kind = kind
        self.name = name
        self.body_start = body_start
        self.end = node.end_byte
        self._header_start: tree_sitter.Node | None = None

    @property
    def header_start(self) -> tree_sitter.Node:
        """Where the header starts: wrappers included (found on demand: ``Node.parent`` walks from the root)."""
        if self._header_start is None:
            self._header_start = _header_node(self.node)
        return self._header_start


def enclosing_scopes(syntax: SyntaxTree | None, byte_offset: int) -> list[Scope]:
    """The definitions around ``byte_offset``, outermost first."""
    found = _queries_for(syntax)
    if syntax is None or found is None:
        return []
    queries, tree = found
    source = syntax.source
    chain = _around(queries, tree, source, byte_offset)
    anchor = _indent_anchor(source, byte_offset) if queries.indented else None
    if anchor is not None:
        # A blank line after a block is outside its node, yet inside every block it is indented into.
        anchor_byte, indent = anchor
        chain = []
        for item in _around(queries, tree, source, anchor_byte):
            if not (_holds(item.node, byte_offset, True) or item.node.start_point[1] < indent):
                break
            chain.append(item)
    _name_methods(chain)
    return [
        Scope(
            kind=item.kind,
            name=item.name,
            header=_header(source, item),
            start_line=item.header_start.start_point[0],
            end_line=item.node.end_point[0],
        )
        for item in chain
    ]


def definitions(syntax: SyntaxTree | None) -> list[Definition]:
    """The file's named definitions, nested ones included, in source order (at most ``MAX_DEFINITIONS``)."""
    found = _queries_for(syntax)
    if syntax is None or found is None or _too_deep(syntax):
        return []
    queries, tree = found
    source = syntax.source
    # Window by window, so that a huge file stops costing once MAX_DEFINITIONS are found. A definition
    # starts in the first window it meets: when a window ends, every definition before its end is known.
    by_node: dict[tuple[int, int, int], _Found] = {}
    for start in range(0, max(len(source), 1), _WINDOW_BYTES):
        cursor = tree_sitter.QueryCursor(queries.definitions)
        cursor.set_max_start_depth(MAX_DEFINITION_DEPTH)
        cursor.set_byte_range(start, start + _WINDOW_BYTES)
        _collect(queries, source, cursor.matches(tree.root_node), by_node)
        if len(by_node) >= MAX_DEFINITIONS:
            break
    items = _in_order(by_node)[:MAX_DEFINITIONS]
    # In source order, outer before inner: a stack of the open definitions says what each one is in.
    stack: list[_Found] = []
    for item in items:
        while stack and stack[-1].end <= item.node.start_byte:
            stack.pop()
        if item.kind == "function" and stack and stack[-1].kind in _CLASS_LIKE:
            item.kind = "method"
        stack.append(item)
    return [
        Definition(
            name=item.name,
            kind=item.kind,
            header=_header(source, item),
            text=_full_text(source, item),
            start_line=item.header_start.start_point[0],
            end_line=item.node.end_point[0],
        )
        for item in items
    ]


def imports(syntax: SyntaxTree | None) -> list[Snippet]:
    """The file's import, use and #include statements, in source order (at most ``MAX_IMPORTS``)."""
    found = _queries_for(syntax)
    if syntax is None or found is None or _too_deep(syntax):
        return []
    queries, tree = found
    cursor = tree_sitter.QueryCursor(queries.imports)
    cursor.set_max_start_depth(MAX_IMPORT_DEPTH)
    snippets: list[Snippet] = []
    for _, captures in cursor.matches(tree.root_node)[:MAX_IMPORTS]:
        node = captures["import"][0]
        text = _text(syntax.source, node.start_byte, node.end_byte).rstrip()  # an #include ends in its newline
        start_line = node.start_point[0]
        snippets.append(Snippet(text=text, start_line=start_line, end_line=start_line + text.count("\n")))
    return snippets


def _around(queries: _Queries, tree: tree_sitter.Tree, source: bytes, byte: int) -> list[_Found]:
    """The definitions holding ``byte``, outermost first: the innermost ``MAX_SCOPES`` of them.

    A walk down the tree toward ``byte``, then a query on each candidate alone: a query over a byte range
    would visit every node of a flat error node."""
    # The first child that ends past ``target``: where blocks end by indentation, one ending at the cursor too.
    target = byte - 1 if queries.indented and byte > 0 else byte
    walk = tree.walk()
    candidates: list[tree_sitter.Node] = []
    while walk.goto_first_child_for_byte(target) is not None:
        node = walk.node
        if node is None or node.start_byte >= byte:
            break
        if node.type in queries.roots and _holds(node, byte, queries.indented):
            candidates.append(node)
    by_node: dict[tuple[int, int, int], _Found] = {}
    for node in candidates[-MAX_SCOPES:]:
        cursor = tree_sitter.QueryCursor(queries.definitions)
        cursor.set_max_start_depth(0)  # patterns rooted at this node only
        _collect(queries, source, cursor.matches(node), by_node)
    return _in_order(by_node)


def _holds(node: tree_sitter.Node, byte: int, end_inclusive: bool) -> bool:
    # The cursor right before a definition is not in it; right after its last character it is only where
    # indentation ends blocks (in a brace language it is past the closing brace).
    start, end = node.start_byte, node.end_byte
    return start < byte < end or (end_inclusive and start < byte == end)


def _collect(
    queries: _Queries,
    source: bytes,
    matches: Iterable[tuple[int, dict[str, list[tree_sitter.Node]]]],
    by_node: dict[tuple[int, int, int], _Found],
) -> None:
    """Named definitions from query matches into ``by_node``: one per node, the first pattern that matches it."""
    for pattern, captures in matches:
        node = captures["def"][0]
        key = (node.start_byte, node.end_byte, node.kind_id)
        if key in by_node and by_node[key].pattern <= pattern:
            continue
        name = _name(source, captures)
        if not name:
            continue
        body = captures.get("body")
        body_start = body[0].start_byte if body else None
        by_node[key] = _Found(node, pattern, queries.kinds[pattern], name, body_start)


def _in_order(by_node: dict[tuple[int, int, int], _Found]) -> list[_Found]:
    """Source order, outer before inner."""
    return sorted(by_node.values(), key=lambda item: (item.node.start_byte, -item.end))


def _name(source: bytes, captures: dict[str, list[tree_sitter.Node]]) -> str:
    if "name" in captures:
        node = captures["name"][0]
    elif "declarator" in captures:
        found = _declarator_name(captures["declarator"][0])
        if found is None:
            return ""
        node = found
    else:
        return ""
    return _text(source, node.start_byte, node.end_byte)


def _declarator_name(node: tree_sitter.Node) -> tree_sitter.Node | None:
    """The name at the end of a C declarator chain: ``**f(int)`` -> ``f``, ``(*get(void))(int)`` -> ``get``."""
    current: tree_sitter.Node | None = node
    for _ in range(32):  # chains are short; a bound keeps odd error trees cheap
        if current is None or not current.type.endswith("_declarator"):
            return current
        # reference_declarator and parenthesized_declarator hold theirs without a field name.
        inner = current.child_by_field_name("declarator")
        current = inner if inner is not None else current.named_child(current.named_child_count - 1)
    return None


def _header_node(node: tree_sitter.Node) -> tree_sitter.Node:
    """The outermost wrapper that holds ``node`` alone (``@decorator``, ``export``, ``const f =``, ``template<>``)."""
    for _ in range(_MAX_WRAPPERS):
        parent = node.parent
        if parent is None or parent.type not in _WRAPPERS:
            break
        if sum(child.kind_id == node.kind_id for child in parent.named_children) != 1:
            break
        node = parent
    return node


def _header(source: bytes, item: _Found) -> str:
    start = item.header_start.start_byte
    end = item.body_start if item.body_start is not None else item.end
    return _text(source, start, min(end, start + MAX_HEADER_BYTES)).rstrip()


def _full_text(source: bytes, item: _Found) -> str:
    start = item.header_start.start_byte
    return _text(source, start, min(item.end, start + MAX_TEXT_BYTES))


def _text(source: bytes, start: int, end: int) -> str:
    # A capped slice may cut a character in two: drop the fragment.
    return source[start:end].decode("utf-8", errors="ignore")


def _name_methods(chain: list[_Found]) -> None:
    for outer, inner in itertools.pairwise(chain):
        if inner.kind == "function" and outer.kind in _CLASS_LIKE:
            inner.kind = "method"


def _indent_anchor(source: bytes, byte: int) -> tuple[int, int] | None:
    """For a cursor with only indentation before it on its line: the end of the code before that line and
    the cursor's indentation, else None."""
    line_start = source.rfind(b"\n", 0, byte) + 1
    before = source[line_start:byte]
    if before.strip():
        return None
    window = max(line_start - 65536, 0)  # blank lines beyond that: no block to be in
    code = source[window:line_start].rstrip()
    return (window + len(code), len(before)) if code else None
