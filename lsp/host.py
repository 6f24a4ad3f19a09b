"""Many LSP sessions in one process, one per connection (``copilot-lsp serve --tcp``, a local
model service): each session has its own ``CopilotServer`` (documents, pipeline, settings,
statistics) and all share the process's engines (``SharedEngines``: one model in memory per
model configuration) and cache environments (``copilot/cache/envs.py``).

A session ends at ``exit``, at the end of its input or when its connection fails; that closes
its pipeline (its KV sequences in the shared engine are freed) and ends nothing else: neither
the other sessions, nor the listener, nor the event loop. The process's statistics (the
``copilot-lsp stats`` socket, the saved snapshot, Prometheus) list every session.

Everything a session does runs with ``logs.SESSION`` set to its label: in the model service,
a front's session gets its own log lines at its own level (``service/session_logs.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import socket
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from copilot.assembly import SharedEngines
from copilot.config import Config, Problem
from copilot.logs import SESSION, level_number
from copilot.metrics import WINDOW, RequestRecord, aggregate

from . import publish
from .server import CopilotServer, create_server
from .service.naming import peer_of
from .service.session_logs import SessionLogs
from .transport import CHUNK_BYTES, serve_messages

log = logging.getLogger(__name__)

ENDED_KEPT = 16  # ended sessions whose final statistics the process's snapshot still lists


class SessionInfo(msgspec.Struct, frozen=True, kw_only=True):
    label: str
    peer: str  # the client's address ("127.0.0.1:50312"), or what the socket says of it
    started: float  # unix time
    open_documents: int
    answered: int  # requests answered (results and errors)
    exited: bool  # the client sent `exit`: the session is ending
    log_lines_dropped: int = 0  # its front did not read them in time (service/session_logs.py)


class _Session:
    def __init__(self, label: str, peer: str, server: CopilotServer, logs: SessionLogs | None) -> None:
        self.label = label
        self.peer = peer
        self.started = time.time()
        self.server = server
        self.logs = logs  # where its log lines go to its front, if they do

    def info(self) -> SessionInfo:
        return SessionInfo(
            label=self.label,
            peer=self.peer,
            started=self.started,
            open_documents=len(self.server.documents),
            answered=self.server.protocol.answered,
            exited=self.server.protocol.exit_code is not None,
            log_lines_dropped=self.logs.dropped(self.label) if self.logs is not None else 0,
        )

    def statistics(self, ended: bool) -> dict[str, Any]:
        info = msgspec.to_builtins(self.info())
        return {"session": info.pop("label"), **info, "ended": ended, **self.server.statistics()}


class _ConnectionWriter:
    """The session's writer for pygls: once the connection is closing, late answers (of
    requests cancelled when the session ended) are dropped instead of raising or logging."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    def write(self, data: bytes) -> None:
        if not self._writer.transport.is_closing():
            self._writer.write(data)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._writer.close()


