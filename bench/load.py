"""N simulated editors typing at once: the shared model service, one server per editor, and
one llama-server with N slots.

Each editor types its own typing sessions (``make_trace(sessions, seed + editor)``) the way
``bench latency`` types: a key every ``--keystroke-ms`` or once the answer is in, if later; a
suggestion that is a prefix of what the user was about to type is accepted (inserted whole).
All editors run at once, as asyncio tasks in this process, for ``--duration-s`` seconds or until
their sessions run out. For each N of ``--editors`` (1 2 4 8 by default), three designs in turn:

- shared (the default design): each editor starts ``copilot-lsp serve`` over stdio, the light
  front that forwards to the user's model service; the first one starts the service, which
  hosts every editor's session with one model and batches their generations
  (``model.n_threads`` = all cores). A fresh runtime folder per run: a service of its own.
- per-window (``serve --per-window``, the design before the service): each editor's server
  loads its own model, so N servers share the cores: ``model.n_threads = max(1, cores // N)``.
- the peer: ONE llama-server with N slots (``--parallel N``, how llama.vim users share a
  server), the same model file, one ``/infill`` request per keystroke with llama.vim's body.

Before the clock starts each editor sends one untimed request on a throwaway document: our
servers load the model in the background and the first request would wait for it, while the
peer is only started once its /health says the model is loaded; the warm-up evens that out.
Reported per design: keystroke-to-answer percentiles (answered requests only; failed ones are
counted as errors), errors, the peak of the summed resident memory of every process of the
design (fronts and service; servers; llama-server), sampled every 0.5 s, the share of
characters written by accepted suggestions, and for ours which stage answered
(``copilot/stats`` sources, summed over the sessions; the warm-up included).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from copilot.models import DEFAULT_MODEL_PATH

from . import peer
from .client import BenchClient
from .latency import MAX_TOKENS, N_CTX, PROMPT_TOKENS
from .report import percentiles, write
from .traces import TypingSession, make_trace, utf16_len

REQUEST_TIMEOUT_S = 30.0  # a request not answered by then counts as an error
RSS_EVERY_S = 0.5
STOP_TIMEOUT_S = 10.0
ROUND_TRIPS = 200
WARM_UP_TEXT = "import os\n\n\ndef main():\n    "


class Editor(Protocol):
    """One simulated editor's view of its completion backend."""

    def open(self, number: int, session: TypingSession) -> None: ...

    async def suggest(self, before: str, after: str, line: int, column: int) -> str: ...

    def insert(self, line: int, column: int, text: str) -> None: ...


@dataclass
class Tally:
    """What one side's editors saw, added up over its editors."""

    editors: int
    latencies: list[float] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)  # per editor
    errors: int = 0
    first_error: str | None = None
    chars_typed: int = 0
    chars_accepted: int = 0

    def __post_init__(self) -> None:
        self.answered = [0] * self.editors

    def error(self, exc: BaseException) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = f"{type(exc).__name__}: {exc}"[:500]


class OursEditor:
    """An editor with its own copilot-lsp server over stdio."""

    def __init__(self, client: BenchClient, index: int) -> None:
        self.client, self.index, self.uri = client, index, ""

    def open(self, number: int, session: TypingSession) -> None:
        self.uri = f"file:///bench/load/{self.index}/{number}/{Path(session.path).name}"
        self.client.open(self.uri, session.text_before + session.text_after)

    async def suggest(self, before: str, after: str, line: int, column: int) -> str:
        suggestion, _, _ = await asyncio.wait_for(self.client.complete(self.uri, line, column), REQUEST_TIMEOUT_S)
        return suggestion

    def insert(self, line: int, column: int, text: str) -> None:
        self.client.insert(self.uri, line, column, text)


class PeerError(Exception):
    """llama-server answered, but not with 200."""


