"""Post-processing rules, table by table. Documents mark the cursor with █."""

import time

import pytest

from copilot import postprocess
from copilot.postprocess.clean import (
    Cursor,
    balance_brackets,
    clean,
    cut_at_dedent,
    cut_repetition,
    drop_suffix_overlap,
    trim_syntax_errors,
    wants_block,
)
from copilot.syntax import parsing as syntax_check


def at(language_id: str, document: str) -> Cursor:
    prefix, suffix = document.split("█")
    return Cursor.at(prefix, suffix, language_id)


@pytest.mark.parametrize(
    ("completion", "suffix", "expected"),
    [
        ("x = 1\n    return x", "\n    return x\n", "x = 1"),
        ("x = 1\nprint(x)", "\nprint(x)\nmore()", "x = 1"),
        ("x = 1\ny = 2", "\nz = 3\n", "x = 1\ny = 2"),
        ("x = 1\ny = 2", "", "x = 1\ny = 2"),
        ("foo()", "\n)", "foo()"),
    ],
)
def test_drop_suffix_overlap(completion: str, suffix: str, expected: str) -> None:
    assert drop_suffix_overlap(completion, suffix) == expected


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        ("x = os.path.join(os.path.join(os.path.join(os.path.join(", "x = os.path.join("),
        ("self.assertEqual(x)\nself.assertEqual(x)\nself.assertEqual(x)\n", "self.assertEqual(x)\n"),
        ("        return x", "        return x"),  # indentation is not a loop
        ("                    return x", "                    return x"),
        ("a = [1, 2, 3]", "a = [1, 2, 3]"),
        ("f(f(f(f(", "f(f(f(f("),  # units shorter than 4 characters are left alone
        ("ab12ab12ab", "ab12ab12ab"),  # two copies and a half: not yet a loop
    ],
)
def test_cut_repetition(completion: str, expected: str) -> None:
    assert cut_repetition(completion) == expected


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
    monkeypatch.setattr(syntax_check, "parse", lambda *_args, **_kwargs: None)
    prefix, suffix = document.split("█")
    assert wants_block(prefix, suffix, language_id) is expected


@pytest.mark.parametrize(
    ("language_id", "document", "completion", "expected"),
    [
        ("python", "def f():█\n", "\n    x = 1\n    return x\n\ndef g():\n    pass", "\n    x = 1\n    return x\n"),
        ("python", "def f():\n    █\n", "x = 1\n    return x\nprint(f())", "x = 1\n    return x"),
        ("python", "def f():\n    x = █\n", "compute()\n    y = 2\nz = 3", "compute()\n    y = 2"),
        ("python", "class A:█\n", "\npass", ""),  # a body no deeper than its header
        ("python", "x = [\n    █\n]\n", "1,\n    2,\n]\ny = 3", "1,\n    2,\n]"),  # a closer ends the block
        ("javascript", "function f() {█}\n", "\n  return 1;\n}\n\nfunction g() {}", "\n  return 1;\n}"),
        ("javascript", "function f() {\n  █\n}\n", "x();\n}\nfoo();", "x();\n}"),
        ("go", "func f() {\n\t█\n}\n", "x := 1\n\treturn x\n}\n\nfunc g() {", "x := 1\n\treturn x\n}"),
        ("rust", "impl A {\n    fn f(&self) {\n        █\n    }\n}\n", "x();\n    }\n}\nfn g() {}", "x();\n    }"),
        ("plaintext", "server {\n  █\n}\n", "listen 80;\n  root /x;\n}\nother {", "listen 80;\n  root /x;\n}"),
        # unchanged: deeper lines, back to the block's level, preprocessor lines, one line
        ("python", "def f(xs):\n    █\n", "for x in xs:\n        print(x)\n    return 2", None),
        ("c", "int f(void) {\n    █\n}\n", "int x = 1;\n#ifdef DEBUG\n    log(x);\n#endif\n    return x;", None),
        ("python", "    x = █\n", "1\n", None),
    ],
)
def test_cut_at_dedent(language_id: str, document: str, completion: str, expected: str | None) -> None:
    assert cut_at_dedent(completion, at(language_id, document)) == (completion if expected is None else expected)


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


