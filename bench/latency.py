"""Latency through the real server over stdio while a simulated user types.

For each typing session the user types a line one character at a time (one key every
`--keystroke-ms`, or when the answer is in if later); after each keystroke the client asks
for an inline completion and waits for the answer. A
suggestion that matches what the user was about to type is accepted (inserted whole),
which is how the share of characters written by accepted suggestions is counted.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from .client import BenchClient
from .report import percentiles, write
from .traces import make_trace

CACHE_SOURCES = ("typing", "stream", "memory", "disk")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


async def run(args: argparse.Namespace) -> dict[str, Any]:
    trace = make_trace(args.sessions, args.seed)
    client = BenchClient({"completion": {"max_lines": 1}})
    cache_dir = tempfile.TemporaryDirectory(prefix="copilot-bench-")
    await client.start("--log-level", "warning", cache_dir=cache_dir.name)
    round_trips: list[float] = []
    by_source: dict[str, list[float]] = {}
    first_texts: list[float] = []
    typed_chars = accepted_chars = 0
    next_key = time.perf_counter()
    try:
        for number, session in enumerate(trace):
            uri = f"file:///bench/{number}/{Path(session.path).name}"
            client.open(uri, session.text_before + session.text_after)
            line = session.text_before.count("\n")
            column = utf16_len(session.text_before.rsplit("\n", 1)[-1])
            done = 0
            while done < len(session.typed) and done < args.max_keystrokes:
                # A human pace: the next key comes keystroke_ms after the last (or once the
                # answer is in, if that took longer), so the debounce sees a real rhythm.
                await asyncio.sleep(max(0.0, next_key - time.perf_counter()))
                next_key = time.perf_counter() + args.keystroke_ms / 1000
                suggestion, elapsed, first_text = await client.complete(uri, line, column)
                round_trips.append(elapsed)
                source = (await client.stats())["recent"][-1]["source"]  # outside the timed part
                by_source.setdefault(source, []).append(elapsed)
                if first_text is not None:
                    first_texts.append(first_text)
                remaining = session.typed[done:]
                step = suggestion if suggestion and remaining.startswith(suggestion) else remaining[0]
                accepted_chars += len(step) if step == suggestion else 0
                typed_chars += len(step) if step != suggestion else 0
                client.insert(uri, line, column, step)
                column += utf16_len(step)
                done += len(step)
        stats = await client.stats()
    finally:
        await client.stop()
        cache_dir.cleanup()
    counts = stats.get("counts", {})
    return {
        "sessions": len(trace),
        "requests": len(round_trips),
        "round_trip_ms": percentiles(round_trips),
        "round_trip_ms_by_source": {source: percentiles(times) for source, times in sorted(by_source.items())},
        "answered_without_model": round(
            sum(len(t) for s, t in by_source.items() if s in CACHE_SOURCES) / max(1, len(round_trips)), 4
        ),
        "first_streamed_text_ms": percentiles(first_texts),
        "server_stage_p50_ms": stats.get("p50_ms", {}),
        "sources": {k.removeprefix("source_"): v for k, v in counts.items() if k.startswith("source_")},
        "chars_typed": typed_chars,
        "chars_accepted": accepted_chars,
        "kv_tokens_reused": counts.get("tokens_reused", 0),
        "kv_tokens_prompt": counts.get("tokens_prompt", 0),
    }


def summarize(result: dict[str, Any]) -> str:
    rt, first = result["round_trip_ms"], result["first_streamed_text_ms"]
    stages = ", ".join(f"{k} {v:.1f}" for k, v in result["server_stage_p50_ms"].items())
    written = result["chars_accepted"] / max(1, result["chars_accepted"] + result["chars_typed"])
    reused = result["kv_tokens_reused"] / max(1, result["kv_tokens_prompt"])
    sources = "\n".join(
        f"| {source} | {p['n']} | {p['p50']} | {p['p95']} | {p['p99']} |"
        for source, p in result["round_trip_ms_by_source"].items()
    )
    by_source = (
        f"\n\n| answered by | requests | p50 ms | p95 ms | p99 ms |\n| --- | --- | --- | --- | --- |\n{sources}\n\n"
        f"keystrokes answered without the model: {result['answered_without_model']:.1%}"
    )
    return (
        f"| requests | final answer p50 / p95 / p99 ms | first streamed text p50 ms | sources "
        f"| written by suggestions | KV reuse |\n| --- | --- | --- | --- | --- | --- |\n"
        f"| {result['requests']} | {rt.get('p50')} / {rt.get('p95')} / {rt.get('p99')} | {first.get('p50')} "
        f"| {result['sources']} "
        f"| {written:.1%} | {reused:.1%} |\n\nserver stage p50 (ms): {stages}"
    ) + by_source


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--max-keystrokes", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keystroke-ms", type=float, default=120.0, help="time between keystrokes (~100 wpm)")


def main(args: argparse.Namespace) -> None:
    if args.smoke:
        args.sessions, args.max_keystrokes = 3, 12
    result = asyncio.run(run(args))
    write("latency", result, args.out or Path("bench/results/latency.json"))
    print(summarize(result))
    if result["requests"] == 0 or not result["round_trip_ms"]:
        raise SystemExit("latency: no request was answered")
