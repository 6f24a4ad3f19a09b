"""The LSP base protocol's framing (``Content-Length`` headers, then a JSON body), read so
that no input can kill or desynchronise the server.

``MessageReader`` is sans-IO: ``feed`` it bytes as they arrive and it returns the decoded
messages and the problems it met, in order. What it accepts beyond the letter of the spec is
only what is unambiguous: header names in any case, optional whitespace after the colon, LF
line ends, blank lines between messages. Anything else is one ``Problem`` and a resync on
the next ``Content-Length: <digits><line end>``. Such a line can never occur inside a valid
JSON body (a raw line end is not allowed in a JSON string, a bare word not outside one), so
finding one while a body is pending proves the declared length wrong; the reader then moves
to that header at once instead of waiting for bytes that will never come. A message whose
length was wrong but whose JSON is complete up to the next header (or up to what has
arrived) is still delivered: the client gets an answer, and the log says what was wrong.

A declared length above ``MAX_MESSAGE_BYTES`` is never allocated: the message is skipped by
scanning for the next header, keeping only a short tail of the bytes skipped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
MAX_HEADER_BYTES = 8 * 1024  # a whole header block; real ones are under 100 bytes
SALVAGE_BYTES = 1024 * 1024  # how much of a broken message is kept to deliver its JSON anyway
TAIL_BYTES = 256  # kept while skipping: a header split between two reads is still found

_TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]"  # RFC 9110 field-name characters
_VALUE = rb"[\t\x20-\x7e\x80-\xff]"  # a field value: no control characters but tab
HEADER_LINE = re.compile(rb"(" + _TOKEN + rb"+):[ \t]*(" + _VALUE + rb"*?)[ \t]*")
# What an unfinished header line may look like so far (the line end may still come).
PARTIAL_LINE = re.compile(_TOKEN + rb"*(?::" + _VALUE + rb"*)?\r?")
# The resync point: a whole Content-Length line, which no valid JSON body contains.
RESYNC = re.compile(rb"content-length:[ \t]*[0-9]+[ \t]*\r?\n", re.IGNORECASE)
BLANK_LINES = re.compile(rb"[\r\n]*")
WHITESPACE = b" \t\r\n"


@dataclass(frozen=True)
class Message:
    """A decoded body: any JSON value (the protocol layer judges its shape)."""

    payload: Any


@dataclass(frozen=True)
class Problem:
    """What was wrong with the input, as one log line."""

    text: str


Event = Message | Problem


@dataclass(frozen=True)
class Header:
    length: int  # the declared Content-Length
    size: int  # bytes of the header block, its blank line included


def parse_header(data: bytes) -> Header | str | None:
    """The header block at the start of ``data``: a ``Header``, what is wrong with it, or
    None while it may still become valid with more bytes."""
    length: int | None = None
    start = 0
    while True:
        end = data.find(b"\n", start, MAX_HEADER_BYTES)
        if end < 0:
            partial = data[start:MAX_HEADER_BYTES]
            if len(data) >= MAX_HEADER_BYTES:
                return f"no end of the header within {MAX_HEADER_BYTES} bytes"
            return None if PARTIAL_LINE.fullmatch(partial) else f"not a header line: {_show(partial)}"
        line = data[start:end].removesuffix(b"\r")
        start = end + 1
        if not line:
            return (
                f"a header without Content-Length: {_show(data[:start])}" if length is None else Header(length, start)
            )
        match = HEADER_LINE.fullmatch(line)
        if match is None:
            return f"not a header line: {_show(line)}"
        if match[1].lower() != b"content-length":
            continue  # Content-Type (always UTF-8 JSON here) and unknown headers carry nothing
        value = match[2]
        if not value.isdigit():  # bytes.isdigit: ASCII digits only
            return f"Content-Length is not a number: {_show(value)}"
        if len(value) > 100:  # int() of thousands of digits is slow, or refused
            return f"Content-Length has {len(value)} digits"
        declared = int(value)
        if length is not None and declared != length:
            return f"two different Content-Length headers ({length} and {declared})"
        length = declared


def decode(body: bytes) -> Any:
    """The JSON value of ``body`` (strict UTF-8 and JSON: no NaN); ValueError otherwise."""
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def salvage(data: bytes) -> Any | None:
    """The JSON object ``data`` holds (whitespace around it allowed), or None. Cheap when it
    cannot be one: only text that starts with ``{`` and ends with ``}`` is decoded."""
    if len(data) > SALVAGE_BYTES:
        return None
    text = data.strip(WHITESPACE)
    if not text.startswith(b"{") or not text.endswith(b"}"):
        return None
    try:
        payload = decode(text)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


class MessageReader:
    """Bytes in, ``Message`` and ``Problem`` events out; keeps what is not consumed yet."""

    def __init__(self, max_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._buf = bytearray()
        self._state = self._header
        self._length = 0  # the pending body's declared length
        self._scanned = 0  # where the next search for a header starts (in a pending body, or while skipping)
        self._trailing = 0  # declared bytes still due after a body delivered early
        self._salvage_from: int | None = None  # where a broken message's JSON may start

    @property
    def pending(self) -> int:
        """Bytes held that are not consumed yet."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Event]:
        self._buf += data
        events: list[Event] = []
        while self._state(events):
            pass
        return events

    def close(self) -> list[Problem]:
        """The end of the input: a problem if it cut a message short (bytes being skipped
        were reported when the skipping began)."""
        rest, state = bytes(self._buf), self._state
        self._buf.clear()
        self._state = self._header
        if state == self._body:
            return [Problem(f"the input ended {len(rest)} bytes into a message of {self._length}")]
        if state == self._header and rest.strip(WHITESPACE):
            return [Problem(f"the input ended inside a header ({_show(rest)})")]
        return []

    # Each state consumes what it can, appends events, and says whether to run again.

    def _header(self, events: list[Event]) -> bool:
        blank = BLANK_LINES.match(self._buf)  # blank lines between messages
        del self._buf[: blank.end() if blank else 0]
        if not self._buf:
            return False
        header = parse_header(bytes(self._buf[:MAX_HEADER_BYTES]))
        if header is None:
            return False
        if isinstance(header, str):
            events.append(Problem(f"{header}: reading on from the next Content-Length header"))
            return self._resync(search_from=1, salvage_from=0)
        del self._buf[: header.size]
        if header.length > self.max_bytes:
            events.append(
                Problem(
                    f"a message of {header.length} bytes is over the {self.max_bytes}-byte limit: "
                    "reading on from the next Content-Length header"
                )
            )
            return self._resync(search_from=0, salvage_from=None)
        self._length, self._scanned = header.length, 0
        self._state = self._body
        return True

    def _body(self, events: list[Event]) -> bool:
        if len(self._buf) >= self._length:
            body = bytes(self._buf[: self._length])
            try:
                payload = decode(body)
            except ValueError as exc:
                events.append(
                    Problem(f"a body that is not JSON ({exc}): reading on from the next Content-Length header")
                )
                return self._resync(search_from=0, salvage_from=0)
            del self._buf[: self._length]
            events.append(Message(payload))
            self._state = self._header
            return True
        # A header inside the pending body proves its declared length wrong.
        found = RESYNC.search(self._buf, max(0, self._scanned - TAIL_BYTES))
        self._scanned = len(self._buf)
        if found is not None:
            events.append(
                Problem(
                    f"Content-Length {self._length} runs into the next message's header "
                    f"(after {found.start()} bytes): reading from there"
                )
            )
            return self._resync(search_from=0, salvage_from=0)
        # The whole JSON object may be here already: only whitespace could validly follow
        # it, so deliver it now rather than wait for bytes a wrong length promised.
        if len(self._buf) <= SALVAGE_BYTES and _ends_object(self._buf):
            payload = salvage(bytes(self._buf))
            if payload is not None:
                self._trailing = self._length - len(self._buf)
                del self._buf[:]
                events.append(Message(payload))
                self._state = self._trail
                return True
        return False

    def _trail(self, events: list[Event]) -> bool:
        """After a body delivered early: its remaining declared bytes must be whitespace."""
        kept = self._buf[: self._trailing]
        blank = len(kept) - len(kept.lstrip(WHITESPACE))
        del self._buf[:blank]
        self._trailing -= blank
        if self._trailing and not self._buf:
            return False
        if self._trailing:
            events.append(Problem(f"Content-Length was {self._trailing} bytes longer than its message"))
        self._trailing = 0
        self._state = self._header
        return True

    def _resync(self, search_from: int, salvage_from: int | None) -> bool:
        """Skip to the next Content-Length line at or after ``search_from``; what lies before
        it from ``salvage_from`` on is delivered if it is one whole JSON object."""
        self._salvage_from = salvage_from
        self._scanned = search_from
        self._state = self._skip
        return True

    def _skip(self, events: list[Event]) -> bool:
        found = RESYNC.search(self._buf, self._scanned)
        start = self._salvage_from
        if found is not None:
            if start is not None and (payload := salvage(bytes(self._buf[start : found.start()]))) is not None:
                events.append(Message(payload))
            del self._buf[: found.start()]
            self._salvage_from = None
            self._state = self._header
            return True
        if start is not None and len(self._buf) - start > SALVAGE_BYTES:
            start = None  # too long to be one of our messages: stop keeping it
        elif start is not None and (payload := salvage(bytes(self._buf[start:]))) is not None:
            events.append(Message(payload))  # whole already: the next header may never come
            start = None
        self._salvage_from = start
        if start is None:  # keep only what may hold the start of a header split by a read
            del self._buf[: max(0, len(self._buf) - TAIL_BYTES)]
            self._scanned = 0
        else:
            self._scanned = max(self._scanned, len(self._buf) - TAIL_BYTES)
        return False


def _ends_object(buf: bytearray) -> bool:
    """Whether the last byte that is not whitespace is ``}`` (without copying ``buf``)."""
    end = len(buf) - 1
    while end >= 0 and buf[end] in WHITESPACE:
        end -= 1
    return end >= 0 and buf[end] == ord("}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _show(data: bytes | bytearray, limit: int = 60) -> str:
    """Bytes for a log line: short, and escaped so that a log stays one line per problem."""
    text = repr(bytes(data[:limit]))[2:-1]
    return text + ("..." if len(data) > limit else "")
