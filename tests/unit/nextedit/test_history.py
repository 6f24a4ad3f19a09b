"""Edit events from document changes: one event per edit as a person makes it."""

from __future__ import annotations

from copilot.documents import TextChange
from copilot.nextedit.history import PAUSE_S, EditHistory


def change(text: str, start: int, end: int, new: str) -> tuple[TextChange, str]:
    return TextChange(start, end, new, text), text[:start] + new + text[end:]


def test_a_word_retyped_key_by_key_is_one_event() -> None:
    history = EditHistory()
    text = "x = count + 1\n"
    for i in range(5, 0, -1):  # backspace over "count"
        c, text = change(text, 4 + i - 1, 4 + i, "")
        history.record("u", c, 1, 0.1)
    for i, char in enumerate("total"):
        c, text = change(text, 4 + i, 4 + i, char)
        history.record("u", c, 1, 0.2)
    assert len(history.events()) == 1
    event = history.events()[0]
    assert (event.start, event.old, event.new) == (4, "count", "total")
    assert text[event.start : event.end] == "total"


def test_a_pause_or_another_place_starts_a_new_event() -> None:
    history = EditHistory()
    text = "a = 1\nb = 2\n"
    c, text = change(text, 4, 5, "7")
    history.record("u", c, 1, 0.0)
    c, text = change(text, 10, 11, "8")  # another line
    history.record("u", c, 2, 0.1)
    c, text = change(text, 11, 11, "9")  # right after, but after a pause
    history.record("u", c, 3, 0.1 + PAUSE_S + 1)
    assert [(e.old, e.new) for e in history.events()] == [("", "9"), ("2", "8"), ("1", "7")]


def test_an_edit_above_moves_older_events_of_that_document() -> None:
    history = EditHistory()
    text = "a = 1\nb = 2\n"
    c, text = change(text, 10, 11, "8")
    history.record("u", c, 1, 0.0)
    c, text = change(text, 0, 0, "# head\n")
    history.record("u", c, 2, 10.0)
    older = history.events()[1]
    assert text[older.start : older.end] == "8"


def test_typing_and_taking_it_back_leaves_no_event() -> None:
    history = EditHistory()
    text = "a = 1\n"
    c, text = change(text, 5, 5, "2")
    history.record("u", c, 1, 0.0)
    c, text = change(text, 5, 6, "")
    history.record("u", c, 2, 0.1)
    assert history.events() == []
