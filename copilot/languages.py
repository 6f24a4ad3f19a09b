"""Languages the server knows: LSP language ids, file extensions and tree-sitter grammars.

Grammars come from the individual ``tree-sitter-<lang>`` wheels (offline, no compiler).
Any other language still completes, with plain-text context.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import tree_sitter

# language id -> (grammar module, function returning the language pointer)
GRAMMARS: dict[str, tuple[str, str]] = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "javascriptreact": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "typescriptreact": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "java": ("tree_sitter_java", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
}

EXTENSIONS: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascriptreact",
    ".ts": "typescript",
    ".mts": "typescript",
    ".tsx": "typescriptreact",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".hpp": "cpp",
    ".hh": "cpp",
}


def language_for_path(path: Path) -> str:
    return EXTENSIONS.get(path.suffix.lower(), "plaintext")


def load_grammar(language_id: str) -> tree_sitter.Language:
    """The tree-sitter language for ``language_id``; KeyError/ImportError when there is none."""
    module_name, function = GRAMMARS[language_id]
    module = importlib.import_module(module_name)
    return tree_sitter.Language(getattr(module, function)())

# How a line comment starts, for context snippets written as comments into a prompt.
LINE_COMMENT: dict[str, str] = {"python": "#", "plaintext": "#", "shellscript": "#", "ruby": "#", "yaml": "#"}
DEFAULT_LINE_COMMENT = "//"  # JavaScript, TypeScript, Go, Rust, Java, C, C++ and most others


def line_comment(language_id: str) -> str:
    return LINE_COMMENT.get(language_id, DEFAULT_LINE_COMMENT)
