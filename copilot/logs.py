"""The request id on every log line written while serving that request.

The pipeline sets ``REQUEST_ID`` for a request's task (tasks it starts inherit it) and
the inference worker sets it for the job it runs; a logging filter puts it on each line.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import TextIO

REQUEST_ID: ContextVar[int | None] = ContextVar("copilot_request_id", default=None)

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
