"""Each front's session gets its own log lines (the editor's log, as a window's own server
wrote them to its stderr), at the level that session asked for.

``SessionLogs`` is a handler on the service's root logger. A record logged in a session's
context (``logs.SESSION``: the host sets it for the session's task; the session's tasks
inherit it, and so do its threads, started with ``logs.session_thread``) goes to that
session's front as a ``copilot/log`` notification ``{"text": line}`` when the session's
level lets it through. A record of no session (the service itself, the inference worker)
stays in the service's log, except the shared model's warnings and errors
(``copilot.inference``, llama.cpp's), which every session's front gets: they are about the
model each of them uses. The "copilot" logger's level is the lowest of
the service's own and the live sessions' (records below it are never made); the service's
own handlers keep the service's level, so its log file keeps what it kept.

Cheap: a record below its session's level is dropped before it is formatted; lines are
written by the event loop (``call_soon_threadsafe`` from other threads); a front that does
not read costs at most ``MAX_BUFFERED`` bytes of the session's writer, then its lines are
dropped and counted, and it is told how many once it reads again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading

from copilot import logs

LOG_METHOD = "copilot/log"
MAX_BUFFERED = 1 << 20  # bytes waiting in a session's writer beyond which its log lines are dropped
SHARED_LOGGERS = ("copilot.inference", "copilot.llama_cpp")  # the model every session uses: to all


class Sink:
    """Where one session's lines go: its connection's transport, written on its loop."""

    def __init__(self, transport: asyncio.WriteTransport, level: int) -> None:
        self.transport = transport
        self.level = level
        self.loop = asyncio.get_running_loop()
        self.thread = threading.get_ident()  # the loop's
        self.dropped = 0  # lines the front did not read in time
        self.untold = 0  # of those, the ones not yet reported to the front


class SessionLogs(logging.Handler):
    def __init__(self, service_level: int) -> None:
        super().__init__()
        self.service_level = service_level
        self._sinks: dict[str, Sink] = {}
        self.setFormatter(logging.Formatter(logs.FORMAT))

    def install(self) -> None:
        """On the root logger; the handlers already there (the service's log) keep its level."""
        root = logging.getLogger()
        for handler in root.handlers:
            handler.setLevel(self.service_level)
        root.addHandler(self)
        self._relevel()

    def uninstall(self) -> None:
        logging.getLogger().removeHandler(self)

    def attach(self, label: str, transport: asyncio.WriteTransport, level: int) -> None:
        """From the event loop: ``label``'s lines go to ``transport`` from now on."""
        self._sinks[label] = Sink(transport, level)
        self._relevel()

    def detach(self, label: str) -> int:
        """The session ended: how many of its lines were dropped."""
        sink = self._sinks.pop(label, None)
        self._relevel()
        return sink.dropped if sink is not None else 0

    def set_level(self, label: str, level: int) -> None:
        if (sink := self._sinks.get(label)) is not None and sink.level != level:
            sink.level = level
            self._relevel()

    def dropped(self, label: str) -> int:
        sink = self._sinks.get(label)
        return sink.dropped if sink is not None else 0

    def _relevel(self) -> None:
        wanted = min([self.service_level, *(sink.level for sink in self._sinks.values())])
        logger = logging.getLogger("copilot")
        if logger.level != wanted:
            logger.setLevel(wanted)

    def handle(self, record: logging.LogRecord) -> bool:
        # Not Handler.handle: nothing is filtered, formatted or locked for a record no front wants.
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        label = logs.SESSION.get()
        if label is not None:
            sink = self._sinks.get(label)
            targets = [sink] if sink is not None and record.levelno >= sink.level else []
        elif record.levelno >= logging.WARNING and record.name.startswith(SHARED_LOGGERS):
            targets = [sink for sink in list(self._sinks.values()) if record.levelno >= sink.level]
        else:
            return
        if not targets:
            return
        try:
            request_id = logs.REQUEST_ID.get()
            record.request = f"[r{request_id}] " if request_id is not None else ""
            text = self.format(record)
        except Exception:
            self.handleError(record)
            return
        for sink in targets:
            if threading.get_ident() == sink.thread:
                self._send(sink, text)
            else:
                with contextlib.suppress(RuntimeError):  # the loop has ended
                    sink.loop.call_soon_threadsafe(self._send, sink, text)

    def _send(self, sink: Sink, text: str) -> None:
        transport = sink.transport
        if transport.is_closing():  # also what keeps a warning about this very write from looping
            return
        if transport.get_write_buffer_size() > MAX_BUFFERED:
            sink.dropped += 1
            sink.untold += 1
            return
        try:
            if sink.untold:
                note = f"{sink.untold} log line(s) dropped: the editor did not read them in time"
                transport.write(_notification(self._line(logging.WARNING, note)))
                sink.untold = 0
            transport.write(_notification(text))
        except (OSError, RuntimeError):  # the front is gone (uvloop may raise): never the logging call's problem
            pass

    def _line(self, level: int, message: str) -> str:
        record = logging.LogRecord(__name__, level, __file__, 0, message, None, None)
        record.request = ""
        return self.format(record)


def _notification(text: str) -> bytes:
    body = json.dumps({"jsonrpc": "2.0", "method": LOG_METHOD, "params": {"text": text}}).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body