class PeerEditor:
    """An editor that talks to the shared llama-server the way llama.vim does: the whole text
    around the cursor in every request, nothing kept between requests but the server's cache."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    def open(self, number: int, session: TypingSession) -> None:
        pass

    async def suggest(self, before: str, after: str, line: int, column: int) -> str:
        body = peer.infill_request(before, after, extra=[], n_predict=MAX_TOKENS, single_line=True)
        answer = await self.http.post("/infill", json=body)
        if answer.status_code != 200:
            raise PeerError(f"HTTP {answer.status_code}: {answer.text[:300]}")
        return str(answer.json().get("content", ""))

    def insert(self, line: int, column: int, text: str) -> None:
        pass


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants: a server's worker processes count towards its memory."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError, ValueError):
                pending.extend(int(child) for child in (task / "children").read_text().split())
    return found


class RssSampler:
    """The peak over time of the summed RSS of some processes (and their children)."""

    def __init__(self, pids: Callable[[], Sequence[int]]) -> None:
        self.pids, self.peak_mb = pids, 0.0
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> None:
        # Each process once: a service started by a front is also that front's child.
        total = sum(peer.process_rss_mb(p) for p in {p for pid in self.pids() for p in process_tree(pid)})
        self.peak_mb = max(self.peak_mb, total)

    async def _loop(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(RSS_EVERY_S)

    async def __aenter__(self) -> RssSampler:
        self._task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.sample()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def type_sessions(
    editor: Editor, index: int, trace: list[TypingSession], args: argparse.Namespace, deadline: float, tally: Tally
) -> None:
    """Type the sessions until the deadline, asking for a suggestion at every keystroke and
    accepting it when it is what the user was about to type (as ``bench latency``)."""
    next_key = time.perf_counter()
    for number, session in enumerate(trace):
        editor.open(number, session)
        line, column = session.cursor
        done = 0
        while done < len(session.typed) and done < args.max_keystrokes:
            # A human pace: the next key keystroke_ms after the last, or once the answer is in.
            await asyncio.sleep(max(0.0, next_key - time.perf_counter()))
            if time.perf_counter() >= deadline:
                return
            next_key = time.perf_counter() + args.keystroke_ms / 1000
            started = time.perf_counter()
            try:
                suggestion = await editor.suggest(
                    session.text_before + session.typed[:done], session.text_after, line, column
                )
            except Exception as exc:  # a timeout, a transport error, an error answer: counted, typing goes on
                tally.error(exc)
                suggestion = ""
            else:
                tally.latencies.append((time.perf_counter() - started) * 1000)
                tally.answered[index] += 1
            remaining = session.typed[done:]
            step = suggestion if suggestion and remaining.startswith(suggestion) else remaining[0]
            tally.chars_accepted += len(step) if step == suggestion else 0
            tally.chars_typed += len(step) if step != suggestion else 0
            editor.insert(line, column, step)
            column += utf16_len(step)
            done += len(step)


async def warm_up(editors: Sequence[Editor]) -> None:
    """One untimed request per editor on a throwaway document: the model is loaded and has run
    once before the clock starts, on both sides."""
    warm = TypingSession(path="warm_up.py", text_before=WARM_UP_TEXT, typed="return 0", text_after="\n")
    for editor in editors:
        editor.open(-1, warm)
    line, column = warm.cursor
    results = await asyncio.gather(
        *(e.suggest(WARM_UP_TEXT, "\n", line, column) for e in editors), return_exceptions=True
    )
    for result in results:
        if isinstance(result, BaseException):
            print(f"load: warm-up request failed: {type(result).__name__}: {result}")


async def run_editors(editors: Sequence[Editor], traces: list[list[TypingSession]], args: argparse.Namespace) -> Tally:
    tally = Tally(len(editors))
    await warm_up(editors)
    deadline = time.perf_counter() + args.duration_s
    await asyncio.gather(
        *(
            type_sessions(editor, i, trace, args, deadline, tally)
            for i, (editor, trace) in enumerate(zip(editors, traces, strict=True))
        )
    )
    return tally


def side_result(tally: Tally, peak_rss_mb: float, **extra: Any) -> dict[str, Any]:
    return {
        **extra,
        "editors": tally.editors,
        "requests": len(tally.latencies),
        "requests_per_editor": tally.answered,
        "latency_ms": percentiles(tally.latencies),
        "errors": tally.errors,
        "first_error": tally.first_error,
        "peak_rss_mb": round(peak_rss_mb, 1),
        "chars_typed": tally.chars_typed,
        "chars_accepted": tally.chars_accepted,
        "written_by_suggestions": round(tally.chars_accepted / max(1, tally.chars_accepted + tally.chars_typed), 4),
        "samples_ms": [round(value, 2) for value in tally.latencies],
    }


def server_pid(client: BenchClient) -> int:
    process = client.client._server  # pygls 2: the asyncio subprocess start_io started
    if process is None:
        raise SystemExit("load: a server process did not start")
    return process.pid


async def stop_client(client: BenchClient) -> None:
    """Shut down a started server; one that hangs or died is not waited for forever."""
    if client.client._server is None:
        return
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.stop(), STOP_TIMEOUT_S)
    process = client.client._server
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()


def service_threads(cores: int) -> int:
    """The service's ``model.n_threads`` when the config leaves it at 0."""
    from copilot.inference.engine import default_threads

    return default_threads() if cores == (os.cpu_count() or 1) else cores


