"""One line or a block: the decision before generation. Documents mark the cursor with █."""

import pytest

from copilot.postprocess.block import wants_block
from copilot.syntax import parsing


@pytest.mark.parametrize(
    ("language_id", "document", "expected"),
    [
        # Python: after a block header, or in a body that is still empty
        ("python", "def f():█\n", True),
        ("python", "def f():\n    █\n\nx = 1\n", True),
        ("python", "class A:\n    def f(self):\n        █\n", True),
        ("python", "def f(\n    a,\n) -> int:█\n", True),
        ("python", "def f():\n    █\n    return 1\n", False),  # the body has code already
        ("python", "def f(█):\n", False),  # text after the cursor
        ("python", "    total = █\n", False),  # middle of a statement
        ("python", "x = d[1:█\n", False),  # a slice's colon
        ("python", "f = lambda x:█\n", False),
        ("python", 'class A:\n    """Args:█\n', False),  # in a docstring
        ("python", "x = 1  # note:█\n", False),  # in a comment
        ("python", "x = {█}\n", False),  # braces are a dict in Python
        # C-like: after {, or between { and }
        ("javascript", "function f() {█\n", True),
        ("javascript", "function f() {█}\n", True),
        ("javascript", "function f() {\n  █\n}\n", True),
        ("javascript", "function f() {\n  █\n  return 1;\n}\n", False),
        ("javascript", "const s = `a {█\n`;\n", False),  # in a template string
        ("javascript", "// see {█\n", False),
        ("javascript", "foo(█);\n", False),
        ("go", "func f() {█\n", True),
        ("go", "func f() {\n\t█\n}\n", True),
        ("go", "func f() {\n\tx := █\n}\n", False),
        ("go", "func f() {\n\ts := `{█\n`\n}\n", False),  # in a raw string
        ("rust", "fn f() {█}\n", True),
        ("rust", "fn f() {\n    let x = █;\n}\n", False),
        ("rust", "fn f() {\n    // {█\n}\n", False),
        # Unknown languages: { or : by text, an empty body by indentation
        ("plaintext", "server {█\n", True),
        ("yaml", "key:\n  █\nother: 1\n", True),
        ("yaml", "key:\n  █\n  child: 1\n", False),
        ("plaintext", "hello █\n", False),
        ("plaintext", "say(█)\n", False),
    ],
)
def test_wants_block(language_id: str, document: str, expected: bool) -> None:
    prefix, suffix = document.split("█")
    assert wants_block(prefix, suffix, language_id) is expected


@pytest.mark.parametrize(
    ("language_id", "document", "expected"),
    [
        ("python", "if ready:█\n", True),
        ("python", "x = d[1:█\n", False),  # without a tree, a Python header must start with a keyword
        ("javascript", "// see {█\n", True),  # without a tree, a comment is not recognised
    ],
)
def test_wants_block_falls_back_to_text_without_a_tree(
    language_id: str, document: str, expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parsing, "parse", lambda *_args, **_kwargs: None)
    prefix, suffix = document.split("█")
    assert wants_block(prefix, suffix, language_id) is expected
