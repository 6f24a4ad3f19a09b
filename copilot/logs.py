"""The request id on every log line written while serving that request, and the session a
line belongs to in a process that serves many (the model service, ``lsp/host.py``).

The pipeline sets ``REQUEST_ID`` for a request's task (tasks it starts inherit it) and
the inference worker sets it for the job it runs; a logging filter puts it on each line.
The host sets ``SESSION`` for a session's task: its handlers, the pipeline's tasks and the
threads started under ``threads_inherit_context`` inherit it, and the service sends each
session's lines to its front (``lsp/service/session_logs.py``).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any, TextIO

REQUEST_ID: ContextVar[int | None] = ContextVar("copilot_request_id", default=None)
SESSION: ContextVar[str | None] = ContextVar("copilot_session", default=None)

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(request)s%(message)s"


class RequestIdFilter(logging.Filter):
    """Adds ``%(request)s``: ``[r42] `` inside a request, empty elsewhere."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = REQUEST_ID.get()
        record.request = f"[r{request_id}] " if request_id is not None else ""
        return True


def handler_for(file: str | None, stream: TextIO) -> logging.Handler:
    """A handler writing to ``file`` (or ``stream``) with the request id on each line."""
    handler: logging.Handler = logging.FileHandler(file) if file else logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RequestIdFilter())
    return handler


def level_number(name: str) -> int:
    """``"debug"`` -> ``logging.DEBUG``; INFO for a name logging does not know."""
    value = logging.getLevelName(name.upper())
    return value if isinstance(value, int) else logging.INFO


# threads_inherit_context: Python 3.11's threads start in an empty context; Thread.start is
# wrapped (once, for good) to give the threads started inside the block a copy of the
# starter's. Outside a block (a thread-local says) the wrapper only calls the original.
_inheriting = threading.local()
_thread_start = threading.Thread.start


def _start_in_context(thread: threading.Thread) -> None:
    shared: frozenset[str] | None = getattr(_inheriting, "shared", None)
    if shared is not None and thread.name not in shared:
        context, run = contextvars.copy_context(), thread.run
        thread.run = lambda: context.run(run)  # type: ignore[method-assign]
    _thread_start(thread)


@contextlib.contextmanager
def threads_inherit_context(shared: Collection[str] = ()) -> Iterator[None]:
    """Threads this thread starts inside the block run in a copy of its context (a session's
    workspace index and cache writer log as that session), except the threads named in
    ``shared``, which serve every session (a shared engine's worker)."""
    if threading.Thread.start is not _start_in_context:
        threading.Thread.start = _start_in_context  # type: ignore[method-assign,assignment]
    previous = getattr(_inheriting, "shared", None)
    _inheriting.shared = frozenset(shared)
    try:
        yield
    finally:
        _inheriting.shared = previous


class ContextThreadPool(ThreadPoolExecutor):
    """A pool whose tasks run in their submitter's context (pygls' pool for ``@server.thread()``
    handlers: they log as their session)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return super().submit(contextvars.copy_context().run, fn, *args, **kwargs)
