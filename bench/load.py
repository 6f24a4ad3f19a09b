"""N simulated editors typing at once: our server (one per editor) against one llama-server with N slots.

Each editor types its own typing sessions (``make_trace(sessions, seed + editor)``) the way
``bench latency`` types: a key every ``--keystroke-ms`` or once the answer is in, if later; a
suggestion that is a prefix of what the user was about to type is accepted (inserted whole).
All editors run at once, as asyncio tasks in this process, for ``--duration-s`` seconds or until
their sessions run out.

- Ours: each editor starts its own server over stdio (an LSP editor runs one server per editor),
  with its own fresh cache, so N servers share the cores: each gets ``model.n_threads =
  max(1, cores // N)``.
- The peer, in the same run after ours: ONE llama-server with N slots (``--parallel N``, how
  llama.vim users share a server), the same model file, one ``/infill`` request per keystroke
  with llama.vim's body.

Before the clock starts each editor sends one untimed request on a throwaway document: our
server loads the model in the background and the first request would wait for it, while the
peer is only started once its /health says the model is loaded; the warm-up evens that out.
Reported per side: keystroke-to-answer percentiles (answered requests only; failed ones are
counted as errors), errors, the peak of the summed resident memory of the server processes
(sampled every 0.5 s), the share of characters written by accepted suggestions, and for ours
which stage answered (``copilot/stats`` sources, summed over the servers; the warm-up included).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import Sequence
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

    def __init__(self, pids: Sequence[int]) -> None:
        self.pids, self.peak_mb = list(pids), 0.0
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> None:
        total = sum(peer.process_rss_mb(p) for pid in self.pids for p in process_tree(pid))
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


async def run_ours(
    args: argparse.Namespace, traces: list[list[TypingSession]], model: Path, threads: int
) -> dict[str, Any]:
    options: dict[str, Any] = {  # the settings of `bench latency`, one line per suggestion
        "model": {"path": str(model), "n_ctx": N_CTX, "n_threads": threads},
        "completion": {"max_lines": 1, "max_tokens": MAX_TOKENS, "prompt_tokens": PROMPT_TOKENS},
    }
    clients = [BenchClient(options) for _ in traces]
    caches = [tempfile.TemporaryDirectory(prefix="copilot-bench-load-") for _ in traces]
    try:
        await asyncio.gather(
            *(c.start("--log-level", "warning", cache_dir=d.name) for c, d in zip(clients, caches, strict=True))
        )
        editors = [OursEditor(client, index) for index, client in enumerate(clients)]
        async with RssSampler([server_pid(c) for c in clients]) as rss:
            tally = await run_editors(editors, traces, args)
        sources: dict[str, int] = {}
        for client in clients:
            for key, value in (await client.stats()).get("counts", {}).items():
                if key.startswith("source_"):
                    sources[key.removeprefix("source_")] = sources.get(key.removeprefix("source_"), 0) + value
    finally:
        await asyncio.gather(*(stop_client(c) for c in clients))
        for cache in caches:
            cache.cleanup()
    return side_result(tally, rss.peak_mb, servers=len(clients), threads_per_server=threads, sources=sources)


async def run_peer(args: argparse.Namespace, traces: list[list[TypingSession]], model: Path) -> dict[str, Any]:
    threads = os.cpu_count() or 1
    matched = peer.matched_settings(model, N_CTX, PROMPT_TOKENS, MAX_TOKENS)
    with peer.PeerServer(model, **matched._asdict(), threads=threads, slots=len(traces)) as server:
        assert server.process is not None
        https = [httpx.AsyncClient(base_url=server.url, timeout=REQUEST_TIMEOUT_S) for _ in traces]
        try:
            async with RssSampler([server.process.pid]) as rss:
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


async def run(args: argparse.Namespace) -> dict[str, Any]:
    cores = os.cpu_count() or 1
    threads = max(1, cores // args.editors)
    print(f"load: {args.editors} editors; ours: {args.editors} servers, model.n_threads = {threads} each "
          f"({cores} cores // {args.editors} editors)")  # fmt: skip
    traces = [make_trace(args.sessions, args.seed + editor) for editor in range(args.editors)]
    model = Path(args.model) if args.model else DEFAULT_MODEL_PATH
    result: dict[str, Any] = {
        "editors": args.editors,
        "keystroke_ms": args.keystroke_ms,
        "duration_s": args.duration_s,
        "sessions_per_editor": args.sessions,
        "max_keystrokes": args.max_keystrokes,
        "seed": args.seed,
        "model": str(model),
        "ours": await run_ours(args, traces, model, threads),
        "peer": None,
    }
    if not peer.wanted(args.peer, "load"):  # prints why, and how to build it, when it is not built
        return result
    print(f"load: the peer: one llama-server, {args.editors} slots, {cores} threads")
    result["peer"] = await run_peer(args, traces, model)
    ours, theirs = result["ours"]["latency_ms"], result["peer"]["latency_ms"]
    if ours and theirs:
        result["ours_over_peer"] = {k: round(ours[k] / theirs[k], 3) if theirs[k] else None for k in ("p50", "p99")}
    return result


def summarize(result: dict[str, Any]) -> str:
    rows = []
    for name, side in (("ours", result["ours"]), ("llama-server", result["peer"])):
        if side is None:
            continue
        lat = side["latency_ms"]
        label = f"{name} ({side['servers']} servers)" if name == "ours" else f"{name} ({side['slots']} slots)"
        rows.append(
            f"| {label} | {side['editors']} | {side['requests']} "
            f"| {lat.get('p50')} / {lat.get('p95')} / {lat.get('p99')} "
            f"| {side['errors']} | {side['peak_rss_mb']} | {side['written_by_suggestions']:.1%} |"
        )
    table = (
        "| side | editors | requests | p50 / p95 / p99 ms | errors | peak RSS MB | written by suggestions |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows)
    )
    ours = result["ours"]
    notes = [f"ours: model.n_threads = {ours['threads_per_server']} per server; sources {ours['sources']}"]
    if ratio := result.get("ours_over_peer"):
        notes.append(f"ours / peer: p50 {ratio['p50']}x, p99 {ratio['p99']}x")
    for name, side in (("ours", result["ours"]), ("peer", result["peer"])):
        if side and side["first_error"]:
            notes.append(f"{name}: first error: {side['first_error']}")
    return table + "\n\n" + "\n".join(notes)


def failures(result: dict[str, Any]) -> list[str]:
    """What makes the run fail: an editor with no answer at all (either side), or any error of ours."""
    found = []
    for name in ("ours", "peer"):
        side = result[name]
        if side is None:
            continue
        silent = [i for i, n in enumerate(side["requests_per_editor"]) if n == 0]
        if silent:
            found.append(f"{name}: editors {silent} answered no request")
    if result["ours"]["errors"]:
        found.append(f"ours: {result['ours']['errors']} errors, the first: {result['ours']['first_error']}")
    return found


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--editors", type=int, default=4, help="simulated editors typing at once")
    parser.add_argument("--duration-s", type=float, default=60.0, help="how long they type (unless sessions run out)")
    parser.add_argument("--keystroke-ms", type=float, default=120.0, help="time between keystrokes (~100 wpm)")
    parser.add_argument("--sessions", type=int, default=20, help="typing sessions per editor")
    parser.add_argument("--max-keystrokes", type=int, default=40, help="per session")
    parser.add_argument("--seed", type=int, default=7, help="editor i types the trace of seed + i")
    parser.add_argument("--model", type=Path, default=None, help="GGUF for both sides (default: the embedded model)")
    parser.add_argument(
        "--peer", choices=["auto", "on", "off"], default="auto", help="llama-server after ours (auto: when built)"
    )


def main(args: argparse.Namespace) -> None:
    if args.smoke:
        args.editors, args.duration_s = 2, 8.0
    if args.editors < 1:
        raise SystemExit("load: --editors must be at least 1")
    result = asyncio.run(run(args))
    write("load", result, args.out or Path("bench/results/load.json"))
    print(summarize(result))
    if problems := failures(result):
        raise SystemExit("load: " + "; ".join(problems))
