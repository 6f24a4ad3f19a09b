"""Serving a ``CopilotProtocol`` over stdio or TCP with ``framing.MessageReader``, in place of
pygls' read loops (``start_io`` / ``start_tcp``), which die on a huge ``Content-Length``
and never find a message boundary again after one bad header.

Over stdio the process serves one session; over TCP each connection is a session of its own
(``host.SessionHost``) and the listener stays until SIGINT or SIGTERM (``exits.py``).

stdin is read by a thread of its own (pygls reads it on the handlers' thread pool, so busy
handlers delay reading) with ``os.read``, which holds no lock that interpreter shutdown could
wait on; at most ``QUEUE_CHUNKS`` reads wait for the event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import logging
import os
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, BinaryIO

from pygls.io_ import StdoutWriter
from pygls.lsp.server import LanguageServer

from .framing import MessageReader, Problem
from .protocol import CopilotProtocol

if TYPE_CHECKING:
    from .host import SessionHost

log = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024
QUEUE_CHUNKS = 16


async def serve_messages(
    protocol: CopilotProtocol,
    read: Callable[[], Awaitable[bytes]],
    stop: threading.Event | None = None,
    log_prefix: str = "",
) -> None:
    """Read, frame and hand over messages until ``exit``, the end of the input or ``stop``;
    ``log_prefix`` names the session in the log lines (``session s2: ``)."""
    reader = MessageReader()
    while protocol.exit_code is None and not (stop is not None and stop.is_set()):
        data = await read()
        if not data:
            for problem in reader.close():
                log.warning("%sframing: %s", log_prefix, problem.text)
            log.info("%sthe client closed the connection", log_prefix)
            return
        for event in reader.feed(data):
            if isinstance(event, Problem):
                log.warning("%sframing: %s", log_prefix, event.text)
                continue
            protocol.receive(event.payload)
            if protocol.exit_code is not None:
                return
            # Let a request's handler start (and take its snapshot of the document) before the
            # next message is handled: a didChange read in the same chunk comes after it.
            await asyncio.sleep(0)


def serve_stdio(server: LanguageServer, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> int:
    """``server.start_io()`` with this module's reader; the process's exit status: 0 after
    ``shutdown`` + ``exit`` or at the end of stdin, 1 for an ``exit`` without ``shutdown``."""
    protocol = _copilot_protocol(server)
    protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))
    server._stop_event = stop = threading.Event()  # pygls' shutdown() sets it
    try:
        asyncio.run(_serve_stdio(protocol, stdin or sys.stdin.buffer, stop))
    except BrokenPipeError:
        log.error("the client closed its end of stdout: stopping")
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()  # type: ignore[no-untyped-call]
    return protocol.exit_code or 0


async def _serve_stdio(protocol: CopilotProtocol, stdin: BinaryIO, stop: threading.Event) -> None:
    chunks: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_CHUNKS)
    pump = threading.Thread(
        target=_pump, args=(stdin, asyncio.get_running_loop(), chunks), name="lsp-stdin", daemon=True
    )
    pump.start()
    await serve_messages(protocol, chunks.get, stop)


def _pump(stream: BinaryIO, loop: asyncio.AbstractEventLoop, chunks: asyncio.Queue[bytes]) -> None:
    """Blocking reads handed to the event loop; b"" once at the end of the input."""
    try:
        fd: int | None = stream.fileno()
    except (OSError, AttributeError, io.UnsupportedOperation):
        fd = None  # an in-memory stream (tests)
    while True:
        try:
            data = os.read(fd, CHUNK_BYTES) if fd is not None else stream.read(CHUNK_BYTES)
        except (OSError, ValueError):  # closed under the reader
            data = b""
        try:
            asyncio.run_coroutine_threadsafe(chunks.put(data), loop).result()
        except (RuntimeError, concurrent.futures.CancelledError):
            return  # the event loop has finished
        if not data:
            return


def serve_tcp(host: SessionHost, address: str, port: int) -> None:
    """Serve every client that connects to ``address:port``, each its own session, until the
    process is stopped (SIGINT, SIGTERM: ``exits.end_serve_on_signals``). OSError when the
    address cannot be bound."""
    asyncio.run(_listen(host, address, port))


async def _listen(host: SessionHost, address: str, port: int) -> None:
    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await host.serve_connection(reader, writer, host.new_label("tcp-"))

    listener = await asyncio.start_server(connection, address, port)
    log.debug("serving on %s", ", ".join(str(sock.getsockname()) for sock in listener.sockets))
    # Not serve_forever(): uvloop's Server.close() does not end it; the signal handlers end
    # the process instead, without unwinding the loop (exits.py).
    async with listener:
        await asyncio.Event().wait()


def _copilot_protocol(server: LanguageServer) -> CopilotProtocol:
    if not isinstance(server.protocol, CopilotProtocol):
        raise TypeError(f"the server needs protocol_cls=CopilotProtocol, not {type(server.protocol).__name__}")
    return server.protocol