@pytest.mark.parametrize(
    ("language_id", "document", "completion", "expected"),
    [
        ("python", "def f():\n    █\n", "x = 1\n    y = = 2\n    z = 3", "x = 1"),
        ("python", "def f():\n    █\n", "x = = 1\n    y = 2", ""),  # even the first line is wrong
        ("javascript", "function f() {\n  █\n  return 1;\n}\n", "x();\n}", "x();"),  # } would end f early
        ("javascript", "const a = 1;\n█\n", "const b = 2;\nconst c = ;", "const b = 2;"),
        ("go", "func f() int {\n\t█\n}\n", "x := 1\n\treturn x x", "x := 1"),
        ("rust", "fn f() -> i32 {\n    █\n}\n", "let x = 1;\n    let = 2;", "let x = 1;"),
        # unchanged
        ("python", "def f():\n    █\n", "x = 1\n    return x", None),
        ("python", "x = 1\n█\n", "if x:\n    y = [1,", None),  # unfinished, not wrong
        ("javascript", "function f() {\n  █\n}\n", "if (x) {\n    y();\n  } else {", None),
        ("python", "def broken(:\n    █\n", "x = 1\n    return x", None),  # errors already there do not count
        ("go", "func f() int {\n\t█\n}\n", "x := 1\n\treturn x", None),
        ("python", "    x = █\n", "= 1", None),  # one line: not checked
        ("plaintext", "a\n█\n", "b = = 1\nc", None),  # no grammar
    ],
)
def test_trim_syntax_errors(language_id: str, document: str, completion: str, expected: str | None) -> None:
    assert trim_syntax_errors(completion, at(language_id, document)) == (completion if expected is None else expected)


def test_trim_syntax_errors_keeps_the_suggestion_when_parsing_runs_out_of_time(monkeypatch: pytest.MonkeyPatch) -> None:
    document = "".join(f"def f{n}():\n    return {n}\n\n" for n in range(20)) + "def g():\n    █\n"
    completion = "x = 1\n    y = = 2"
    assert trim_syntax_errors(completion, at("python", document)) == "x = 1"
    monkeypatch.setattr(postprocess, "SYNTAX_BUDGET_S", -1.0)
    assert trim_syntax_errors(completion, at("python", document)) == completion


def test_parse_gives_up_past_its_deadline_and_the_parser_still_works() -> None:
    text = "def f():\n    return 1\n" * 50
    assert syntax_check.parse("python", text, deadline=time.perf_counter() - 1) is None
    tree = syntax_check.parse("python", text)
    assert tree is not None and syntax_check.error_count(tree) == 0


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
    assert syntax_check.syntax_errors(language_id, text) == errors


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
    tree = syntax_check.parse("python", before + after)
    assert tree is not None
    fresh = syntax_check.syntax_errors("python", before + inserted + after)
    assert syntax_check.errors_with_insertion("python", tree, before, inserted, after) == fresh


def test_parsed_trees_keep_their_text() -> None:
    tree = syntax_check.parse("python", "x = (1,\n")  # the callback parse once crashed on Node.text
    assert tree is not None and tree.root_node.text == b"x = (1,\n"


def test_parsers_are_cached_per_language() -> None:
    assert syntax_check.parser_for("python") is syntax_check.parser_for("python")
    assert syntax_check.parser_for("go") is not syntax_check.parser_for("python")
    assert syntax_check.parser_for("plaintext") is None


def test_cursor_keeps_a_bounded_window() -> None:
    cursor = Cursor.at("line\n" * 2000 + "x = ", " + 1\n" + "more\n" * 2000, "python")
    assert cursor.before.count("\n") == postprocess.LINES_BEFORE and cursor.before.endswith("line\nx = ")
    assert cursor.after.count("\n") == postprocess.LINES_AFTER and cursor.after.startswith(" + 1\n")
    assert not cursor.whole_prefix
    assert Cursor.at("a\nb", "", "python").whole_prefix


