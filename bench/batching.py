"""Continuous batching in the engine: throughput of N concurrent generations, and the stall
a long prompt causes to another editor's generation.

Both parts drive the server's own engine (``LocalEngine``: the worker thread, the job queue,
``batching``), the way the pipeline does, with prompts from the typing traces.

- Throughput: N generations of ``--tokens`` tokens each (no stop token, no line limit),
  submitted at once, for N in ``--concurrency``; reported: generated tokens per second of
  wall time, and the ratio to one generation alone. Plain decoding (no drafts), so the
  figure is batching's alone.
- KV layout: the same N generations through the engine's step loop on a context whose KV
  cache is split into one ``n_ctx`` stream per sequence (the server's) or one unified pool of
  the same size (llama.cpp's ``kv_unified``): tokens per second of each.
- Stall: one generation decoding while another document's ``--long-prompt``-token prompt
  arrives; the gaps between the decoding generation's tokens (the time between its
  ``on_text`` calls) while the long prompt is read, against the bound: one prefill chunk
  (``PREFILL_CHUNK`` tokens) plus one decode step, both timed alone on the same engine
  right before (median of ``--rounds``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import time
from pathlib import Path
from typing import Any

from copilot.config import ModelSettings, SpeculativeSettings
from copilot.inference.batching import PREFILL_CHUNK, Running, plan, step
from copilot.inference.engine import LocalEngine, default_threads, open_engine
from copilot.inference.jobs import Generation, GenerationJob
from copilot.inference.llama import LlamaSession
from copilot.inference.vocabulary import Vocabulary
from copilot.models import DEFAULT_MODEL_PATH
from copilot.prompt.fim import build_fim_prompt
from copilot.prompt.window import local_window

from .report import percentiles, write
from .speculative import STANDIN, standin_target
from .traces import make_trace


def prompts_from_traces(engine: LocalEngine, count: int, budget: int, seed: int = 7) -> list[list[int]]:
    vocabulary = engine.vocabulary
    prompts = []
    for session in make_trace(count, seed):
        window = local_window(session.text_before, session.text_after, budget, 0.25, vocabulary.encode)
        prompts.append(build_fim_prompt(vocabulary.fim, window.prefix, window.suffix))
    return prompts


def endless(prompt: list[int], tokens: int, owner: str, **extra: Any) -> GenerationJob:
    """A job that generates exactly ``tokens`` unless the model ends the text first."""
    return GenerationJob(prompt=prompt, max_tokens=tokens, owner=owner, **extra)


async def throughput(engine: LocalEngine, prompts: list[list[int]], n: int, tokens: int) -> dict[str, Any]:
    jobs = [endless(prompts[i % len(prompts)], tokens, f"doc{i}") for i in range(n)]
    # Prompts first (not timed): the throughput of decoding is what batching changes.
    warm = [endless(job.prompt, 1, job.owner) for job in jobs]
    await asyncio.gather(*(engine.generate(job) for job in warm))
    started = time.perf_counter()
    generations: list[Generation] = await asyncio.gather(*(engine.generate(job) for job in jobs))
    seconds = time.perf_counter() - started
    generated = sum(g.generated_tokens for g in generations)
    return {"generations": n, "tokens": generated, "seconds": round(seconds, 3), "tok_s": round(generated / seconds, 1)}


def kv_layout(
    model: Path, prompts: list[list[int]], n: int, n_ctx: int, args: argparse.Namespace
) -> dict[str, Any]:
    """N generations in the engine's step loop, split KV streams against a unified pool
    (``n_ctx`` positions per sequence: the engine's, the model's trained length at most)."""
    vocabulary = Vocabulary(model)
    rates = {}
    for unified in (False, True):
        session = LlamaSession(
            model,
            n_ctx,
            min(512, n_ctx),
            args.threads or default_threads(),
            args.gpu_layers,
            n_seq=n,
            kv_unified=unified,
        )
        try:
            running = [
                Running(endless(prompts[i % len(prompts)], args.tokens, f"doc{i}"), None, i, 0.0, 0) for i in range(n)
            ]
            while any(not r.decoding and r.reason is None for r in running):  # prompts first, not timed
                step(plan([r for r in running if r.reason is None], session, 0), session, vocabulary)
            started = time.perf_counter()
            while live := [r for r in running if r.reason is None]:
                step(plan(live, session, 0), session, vocabulary)
            seconds = time.perf_counter() - started
        finally:
            session.close()
        rates["unified" if unified else "split"] = round(sum(r.generated for r in running) / seconds, 1)
    return {"generations": n, "tok_s": rates}


async def timed_alone(engine: LocalEngine, prompt: list[int], rounds: int) -> tuple[float, float]:
    """(one prefill chunk, one decode step) in ms on this engine, medians."""
    chunk, step = [], []
    for i in range(rounds):
        owner = f"alone{i}"  # a new document: its prompt is read from the start
        generation = await engine.generate(endless(prompt[: PREFILL_CHUNK + 1], 17, owner))
        chunk.append(generation.prefill_ms)
        step.append(generation.decode_ms / max(1, generation.generated_tokens))
    return statistics.median(chunk), statistics.median(step)


async def stall(engine: LocalEngine, short: list[int], long: list[int], rounds: int) -> dict[str, Any]:
    chunk_ms, step_ms = await timed_alone(engine, long, rounds)
    gaps: list[float] = []
    worst: list[float] = []
    for i in range(rounds):
        stamps: list[float] = []
        window: list[float] = []

        def on_text(_text: str, stamps: list[float] = stamps) -> None:
            stamps.append(time.perf_counter())

        writer = endless(short, 10_000, f"writer{i}", on_text=on_text)
        task = asyncio.ensure_future(engine.generate(writer))
        while len(stamps) < 3:  # decoding
            await asyncio.sleep(0.001)
        window.append(time.perf_counter())
        reader = await engine.generate(endless(long, 1, f"reader{i}"))
        window.append(time.perf_counter())
        writer.cancel.set()
        await task
        during = [b - a for a, b in itertools.pairwise(stamps) if window[0] <= b <= window[1]]
        gaps += [gap * 1000 for gap in during]
        worst.append(max(during, default=0.0) * 1000)
        assert reader.prompt_tokens == len(long)
    bound = chunk_ms + step_ms
    stats = percentiles(gaps)
    return {
        "long_prompt_tokens": len(long),
        "prefill_chunk_tokens": PREFILL_CHUNK,
        "chunk_ms": round(chunk_ms, 2),
        "step_ms": round(step_ms, 2),
        "bound_ms": round(bound, 2),
        "gaps_ms": {**stats, "max": round(max(gaps, default=0.0), 2)},
        "worst_gap_ms_per_round": [round(w, 2) for w in worst],
        "gaps": len(gaps),
        "p99_within_bound": bool(stats) and stats["p99"] <= bound,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    model = Path(args.model) if args.model else standin_target(STANDIN)
    threads = args.threads or default_threads()
    slots = max(max(args.concurrency), 2)
    engine = open_engine(
        model,
        ModelSettings(n_ctx=args.n_ctx, kv_slots=slots, n_threads=threads, n_gpu_layers=args.gpu_layers),
        SpeculativeSettings(lookup=False),
    )
    engine.wait_ready(600)
    try:
        prompts = prompts_from_traces(engine, max(args.concurrency), args.prompt_budget)
        long_text = "".join(f"value_{i} = compute({i}, 'key_{i}')\n" for i in range(2000))
        # A model trained on a short context (the stand-in: 512) cannot take the whole prompt.
        long = engine.vocabulary.encode(long_text)[: min(args.long_prompt, engine.n_ctx - 64)]

        async def measure() -> dict[str, Any]:
            rows = [await throughput(engine, prompts, n, args.tokens) for n in args.concurrency]
            base = rows[0]["tok_s"]
            for row in rows:
                row["vs_one"] = round(row["tok_s"] / base, 2)
            return {"throughput": rows, "stall": await stall(engine, prompts[0], long, args.rounds)}

        result = asyncio.run(measure())
    finally:
        engine.stop()
    result["kv_layout"] = kv_layout(model, prompts, max(args.concurrency), engine.n_ctx, args)
    return {"model": str(model), "threads": threads, "kv_slots": slots, "tokens": args.tokens, **result}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="", help="GGUF (default: the 102M stand-in, built once)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--tokens", type=int, default=64, help="tokens per generation")
    parser.add_argument("--long-prompt", type=int, default=1500, help="tokens of the other editor's prompt")
    parser.add_argument("--prompt-budget", type=int, default=256, help="tokens of each generation's own prompt")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--gpu-layers", type=int, default=0, help="layers offloaded to a GPU (-1: all)")


def main(args: argparse.Namespace) -> None:
    if args.smoke:  # the small default model: checks the harness, not the figures
        args.model = args.model or str(DEFAULT_MODEL_PATH)
        args.concurrency, args.tokens, args.rounds, args.long_prompt = [1, 4], 16, 2, 400
    result = run(args)
    write("batching", result, args.out or Path("bench/results/batching.json"))
    print("| generations at once | tokens | tok/s | vs one |\n| --- | --- | --- | --- |")
    for row in result["throughput"]:
        print(f"| {row['generations']} | {row['tokens']} | {row['tok_s']} | {row['vs_one']}x |")
    layout = result["kv_layout"]
    print(
        f"\n{layout['generations']} generations, KV split per sequence {layout['tok_s']['split']} tok/s, "
        f"one unified pool {layout['tok_s']['unified']} tok/s"
    )
    s = result["stall"]
    gaps = s["gaps_ms"]
    print(
        f"\nstall while a {s['long_prompt_tokens']}-token prompt is read: gaps between tokens p50 {gaps['p50']} ms, "
        f"p99 {gaps['p99']} ms, max {gaps['max']} ms; bound (one {s['prefill_chunk_tokens']}-token chunk "
        f"{s['chunk_ms']} ms + one step {s['step_ms']} ms) {s['bound_ms']} ms: "
        f"{'within' if s['p99_within_bound'] else 'OVER'}"
    )