class SessionHost:
    """Serves LSP sessions, one per connection, in this process; every session has its own
    CopilotServer (documents, pipeline, settings) and shares the process's engines
    (SharedEngines) and cache environments."""

    def __init__(
        self,
        config: Config,
        problems: Sequence[Problem] = (),
        *,
        log_level_from_cli: bool = False,
        pin_engines: bool = False,
        logs: SessionLogs | None = None,
    ) -> None:
        self.config = config  # defaults + file: each session layers its initializationOptions on it
        self.problems = list(problems)  # the config file's, shown to each session at initialize
        self.log_level_from_cli = log_level_from_cli  # sessions without logs of their own (TCP)
        self.logs = logs  # the model service's: a front's session gets its log lines
        self.shared = SharedEngines(pinned=pin_engines)  # pinned: kept loaded with no session
        self.on_session_end: Callable[[str], None] | None = None
        self.publisher = publish.Publisher(self.statistics)  # one per process, for all sessions
        self._sessions: dict[str, _Session] = {}
        self._ended: deque[dict[str, Any]] = deque(maxlen=ENDED_KEPT)
        self._retired_counts: Counter[str] = Counter()  # of the sessions that ended
        self._retired_records: deque[RequestRecord] = deque(maxlen=WINDOW)
        self._numbers = itertools.count(1)
        self._closed = False

    def new_label(self, prefix: str = "s") -> str:
        """A session label no other session of this process has had: ``s1``, ``s2``..."""
        return f"{prefix}{next(self._numbers)}"

    async def serve_connection(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        label: str,
        *,
        front: bool = False,
        log_level: str | None = None,
    ) -> None:
        """One LSP session on this connection until `exit`, the end of the input or a failure of the
        connection; then its pipeline is closed (which frees its KV sequences in the shared engine).
        Never raises, never exits the process; a garbage message only costs that session a log line.
        ``front``: the client is a front (the model service), which gets the session's log lines,
        at ``log_level`` (its --log-level) or else at the session's configured ``log.level``."""
        label = self._unique(label)
        connection = _ConnectionWriter(writer)
        if self._closed:
            connection.close()
            return
        token = SESSION.set(label)  # for every record of this session: its tasks inherit it
        try:
            await self._serve(reader, writer, label, connection, front, log_level)
        finally:
            SESSION.reset(token)

    async def _serve(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        label: str,
        connection: _ConnectionWriter,
        front: bool,
        log_level: str | None,
    ) -> None:
        logs = self.logs if front else None
        try:
            server = create_server(self.config, self.problems, shared=self.shared, session=label)
            server.use_publisher(self.publisher)
            if logs is not None:
                logs.attach(label, writer.transport, level_number(log_level or self.config.log.level))
                server.log_level_from_cli = log_level is not None  # then its configuration does not change it
                server.on_log_level = lambda level: logs.set_level(label, level_number(level))
            else:
                server.log_level_from_cli = self.log_level_from_cli
            session = _Session(label, _peer(writer), server, logs)
        except Exception:
            log.exception("session %s: could not start it", label)
            if logs is not None:
                logs.detach(label)
            connection.close()
            return
        self._sessions[label] = session
        log.debug("session %s: %s connected", label, session.peer)
        protocol = server.protocol
        protocol.set_writer(connection)
        try:
            await self.publisher.start()  # the statistics socket, once per process
            await serve_messages(protocol, lambda: reader.read(CHUNK_BYTES), log_prefix=f"session {label}: ")
        except ConnectionError as exc:  # the client went away (an editor quit): an ordinary end
            log.info("session %s: the connection ended (%s)", label, type(exc).__name__)
        except Exception as exc:  # a bug in the reader: this session only
            log.error("session %s: the connection failed (%s: %s): closing it", label, type(exc).__name__, exc)
        finally:
            self._end(session, connection)

    def _end(self, session: _Session, connection: _ConnectionWriter) -> None:
        server = session.server
        connection.close()
        # The session's requests still running (a completion waiting for the model) end here:
        # their answers would go nowhere, and the model's queue drops their jobs.
        for future in list(server.protocol._request_futures.values()):
            if not future.done():
                future.cancel()
        try:
            server.stop_pipeline()  # frees its KV sequences; the last session out releases the engine
        except Exception:
            log.exception("session %s: closing its pipeline failed", session.label)
        if server.metrics is not None:  # what it counted stays in the process's numbers
            self._retired_counts.update(server.metrics.counts)
            self._retired_records.extend(server.metrics.recent)
        if server.protocol.initialized:
            self._ended.append(session.statistics(ended=True))
        # Not server.shutdown(): only what is this session's own (its thread pool, if any).
        if server._thread_pool is not None:
            server._thread_pool.shutdown(wait=False)
        self._sessions.pop(session.label, None)
        log.debug("session %s ended", session.label)
        if session.logs is not None and (dropped := session.logs.detach(session.label)):
            log.warning("session %s: its front did not read %d log line(s) in time: dropped", session.label, dropped)
        if self.on_session_end is not None:
            try:
                self.on_session_end(session.label)
            except Exception:
                log.exception("session %s: on_session_end failed", session.label)

    def sessions(self) -> list[SessionInfo]:
        """The sessions being served now (a session is gone once its connection is closed)."""
        return [session.info() for session in self._sessions.values()]

    def statistics(self) -> dict[str, Any]:
        """The process's snapshot: the counters of all its sessions since it started, the
        window over their recent requests, and ``sessions``: each session's own statistics
        (the live ones and the last ones that ended)."""
        counts = Counter(self._retired_counts)
        records = list(self._retired_records)
        for session in self._sessions.values():
            if (metrics := session.server.metrics) is not None:
                counts.update(metrics.counts)
                records.extend(metrics.recent)
        window = aggregate(records)
        live = [session.statistics(ended=False) for session in self._sessions.values()]
        return {
            "counts": dict(sorted(counts.items())),
            "p50_ms": {stage: values["p50"] for stage, values in window["stage_ms"].items()},
            "window": window,
            "state": {
                "sessions": len(live),
                "open_documents": sum(len(session.server.documents) for session in self._sessions.values()),
            },
            "sessions": [*self._ended, *live],
        }

    def close(self) -> None:
        """Stop every session's pipeline and every engine (the process is ending)."""
        self._closed = True
        self.publisher.stop()  # saves the snapshot while the pipelines still have their numbers
        for session in list(self._sessions.values()):
            try:
                session.server.stop_pipeline()
            except Exception:
                log.exception("session %s: closing its pipeline failed", session.label)
        self.shared.stop_all()

    def _unique(self, label: str) -> str:
        # A space would make one session's KV owner prefix ("s1 ") match another's names.
        label = re.sub(r"\s+", "-", label.strip()) or self.new_label()
        while label in self._sessions:
            label = f"{label}-{next(self._numbers)}"
        return label


def _peer(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        host = str(peer[0])
        return f"[{host}]:{peer[1]}" if ":" in host else f"{host}:{peer[1]}"
    sock = writer.get_extra_info("socket")
    if sock is not None and sock.family == socket.AF_UNIX:  # a front: the process, not the socket's path
        with contextlib.suppress(OSError):
            if (found := peer_of(sock)) is not None:
                return f"pid {found.pid}"
    sockname = writer.get_extra_info("sockname")
    return str(peer or sockname or "unknown")
