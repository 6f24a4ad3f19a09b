import pytest

from copilot.postprocess import clean, cut_repetition, drop_suffix_overlap


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
    ("completion", "suffix", "expected"),
    [
        ("read()\n\n", "\n", "read()"),
        ("   \n  ", "", ""),
        ("a, b\nc = 2", ")\nnext", "a, b"),  # text after the cursor on its line: one line only
        ("if x:\n    y()", "\n", "if x:\n    y()"),
    ],
)
def test_clean(completion: str, suffix: str, expected: str) -> None:
    assert clean(completion, suffix) == expected


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
