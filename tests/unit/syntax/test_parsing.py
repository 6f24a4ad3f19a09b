"""Parsing with a time budget, and the syntax-error counts post-processing asks for."""

import time

import pytest

from copilot.syntax import parsing


def test_parse_gives_up_past_its_deadline_and_the_parser_still_works() -> None:
    text = "def f():\n    return 1\n" * 50
    assert parsing.parse("python", text, deadline=time.perf_counter() - 1) is None
    tree = parsing.parse("python", text)
    assert tree is not None and parsing.error_count(tree) == 0


@pytest.mark.parametrize(
    ("language_id", "text", "errors"),
    [
        ("python", "x = 1\n", 0),
        ("python", "x = = 1\n", 1),
        ("javascript", "function f() {", 1),  # a MISSING }
        ("plaintext", "x", None),
    ],
)
def test_syntax_errors(language_id: str, text: str, errors: int | None) -> None:
    assert parsing.syntax_errors(language_id, text) == errors


@pytest.mark.parametrize(
    ("before", "inserted", "after"),
    [
        ("def f():\n    ", "x = 1\n    return x", "\n\ndef g():\n    pass\n"),
        ("def f():\n    ", "x = = 1\n    return x", "\n\ndef g():\n    pass\n"),
        ('s = "é"\nt = "日本"; u = ', "(1,\n  2", "\nv = 3\n"),  # byte columns differ from characters
        ("x = 1\n", "", "y = 2\n"),
    ],
)
def test_errors_with_insertion_agrees_with_a_fresh_parse(before: str, inserted: str, after: str) -> None:
    tree = parsing.parse("python", before + after)
    assert tree is not None
    fresh = parsing.syntax_errors("python", before + inserted + after)
    assert parsing.errors_with_insertion("python", tree, before, inserted, after) == fresh


def test_parsed_trees_keep_their_text() -> None:
    tree = parsing.parse("python", "x = (1,\n")  # the callback parse once crashed on Node.text
    assert tree is not None and tree.root_node.text == b"x = (1,\n"


def test_parsers_are_cached_per_language() -> None:
    assert parsing.parser_for("python") is parsing.parser_for("python")
    assert parsing.parser_for("go") is not parsing.parser_for("python")
    assert parsing.parser_for("plaintext") is None
