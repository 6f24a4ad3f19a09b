"""Languages the server knows, one record each: the LSP language id, file extensions, tree-sitter
grammar, and every per-language fact a stage switches on (comments and strings, how blocks open
and end, which definitions and imports a syntax tree holds).

Adding a language means adding one ``Language`` to ``LANGUAGES`` (with a grammar, its definition
queries go to ``syntax/queries.py``). Grammars come from the individual ``tree-sitter-<lang>``
wheels (offline, no compiler). Any other language still completes, with plain-text context:
``language()`` answers ``UNKNOWN`` for it.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from dataclasses import dataclass
from pathlib import Path

import tree_sitter

from .syntax import queries


@dataclass(frozen=True)
class Lexicon:
    """What opens a comment or string in a language, so that brackets inside them are not counted."""

    line_comment: str = ""
    block_comment: bool = False
    quotes: tuple[str, ...] = ('"',)  # longest first
    multiline_quotes: frozenset[str] = frozenset()


PLAIN = Lexicon()  # languages without a grammar: brackets and double quotes (a ' is as often an apostrophe)

DEFAULT_LINE_COMMENT = "//"  # JavaScript, TypeScript, Go, Rust, Java, C, C++ and most others

# Lines that start a statement in well-formatted code: where a window of the document around the cursor may
# be cut. A window cut there does not start or end inside a string, where a parse goes wrong, and slow.
TOP_LEVEL_LINE = re.compile(r"^[A-Za-z_#@]", re.MULTILINE)


@dataclass(frozen=True, kw_only=True)
class Language:
    """What the server knows of one language. The defaults describe a language it knows nothing of."""

    id: str  # the LSP language id
    extensions: tuple[str, ...] = ()  # lower case, with the dot
    # The tree-sitter grammar: (module, function returning the language pointer); None: plain-text context.
    grammar: tuple[str, str] | None = None
    # How a line comment starts, for context snippets written as comments into a prompt.
    line_comment: str = DEFAULT_LINE_COMMENT
    # Comments and strings for the bracket scan of post-processing.
    lexicon: Lexicon = PLAIN
    # Tree-sitter query patterns for named definitions, each with its kind (see ``syntax/queries.py``).
    definitions: queries.Patterns = ()
    imports: tuple[str, ...] = ()  # node types of import, use and #include statements
    # Blocks end by indentation: a node ending right at the cursor still holds it (the cursor is at the end of
    # its last line), and a blank line after a block belongs to the block it is indented into.
    indented: bool = False
    # The characters that end a block header, by text alone (an unknown language: either).
    block_openers: str = "{:"
    # Node types whose ``:`` opens a block (a ``:`` elsewhere is a slice, lambda, dict, annotation); empty
    # where a ``{`` token opens blocks.
    block_statements: frozenset[str] = frozenset()
    # The text fallback when tree-sitter cannot tell whether a header opens a block: the header must match it.
    block_header: re.Pattern[str] | None = None
    top_level_line: re.Pattern[str] = TOP_LEVEL_LINE  # see TOP_LEVEL_LINE
    preprocessor: str = ""  # how a preprocessor line starts: whatever block it is in, it sits at column 0


PYTHON = Language(
    id="python",
    extensions=(".py", ".pyi"),
    grammar=("tree_sitter_python", "language"),
    line_comment="#",
    lexicon=Lexicon("#", False, ('"""', "'''", '"', "'"), frozenset({'"""', "'''"})),
    definitions=queries.PYTHON,
    imports=("import_statement", "import_from_statement", "future_import_statement"),
    indented=True,
    block_openers=":",
    block_statements=frozenset(
        {
            "function_definition",
            "class_definition",
            "if_statement",
            "elif_clause",
            "else_clause",
            "for_statement",
            "while_statement",
            "with_statement",
            "try_statement",
            "except_clause",
            "except_group_clause",
            "finally_clause",
            "match_statement",
            "case_clause",
        }
    ),
    block_header=re.compile(
        r"\s*(?:async\s+)?(?:def|class|if|elif|else|for|while|with|try|except|finally|match|case)\b"
    ),
    # Stricter than TOP_LEVEL_LINE, as docstrings hold text at column 0, and may be indented: the cursor may sit
    # deep in a long class.
    top_level_line=re.compile(r"^[ \t]*(?:(?:async )?def |class |@\w)|^(?:import \w|from \S+ import )", re.MULTILINE),
)

