"""The Sweep next-edit format: the prompt's sections, and the model's answer as edits."""

from __future__ import annotations

from copilot.nextedit.history import EditEvent
from copilot.nextedit.sweep import Block, block_at, build, diff

TEXT = "import os\n\ndef f(amount, rate):\n    x = price * rate\n    return price\n\nprint(f(1, 2))\n"


def test_the_prompt_has_the_file_the_change_and_the_block_before_now_and_to_write() -> None:
    event = EditEvent("file:///w/src/app.py", TEXT.index("amount"), "price", "amount", 3, 0.0)
    prompt = build("src/app.py", TEXT, TEXT.index("x ="), [event])
    assert prompt.sections == [
        f"src/app.py\n{TEXT}",
        "src/app.py:3:3\noriginal:\ndef f(price, rate):\nupdated:\ndef f(amount, rate):\n",
        "original/src/app.py:2:7\n\ndef f(price, rate):\n    x = price * rate\n    return price\n\nprint(f(1, 2))\n",
        "current/src/app.py:2:7\n\ndef f(amount, rate):\n    <|cursor|>x = price * rate\n    return price\n\n"
        "print(f(1, 2))\n",
        "updated/src/app.py:2:7\n\ndef f(amount, rate):\n",
    ]
    assert (prompt.block.start, prompt.block.first_line) == (TEXT.index("\ndef"), 1)


def test_the_answer_becomes_the_lines_it_changed() -> None:
    block = block_at(TEXT, TEXT.index("x ="))
    answer = "    x = amount * rate\n    return amount\n\nprint(f(1, 2))\n"
    hunks = diff(block, answer)
    assert len(hunks) == 1
    changed = block.current[hunks[0].start : hunks[0].end]
    assert changed == "    x = price * rate\n    return price\n"
    assert hunks[0].new == "    x = amount * rate\n    return amount\n"


def test_an_answer_that_changes_nothing_or_leaves_the_format_is_no_edit() -> None:
    block = block_at(TEXT, TEXT.index("x ="))
    assert diff(block, block.current[len(block.prefill) :]) == []
    assert diff(block, "<|file_sep|>other.py\n") == []
    # the last line's break cut by the stop token is not an edit either
    assert diff(block, block.current[len(block.prefill) :].rstrip("\n")) == []


def test_an_empty_document_has_an_empty_block() -> None:
    assert block_at("", 0) == Block(0, 0, "", "", 0)