@pytest.mark.parametrize(
    ("language_id", "prefix", "suffix", "starts", "ends"),
    [
        # not inside a's body; not between a decorator and its function
        (
            "python",
            "def a():\n" + "    x = 1\n" * 50 + "def b():\n" + "    y = 2\n" * 50 + "    ",
            "\n" + "    z = 3\n" * 10 + "\n@decorated\ndef c():\n" + "    w = 4\n" * 50,
            "def b():\n",
            "    z = 3\n\n",
        ),
        # deep in a long class: a method's line will do; Python text at column 0 is no statement
        (
            "python",
            'class A:\n    """\nText at column 0\n'
            + "more text\n" * 60
            + '"""\n    def m(self):\n'
            + "        x = 1\n" * 30,
            "\n" + "        y = 2\n" * 50,
            "    def m(self):\n",
            "        y = 2",  # 40 lines after the cursor's
        ),
        (
            "go",
            "func a() {\n" + "\tx := 1\n" * 50 + "}\n\nfunc b() {\n" + "\ty := 2\n" * 50,
            "\n}\n\nfunc c() {\n" + "\tz := 3\n" * 50,
            "func b() {\n",
            "\n}\n\n",
        ),
    ],
)
def test_cursor_window_starts_and_ends_on_statement_lines(
    language_id: str, prefix: str, suffix: str, starts: str, ends: str
) -> None:
    cursor = Cursor.at(prefix, suffix, language_id)
    assert cursor.before.startswith(starts)
    assert cursor.after.endswith(ends)


@pytest.mark.parametrize(
    ("language_id", "document", "completion", "expected"),
    [
        # whitespace, one line when text follows the cursor, loops
        ("plaintext", "x = █\n", "read()\n\n", "read()"),
        ("plaintext", "█", "   \n  ", ""),
        ("plaintext", "f(█)\nnext", "a, b\nc = 2", "a, b"),
        ("python", "x = █\n", "os.path.join(os.path.join(os.path.join(os.path.join(", "os.path.join("),
        # Python: stay in the block, do not repeat the suffix, close nothing twice, add no errors
        (
            "python",
            "def f():█\n\n\ndef g():\n    pass\n",
            "\n    x = 1\n    return x\n\ndef g():\n    pass",
            "\n    x = 1\n    return x",
        ),
        ("python", 'print("hel█")\n', 'lo")\nprint("x")', "lo"),
        ("python", "def f():\n    █\n", "x = 1\n    y = = 2", "x = 1"),
        ("python", "def f():\n    █\n    return x\n", "x = 1\n    return x", "x = 1"),
        # C-like: a block between { and } ends on a line break so that } lands on its own line
        ("javascript", "function f() {█}\n", "\n  return 1;\n}\n\nfunction g() {}", "\n  return 1;\n"),
        ("javascript", "class A {\n  m() {█}\n}\n", "\n    return 1;\n  }\n}", "\n    return 1;\n  "),
        ("javascript", "function f() {\n  █\n}\n", "x();\n}\n", "x();"),
        ("go", "func f() int {\n\t█\n}\n", "x := 1\n\treturn x\n}\n\nfunc g() {", "x := 1\n\treturn x"),
        ("rust", "fn f() {\n    let v = vec![█];\n}\n", "1, 2];", "1, 2"),
        ("yaml", "a:\n  █\nb: 1\n", "x: 1\n  y: 2\nb: 1", "x: 1\n  y: 2"),
        # unchanged
        ("plaintext", "█\n", "if x:\n    y()", None),
        ("python", "def f(xs):\n    █\n", "total = 0\n    for x in xs:\n        total += x\n    return total", None),
        ("javascript", "const xs = [1, 2, 3].map((x) => █);\n", "x * 2", None),
        ("go", "func f() error {\n\tif err != nil {█\n\treturn nil\n}\n", "\n\t\treturn err\n\t}", None),
        ("rust", 'fn main() {\n    let s = "a█";\n}\n', "bc", None),
        ("plaintext", "Dear █\n", "Sir or Madam,", None),
    ],
)
def test_clean(language_id: str, document: str, completion: str, expected: str | None) -> None:
    prefix, suffix = document.split("█")
    wanted = completion if expected is None else expected
    assert clean(completion, prefix, suffix, language_id) == wanted
