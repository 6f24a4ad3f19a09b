"""Completion cache: hit rates by level, the typing-through share and hit latency.

Typing traces are replayed through the real server over stdio with its caches on, in two
passes over the same sessions:

1. a fresh cache: the user types each line, and now and then (``--typo-rate`` of the keys,
   seeded) hits a wrong key, sees a suggestion, deletes the wrong character and goes on:
   answers come from the model, the typing-through cache (the suggestion on screen still
   matches), the streaming cache, or the memory cache (the same text as before the typo);
2. the server restarted on the same cache folder (memory empty), the same sessions typed
   again: what the disk cache (LMDB) answers across restarts.

Reported per pass and level: the share of keystrokes it answered and the round trip through
the server (keystroke -> suggestion), plus the server's own cache-stage time.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import string
import tempfile
import time
from pathlib import Path
from typing import Any

from .client import BenchClient
from .latency import CACHE_SOURCES
from .report import percentiles, write
from .traces import TypingSession, make_trace, utf16_len

LEVELS = (*CACHE_SOURCES, "model")


class Pass:
    def __init__(self, name: str, client: BenchClient, args: argparse.Namespace) -> None:
        self.name, self.client, self.args = name, client, args
        self.rng = random.Random(args.seed)  # the same typos in both passes
        self.by_source: dict[str, list[float]] = {}

    async def ask(self, uri: str, line: int, column: int) -> str:
        text, ms, _ = await self.client.complete(uri, line, column)
        source = (await self.client.last_record())["source"]  # outside the timed part
        self.by_source.setdefault(source, []).append(ms)
        return text

    async def type_session(self, number: int, session: TypingSession) -> None:
        uri = f"file:///bench/{number}/{Path(session.path).name}"
        self.client.open(uri, session.text_before + session.text_after)
        line, column = session.cursor
        pace = self.args.keystroke_ms / 1000
        done = 0
        while done < len(session.typed) and done < self.args.max_keystrokes:
            if self.rng.random() < self.args.typo_rate:
                wrong = self.rng.choice(string.ascii_lowercase)
                self.client.insert(uri, line, column, wrong)
                await self.ask(uri, line, column + 1)
                await asyncio.sleep(pace)
                self.client.replace(uri, line, column, column + 1, "")  # backspace
                await self.ask(uri, line, column)
                await asyncio.sleep(pace)
            remaining = session.typed[done:]
            step = remaining[0]
            self.client.insert(uri, line, column, step)
            column += utf16_len(step)
            done += 1
            started = time.perf_counter()
            suggestion = await self.ask(uri, line, column)
            rest = remaining[1:]
            if suggestion and rest.startswith(suggestion):  # accepted
                self.client.insert(uri, line, column, suggestion)
                column += utf16_len(suggestion)
                done += len(suggestion)
            await asyncio.sleep(max(0.0, pace - (time.perf_counter() - started)))

    def summary(self, stats: dict[str, Any]) -> dict[str, Any]:
        requests = sum(len(v) for v in self.by_source.values())
        return {
            "requests": requests,
            "share": {level: round(len(self.by_source.get(level, [])) / max(1, requests), 4) for level in LEVELS},
            "hit_rate": round(
                sum(len(v) for s, v in self.by_source.items() if s in CACHE_SOURCES) / max(1, requests), 4
            ),
            "round_trip_ms": {level: percentiles(self.by_source.get(level, [])) for level in LEVELS},
            "server_cache_stage_ms": stats.get("since_start", {}).get("stage_ms", {}).get("cache", {}),
            "other_sources": {s: len(v) for s, v in self.by_source.items() if s not in LEVELS},
        }


async def run_pass(name: str, trace: list[TypingSession], cache_dir: str, args: argparse.Namespace) -> dict[str, Any]:
    client = BenchClient({"completion": {"max_lines": 1}})
    await client.start("--log-level", "warning", cache_dir=cache_dir)
    await client.warm_up()
    replay = Pass(name, client, args)
    try:
        for number, session in enumerate(trace):
            await replay.type_session(number, session)
        stats = await client.stats(0)
    finally:
        await client.stop()
    return replay.summary(stats)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    trace = make_trace(args.sessions, args.seed)
    with tempfile.TemporaryDirectory(prefix="copilot-bench-cache-") as cache_dir:
        first = await run_pass("fresh cache", trace, cache_dir, args)
        again = await run_pass("restarted, same sessions", trace, cache_dir, args)
    return {"sessions": len(trace), "typo_rate": args.typo_rate, "passes": {"fresh": first, "restarted": again}}


def summarize(result: dict[str, Any]) -> str:
    rows = []
    for name, p in result["passes"].items():
        for level in LEVELS:
            t = p["round_trip_ms"][level]
            if t:
                rows.append(f"| {name} | {level} | {p['share'][level]:.1%} | {t['p50']} / {t['p95']} / {t['p99']} |")
        stage = p["server_cache_stage_ms"]
        rows.append(
            f"| {name} | **all cache levels** | **{p['hit_rate']:.1%}** of {p['requests']} "
            f"| server cache stage {stage.get('p50')} / {stage.get('p95')} / {stage.get('p99')} |"
        )
    return (
        "| pass | answered by | share of keystrokes | keystroke -> suggestion p50 / p95 / p99 ms |\n"
        "| --- | --- | --- | --- |\n" + "\n".join(rows)
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--max-keystrokes", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keystroke-ms", type=float, default=120.0)
    parser.add_argument("--typo-rate", type=float, default=0.05, help="share of keys that are a typo, then deleted")


def main(args: argparse.Namespace) -> None:
    if args.smoke:
        args.sessions, args.max_keystrokes, args.typo_rate = 3, 12, 0.2
    result = asyncio.run(run(args))
    write("cache", result, args.out or Path("bench/results/cache.json"))
    print(summarize(result))
    if not result["passes"]["restarted"]["share"]["disk"]:
        raise SystemExit("cache: the restarted server answered nothing from the disk cache")