def service_pids(runtime_dir: str) -> list[int]:
    """The model service processes started for ``runtime_dir`` (their environment says so)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            environ = (proc / "environ").read_bytes().split(b"\0")
            command = (proc / "cmdline").read_bytes().split(b"\0")
            if f"XDG_RUNTIME_DIR={runtime_dir}".encode() in environ and b"service" in command:
                found.append(int(proc.name))
    return found


class Processes:
    """The pids whose memory a design is charged: its servers (or fronts), and the model
    services they started, found again at every sample (a service starts after its front)."""

    def __init__(self, clients: Sequence[BenchClient], runtime_dir: str | None) -> None:
        self.clients, self.runtime_dir = clients, runtime_dir

    def __call__(self) -> list[int]:
        pids = [server_pid(client) for client in self.clients]
        return pids + (service_pids(self.runtime_dir) if self.runtime_dir else [])


async def stop_services(runtime_dir: str, env: dict[str, str]) -> None:
    """``copilot-lsp service stop --all`` for this run's runtime folder; kills what is left."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "copilot.lsp", "service", "stop", "--all",
        env={**env, "XDG_RUNTIME_DIR": runtime_dir},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
    for pid in service_pids(runtime_dir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


async def run_ours(
    args: argparse.Namespace, traces: list[list[TypingSession]], model: Path, shared: bool
) -> dict[str, Any]:
    cores = os.cpu_count() or 1
    threads = args.threads or (service_threads(cores) if shared else max(1, cores // len(traces)))
    options: dict[str, Any] = {  # the settings of `bench latency`, one line per suggestion
        "model": {
            "path": str(model), "n_ctx": N_CTX, "n_threads": threads, "n_gpu_layers": args.gpu_layers,
            "kv_slots": max(4, len(traces)),
        },
        "completion": {"max_lines": 1, "max_tokens": MAX_TOKENS, "prompt_tokens": PROMPT_TOKENS},
    }  # fmt: skip
    clients = [BenchClient(options) for _ in traces]
    scratch = tempfile.TemporaryDirectory(prefix="copilot-bench-load-")
    # Shared: one cache and one runtime folder (the service's socket) for the run; per window:
    # a cache per server, as separate editors have when nothing is shared.
    runtime_dir = os.path.join(scratch.name, "run") if shared else None
    if runtime_dir is not None:
        os.makedirs(runtime_dir, mode=0o700)
    caches = [os.path.join(scratch.name, "cache" if shared else f"cache{i}") for i in range(len(traces))]
    try:
        await asyncio.gather(
            *(
                c.start("--log-level", "warning", cache_dir=d, runtime_dir=runtime_dir)
                for c, d in zip(clients, caches, strict=True)
            )
        )
        editors = [OursEditor(client, index) for index, client in enumerate(clients)]
        async with RssSampler(Processes(clients, runtime_dir)) as rss:
            tally = await run_editors(editors, traces, args)
        sources: dict[str, int] = {}
        context_p95: list[float] = []
        for client in clients:
            stats = await client.stats(recent=0)
            for key, value in stats.get("counts", {}).items():
                if key.startswith("source_"):
                    sources[key.removeprefix("source_")] = sources.get(key.removeprefix("source_"), 0) + value
            if p95 := stats.get("since_start", {}).get("stage_ms", {}).get("context", {}).get("p95"):
                context_p95.append(p95)
        round_trip = await round_trips(clients[0], ROUND_TRIPS)
        records = (await clients[0].stats(recent=512)).get("recent", [])
        slowest = sorted(records, key=lambda r: -sum(r.get("timings_ms", {}).values()))[:5]
    finally:
        await asyncio.gather(*(stop_client(c) for c in clients))
        if runtime_dir is not None:
            await stop_services(runtime_dir, {**os.environ, "XDG_CACHE_HOME": caches[0]})
        scratch.cleanup()
    return side_result(
        tally,
        rss.peak_mb,
        servers=1 if shared else len(clients),
        threads_per_server=threads,
        sources=sources,
        # the context stage runs on each server's event loop: in the shared service, every
        # editor's on one loop and one GIL
        context_p95_ms=round(statistics.median(context_p95), 2) if context_p95 else None,
        stats_round_trip_ms=round_trip,
        slowest_records=slowest,  # the first editor's 5 slowest of its last 512: where the tail comes from
    )


async def round_trips(client: BenchClient, count: int) -> dict[str, float]:
    """``copilot/stats`` asked ``count`` times once the typing is over: the cost of a message's
    way to the session and back (through the front and the socket for the shared service)."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        await client.stats(recent=0)
        times.append((time.perf_counter() - started) * 1000)
    return percentiles(times)


async def run_peer(args: argparse.Namespace, traces: list[list[TypingSession]], model: Path) -> dict[str, Any]:
    threads = os.cpu_count() or 1
    matched = peer.matched_settings(model, N_CTX, PROMPT_TOKENS, MAX_TOKENS)
    with peer.PeerServer(
        model, **matched._asdict(), threads=threads, slots=len(traces), gpu_layers=args.gpu_layers
    ) as server:
        assert server.process is not None
        https = [httpx.AsyncClient(base_url=server.url, timeout=REQUEST_TIMEOUT_S) for _ in traces]
        try:
            pid = server.process.pid
            async with RssSampler(lambda: [pid]) as rss:
                tally = await run_editors([PeerEditor(http) for http in https], traces, args)
        finally:
            await asyncio.gather(*(http.aclose() for http in https))
    return side_result(
        tally,
        rss.peak_mb,
        servers=1,
        slots=len(traces),
        threads=threads,
        n_ctx_per_slot=matched.n_ctx,
        spm_infill=matched.spm_infill,
    )


DESIGNS = ("shared", "per_window", "peer")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    cores = os.cpu_count() or 1
    model = Path(args.model) if args.model else DEFAULT_MODEL_PATH
    with_peer = peer.wanted(args.peer, "load")  # prints why, and how to build it, when it is not built
    result: dict[str, Any] = {
        "editors": args.editors,
        "keystroke_ms": args.keystroke_ms,
        "duration_s": args.duration_s,
        "sessions_per_editor": args.sessions,
        "max_keystrokes": args.max_keystrokes,
        "seed": args.seed,
        "model": str(model),
        "cores": cores,
        "runs": [],
    }
    for n in args.editors:
        traces = [make_trace(args.sessions, args.seed + editor) for editor in range(n)]
        print(f"load: {n} editors: the shared service, {n} servers of their own, llama-server with {n} slots")
        run: dict[str, Any] = {"editors": n, "shared": None, "per_window": None, "peer": None}
        if "shared" in args.designs:
            run["shared"] = await run_ours(args, traces, model, shared=True)
        if "per_window" in args.designs:
            run["per_window"] = await run_ours(args, traces, model, shared=False)
        if "peer" in args.designs and with_peer:
            run["peer"] = await run_peer(args, traces, model)
        result["runs"].append(run)
    result["targets"] = targets(result["runs"])
    return result


def targets(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets at the largest N: p95 against the 1-editor p95 of the shared service,
    against llama-server's p95, and memory against the per-window design."""
    first, last = runs[0], runs[-1]

    def p95(run: dict[str, Any], design: str) -> float | None:
        side = run.get(design)
        return side["latency_ms"].get("p95") if side and side["latency_ms"] else None

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 3) if a is not None and b else None

    def memory(run: dict[str, Any], design: str) -> float | None:
        side = run.get(design)
        return side["peak_rss_mb"] if side else None

    return {
        "editors": last["editors"],
        "p95_vs_one_editor": ratio(p95(last, "shared"), p95(first, "shared")),
        "p95_vs_llama_server": ratio(p95(last, "shared"), p95(last, "peer")),
        "memory_vs_per_window": ratio(memory(last, "shared"), memory(last, "per_window")),
    }


def summarize(result: dict[str, Any]) -> str:
    rows = []
    for run in result["runs"]:
        for design in DESIGNS:
            side = run[design]
            if side is None:
                continue
            lat = side["latency_ms"]
            rows.append(
                f"| {run['editors']} | {design.replace('_', '-')} | {side['requests']} "
                f"| {lat.get('p50')} / {lat.get('p95')} / {lat.get('p99')} "
                f"| {side['errors']} | {side['peak_rss_mb']} | {side['written_by_suggestions']:.1%} |"
            )
    table = (
        "| editors | design | requests | p50 / p95 / p99 ms | errors | peak RSS MB (all processes) "
        "| written by suggestions |\n| --- | --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows)
    )
    t = result["targets"]
    notes = [
        f"at {t['editors']} editors: shared p95 / its 1-editor p95 {t['p95_vs_one_editor']}x (target <= 1.5); "
        f"shared p95 / llama-server p95 {t['p95_vs_llama_server']}x (target <= 0.5); "
        f"shared memory / per-window memory {t['memory_vs_per_window']}x (target <= 0.5)"
    ]
    for run in result["runs"]:
        ours = {design: run[design] for design in ("shared", "per_window") if run[design]}
        notes.append(
            f"{run['editors']} editors: context stage p95 (median over sessions) "
            + ", ".join(f"{d.replace('_', '-')} {side['context_p95_ms']} ms" for d, side in ours.items())
            + "; copilot/stats round trip p50 "
            + ", ".join(f"{d.replace('_', '-')} {s['stats_round_trip_ms'].get('p50')} ms" for d, s in ours.items())
        )
    for run in result["runs"]:
        for design in DESIGNS:
            side = run[design]
            if side and side["first_error"]:
                notes.append(f"{run['editors']} editors, {design}: first error: {side['first_error']}")
    return table + "\n\n" + "\n".join(notes)


def failures(result: dict[str, Any]) -> list[str]:
    """What makes the run fail: an editor with no answer at all (any design), or any error of ours."""
    found = []
    for run in result["runs"]:
        for design in DESIGNS:
            side = run[design]
            if side is None:
                continue
            silent = [i for i, n in enumerate(side["requests_per_editor"]) if n == 0]
            if silent:
                found.append(f"{run['editors']} editors, {design}: editors {silent} answered no request")
            if design != "peer" and side["errors"]:
                found.append(f"{run['editors']} editors, {design}: {side['errors']} errors: {side['first_error']}")
    return found


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--editors", type=int, nargs="+", default=[1, 2, 4, 8], help="simulated editors typing at once, one run each"
    )
    parser.add_argument("--duration-s", type=float, default=60.0, help="how long they type (unless sessions run out)")
    parser.add_argument("--keystroke-ms", type=float, default=120.0, help="time between keystrokes (~100 wpm)")
    parser.add_argument("--sessions", type=int, default=20, help="typing sessions per editor")
    parser.add_argument("--max-keystrokes", type=int, default=40, help="per session")
    parser.add_argument("--seed", type=int, default=7, help="editor i types the trace of seed + i")
    parser.add_argument("--model", type=Path, default=None, help="GGUF for both sides (default: the embedded model)")
    parser.add_argument(
        "--peer", choices=["auto", "on", "off"], default="auto", help="llama-server after ours (auto: when built)"
    )
    parser.add_argument("--gpu-layers", type=int, default=0, help="layers offloaded to a GPU (-1: all), every design")
    parser.add_argument("--threads", type=int, default=0, help="model.n_threads for ours (0: each design's rule)")
    parser.add_argument("--designs", nargs="+", choices=DESIGNS, default=list(DESIGNS), help="which designs to run")


def main(args: argparse.Namespace) -> None:
    if args.smoke:
        args.editors, args.duration_s = [1, 2], 6.0
    if min(args.editors) < 1:
        raise SystemExit("load: --editors must be at least 1")
    result = asyncio.run(run(args))
    write("load", result, args.out or Path("bench/results/load.json"))
    print(summarize(result))
    if problems := failures(result):
        raise SystemExit("load: " + "; ".join(problems))
