"""Balanced brackets and quotes. Documents mark the cursor with █."""

import pytest

from copilot.postprocess.brackets import balance_brackets

from . import at


@pytest.mark.parametrize(
    ("language_id", "document", "completion", "expected"),
    [
        # the rest of the line already closes: the completion does not close again
        ("python", 'print("hel█")\n', 'lo")', "lo"),
        ("python", "x = foo(█)\n", "a, b)", "a, b"),
        ("python", "x = foo(█)\n", "a), b", "a"),
        ("python", 'x = "█"\n', 'abc"', "abc"),
        ("python", 'x = f("(█")\n', ')")', ")"),  # the ( in the string is text
        ("javascript", "foo(█);\n", "a, b);", "a, b"),
        ("javascript", "function f() {█}\n", "\n  return 1;\n}", "\n  return 1;\n"),
        ("javascript", "class A {\n  m() {█}\n}\n", "\n    return 1;\n  }", "\n    return 1;\n  "),
        ("go", "fmt.Println(█)\n", '"hi")', '"hi"'),
        ("rust", "let v = vec![█];\n", "1, 2];", "1, 2"),
        ("plaintext", "say(█)\n", '"hi"))', '"hi"'),
        # no more closers than openers, of the right kind
        ("python", "x = foo(a█\n", ", b))", ", b)"),
        ("python", "x = foo(a█\n", ", b]", ", b"),
        ("python", "x = foo([█]\n", "1])", "1"),
        ("javascript", "const a = [1, 2█\n", "]]", "]"),
        ("plaintext", "it's (big█\n", " one)) deal", " one)"),  # an apostrophe opens no string in prose
        ("plaintext", "    y█", "z)", "z"),
        # unchanged
        ("python", "x = (█\n", "a) + (b)", None),
        ("python", "x = 1  # (█\n", "note))", None),  # in a comment
        ("javascript", "if (a) { log('}'█\n", ") }", None),  # the } in quotes is text
        ("javascript", "foo(█);\n", "a).bar(b", None),  # the suffix then closes bar(
        ("rust", "fn f<'a>(x: &'a str) -> &'a str {\n    g(█", "x) }", None),  # a lifetime is no quote
        ("plaintext", "call(\n" + "    x,\n" * 100 + "    y█", ")", None),  # its opener is above the window
    ],
)
def test_balance_brackets(language_id: str, document: str, completion: str, expected: str | None) -> None:
    assert balance_brackets(completion, at(language_id, document)) == (completion if expected is None else expected)
