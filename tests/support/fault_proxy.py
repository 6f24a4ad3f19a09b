"""A fault-injecting HTTP/1.1 proxy on loopback, in front of an OpenAI-compatible server.

The proxy parses each request and response just enough to find where they end, so it works
per request: the mode is read when a request's head has arrived, and a switch made with
`set_mode` applies to the next request even on a kept-alive client connection (a request
already in flight keeps the mode it started with). Every forwarded request gets a fresh
upstream connection, closed after its response; the client's connection stays open.
`drop_connections()` closes every open client connection, as a restarted server would.

Requests must carry their body with Content-Length or chunked encoding, as HTTP clients do.

    with FaultProxy("127.0.0.1", upstream_port) as proxy:
        proxy.set_mode("status_429")
        httpx.post(f"{proxy.base_url}/completions", json={...})  # 429, Retry-After: 1

The proxy runs its own event loop in a background thread, so that a test's event loop, a
synchronous test and a server under test in another process can all reach it; the setters
and counters are thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import socket
import struct
import threading
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from enum import StrEnum
from types import TracebackType

HOST = "127.0.0.1"


class FaultMode(StrEnum):
    PASS = "pass"  # forward both ways unchanged
    DELAY = "delay"  # wait delay_s, then forward
    STATUS_500 = "status_500"  # answer 500 with a JSON error, upstream untouched
    STATUS_429 = "status_429"  # answer 429 with Retry-After: 1, upstream untouched
    RESET = "reset"  # read the request, then close with a TCP RST
    TRUNCATE = "truncate"  # forward, then close after truncate_after bytes of response body
    CORRUPT = "corrupt"  # forward, SSE data payloads after the first event made invalid JSON
    DRIP = "drip"  # forward the response drip_chunk bytes every drip_interval_s
    HANG = "hang"  # read the request, never answer
    NOT_JSON = "not_json"  # answer 200 text/html, upstream untouched


@dataclasses.dataclass(frozen=True)
class FaultSettings:
    mode: FaultMode = FaultMode.PASS
    delay_s: float = 1.0
    truncate_after: int = 200  # bytes of the body as sent on the wire (chunk framing included)
    drip_chunk: int = 8
    drip_interval_s: float = 0.05


CORRUPT_PAYLOAD = b'{"id": "corrupted", "choices": [{"text": '  # cut-off JSON, as from a broken relay
NOT_JSON_BODY = (  # what a captive portal or a misrouted reverse proxy answers
    b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body><p>Network login required.</p></body></html>\n"
)
_REASONS = {200: "OK", 429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway"}


def _canned(status: int, body: bytes, content_type: str, extra: Iterable[tuple[str, str]] = ()) -> bytes:
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *extra]
    head = f"HTTP/1.1 {status} {_REASONS[status]}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return head.encode("latin-1") + body


def _error(status: int, message: str, kind: str, extra: Iterable[tuple[str, str]] = ()) -> bytes:
    body = json.dumps({"error": {"message": message, "type": kind, "param": None, "code": status}}).encode()
    return _canned(status, body, "application/json", extra)


class _Head:
    """A request's or response's start line and headers, with the raw bytes kept for forwarding."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        lines = raw.decode("latin-1").split("\r\n")
        self.start = lines[0]
        self.headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                self.headers[name.strip().lower()] = value.strip()

    @property
    def chunked(self) -> bool:
        return "chunked" in self.headers.get("transfer-encoding", "").lower()

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("content-length")
        return int(value) if value is not None else None

    def replace_header(self, name: str, value: str) -> bytes:
        lines = self.raw.decode("latin-1").split("\r\n")
        out = [line for line in lines if line.partition(":")[0].strip().lower() != name.lower() or not line]
        out.insert(1, f"{name}: {value}")
        return "\r\n".join(out).encode("latin-1")


async def _read_head(reader: asyncio.StreamReader) -> _Head | None:
    """The next head, or None at a clean end of stream between messages."""
    try:
        return _Head(await reader.readuntil(b"\r\n\r\n"))
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise ConnectionError("stream ended inside an HTTP head") from exc
        return None


async def _body(
    reader: asyncio.StreamReader, head: _Head, *, request: bool, method: str = "GET"
) -> AsyncGenerator[tuple[bytes, bytes]]:
    """The body in pieces as (wire bytes, decoded bytes): chunk framing stays in the first."""
    if not request:
        status = int(head.start.split()[1])
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return
    if head.chunked:
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                trailer = b""
                while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                    trailer += line
                yield size_line + trailer + b"\r\n", b""
                return
            data = await reader.readexactly(size + 2)
            yield size_line + data, data[:-2]
    elif (length := head.content_length) is not None:
        while length > 0:
            piece = await reader.read(min(length, 65536))
            if not piece:
                raise ConnectionError("stream ended inside an HTTP body")
            length -= len(piece)
            yield piece, piece
    elif not request:  # no framing: the body runs to the end of the connection
        while piece := await reader.read(65536):
            yield piece, piece


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


