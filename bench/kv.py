"""KV reuse and preemption while a user types at a steady pace without waiting for answers.

Three files are typed in turn (a few characters in one, a pause, then the next, then back),
one request per keystroke, never waiting for the answer and never cancelling (like a plain
LSP client), so the worker is often busy with a request the next keystroke supersedes.
From the server's per-request records:

- prompt tokens evaluated per model request, as a share of the prompt (the rest is the KV
  state kept from that document's previous prompt);
- for requests that arrived while the worker ran their document's superseded job: the
  time from the keystroke's request to the start of its prefill (cache + context + queue;
  the debounce is off here, and a wait on a running generation the keystroke could attach
  to is reported apart: both are deliberate waits, not scheduling delay).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from copilot.inference.engine import default_threads
from copilot.inference.llama import LlamaSession
from copilot.models import DEFAULT_MODEL_PATH

from .client import BenchClient
from .report import percentiles, write
from .traces import make_trace


def switch_costs(model: str, prompt_tokens: int = 400, rounds: int = 5) -> dict[str, Any]:
    """Coming back to a document whose KV state was pushed out: evaluate its prompt again,
    or restore a saved copy of the state; a sequence of its own (the server's way) costs
    nothing. In-process, on one llama.cpp context."""
    path = Path(model) if model else DEFAULT_MODEL_PATH
    session = LlamaSession(path, n_ctx=512, n_batch=512, n_threads=default_threads(), n_gpu_layers=0)
    prompt = list(range(100, 100 + prompt_tokens))
    prefill, save, restore, size = [], [], [], 0
    for _ in range(rounds):
        session.keep(0)
        started = time.perf_counter()
        session.decode(prompt)
        prefill.append((time.perf_counter() - started) * 1000)
        expected = session.argmax()
        started = time.perf_counter()
        state = session.save_state()
        save.append((time.perf_counter() - started) * 1000)
        size = len(state)
        session.keep(0)
        started = time.perf_counter()
        session.restore_state(state, prompt)
        restore.append((time.perf_counter() - started) * 1000)
        session.keep(len(prompt) - 1)
        session.decode(prompt[-1:])  # the restored state continues exactly as before
        if session.argmax() != expected:
            raise SystemExit("kv: a restored state predicts differently")
    session.close()
    return {
        "model": str(path),
        "prompt_tokens": prompt_tokens,
        "evaluate_again_ms": round(statistics.median(prefill), 2),
        "save_state_ms": round(statistics.median(save), 2),
        "restore_state_ms": round(statistics.median(restore), 2),
        "state_bytes": size,
        "own_sequence_ms": 0.0,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {
        "completion": {"debounce_ms": 0, "max_lines": 1},
        "model": {"n_threads": args.threads},
        "cache": {"enabled": False, "prefetch": False},  # every keystroke reaches the model
    }
    if args.model:
        options["model"]["path"] = args.model
    client = BenchClient(options)
    cache_dir = tempfile.TemporaryDirectory(prefix="copilot-bench-")
    log_file = args.log_file or str(Path(cache_dir.name) / "server.log")
    await client.start("--log-level", args.log_level, "--log-file", log_file, cache_dir=cache_dir.name)
    trace = make_trace(args.files, args.seed)
    cursors = []
    for number, session in enumerate(trace):
        uri = f"file:///bench/kv/{number}/{Path(session.path).name}"
        client.open(uri, session.text_before + session.text_after)
        cursors.append([uri, *session.cursor, session.typed, 0])
    pending = []
    try:
        for _ in range(args.rounds):
            for cursor in cursors:
                uri, line, column, typed, done = cursor
                for char in (typed * 4)[done : done + args.burst]:
                    client.insert(uri, line, column, char)
                    column += 1
                    pending.append(client.request(uri, line, column))
                    await asyncio.sleep(args.keystroke_ms / 1000)
                cursor[2], cursor[4] = column, done + args.burst
                await asyncio.sleep(args.switch_pause_ms / 1000)  # moving to the next file takes a moment
        await asyncio.gather(*pending)
        records = (await client.stats(recent=512))["recent"]
    finally:
        await client.stop()
        cache_dir.cleanup()
    model = [r for r in records if r["source"] == "model" and r["prompt_tokens"]]
    evaluated = [
        (r["prompt_tokens"] - r["reused_tokens"]) / r["prompt_tokens"] for r in model if r["timings_ms"].get("prefill")
    ]
    preempted = [
        sum(r["timings_ms"].get(stage, 0.0) for stage in ("cache", "context", "queue")) for r in model if r["preempted"]
    ]
    outcomes: dict[str, int] = {}
    for record in records:
        key = f"{record['source']}/{record['outcome']}/{record['stop_reason']}"
        outcomes[key] = outcomes.get(key, 0) + 1
    return {
        "model": args.model or "default",
        "outcomes": outcomes,
        "stream_wait_ms": percentiles([r["timings_ms"]["stream"] for r in records if "stream" in r["timings_ms"]]),
        "keystrokes": len(pending),
        "keystroke_ms": args.keystroke_ms,
        "model_requests_prefilled": len(evaluated),
        "evaluated_share": {
            "median": round(statistics.median(evaluated), 4) if evaluated else None,
            "mean": round(statistics.fmean(evaluated), 4) if evaluated else None,
            "p90": round(sorted(evaluated)[int(0.9 * (len(evaluated) - 1))], 4) if evaluated else None,
        },
        "prompt_tokens_median": statistics.median(r["prompt_tokens"] for r in model) if model else None,
        "preempting_requests": len(preempted),
        "keystroke_to_prefill_ms_when_preempting": percentiles(preempted),
        "of_which_queue_ms": percentiles([r["timings_ms"].get("queue", 0.0) for r in model if r["preempted"]]),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="", help="GGUF to serve (default: the embedded model)")
    parser.add_argument("--files", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="model.n_threads (0: the default)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--burst", type=int, default=8, help="keystrokes in one file before switching")
    parser.add_argument("--keystroke-ms", type=float, default=80.0)
    parser.add_argument("--switch-pause-ms", type=float, default=1000.0, help="pause before typing in the next file")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--log-level", default="warning", help="the server's")
    parser.add_argument("--log-file", default="", help="the server's log (default: a temporary file)")


def main(args: argparse.Namespace) -> None:
    if args.smoke:
        args.rounds, args.burst = 2, 3
    result = asyncio.run(run(args))
    result["document_switch"] = switch_costs(args.model)
    write("kv", result, args.out or Path("bench/results/kv.json"))
    share, wait = result["evaluated_share"], result["keystroke_to_prefill_ms_when_preempting"]
    print(
        "| model requests | evaluated share median / mean / p90 | preempting requests "
        "| keystroke -> prefill p50 / p99 ms |\n| --- | --- | --- | --- |\n"
        f"| {result['model_requests_prefilled']} | {share['median']} / {share['mean']} / {share['p90']} "
        f"| {result['preempting_requests']} | {wait.get('p50')} / {wait.get('p99')} |"
    )
    switch = result["document_switch"]
    print(
        f"\nback to a document ({switch['prompt_tokens']} prompt tokens):"
        f" evaluate again {switch['evaluate_again_ms']} ms,"
        f" save {switch['save_state_ms']} ms + restore {switch['restore_state_ms']} ms"
        f" ({switch['state_bytes'] / 1e6:.1f} MB), own sequence 0 ms"
    )
    if not result["model_requests_prefilled"]:
        raise SystemExit("kv: no request reached the model")
