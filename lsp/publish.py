"""Where the statistics go besides the LSP request: a local socket per running server (for
``copilot-lsp stats``), a saved snapshot (for when no server runs), and optionally a
Prometheus endpoint on loopback. Nothing listens on a network interface.

There is one publisher per process. A process serving many sessions (``host.py``) publishes
the process's counters and window (its sessions' together) with ``"sessions"``: each
session's own statistics; ``copilot-lsp stats`` shows each live session, and Prometheus has
the process's metrics and ``copilot_session_events`` by session.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from copilot import paths

log = logging.getLogger(__name__)

SAVE_EVERY_S = 30.0
Snapshot = Callable[[], dict[str, Any]]


def socket_path(pid: int | None = None) -> Path:
    return paths.runtime_dir() / f"{pid or os.getpid()}.sock"


def saved_path() -> Path:
    return paths.state_dir() / "stats.json"


class Publisher:
    """Serves ``snapshot()`` on this process's socket and saves it now and then."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self._started = False
        self._stopped = False  # for good: a session initialized after its process stopped starts nothing
        self._server: asyncio.AbstractServer | None = None
        self._saver: asyncio.Task[None] | None = None
        self._http: Any = None
        self._prometheus_port = 0

    async def start(self, prometheus_port: int = 0) -> None:
        """The socket and the saver once; the Prometheus endpoint on the first nonzero port
        asked for (sessions asking for another one are told where it is)."""
        if self._stopped:
            return
        if prometheus_port:
            self._serve_prometheus(prometheus_port)
        if self._started:
            return
        self._started = True
        path = socket_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.unlink(missing_ok=True)
            self._server = await asyncio.start_unix_server(self._answer, path=str(path))
            path.chmod(0o600)  # the user's own statistics: only the user may read them
        except OSError as exc:
            log.warning("no statistics socket at %s: %s (copilot-lsp stats reads the saved snapshot)", path, exc)
        self._saver = asyncio.ensure_future(self._save_periodically())

    def _serve_prometheus(self, port: int) -> None:
        if self._prometheus_port:
            if port != self._prometheus_port:
                log.info(
                    "monitoring.prometheus_port %d ignored: this process serves Prometheus on %d",
                    port,
                    self._prometheus_port,
                )
            return
        self._prometheus_port = port
        loop = asyncio.get_running_loop()
        registry = CollectorRegistry()
        registry.register(PrometheusCollector(lambda: _on_loop(loop, self.snapshot)))
        try:
            self._http = start_http_server(port, addr="127.0.0.1", registry=registry)
            log.info("Prometheus metrics on http://127.0.0.1:%d/metrics", port)
        except OSError as exc:
            log.error("no Prometheus endpoint on 127.0.0.1:%d: %s; serving completions without it", port, exc)

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(json.dumps(self.snapshot()).encode())
            await writer.drain()
        except OSError:
            pass  # the reader went away
        finally:
            writer.close()

    async def _save_periodically(self) -> None:
        while True:
            await asyncio.sleep(SAVE_EVERY_S)
            self.save()

    def save(self) -> None:
        """Write the snapshot atomically (a reader never sees half a file)."""
        target = saved_path()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(json.dumps({**self.snapshot(), "saved_at": time.time(), "pid": os.getpid()}))
            partial.replace(target)
        except OSError as exc:
            log.debug("statistics not saved: %s", exc)

    def stop(self) -> None:
        if not self._started or self._stopped:
            return
        self._stopped = True
        self.save()
        if self._saver is not None:
            with contextlib.suppress(RuntimeError):  # its event loop has already finished
                self._saver.cancel()
            self._saver = None
        if self._server is not None:
            self._server.close()
            self._server = None
            socket_path().unlink(missing_ok=True)
        if self._http is not None:
            server, thread = self._http
            server.shutdown()
            thread.join(timeout=5)
            self._http = None


def _on_loop(loop: asyncio.AbstractEventLoop, snapshot: Snapshot) -> dict[str, Any]:
    """Call ``snapshot`` on the event loop's thread (the metrics are not thread-safe)."""

    async def take() -> dict[str, Any]:
        return snapshot()

    return asyncio.run_coroutine_threadsafe(take(), loop).result(timeout=5)


class PrometheusCollector(Collector):
    """The snapshot as Prometheus metrics: counters since start, window percentiles as gauges."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        stats = self.snapshot()
        counts = CounterMetricFamily("copilot_events", "Counters since start, by name", labels=["name"])
        for name, value in stats.get("counts", {}).items():
            counts.add_metric([name], value)
        yield counts
        window = stats.get("window", {})
        yield _quantiles("copilot_stage_latency_ms", "Stage latency, recent window", "stage", window, "stage_ms")
        yield _quantiles(
            "copilot_route_latency_ms", "Answer latency by route over the recent window", "route", window, "route_ms"
        )
        rates = GaugeMetricFamily("copilot_rate", "Rates over the recent window", labels=["name"])
        for name in ("typing_through_share", "kv_reuse", "draft_acceptance", "error_rate", "cancel_rate"):
            if window.get(name) is not None:
                rates.add_metric([name], window[name])
        for level, rate in window.get("cache_hit_rate", {}).items():
            if rate is not None:
                rates.add_metric([f"cache_hit_{level}"], rate)
        yield rates
        if "sessions" in stats:  # a process of many sessions: the counters of each as well
            by_session = CounterMetricFamily(
                "copilot_session_events", "Counters of each session since it started", labels=["name", "session"]
            )
            for session in stats["sessions"]:
                for name, value in session.get("counts", {}).items():
                    by_session.add_metric([name, str(session.get("session", ""))], value)
            yield by_session


def _quantiles(name: str, documentation: str, label: str, window: dict[str, Any], key: str) -> GaugeMetricFamily:
    """One gauge per (``label`` value, quantile) from the window's ``key`` percentiles."""
    gauge = GaugeMetricFamily(name, documentation, labels=[label, "quantile"])
    for value, quantiles in window.get(key, {}).items():
        for quantile in ("p50", "p95", "p99"):
            if quantile in quantiles:
                gauge.add_metric([value, quantile], quantiles[quantile])
    return gauge


def read_live(timeout: float = 2.0) -> list[dict[str, Any]]:
    """The snapshots of the running servers of this user, one per session (a process serving
    many lists each of its live sessions); sockets left by dead ones are removed."""
    found = []
    folder = paths.runtime_dir()
    for path in sorted(folder.glob("*.sock")) if folder.is_dir() else []:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                client.settimeout(timeout)
                client.connect(str(path))
                chunks = []
                while chunk := client.recv(1 << 16):
                    chunks.append(chunk)
            found.extend(_per_session(json.loads(b"".join(chunks)), int(path.stem)))
        except (ConnectionRefusedError, FileNotFoundError):
            path.unlink(missing_ok=True)  # its server is gone
        except (OSError, ValueError) as exc:
            log.debug("%s: %s", path, exc)
    return found


def read_saved() -> dict[str, Any] | None:
    try:
        return dict(json.loads(saved_path().read_text()))
    except (OSError, ValueError):
        return None


def _per_session(snapshot: dict[str, Any], pid: int) -> list[dict[str, Any]]:
    """A process's snapshot as one per live session; the process's own when it has none."""
    live = [session for session in snapshot.get("sessions", []) if not session.get("ended")]
    if not live:
        return [{**snapshot, "pid": pid}]
    return [{**session, "pid": pid} for session in live]
