"""Latency while typing, ours over stdio side by side with llama.cpp's server driven like llama.vim.

For each typing session the user types a line one character at a time (one key every
`--keystroke-ms`, or when the answer is in if later) and asks for a suggestion after each
key. A suggestion that matches what the user was about to type is accepted (inserted
whole), which is how the share of characters written by accepted suggestions is counted.

The same sessions are typed into both servers, alternating which goes first: ours (the
real server over stdio, its caches and streaming on) and the peer (llama-server on the
same GGUF, one llama.vim-shaped ``/infill`` request per keystroke with other files'
chunks, ``cache_prompt``, the same prompt budget, output length and threads). Latency is
keystroke -> first visible text and keystroke -> final suggestion.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from copilot.inference.engine import default_threads
from copilot.models import DEFAULT_MODEL_PATH

from . import peer
from .client import BenchClient
from .report import percentiles, write
from .traces import TypingSession, make_trace, utf16_len

CACHE_SOURCES = ("typing", "stream", "memory", "disk")
N_CTX, PROMPT_TOKENS, MAX_TOKENS, CROSSFILE_SHARE = 2048, 1024, 64, 0.3
EXTRA_CHARS = int(PROMPT_TOKENS * CROSSFILE_SHARE * 3.5)  # our crossfile budget, in characters


@dataclass
class Answer:
    text: str
    ms: float
    first_ms: float | None  # first visible text, when it came before the final answer
    source: str
    record: dict[str, Any] = field(default_factory=dict)


@dataclass
class Side:
    """One server's measurements over the whole run."""

    name: str
    answers: list[Answer] = field(default_factory=list)
    typed_chars: int = 0
    accepted_chars: int = 0

    def visible_ms(self) -> list[float]:
        return [a.first_ms if a.first_ms is not None else a.ms for a in self.answers]

    def summary(self) -> dict[str, Any]:
        by_source: dict[str, list[float]] = {}
        for answer in self.answers:
            by_source.setdefault(answer.source, []).append(answer.ms)
        records = [a.record for a in self.answers if a.record]
        prompt = sum(r.get("prompt", 0) for r in records)
        return {
            "requests": len(self.answers),
            "final_ms": percentiles([a.ms for a in self.answers]),
            "first_visible_ms": percentiles(self.visible_ms()),
            "final_ms_by_source": {s: percentiles(t) for s, t in sorted(by_source.items())},
            "answered_without_model": round(
                sum(len(t) for s, t in by_source.items() if s in CACHE_SOURCES) / max(1, len(self.answers)), 4
            ),
            "written_by_suggestions": round(self.accepted_chars / max(1, self.accepted_chars + self.typed_chars), 4),
            "prompt_tokens": prompt,
            "prompt_tokens_reused": sum(r.get("reused", 0) for r in records),
            "tokens_generated_per_model_answer": percentiles([r["generated"] for r in records if r.get("generated")]),
            "samples_final_ms": [round(a.ms, 2) for a in self.answers],
            "samples_visible_ms": [round(v, 2) for v in self.visible_ms()],
        }


Ask = Callable[[], Awaitable[Answer]]
Type = Callable[[str], None]


async def type_session(session: TypingSession, ask: Ask, type_text: Type, side: Side, args: argparse.Namespace) -> None:
    """Type the session's line, asking after every key; accept a suggestion that is exactly
    what comes next."""
    done = 0
    next_key = time.perf_counter()
    while done < len(session.typed) and done < args.max_keystrokes:
        await asyncio.sleep(max(0.0, next_key - time.perf_counter()))
        next_key = time.perf_counter() + args.keystroke_ms / 1000
        answer = await ask()
        side.answers.append(answer)
        remaining = session.typed[done:]
        accepted = bool(answer.text) and remaining.startswith(answer.text)
        step = answer.text if accepted else remaining[0]
        if accepted:
            side.accepted_chars += len(step)
        else:
            side.typed_chars += len(step)
        type_text(step)
        done += len(step)


