"""An advisory lock between processes (``flock``), waited for until a deadline.

It goes with the process: one killed while holding it holds it no more, so no stale lock
file ever needs clearing. Light on purpose (the stdio front imports it).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

POLL_S = 0.05


@contextlib.contextmanager
def exclusive(path: Path, deadline: float, mode: int = 0o600) -> Iterator[None]:
    """``path`` (created with ``mode`` when missing) locked by this process until the block
    ends; TimeoutError once ``time.monotonic()`` passes ``deadline`` with another holding it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, mode)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{path} stayed locked") from None
                time.sleep(POLL_S)
        yield
    finally:
        os.close(fd)  # releases the lock
