"""Cleaning after generation, rule by rule, then all together. Documents mark the cursor with █."""

import pytest

from copilot.postprocess import cleaning
from copilot.postprocess.cleaning import (
    clean,
    cut_at_dedent,
    cut_repetition,
    drop_suffix_overlap,
    trim_syntax_errors,
)

from . import at


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
    monkeypatch.setattr(cleaning, "SYNTAX_BUDGET_S", -1.0)
    assert trim_syntax_errors(completion, at("python", document)) == completion


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
