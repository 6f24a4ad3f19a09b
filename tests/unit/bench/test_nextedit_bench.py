"""The nextedit bench's pure logic: which rename steps count, what a rename case expects, and which
changed lines of a release diff make one repeated change."""

from bench.nextedit.big_file import cut
from bench.nextedit.cases import eligible, rename_cases
from bench.nextedit.common import Editor
from bench.nextedit.releases import LineChange, change_signature, learner_groups, line_changes, token_groups

OLD = """import os


def load(path, mode):
    print "loading"
    handle = open(path, mode)
    data = handle.read()
    print "read", len(data)
    handle.close()
    print "done"
    return data
"""

NEW = """import os


def load(path, mode):
    print("loading")
    handle = open(path, mode)
    data = handle.read()
    print("read", len(data))
    handle.close()
    print("done")
    return data
"""


def test_a_step_is_eligible_when_the_typed_name_is_a_fresh_identifier() -> None:
    variables = frozenset({"value", "total", "items"})
    assert eligible("amount", "value", variables)
    assert eligible("a", "value", variables)
    assert eligible("valu", "value", variables)  # half deleted: a rename into "valu" all the same
    assert not eligible("", "value", variables)  # nothing typed yet
    assert not eligible("value", "value", variables)  # not a change
    assert not eligible("total", "value", variables)  # a variable of the scope: it would collide
    assert not eligible("in", "value", variables)  # a keyword
    assert not eligible("2x", "value", variables)


def test_the_same_change_at_several_lines_is_one_group() -> None:
    pairs, truth = line_changes(OLD, NEW)
    assert [c.line for c in pairs] == [4, 7, 9]
    assert truth[4] == {'    print("loading")'}
    # print "x" -> print("x") twice; print "read", len(data) is another token change
    assert [[c.line for c in g] for g in token_groups(pairs)] == [[4, 9]]
    assert change_signature("x = 1", "x  =  1") is None  # spacing only
    assert change_signature("f(a)", "f(a, timeout)") == ((), (",", "timeout"))


def test_signatures_abstract_operands_present_on_both_sides() -> None:
    first = change_signature('    x = d.get("k")', '    x = d["k"]')
    second = change_signature("    y = m.get(key)", "    y = m[key]")
    assert first == second
    assert change_signature("a < 10", "a <= 10") != change_signature("a < 10", "a > 10")


def test_learner_groups_are_the_lines_its_pattern_reproduces() -> None:
    old = "foo(a)\nx = foo(b)\nbar(c)\nfoo(d)\n"
    new = "foo(a, t)\nx = foo(b, t)\nbar(c)\nfoo(d)\n"  # the last call was left as it was
    pairs, truth = line_changes(old, new)
    groups = learner_groups(old, pairs)
    assert [[c.line for c in g] for g in groups] == [[0, 1]]
    assert 3 not in truth  # unchanged in the new release: a suggestion there is wrong


def test_unequal_blocks_pair_lines_that_are_alike() -> None:
    old = "a = call(first_argument)\nb = call(second_argument)\n"
    new = "a = call(first_argument, 1)\n# a comment\nb = call(second_argument, 1)\n"
    pairs, _ = line_changes(old, new)
    assert pairs == [
        LineChange(0, "a = call(first_argument)", "a = call(first_argument, 1)"),
        LineChange(1, "b = call(second_argument)", "b = call(second_argument, 1)"),
    ]


def test_rename_cases_expect_the_other_uses_and_skip_ambiguous_names() -> None:
    text = (
        "def f(value, other):\n"
        "    total = value + 1\n"
        "    show(value=value)\n"
        "    items = [value for value in range(3)]\n"  # rebinds value: not a case
        "    total += other\n"
        "    total = total * 2\n"
        "    return total\n"
    )
    cases = {case.old: case for case in rename_cases("t.py", text)}
    assert "value" not in cases and "other" not in cases  # other: used twice only
    total = cases["total"]
    assert total.binding == text.index("total")
    lines = [text.count("\n", 0, at) for at in total.expected]
    assert lines == [4, 5, 5, 6]
    assert "items" in total.variables and "show" in total.variables


def test_keyword_argument_names_are_not_occurrences() -> None:
    text = "def f(size):\n    a = g(size=size)\n    b = size * 2\n    return a + b + size\n"
    (case,) = rename_cases("t.py", text)
    assert case.old == "size"
    assert case.keyword_args == (text.index("size=size"),)
    assert text.index("=size") + 1 in case.expected and text.index("size=size") not in case.expected


def test_the_editor_sends_one_change_per_key_and_the_rules_answer() -> None:
    text = "def f(value):\n    a = value + 1\n    b = value * 2\n    return value\n"
    editor = Editor("file:///t.py", text)
    typed = list(editor.retype(text.index("value"), "value", "amount"))
    assert typed[0] == "valu" and typed[4] == "" and typed[-1] == "amount"
    assert editor.document.version == 1 + 11
    found, ms = editor.ask()
    assert [editor.line_of(r.start) for r in found] == [1, 2, 3] and ms >= 0
    assert all(r.new == "amount" for r in found)


def test_cut_keeps_whole_top_level_definitions() -> None:
    text = "".join(f"def f{i}():\n    return {i}\n\n\n" for i in range(10))
    kept = cut(text, 13)
    assert kept.endswith("return 2\n") and "def f3" not in kept
