"""The front: ``copilot-lsp serve`` over stdio forwards the editor's LSP session to the
user's model service (``lsp/service/``) and stays light (no llama.cpp, tree-sitter, LMDB
or pygls server in this process: its memory is per editor window).

It reads the editor's first message (``initialize``), layers its ``initializationOptions``
over the config file to know the model configuration, connects to that configuration's
service (starting it when none runs), and forwards messages both ways, framed by
``framing.MessageReader`` and framed again when written. It keeps what a new service needs
(``service/replay.py``) and the requests in flight both ways. When the service's
connection drops (the service was killed), every request in flight from the editor is
answered with nothing (``{"items": []}`` for an inline completion), the front reconnects
(starting a new service), replays ``initialize`` (its answer swallowed), ``initialized``,
the configuration and the open documents, and goes on. A failure soon after the last
(``STABLE_S``) backs off; after ``len(RETRY_DELAYS_S)`` of them in a row the editor gets one
``window/showMessage`` and empty answers, and the front tries again after
``RETRY_AFTER_S``. The editor's messages that come while the front reconnects wait for the
replay, then go to the new service in order. A failure of the front's own forwarding loop
is handled as the service going away: every request the editor sends gets an answer. When
the service cannot be used at all at start (``service.enabled = false`` in
``initializationOptions``, no usable socket folder, a service that cannot start), this
process serves the editor itself, as ``serve --per-window`` does.

The session's log lines come from the service as ``copilot/log`` notifications, already
filtered at the session's level (``--log-level``, passed in the handshake, else its
``log.level``): the front writes them where its own lines go (stderr, the editor's log, or
``--log-file``), as a window's own server did, and does not forward them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from pathlib import Path
from types import FrameType
from typing import Any

from copilot import config as config_mod

from . import exits
from .framing import MessageReader, Problem
from .service import client, naming, replay
from .service.naming import ServiceUnavailable
from .service.session_logs import LOG_METHOD
from .service.stdio import CHUNK_BYTES, StdinChunks, frame, on_a_thread, write_log

log = logging.getLogger(__name__)

STABLE_S = 30.0  # a connection that lived this long ends a run of failures
RETRY_DELAYS_S = (0.0, 0.5, 2.0)  # before each reconnection of a run of failures; then give up
RETRY_AFTER_S = 60.0  # after giving up, an editor request this much later tries again
REQUEST_FAILED = -32803  # LSP 3.17: a request that was valid but failed
# What an editor request in flight gets when the service goes away (others: REQUEST_FAILED).
EMPTY_RESULTS: dict[str, Any] = {
    "textDocument/inlineCompletion": {"items": []},
    "shutdown": None,
    "workspace/executeCommand": None,
    "copilot/stats": {},
    "copilot/generate": {"error": "the model service stopped: try again"},
    "copilot/inspectContext": {"error": "the model service stopped: try again"},
}


def _is_id(value: Any) -> bool:
    return isinstance(value, int | str) and not isinstance(value, bool)


class ServeHere(Exception):
    """The service cannot be used: this process serves the editor (the reason says why)."""


class Front:
    def __init__(
        self,
        stdin: StdinChunks,
        config: config_mod.Config,
        config_file: Path | None = None,
        log_level: str | None = None,
        stdout: int = 1,
    ) -> None:
        self.stdin = stdin
        self.config = config  # defaults + file; + initializationOptions once read
        self.config_file = config_file
        self.log_level = log_level
        self.stdout = stdout
        self.consumed: list[bytes] = []  # stdin's chunks until the service is connected (for ServeHere)
        self.session = replay.Session()
        self.editor_requests: dict[Any, str] = {}  # id -> method: the editor's, not answered yet
        self.service_requests: set[Any] = set()  # the service's requests the editor has not answered
        self.pending_initialize: Any = None  # the editor's initialize, in flight when its service went away
        self.replay_id: str | None = None
        self.shown: set[str] = set()  # window/showMessage texts sent: not again after a replay
        self.replayed = False
        self.ready = asyncio.Event()  # editor messages may be handled: a service or none (given up)
        self.retry = asyncio.Event()
        self.closing = False
        self.failures = 0
        self.last_error = ""
        self.gave_up_at: float | None = None
        self.address: naming.Address | None = None
        self.command: list[str] = []
        self.link: client.Link | None = None
        self.linked_at = 0.0
        self._service_reader: asyncio.StreamReader | None = None
        self._service_writer: asyncio.StreamWriter | None = None

    async def next_chunk(self) -> bytes:
        return await asyncio.to_thread(self.stdin.get)

    async def run(self) -> int:
        """Forward until ``exit`` or the end of stdin; the exit status. ServeHere when the
        service cannot be used at start."""
        reader = MessageReader()
        events: list[Any] = []
        while not any(not isinstance(event, Problem) for event in events):
            data = await self.next_chunk()
            self.consumed.append(data)
            if not data:
                return 0  # the editor left before saying anything
            events += reader.feed(data)
        first = next(event.payload for event in events if not isinstance(event, Problem))
        await self.connect_first(first)
        self.consumed = []
        service_loop = asyncio.ensure_future(self.serve_service())
        try:
            return await self.serve_editor(reader, events)
        finally:
            self.closing = True
            service_loop.cancel()
            self._drop_link()

    async def connect_first(self, first: Any) -> None:
        if isinstance(first, dict) and first.get("method") == "initialize" and isinstance(first.get("params"), dict):
            options = first["params"].get("initializationOptions")
            self.config = config_mod.apply(self.config, options, "initializationOptions").config
            if self.log_level is None:  # this process's own lines, as a window's server would
                logging.getLogger("copilot").setLevel(self.config.log.level.upper())
        if not naming.service_enabled(self.config):
            raise ServeHere("service.enabled is false")
        try:
            self.address = naming.address(self.config, self.config_file)
            self.command = client.service_command(
                self.address.key, self.config_file, self.config.service.idle_shutdown_s
            )
            started = time.monotonic()
            link = await on_a_thread(self._connect)
        except (ServiceUnavailable, OSError) as exc:
            raise ServeHere(str(exc)) from None
        how = "started" if link.started else "found"
        log.info("model service %s (pid %d) in %.0f ms", how, link.pid, (time.monotonic() - started) * 1000)
        await self._attach(link)

    def _connect(self) -> client.Link:
        assert self.address is not None
        return client.connect(self.address, self.command, log_level=self.log_level)

    async def _attach(self, link: client.Link) -> None:
        self.link, self.linked_at = link, time.monotonic()
        self._service_reader, self._service_writer = await asyncio.open_unix_connection(sock=link.sock)
        self.ready.set()

    async def serve_editor(self, reader: MessageReader, events: list[Any]) -> int:
        while True:
            for event in events:
                if isinstance(event, Problem):
                    log.warning("framing: %s", event.text)
                    continue
                await self.ready.wait()
                status = await self.from_editor(event.payload)
                if status is not None:
                    return status
            data = await self.next_chunk()
            if not data:
                for problem in reader.close():
                    log.warning("framing: %s", problem.text)
                log.info("the editor closed the connection")
                return 0
            events = reader.feed(data)

    async def from_editor(self, message: Any) -> int | None:
        """Forward one message of the editor's; the exit status once it was ``exit``."""
        if not isinstance(message, dict):
            self.to_service(message)  # the service judges it
            return None
        self.session.from_editor(message)
        method, msg_id = message.get("method"), message.get("id")
        if method is None and "id" in message:  # the editor's answer to the service
            if _is_id(msg_id) and msg_id in self.service_requests:
                self.service_requests.discard(msg_id)
                self.to_service(message)
            else:
                log.debug("dropping the editor's answer to %r: the service that asked is gone", msg_id)
            return None
        if method == "exit":
            self.closing = True
            self.to_service(message)
            await self._flush()
            return 0 if self.session.shutdown else 1
        if method is not None and _is_id(msg_id):
            if self.link is None:
                self.answer_empty(msg_id, str(method))
                if self.gave_up_at is not None and time.monotonic() - self.gave_up_at > RETRY_AFTER_S:
                    self.retry.set()
                return None
            self.editor_requests[msg_id] = str(method)
        self.to_service(message)
        await self._flush()
        return None

    def to_service(self, message: Any) -> None:
        writer = self._service_writer
        if self.link is not None and writer is not None and not writer.transport.is_closing():
            writer.write(frame(message))

    async def _flush(self) -> None:
        writer = self._service_writer
        if writer is not None:
            with contextlib.suppress(OSError):
                await writer.drain()

    def to_editor(self, message: Any) -> None:
        data = memoryview(frame(message))
        try:
            while data:
                data = data[os.write(self.stdout, data) :]
        except OSError as exc:  # the editor is gone: so is its session (the socket closes with us)
            log.error("the editor closed its end of stdout (%s): stopping", exc.strerror)
            logging.shutdown()
            os._exit(0)

    def answer_empty(self, msg_id: Any, method: str) -> None:
        if method in EMPTY_RESULTS:
            self.to_editor({"jsonrpc": "2.0", "id": msg_id, "result": EMPTY_RESULTS[method]})
        else:
            text = f"copilot-lsp: the model service stopped; {method} not answered"
            error = {"code": REQUEST_FAILED, "message": text}
            self.to_editor({"jsonrpc": "2.0", "id": msg_id, "error": error})

    async def serve_service(self) -> None:
        """Forward the service's messages; when it goes away, recover (until closing). A
        failure of this loop's own (a bug) counts as the service going away: the requests the
        editor waits for are answered and the front reconnects, so that no request waits for
        ever on a loop that is gone."""
        while not self.closing:
            try:
                await self._serve_service()
            except Exception as exc:
                if self.closing:
                    return
                log.exception("forwarding the model service's messages failed")
                self.last_error = f"the front failed ({type(exc).__name__}: {exc})"
                self.dropped()
                await asyncio.sleep(RETRY_DELAYS_S[-1])  # a failure that repeats does not spin

    async def _serve_service(self) -> None:
        while not self.closing:
            if self._service_reader is not None:
                await self.read_service(self._service_reader)
                if self.closing:
                    return
                self.dropped()
            if not await self.reconnect():
                self.give_up()
                await self.retry.wait()
                self.retry.clear()
                self.failures = 0
                self.ready.clear()

    async def read_service(self, stream: asyncio.StreamReader) -> None:
        reader = MessageReader()
        if self.link is not None and self.link.leftover:
            self.handle_service_events(reader.feed(self.link.leftover))
        while True:
            try:
                data = await stream.read(CHUNK_BYTES)
            except OSError as exc:
                self.last_error = f"the connection failed: {exc}"
                return
            if not data:
                self.last_error = "it closed the connection"
                return
            self.handle_service_events(reader.feed(data))

    def handle_service_events(self, events: list[Any]) -> None:
        for event in events:
            if isinstance(event, Problem):
                log.warning("framing (from the service): %s", event.text)
            else:
                self.from_service(event.payload)

    def from_service(self, message: Any) -> None:
        if isinstance(message, dict):
            method, msg_id = message.get("method"), message.get("id")
            if method is None and _is_id(msg_id):  # an answer to the editor (or to a replay)
                if msg_id == self.replay_id:
                    self.replay_id = None
                    self.session.initialize_answered(message.get("result"))
                    if self.pending_initialize is None:
                        return  # swallowed: the editor had its answer from the last service
                    message = {**message, "id": self.pending_initialize}
                    self.pending_initialize = None
                elif self.editor_requests.pop(msg_id, None) == "initialize":
                    self.session.initialize_answered(message.get("result"))
            elif method is not None and _is_id(msg_id):
                self.service_requests.add(msg_id)
            elif method == LOG_METHOD:
                params = message.get("params")
                if isinstance(params, dict) and isinstance(params.get("text"), str):
                    write_log(params["text"])
                return
            elif method == "window/showMessage":
                text = json.dumps(message.get("params"), sort_keys=True)
                if self.replayed and text in self.shown:
                    return  # the same popup again, from a service that took over
                self.shown.add(text)
        self.to_editor(message)

    def dropped(self) -> None:
        """The service went away: answer what the editor waits for, forget the service's requests."""
        pid = self.link.pid if self.link is not None else 0
        if time.monotonic() - self.linked_at > STABLE_S:
            self.failures = 0
        self.ready.clear()
        self._drop_link()
        waiting = dict(self.editor_requests)
        self.editor_requests.clear()
        self.service_requests.clear()
        log.warning(
            "the model service (pid %d) went away (%s): answering %d request(s) with nothing and reconnecting",
            pid,
            self.last_error,
            len(waiting),
        )
        for msg_id, method in waiting.items():
            if method == "initialize":
                self.pending_initialize = msg_id  # answered by the replay's
            else:
                self.answer_empty(msg_id, method)

    def _drop_link(self) -> None:
        if self._service_writer is not None:
            self._service_writer.close()
        elif self.link is not None:
            self.link.sock.close()
        self.link, self._service_reader, self._service_writer = None, None, None

    async def reconnect(self) -> bool:
        """A new service with the session replayed; False after a run of failures."""
        assert self.address is not None
        while True:
            if self.session.shutdown:  # only exit is left to come: no service needed for it
                self.ready.set()
                await asyncio.Event().wait()
            self.failures += 1
            if self.failures > len(RETRY_DELAYS_S):
                return False
            await asyncio.sleep(RETRY_DELAYS_S[self.failures - 1])
            started = time.monotonic()
            try:
                link = await on_a_thread(self._connect)
            except (ServiceUnavailable, OSError) as exc:
                self.last_error = str(exc)
                log.warning("cannot reach the model service (try %d): %s", self.failures, exc)
                continue
            how, elapsed = "started" if link.started else "found", (time.monotonic() - started) * 1000
            log.info("model service %s (pid %d) in %.0f ms: replaying the session", how, link.pid, elapsed)
            await self._attach(link)
            self.replay()
            return True

    def replay(self) -> None:
        messages = self.session.replay()
        if messages:
            self.replay_id = messages[0]["id"]
            self.replayed = True
        for message in messages:
            self.to_service(message)

    def give_up(self) -> None:
        self.gave_up_at = time.monotonic()
        log_file = self.address.log if self.address is not None else "?"
        text = (
            f"copilot-lsp: the model service stopped {len(RETRY_DELAYS_S)} times in a row and could not be "
            f"restarted ({self.last_error}); no completions for now (its log: {log_file})"
        )
        log.error("%s", text)
        self.to_editor({"jsonrpc": "2.0", "method": "window/showMessage", "params": {"type": 1, "message": text}})
        self.ready.set()


