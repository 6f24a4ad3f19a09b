"""Ctrl-C for commands started by a test, and a bounded read of what they print first."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from collections.abc import Iterator
from typing import IO

INTERRUPTED = "copilot-lsp: interrupted"  # what every command says on Ctrl-C (lsp/exits.py)


@contextlib.contextmanager
def sigint_reaches_children() -> Iterator[None]:
    """Commands started inside take SIGINT as they do in a terminal. A test run started in the
    background by a script inherits SIGINT ignored, and its children would ignore it too."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def first_line(stream: IO[bytes], timeout: float = 120.0) -> bytes:
    """The first line ``stream`` (a pipe from a child) carries; AssertionError after ``timeout``."""
    fd, line = stream.fileno(), b""
    deadline = time.monotonic() + timeout
    while not line.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, f"no whole line within {timeout} s (so far {line!r})"
        byte = os.read(fd, 1)  # byte by byte: nothing after the line is taken from the pipe
        assert byte, f"the stream ended after {line!r}"
        line += byte
    return line
