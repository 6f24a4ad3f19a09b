"""Rename propagation on real tree-sitter trees: scopes, shadowing, attributes, collisions,
strings and comments, and the open files that import the name."""

from __future__ import annotations

from copilot.nextedit.suggest import NextEdits

from .helpers import open_doc, suggested, type_over

SOURCE = '''\
def total(items):
    count = 0
    for item in items:
        count += item
    print("count", count)  # count of items
    return count


def other(count):
    return count * 2


def outer():
    count = 1

    def inner(count):
        return count

    return count + inner(3)
'''


def test_a_local_rename_reaches_its_uses_in_its_function_only_nearest_first() -> None:
    edits = NextEdits()
    doc = open_doc(SOURCE)
    type_over(edits, doc, SOURCE.index("count = 0"), "count", "acc")
    found = suggested(edits, doc)
    assert [(line, old, new) for _, line, old, new in found] == [
        (3, "count", "acc"),
        (4, "count", "acc"),  # the string and the comment on that line are left alone
        (5, "count", "acc"),
    ]


def test_a_parameter_rename_stays_in_its_function() -> None:
    edits = NextEdits()
    doc = open_doc(SOURCE)
    type_over(edits, doc, SOURCE.index("count):"), "count", "n")
    assert [(line, new) for _, line, _, new in suggested(edits, doc)] == [(9, "n")]


def test_a_nested_function_that_binds_the_name_again_is_left_out() -> None:
    edits = NextEdits()
    doc = open_doc(SOURCE)
    type_over(edits, doc, SOURCE.index("count = 1"), "count", "base")
    assert [line for _, line, _, _ in suggested(edits, doc)] == [18]  # not inner's parameter or use


def test_a_rename_to_a_name_the_scope_already_uses_is_not_suggested() -> None:
    edits = NextEdits()
    doc = open_doc(SOURCE)
    type_over(edits, doc, SOURCE.index("count = 0"), "count", "item")  # `item` is the loop variable
    assert suggested(edits, doc) == []


def test_attributes_go_with_the_same_object_only() -> None:
    text = (
        "class A:\n    def f(self, other):\n        self.size = 1\n        other.size = 2\n        return self.size\n"
    )
    edits = NextEdits()
    doc = open_doc(text)
    type_over(edits, doc, text.index("size = 1"), "size", "length")
    assert [(line, old, new) for _, line, old, new in suggested(edits, doc)] == [(4, "size", "length")]


def test_a_module_level_rename_reaches_the_open_file_that_imports_it() -> None:
    library = "def parse(text):\n    return text.split()\n\n\nresult = parse('a b')\n"
    user = "from app.lib import parse\n\n\ndef run(line):\n    return parse(line)\n"
    unrelated = "def parse(x):\n    return x\n\n\nparse(1)\n"
    edits = NextEdits()
    lib = open_doc(library, "file:///w/app/lib.py")
    importer = open_doc(user, "file:///w/app/main.py")
    bystander = open_doc(unrelated, "file:///w/other.py")
    type_over(edits, lib, 4, "parse", "tokenize")
    found = suggested(edits, lib, importer, bystander)
    assert [(uri.rsplit("/", 1)[1], line, new) for uri, line, _, new in found] == [
        ("lib.py", 4, "tokenize"),
        ("main.py", 0, "tokenize"),
        ("main.py", 4, "tokenize"),
    ]


def test_no_suggestion_while_the_name_is_half_deleted_into_nothing() -> None:
    edits = NextEdits()
    doc = open_doc(SOURCE)
    at = SOURCE.index("count = 0")
    type_over(edits, doc, at, "count", "")
    assert suggested(edits, doc) == []


def test_unpacked_targets_bind_and_keyword_names_are_labels() -> None:
    text = (
        "def run(queue):\n"
        "    time, action = queue[0]\n"
        "    report(time=time, action=action)\n"
        "    return time\n"
        "\n"
        "\n"
        "def other():\n"
        "    return time.sleep\n"
    )
    edits = NextEdits()
    doc = open_doc(text)
    type_over(edits, doc, text.index("time,"), "time", "when")
    # the local's uses in its function; not report()'s keyword, not the module's `time` elsewhere
    found = [(line, old, new) for _, line, old, new in suggested(edits, doc)]
    assert found == [(2, "time", "when"), (3, "time", "when")]


def test_an_attribute_of_the_new_name_is_no_collision_but_a_variable_is() -> None:
    text = "def f(widget, other):\n    widget.text = 1\n    return widget\n"
    edits = NextEdits()
    doc = open_doc(text)
    type_over(edits, doc, text.index("widget,"), "widget", "text")
    assert [line for _, line, _, _ in suggested(edits, doc)] == [1, 2]
    edits = NextEdits()
    doc = open_doc(text)
    type_over(edits, doc, text.index("widget.text"), "widget", "other")  # switched to another variable
    assert suggested(edits, doc) == []  # neither a rename (it collides) nor a repeated change


def test_offsets_are_string_offsets_after_non_ascii_text() -> None:
    text = 'def f(größe):\n    s = "é€😀"\n    return größe + größe\n'
    edits = NextEdits()
    doc = open_doc(text)
    type_over(edits, doc, text.index("größe"), "größe", "size")
    _, found = edits.suggest(doc, [])
    assert [doc.text[r.start : r.end] for r in found] == ["größe", "größe"]
