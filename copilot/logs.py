"""The request id on every log line written while serving that request, and the session a
line belongs to in a process that serves many (the model service, ``lsp/host.py``).

The pipeline sets ``REQUEST_ID`` for a request's task (tasks it starts inherit it) and
the inference worker sets it for the job it runs; a logging filter puts it on each line.
The host sets ``SESSION`` for a session's task: its handlers and the pipeline's tasks inherit
it, and so do the threads a session starts with ``session_thread`` (a thread does not take its
starter's context by itself); the threads that serve every session (the shared engine's) start
with ``shared_thread``, in a context of their own. The service sends each session's lines to
its front (``lsp/service/session_logs.py``).
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable
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


def session_thread(target: Callable[[], object], name: str) -> threading.Thread:
    """A daemon thread (not started) that runs ``target`` in a copy of the caller's context:
    a session's thread (its workspace index, its cache writer) logs as that session."""
    return threading.Thread(target=contextvars.copy_context().run, args=(target,), name=name, daemon=True)


def shared_thread(target: Callable[[], object], name: str) -> threading.Thread:
    """A daemon thread (not started) that runs ``target`` in a fresh, empty context: a thread
    that serves every session (a shared engine's) logs as none of them, whichever session
    happened to start it."""
    return threading.Thread(target=contextvars.Context().run, args=(target,), name=name, daemon=True)


class ContextThreadPool(ThreadPoolExecutor):
    """A pool whose tasks run in their submitter's context (pygls' pool for ``@server.thread()``
    handlers: they log as their session)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return super().submit(contextvars.copy_context().run, fn, *args, **kwargs)
