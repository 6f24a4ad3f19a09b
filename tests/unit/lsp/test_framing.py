"""The message reader (lsp/framing.py): what it accepts, what it rejects with one problem,
and that after any corruption it finds the next message again and delivers every one."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from copilot.lsp.framing import MAX_HEADER_BYTES, TAIL_BYTES, Header, Message, MessageReader, Problem, parse_header


def body(msg_id: int | str, text: str = "x") -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": "copilot/stats", "params": {"text": text}}).encode()


def frame(data: bytes, length: int | None = None, header: bytes = b"Content-Length: %d\r\n\r\n") -> bytes:
    return header % (len(data) if length is None else length) + data


def read(*chunks: bytes, reader: MessageReader | None = None) -> tuple[list[Any], list[str]]:
    """The ids of the messages delivered and the problems met, feeding ``chunks`` in turn."""
    reader = reader or MessageReader()
    events = [event for chunk in chunks for event in reader.feed(chunk)]
    ids = [e.payload.get("id") if isinstance(e.payload, dict) else e.payload for e in events if isinstance(e, Message)]
    return ids, [e.text for e in events if isinstance(e, Problem)]


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


NEXT = frame(body("next-1")) + frame(body("next-2"))


@pytest.mark.parametrize(
    "header",
    [
        b"content-length: %d\r\n\r\n",  # header names are case-insensitive
        b"Content-Length:%d\r\n\r\n",  # whitespace after the colon is optional
        b"Content-Length: \t%d \r\n\r\n",
        b"Content-Length: %d\n\n",  # LF-only line ends
        b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\nContent-Length: %d\r\n\r\n",
        b"Content-Length: %d\r\nX-Unknown: anything\r\n\r\n",
        b"\r\n\r\nContent-Length: %d\r\n\r\n",  # blank lines between messages
    ],
)
def test_unambiguous_headers_are_accepted_without_a_problem(header: bytes) -> None:
    stream = frame(body(1), header=header) + NEXT
    for chunks in ([stream], bytewise(stream)):
        assert read(*chunks) == ([1, "next-1", "next-2"], [])


@pytest.mark.parametrize(
    ("broken", "problem"),
    [
        (b"Content-Length: abc\r\n\r\n" + body(1), "Content-Length is not a number: abc"),
        (b"Content-Length: 1e30\r\n\r\n" + body(1), "Content-Length is not a number: 1e30"),
        (b"Content-Length: 5\x00\r\n\r\n" + body(1), r"not a header line: Content-Length: 5\x00"),
        (b"Content-\x00Length: 5\r\n\r\n" + body(1), r"not a header line: Content-\x00"),  # as soon as it comes
        (b"Content-Length : 5\r\n\r\n" + body(1), "not a header line: Content-Length "),
        (b"Content-Type: text/plain\r\n\r\n" + body(1), "a header without Content-Length"),
        (b"Content-Length: " + b"9" * 101 + b"\r\n\r\n", "Content-Length has 101 digits"),
        (b"garbage\r\n" + body(1), "not a header line: garbage"),
        (frame(b'{"jsonrpc": "2.0", "id": 1, "method": }'), "a body that is not JSON"),
        (frame(b'{"jsonrpc": "2.0", "id": NaN}'), "a body that is not JSON (NaN is not JSON)"),
        (frame(b'{"text": "\xff"}'), "a body that is not JSON ('utf-8' codec"),
        (frame(b"[" * 100_000 + b"]" * 100_000), "a body that is not JSON (JSON nested too deeply)"),
    ],
)
def test_a_broken_message_is_one_problem_and_the_next_ones_are_read(broken: bytes, problem: str) -> None:
    for chunks in ([broken + NEXT], [broken, NEXT], [*bytewise(broken), NEXT]):
        ids, problems = read(*chunks)
        assert ids == ["next-1", "next-2"]
        assert len(problems) == 1 and problems[0].startswith(problem), problems
        assert problems[0].endswith("reading on from the next Content-Length header")


@pytest.mark.parametrize("length", [10**11, 10**30, 64 * 1024 * 1024 + 1])
def test_a_length_over_the_limit_is_skipped_without_allocating_it(length: int) -> None:
    reader = MessageReader()
    ids, problems = read(b"Content-Length: %d\r\n\r\n" % length, reader=reader)
    assert ids == [] and problems == [
        f"a message of {length} bytes is over the {64 * 1024 * 1024}-byte limit: "
        "reading on from the next Content-Length header"
    ]
    for _ in range(64):  # 4 MiB of the skipped body: only a short tail of it is ever kept
        assert read(b"\x00garbage" * 8192, reader=reader) == ([], [])
        assert reader.pending <= TAIL_BYTES
    assert read(NEXT, reader=reader) == (["next-1", "next-2"], [])


def test_a_header_split_between_reads_while_skipping_is_still_found() -> None:
    reader = MessageReader(max_bytes=1000)
    read(b"Content-Length: 1001\r\n\r\n" + b"j" * 5000, reader=reader)
    assert read(*bytewise(NEXT), reader=reader) == (["next-1", "next-2"], [])


def test_a_length_too_long_does_not_wait_for_bytes_that_never_come() -> None:
    """The client waits for the answer: the whole JSON object is delivered as soon as it is here."""
    assert read(frame(body(1), len(body(1)) + 100)) == ([1], [])


def test_a_length_too_long_followed_by_the_next_message_loses_neither() -> None:
    broken = frame(body(1), len(body(1)) + 100)
    for chunks in ([broken + NEXT], [broken, NEXT], [*bytewise(broken), *bytewise(NEXT)]):
        ids, problems = read(*chunks)
        assert ids == [1, "next-1", "next-2"]
        assert len(problems) == 1, problems


def test_a_length_too_short_loses_neither_message() -> None:
    broken = frame(body(1), len(body(1)) - 10)
    for chunks in ([broken + NEXT], [broken, NEXT], [*bytewise(broken), NEXT]):
        ids, problems = read(*chunks)
        assert ids == [1, "next-1", "next-2"]
        assert len(problems) == 1 and problems[0].startswith("a body that is not JSON"), problems


def test_two_different_lengths_are_refused_and_the_json_still_delivered() -> None:
    ids, problems = read(b"Content-Length: 5\r\nContent-Length: 6\r\n\r\n" + body(1) + NEXT)
    assert ids == [1, "next-1", "next-2"]
    assert problems[0].startswith("two different Content-Length headers (5 and 6)"), problems


def test_a_body_without_a_header_is_still_delivered() -> None:
    assert read(body(1), NEXT)[0] == [1, "next-1", "next-2"]
    assert read(body(1)) == (
        [1],
        [f"not a header line: {body(1)[:60].decode()}...: reading on from the next Content-Length header"],
    )


def test_a_header_with_junk_before_content_length_resyncs_there() -> None:
    ids, problems = read(b"junk" + frame(body(1)) + NEXT)
    assert ids == [1, "next-1", "next-2"]
    assert len(problems) == 1 and problems[0].startswith("a header without Content-Length: junkContent-Length")


def test_whitespace_padding_inside_the_declared_length_is_no_problem() -> None:
    padded = body(1) + b" \r\n\t "
    assert read(*bytewise(frame(padded) + NEXT)) == ([1, "next-1", "next-2"], [])


def test_header_text_inside_json_strings_is_not_taken_for_a_header() -> None:
    """json.dumps escapes the line ends: a raw one never occurs inside a JSON string."""
    text = "Content-Length: 12\r\n\r\n{}\nContent-Length: 5\n\n" * 50
    assert read(*bytewise(frame(body(1, text)) + NEXT)) == ([1, "next-1", "next-2"], [])


def test_the_end_of_the_input_inside_a_message_is_one_problem() -> None:
    reader = MessageReader()
    reader.feed(b"Content-Length: 50\r\n\r\n{")
    assert reader.close() == [Problem("the input ended 1 bytes into a message of 50")]
    reader.feed(b"Content-Len")
    assert reader.close() == [Problem("the input ended inside a header (Content-Len)")]
    assert reader.feed(b"garbage\r\n") != []  # reported once, as it came
    assert reader.close() == []
    assert MessageReader().close() == []


def test_parse_header_waits_for_a_whole_block_and_refuses_early_what_cannot_become_one() -> None:
    assert parse_header(b"Content-Length: 12\r\n\r\n{") == Header(length=12, size=22)
    assert parse_header(b"Content-Length: 12\n\n") == Header(length=12, size=20)
    assert parse_header(b"Content-Len") is None
    assert parse_header(b"Content-Length: 12\r") is None
    assert parse_header(b"Content-Length: 12\r\n") is None
    assert parse_header(b'{"jsonrpc"') == 'not a header line: {\\"jsonrpc\\"'.replace("\\", "")
    assert parse_header(b"Content-Length: 1\r\r") == r"not a header line: Content-Length: 1\r\r"
    assert parse_header(b"X" * MAX_HEADER_BYTES) == f"no end of the header within {MAX_HEADER_BYTES} bytes"


# Any corruption of one message, among valid ones: every valid message is still delivered.

KINDS = ["lower", "no-space", "lf-only", "non-numeric", "nul", "no-header", "long", "short"]


def corrupt_named(data: bytes, kind: str) -> bytes:
    """The corruptions the issue names, of one framed message ``frame(data)``."""
    return {
        "lower": frame(data, header=b"content-length: %d\r\n\r\n"),
        "no-space": frame(data, header=b"Content-Length:%d\r\n\r\n"),
        "lf-only": frame(data, header=b"Content-Length: %d\n\n"),
        "non-numeric": b"Content-Length: twelve\r\n\r\n" + data,
        "nul": b"Content-Length: %d\x00\r\n\r\n" % len(data) + data,
        "no-header": data,
        "long": frame(data, len(data) + 100),
        "short": frame(data, len(data) - 10),
    }[kind]


@st.composite
def corruptions(draw: st.DrawFn, data: bytes) -> bytes:
    framed = frame(data)
    kind = draw(st.sampled_from([*KINDS, "flip", "insert", "delete", "truncate"]))
    if kind in KINDS:
        return corrupt_named(data, kind)
    at = draw(st.integers(0, len(framed) - 1))
    if kind == "flip":
        return framed[:at] + bytes([draw(st.integers(0, 255))]) + framed[at + 1 :]
    if kind == "insert":
        return framed[:at] + draw(st.binary(min_size=1, max_size=8)) + framed[at:]
    if kind == "delete":
        return framed[:at] + framed[at + draw(st.integers(1, 12)) :]
    return framed[:at]


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_after_any_corruption_every_valid_message_is_delivered(data: st.DataObject) -> None:
    texts = data.draw(st.lists(st.text(max_size=40), min_size=3, max_size=6))
    broken_at = data.draw(st.integers(0, len(texts) - 2))
    broken = data.draw(corruptions(body(1000, texts[broken_at])))
    parts = [broken if i == broken_at else frame(body(f"clean-{i}", t)) for i, t in enumerate(texts)]
    stream = b"".join(parts)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    reader = MessageReader()
    ids, _problems = read(*chunks, reader=reader)
    clean = [f"clean-{i}" for i in range(len(texts)) if i != broken_at]
    assert [i for i in ids if i in clean] == clean
    assert reader.pending == 0