class _SseCorrupter:
    """Rewrites `data:` lines after the first event into invalid JSON; [DONE] stays intact."""

    def __init__(self) -> None:
        self.buffer = b""
        self.events = 0

    def feed(self, data: bytes) -> bytes:
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        return b"".join(self._line(line) + b"\n" for line in lines)

    def flush(self) -> bytes:
        rest, self.buffer = self.buffer, b""
        return self._line(rest) if rest else b""

    def _line(self, line: bytes) -> bytes:
        if line.strip() == b"":
            self.events += 1  # a blank line ends an event
            return line
        if line.startswith(b"data:") and self.events > 0 and line[5:].strip() != b"[DONE]":
            return b"data: " + CORRUPT_PAYLOAD + (b"\r" if line.endswith(b"\r") else b"")
        return line


class FaultProxy:
    """See the module docstring. `connections` counts accepted client connections, `requests`
    the requests seen by the mode each met."""

    def __init__(self, upstream_host: str, upstream_port: int, host: str = HOST, port: int = 0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._bind = (host, port)
        self._lock = threading.Lock()
        self._settings = FaultSettings()
        self._connections = 0
        self._requests: Counter[FaultMode] = Counter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._port = 0

    # --- control, from any thread ---

    def set_mode(
        self,
        mode: FaultMode | str,
        *,
        delay_s: float | None = None,
        truncate_after: int | None = None,
        drip_chunk: int | None = None,
        drip_interval_s: float | None = None,
    ) -> None:
        """Switch mode for the next requests; the parameters given replace the current ones."""
        with self._lock:
            old = self._settings
            self._settings = FaultSettings(
                mode=FaultMode(mode),
                delay_s=old.delay_s if delay_s is None else delay_s,
                truncate_after=old.truncate_after if truncate_after is None else truncate_after,
                drip_chunk=old.drip_chunk if drip_chunk is None else drip_chunk,
                drip_interval_s=old.drip_interval_s if drip_interval_s is None else drip_interval_s,
            )

    @property
    def settings(self) -> FaultSettings:
        with self._lock:
            return self._settings

    @property
    def mode(self) -> FaultMode:
        return self.settings.mode

    @property
    def connections(self) -> int:
        with self._lock:
            return self._connections

    @property
    def requests(self) -> Counter[FaultMode]:
        with self._lock:
            return Counter(self._requests)

    def reset_counters(self) -> None:
        with self._lock:
            self._connections = 0
            self._requests.clear()

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("the proxy is not started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def start_in_thread(self, timeout: float = 10.0) -> FaultProxy:
        """Bind and serve on a new event loop in a daemon thread; returns once listening."""
        if self._thread is not None:
            raise RuntimeError("the proxy is already started")
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(asyncio.start_server(self._handle, *self._bind, limit=1 << 20))
                self._port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="fault-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(timeout) or failure:
            self._thread.join(timeout)
            loop.close()
            self._loop = self._thread = None
            raise RuntimeError("the fault proxy did not start") from (failure[0] if failure else None)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Close the listener and every connection, then end the thread and its loop."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        self._loop = self._thread = None
        self._server = None

    def drop_connections(self, timeout: float = 10.0) -> None:
        """Close every open client connection, so that the client's next request opens a new one."""
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._cancel_handlers(), self._loop).result(timeout)

    def __enter__(self) -> FaultProxy:
        return self.start_in_thread()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- the event loop's side ---

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._cancel_handlers()
        if self._server is not None:
            await self._server.wait_closed()

    async def _cancel_handlers(self) -> None:
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        with self._lock:
            self._connections += 1
        graceful = False
        try:
            while await self._one_request(reader, writer):
                pass
            graceful = True
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass  # the client or upstream went away or spoke nonsense: drop the connection
        except asyncio.CancelledError:
            pass  # stop() or drop_connections()
        finally:
            self._handlers.discard(task)
            if graceful:
                writer.close()  # flushes what is queued, then FIN
            else:
                writer.transport.abort()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 5)
            writer.transport.abort()  # no-op unless the flush above never finished

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; False when the client connection is to be closed."""
        head = await _read_head(reader)
        if head is None:
            return False
        body = b"".join([wire async for wire, _ in _body(reader, head, request=True)])
        with self._lock:
            settings = self._settings
            self._requests[settings.mode] += 1
        mode = settings.mode
        if mode is FaultMode.STATUS_500:
            writer.write(_error(500, "injected fault: internal server error", "server_error"))
        elif mode is FaultMode.STATUS_429:
            writer.write(_error(429, "injected fault: rate limited", "rate_limit_exceeded", [("Retry-After", "1")]))
        elif mode is FaultMode.NOT_JSON:
            writer.write(_canned(200, NOT_JSON_BODY, "text/html; charset=utf-8"))
        elif mode is FaultMode.RESET:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close → RST
            writer.transport.abort()
            return False
        elif mode is FaultMode.HANG:
            while await reader.read(65536):  # hold the connection until the client or stop() ends it
                pass
            return False
        else:
            if mode is FaultMode.DELAY:
                await asyncio.sleep(settings.delay_s)
            return await self._forward(head, body, writer, settings)
        await writer.drain()
        return True

    async def _forward(self, head: _Head, body: bytes, writer: asyncio.StreamWriter, settings: FaultSettings) -> bool:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream, limit=1 << 20)
        except OSError as exc:
            writer.write(_error(502, f"fault proxy: upstream unreachable: {exc}", "bad_gateway"))
            await writer.drain()
            return True
        pieces: AsyncGenerator[tuple[bytes, bytes]] | None = None
        try:
            up_writer.write(head.raw + body)
            await up_writer.drain()
            response = await _read_head(up_reader)
            if response is None:
                return False
            method = head.start.split(" ", 1)[0]
            pieces = _body(up_reader, response, request=False, method=method)
            keep_alive = "close" not in response.headers.get("connection", "").lower() and (
                response.chunked or response.content_length is not None
            )
            mode = settings.mode
            if mode is FaultMode.TRUNCATE:
                await self._relay_truncated(response, pieces, writer, settings.truncate_after)
                return False
            if mode is FaultMode.CORRUPT:
                await self._relay_corrupted(response, pieces, writer)
            elif mode is FaultMode.DRIP:
                await self._relay_dripped(response, pieces, writer, settings)
            else:
                writer.write(response.raw)
                async for wire, _ in pieces:
                    writer.write(wire)
                    await writer.drain()
            await writer.drain()
            return keep_alive
        finally:
            if pieces is not None:
                await pieces.aclose()  # a truncated relay leaves the generator open
            up_writer.transport.abort()
            with contextlib.suppress(Exception):
                await up_writer.wait_closed()

    @staticmethod
    async def _relay_truncated(
        response: _Head, pieces: AsyncIterator[tuple[bytes, bytes]], writer: asyncio.StreamWriter, limit: int
    ) -> None:
        writer.write(response.raw)
        left = limit
        async for wire, _ in pieces:
            writer.write(wire[:left])
            left -= min(left, len(wire))
            if left == 0:
                break
        writer.close()  # FIN mid-body, once what was written is flushed

    @staticmethod
    async def _relay_corrupted(
        response: _Head, pieces: AsyncIterator[tuple[bytes, bytes]], writer: asyncio.StreamWriter
    ) -> None:
        sse = "text/event-stream" in response.headers.get("content-type", "")
        if response.chunked:
            writer.write(response.raw)
            corrupter = _SseCorrupter() if sse else None
            async for wire, data in pieces:
                if corrupter is None:
                    writer.write(wire)
                elif data:
                    if out := corrupter.feed(data):
                        writer.write(_chunk(out))
                else:  # the last chunk
                    if rest := corrupter.flush():
                        writer.write(_chunk(rest))
                    writer.write(wire)
                await writer.drain()
            return
        body = b"".join([data async for _, data in pieces])
        if sse:
            corrupter = _SseCorrupter()
            body = corrupter.feed(body) + corrupter.flush()
        else:  # a JSON body: keep its first half only
            body = body[: len(body) // 2]
        writer.write(response.replace_header("Content-Length", str(len(body))) + body)

    @staticmethod
    async def _relay_dripped(
        response: _Head,
        pieces: AsyncIterator[tuple[bytes, bytes]],
        writer: asyncio.StreamWriter,
        settings: FaultSettings,
    ) -> None:
        pending = response.raw
        size = max(1, settings.drip_chunk)
        async for wire, _ in pieces:
            pending += wire
            while len(pending) >= size:
                writer.write(pending[:size])
                pending = pending[size:]
                await writer.drain()
                await asyncio.sleep(settings.drip_interval_s)
        if pending:
            writer.write(pending)
