"""The window of the document around the cursor."""

import pytest

from copilot.postprocess.cursor import LINES_AFTER, LINES_BEFORE, Cursor


def test_cursor_keeps_a_bounded_window() -> None:
    cursor = Cursor.at("line\n" * 2000 + "x = ", " + 1\n" + "more\n" * 2000, "python")
    assert cursor.before.count("\n") == LINES_BEFORE and cursor.before.endswith("line\nx = ")
    assert cursor.after.count("\n") == LINES_AFTER and cursor.after.startswith(" + 1\n")
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