JAVASCRIPT = Language(
    id="javascript",
    extensions=(".js", ".mjs", ".cjs"),
    grammar=("tree_sitter_javascript", "language"),
    lexicon=Lexicon("//", True, ('"', "'", "`"), frozenset({"`"})),
    definitions=queries.JAVASCRIPT,
    imports=("import_statement",),
    block_openers="{",
)

TYPESCRIPT = Language(
    id="typescript",
    extensions=(".ts", ".mts"),
    grammar=("tree_sitter_typescript", "language_typescript"),
    lexicon=JAVASCRIPT.lexicon,
    definitions=queries.TYPESCRIPT,
    imports=("import_statement",),
    block_openers="{",
)

GO = Language(
    id="go",
    extensions=(".go",),
    grammar=("tree_sitter_go", "language"),
    lexicon=Lexicon("//", True, ('"', "'", "`"), frozenset({"`"})),
    definitions=queries.GO,
    imports=("import_declaration",),
    block_openers="{",
)

RUST = Language(
    id="rust",
    extensions=(".rs",),
    grammar=("tree_sitter_rust", "language"),
    lexicon=Lexicon("//", True, ('"',), frozenset({'"'})),  # a lone ' is a lifetime
    definitions=queries.RUST,
    imports=("use_declaration", "extern_crate_declaration"),
    block_openers="{",
)

JAVA = Language(
    id="java",
    extensions=(".java",),
    grammar=("tree_sitter_java", "language"),
    lexicon=Lexicon("//", True, ('"""', '"', "'"), frozenset({'"""'})),
    definitions=queries.JAVA,
    imports=("import_declaration",),
    block_openers="{",
)

C = Language(
    id="c",
    extensions=(".c", ".h"),
    grammar=("tree_sitter_c", "language"),
    lexicon=Lexicon("//", True, ('"', "'")),
    definitions=queries.C,
    imports=("preproc_include",),
    block_openers="{",
    preprocessor="#",
)

CPP = dataclasses.replace(
    C,
    id="cpp",
    extensions=(".cc", ".cpp", ".cxx", ".hpp", ".hh"),
    grammar=("tree_sitter_cpp", "language"),
    definitions=queries.CPP,
)

UNKNOWN = Language(id="")  # any language without a record

LANGUAGES: dict[str, Language] = {
    record.id: record
    for record in (
        PYTHON,
        JAVASCRIPT,
        # JSX and TSX: their language's facts, with a grammar of their own for TSX.
        dataclasses.replace(JAVASCRIPT, id="javascriptreact", extensions=(".jsx",)),
        TYPESCRIPT,
        dataclasses.replace(
            TYPESCRIPT, id="typescriptreact", extensions=(".tsx",), grammar=("tree_sitter_typescript", "language_tsx")
        ),
        GO,
        RUST,
        JAVA,
        C,
        CPP,
        # Without a grammar: how their comment lines start.
        Language(id="plaintext", line_comment="#"),
        Language(id="shellscript", line_comment="#"),
        Language(id="ruby", line_comment="#"),
        Language(id="yaml", line_comment="#"),
    )
}

# Views of LANGUAGES. language id -> (grammar module, function returning the language pointer)
GRAMMARS: dict[str, tuple[str, str]] = {
    record.id: record.grammar for record in LANGUAGES.values() if record.grammar is not None
}
EXTENSIONS: dict[str, str] = {extension: record.id for record in LANGUAGES.values() for extension in record.extensions}


def language(language_id: str) -> Language:
    """The record of ``language_id``; ``UNKNOWN`` for a language without one."""
    return LANGUAGES.get(language_id, UNKNOWN)


def language_for_path(path: Path) -> str:
    return EXTENSIONS.get(path.suffix.lower(), "plaintext")


def load_grammar(language_id: str) -> tree_sitter.Language:
    """The tree-sitter language for ``language_id``; KeyError/ImportError when there is none."""
    module_name, function = GRAMMARS[language_id]
    module = importlib.import_module(module_name)
    return tree_sitter.Language(getattr(module, function)())


def line_comment(language_id: str) -> str:
    return language(language_id).line_comment
