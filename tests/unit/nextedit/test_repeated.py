"""Repeated changes: a transformation made once, found where it applies again."""

from __future__ import annotations

from copilot.nextedit.history import EditEvent
from copilot.nextedit.repeated import apply_elsewhere, learn


def propose(text: str, line: int, new_line: str) -> list[tuple[str, str]] | None:
    lines = text.split("\n")
    start = sum(len(each) + 1 for each in lines[:line])
    event = EditEvent("u", start, lines[line], new_line, 2, 0.0)
    lines[line] = new_line
    edited = "\n".join(lines)
    pattern = learn(event, edited)
    if pattern is None:
        return None
    return [(edited[r.start : r.end], r.new) for r in apply_elsewhere(pattern, event, edited, "u", 2)]


def test_print_statement_to_call() -> None:
    text = "print x\nprint y.z\nprint(w)\nprint a + 1\nreturn b\n"
    assert propose(text, 0, "print(x)") == [("print y.z", "print(y.z)")]


def test_an_argument_added_to_a_call() -> None:
    text = "foo(a)\nx = foo(b)\nbar(c)\nfoo(d, e)\n"
    assert propose(text, 0, "foo(a, timeout)") == [("foo(b)", "foo(b, timeout)")]


def test_get_to_subscript_with_any_receiver_and_key() -> None:
    text = 'y = x.get("k")\nz = d.get(\'q\')\nw = m.get(1).strip()\n'
    # the change is `.get(K)` -> `[K]`, wherever it is on a line
    assert propose(text, 0, 'y = x["k"]') == [(".get('q')", "['q']"), (".get(1)", "[1]")]


def test_nearest_place_first() -> None:
    text = "\n".join(f"call(v{i})" for i in range(6))
    found = propose(text, 3, "call(v3, 1)")
    assert found is not None
    assert [old for old, _ in found][:3] == ["call(v2)", "call(v4)", "call(v1)"]


def test_a_change_of_spacing_or_of_bare_operands_is_not_generalised() -> None:
    assert propose("a = b\nc = d\n", 0, "a  =  b") is None
    assert propose("x\ny\n", 0, "z") is None


def test_one_off_edits_are_not_generalised() -> None:
    assert propose("x = 4\ny = 4\n", 0, "x = 5") is None  # a literal replaced: nothing carried over
    assert propose("a + b\nc + d\n", 0, "a - b") is None  # an operator: no name of its own
    assert propose("if x > 3:\n    y\nif z > 3:\n", 0, "if x >= 3:") is None  # an operator again
    assert propose("def f(self):\ndef g(self):\n", 0, "def f(self) -> bool:") in (None, [])


def test_a_changed_call_is_the_call_not_what_holds_it() -> None:
    text = "combining(unichr(cp))\nname(unichr(c))\n"
    assert propose(text, 0, "combining(chr(cp))") == [("unichr(c)", "chr(c)")]
    text = "for k, v in iteritems(these):\nd = dict(iteritems(self.x))\n"
    assert propose(text, 0, "for k, v in these.items():") == [("iteritems(self.x)", "self.x.items()")]