class Ours:
    def __init__(self, model: Path, args: argparse.Namespace) -> None:
        self.args = args
        options: dict[str, Any] = {
            "model": {"path": str(model), "n_ctx": N_CTX, "n_threads": args.threads},
            "completion": {"max_lines": 1, "max_tokens": MAX_TOKENS, "prompt_tokens": PROMPT_TOKENS},
            "context": {"crossfile_share": CROSSFILE_SHARE},
        }
        self.client = BenchClient(options)
        self.cache_dir = tempfile.TemporaryDirectory(prefix="copilot-bench-")
        self.side = Side("ours")

    async def start(self) -> None:
        await self.client.start("--log-level", "warning", cache_dir=self.cache_dir.name)
        await self.client.warm_up()

    async def stop(self) -> dict[str, Any]:
        stats = await self.client.stats(0)
        await self.client.stop()
        self.cache_dir.cleanup()
        return stats

    async def replay(self, number: int, session: TypingSession) -> None:
        uri = f"file:///bench/{number}/{Path(session.path).name}"
        self.client.open(uri, session.text_before + session.text_after)
        line, column = session.cursor

        async def ask() -> Answer:
            text, ms, first = await self.client.complete(uri, line, column)
            last = await self.client.last_record()  # outside the timed part
            record = {
                "prompt": last["prompt_tokens"],
                "reused": last["reused_tokens"],
                "generated": last["generated_tokens"],
            }
            return Answer(text, ms, first, last["source"], record if last["source"] == "model" else {})

        def type_text(step: str) -> None:
            nonlocal column
            self.client.insert(uri, line, column, step)
            column += utf16_len(step)

        await type_session(session, ask, type_text, self.side, self.args)


