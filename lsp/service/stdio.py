"""The front's plumbing: stdin read ahead by a thread of its own, messages framed again
(``Content-Length``) for the editor or the service, blocking calls on threads of their own,
and the session's log lines written where the front's own go."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import queue
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

CHUNK_BYTES = 64 * 1024
QUEUE_CHUNKS = 16
T = TypeVar("T")


class StdinChunks:
    """stdin read by a thread of its own (``os.read``: no lock that interpreter shutdown
    waits on), at most ``QUEUE_CHUNKS`` chunks ahead; b"" once at the end. Chunks given back
    with ``unread`` come first; ``read`` lets ``transport.serve_stdio`` take over."""

    def __init__(self, fd: int = 0) -> None:
        self._fd = fd
        self._queue: queue.Queue[bytes] = queue.Queue(QUEUE_CHUNKS)
        self._unread: list[bytes] = []
        self._thread = threading.Thread(target=self._pump, name="front-stdin", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        while True:
            try:
                data = os.read(self._fd, CHUNK_BYTES)
            except OSError:
                data = b""
            self._queue.put(data)
            if not data:
                return

    def get(self) -> bytes:
        if self._unread:
            return self._unread.pop(0)
        data = self._queue.get()
        if not data:
            self._queue.put(data)  # the end stays the end for the next reader
        return data

    def unread(self, chunks: list[bytes]) -> None:
        self._unread = [*chunks, *self._unread]

    def read(self, size: int = -1) -> bytes:
        return self.get()


def frame(message: Any) -> bytes:
    try:
        body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: escaped, as the editor may have sent it
        body = json.dumps(message, separators=(",", ":")).encode("ascii")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


async def on_a_thread(function: Callable[[], T]) -> T:
    """``function()`` on a daemon thread of its own: not the loop's executor, whose threads
    the end of ``asyncio.run`` waits for (a front that exits while connecting does not wait
    for the service to start)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if not future.done():
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)  # type: ignore[arg-type]

    def work() -> None:
        try:
            result, error = function(), None
        except BaseException as exc:
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop has ended
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=work, name="front-connect", daemon=True).start()
    return await future


def write_log(text: str) -> None:
    """One line of the session's, where this process's own lines go (stderr, or --log-file)."""
    handler = next((h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)), None)
    stream = handler.stream if handler is not None and handler.stream is not None else sys.stderr
    if handler is not None:
        handler.acquire()
    try:
        stream.write(text + "\n")
        stream.flush()
    except (OSError, ValueError):  # the editor closed our stderr: its lines are lost, not the session
        pass
    finally:
        if handler is not None:
            handler.release()