def _on_interrupt(signum: int, frame: FrameType | None) -> None:
    exits.say(exits.INTERRUPTED)
    os._exit(exits.EXIT_INTERRUPTED)


def serve(args: Any) -> int:
    """``copilot-lsp serve`` over stdio through the service; this process serves the editor
    itself when the service cannot be used."""
    stdin = StdinChunks()
    interrupt = signal.getsignal(signal.SIGINT)
    if interrupt is signal.default_int_handler:  # one that is ignored (nohup) stays ignored
        signal.signal(signal.SIGINT, _on_interrupt)
    front = Front(stdin, args.settings, args.config, args.log_level)
    try:
        return asyncio.run(front.run())
    except ServeHere as exc:
        reason = str(exc)
    log.warning("serving this editor in this process (the model service cannot be used: %s)", reason)
    signal.signal(signal.SIGINT, interrupt)
    stdin.unread(front.consumed)
    return serve_here(args, stdin)


def serve_here(args: Any, stdin: Any) -> int:
    """The whole server in this process (``serve --per-window``), reading ``stdin``."""
    from .server import create_server
    from .transport import serve_stdio

    server = create_server(args.settings, args.config_problems)
    server.log_level_from_cli = args.log_level is not None
    exits.end_serve_on_interrupt(server.stop_pipeline)
    return serve_stdio(server, stdin)