class Peer:
    """llama.vim's way: a new ``/infill`` per keystroke, with chunks of recently used files."""

    def __init__(self, server: peer.PeerServer, args: argparse.Namespace) -> None:
        self.args = args
        self.http = httpx.AsyncClient(base_url=server.url, timeout=120.0)
        self.side = Side("llama-server")
        self.recent_chunks: list[dict[str, str]] = []

    async def replay(self, number: int, session: TypingSession) -> None:
        typed = ""
        extra = list(self.recent_chunks)

        async def ask() -> Answer:
            body = peer.infill_request(
                session.text_before + typed, session.text_after, extra, n_predict=MAX_TOKENS, single_line=True
            )
            started = time.perf_counter()
            response = await self.http.post("/infill", json=body)
            ms = (time.perf_counter() - started) * 1000
            response.raise_for_status()
            data = response.json()
            record = {
                "prompt": peer.timing(data, "prompt_n") + peer.timing(data, "cache_n"),
                "reused": peer.timing(data, "cache_n"),
                "generated": peer.timing(data, "predicted_n"),
            }
            return Answer(data.get("content", ""), ms, None, "model", record)

        def type_text(step: str) -> None:
            nonlocal typed
            typed += step

        await type_session(session, ask, type_text, self.side, self.args)
        self.remember(session)

    def remember(self, session: TypingSession) -> None:
        """The lines around where the user typed, as llama.vim keeps chunks of buffers it
        visited; the newest few, within our crossfile budget."""
        around = session.text_before.split("\n")[-12:] + session.text_after.split("\n")[1:12]
        chunk = {"filename": Path(session.path).name, "text": "\n".join(around)[: EXTRA_CHARS // 3]}
        self.recent_chunks = [chunk, *self.recent_chunks][:3]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    model = Path(args.model) if args.model else DEFAULT_MODEL_PATH
    trace = make_trace(args.sessions, args.seed)
    ours = Ours(model, args)
    await ours.start()
    result: dict[str, Any] = {"model": str(model), "sessions": len(trace), "keystroke_ms": args.keystroke_ms}
    try:
        if peer.wanted(args.peer, "latency"):
            matched = peer.matched_settings(model, N_CTX, PROMPT_TOKENS, MAX_TOKENS)
            threads = args.threads or default_threads()  # ours: model.n_threads 0 means the same
            result["peer_settings"] = {**matched._asdict(), "threads": threads}
            with peer.PeerServer(model, **matched._asdict(), threads=threads) as server:
                theirs = Peer(server, args)
                try:
                    for number, session in enumerate(trace):
                        # Alternate who goes first, so neither always types into a warmer machine.
                        sides: list[Ours | Peer] = [ours, theirs] if number % 2 == 0 else [theirs, ours]
                        for side in sides:
                            await side.replay(number, session)
                finally:
                    await theirs.http.aclose()
                result["peer"] = {**theirs.side.summary(), "rss_mb": round(server.rss_mb(), 1)}
        else:
            for number, session in enumerate(trace):
                await ours.replay(number, session)
    finally:
        stats = await ours.stop()
    result["ours"] = {
        **ours.side.summary(),
        "server_stage_ms": stats.get("since_start", {}).get("stage_ms", {}),
        "sources": {k.removeprefix("source_"): v for k, v in stats.get("counts", {}).items() if "source_" in k},
    }
    if "peer" in result:
        result["ratio_to_peer"] = ratios(result["ours"], result["peer"])
    return result


def ratios(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Ours over the peer's, per percentile (below 1: ours is faster)."""
    out: dict[str, dict[str, float]] = {}
    for key in ("final_ms", "first_visible_ms"):
        out[key] = {p: round(ours[key][p] / theirs[key][p], 3) for p in ("p50", "p95", "p99") if theirs[key].get(p)}
    return out


def summarize(result: dict[str, Any]) -> str:
    sides = [result["ours"], *([result["peer"]] if "peer" in result else [])]
    names = ["ours", "llama-server (llama.vim-style)"]
    rows = []
    for name, side in zip(names, sides, strict=False):
        final, visible = side["final_ms"], side["first_visible_ms"]
        reuse = side["prompt_tokens_reused"] / max(1, side["prompt_tokens"])
        rows.append(
            f"| {name} | {side['requests']} | {visible.get('p50')} / {visible.get('p95')} / {visible.get('p99')} "
            f"| {final.get('p50')} / {final.get('p95')} / {final.get('p99')} | {side['answered_without_model']:.1%} "
            f"| {reuse:.1%} | {side['written_by_suggestions']:.1%} |"
        )
    table = (
        "| server | requests | keystroke -> first visible text p50 / p95 / p99 ms "
        "| keystroke -> final suggestion p50 / p95 / p99 ms | answered without the model | KV reuse "
        "| written by suggestions |\n| --- | --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows)
    )
    if "ratio_to_peer" in result:
        r = result["ratio_to_peer"]
        table += (
            "\n\nratio ours / llama-server: first visible text "
            + " / ".join(f"{p} {v}x" for p, v in r["first_visible_ms"].items())
            + "; final suggestion "
            + " / ".join(f"{p} {v}x" for p, v in r["final_ms"].items())
        )
    by_source = "\n".join(
        f"| {source} | {p['n']} | {p['p50']} | {p['p95']} | {p['p99']} |"
        for source, p in result["ours"]["final_ms_by_source"].items()
    )
    stages = "\n".join(
        f"| {stage} | {p['p50']} | {p['p95']} | {p['p99']} |" for stage, p in result["ours"]["server_stage_ms"].items()
    )
    return (
        f"{table}\n\n| ours, answered by | requests | p50 ms | p95 ms | p99 ms |\n| --- | --- | --- | --- | --- |\n"
        f"{by_source}\n\n| server stage (ours) | p50 ms | p95 ms | p99 ms |\n| --- | --- | --- | --- |\n{stages}"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="", help="GGUF for both servers (default: the embedded model)")
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--max-keystrokes", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keystroke-ms", type=float, default=120.0, help="time between keystrokes (~100 wpm)")
    parser.add_argument("--threads", type=int, default=0, help="model threads of both servers (0: one per core)")
    parser.add_argument(
        "--peer", choices=["auto", "on", "off"], default="auto", help="llama-server side by side (auto: when built)"
    )


def main(args: argparse.Namespace) -> None:
    if args.smoke:
        args.sessions, args.max_keystrokes = 3, 12
    result = asyncio.run(run(args))
    out = args.out or Path("bench/results/latency.json")
    write("latency", result, out)
    print(summarize(result))
    if not result["ours"]["requests"] or ("peer" in result and not result["peer"]["requests"]):
        raise SystemExit("latency: no request was answered")
