"""Continuous batching in the engine: throughput of N concurrent generations, and the stall
a long prompt causes to another editor's generation.

Both parts drive the server's own engine (``LocalEngine``: the worker thread, the job queue,
``batching``), the way the pipeline does, with prompts from the typing traces.

- Throughput: N generations of ``--tokens`` tokens each (no stop token, no line limit),
  submitted at once, for N in ``--concurrency``; reported: generated tokens per second of
  wall time, and the ratio to one generation alone. Plain decoding (no drafts), so the
  figure is batching's alone. Beside it, llama-server ``--parallel N`` given the same N
  requests at once, and the ceiling of any batching on this machine: N one-token rows in one
  llama.cpp forward pass against one row, timed on a bare context.
- KV layout: the same N generations through the engine's step loop on a context whose KV
  cache is split into one ``n_ctx`` stream per sequence (the server's) or one unified pool of
  the same size (llama.cpp's ``kv_unified``): tokens per second of each.
- Stall: one generation decoding while another document's fresh ``--long-prompt``-token
  prompt arrives; the gaps between the decoding generation's tokens (the time between its
  ``on_text`` calls) while the long prompt is read, against the bound: the costliest of that
  prompt's ``PREFILL_CHUNK``-token chunks read alone (a later chunk attends to the earlier
  ones) plus one decode step, timed on a bare context shaped like the engine's right after.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from copilot.config import ModelSettings, SpeculativeSettings
from copilot.inference.batching import PREFILL_CHUNK, Running, plan, step
from copilot.inference.engine import LocalEngine, default_threads, open_engine
from copilot.inference.jobs import Generation, GenerationJob
from copilot.inference.llama import LlamaSession, Part
from copilot.inference.vocabulary import Vocabulary
from copilot.models import DEFAULT_MODEL_PATH
from copilot.prompt.fim import build_fim_prompt
from copilot.prompt.window import local_window

from . import peer
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


def forward_ceiling(session: LlamaSession, n: int, rounds: int = 15) -> float:
    """How much faster N rows decode in one llama.cpp forward pass than one row N times
    (N one-token rows of N sequences against one row, medians): the most any batching of
    N generations can gain on this machine, whatever the engine around it."""

    def timed(rows: int) -> float:
        times = []
        for _ in range(rounds):
            held = [len(session.sequences[seq]) for seq in range(rows)]
            started = time.perf_counter()
            session.decode_parts([Part(seq, [session.sequences[seq][-1]], 0) for seq in range(rows)])
            times.append(time.perf_counter() - started)
            for seq in range(rows):
                session.keep(held[seq], seq)
        return statistics.median(times)

    return round(n * timed(1) / timed(n), 2)


def peer_throughput(model: Path, prompts: list[list[int]], n: int, n_ctx: int, args: argparse.Namespace) -> float:
    """llama-server with ``--parallel N``: N greedy ``/completion`` requests of ``--tokens``
    tokens at once (their prompts read first, untimed, as ours); generated tokens per second."""
    server = peer.PeerServer(
        model, n_ctx=n_ctx, n_batch=min(512, n_ctx), threads=args.threads or default_threads(),
        spm_infill=False, slots=n, n_predict=args.tokens, gpu_layers=args.gpu_layers,
    )  # fmt: skip
    with server, ThreadPoolExecutor(n) as pool:

        def ask(i: int, tokens: int) -> int:
            body = {"prompt": prompts[i % len(prompts)], "n_predict": tokens, "id_slot": i}
            body |= {"samplers": ["top_k"], "top_k": 1, "cache_prompt": True}
            answer = server.http.post("/completion", json=body).raise_for_status().json()
            return int(answer["timings"]["predicted_n"])

        list(pool.map(ask, range(n), [1] * n))
        started = time.perf_counter()
        generated = sum(pool.map(ask, range(n), [args.tokens] * n))
        return round(generated / (time.perf_counter() - started), 1)


def kv_layout(model: Path, prompts: list[list[int]], n: int, n_ctx: int, args: argparse.Namespace) -> dict[str, Any]:
    """N generations in the engine's step loop, split KV streams against a unified pool
    (``n_ctx`` positions per sequence: the engine's, the model's trained length at most)."""
    vocabulary = Vocabulary(model)
    rates = {}
    ceiling = 0.0
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
            if not unified:
                ceiling = forward_ceiling(session, n)
            started = time.perf_counter()
            while live := [r for r in running if r.reason is None]:
                step(plan(live, session, 0), session, vocabulary)
            seconds = time.perf_counter() - started
        finally:
            session.close()
        rates["unified" if unified else "split"] = round(sum(r.generated for r in running) / seconds, 1)
    return {"generations": n, "tok_s": rates, "forward_ceiling": ceiling}


def fresh_prompts(engine: LocalEngine, count: int, tokens: int, first: int) -> list[list[int]]:
    """``count`` prompts of ``tokens`` tokens that share no prefix with each other or with
    anything else the engine holds: each starts with a token of its own (ids ``first``,
    ``first + 1``...), so it is read from the start, never from a sequence that holds part of it."""
    body = engine.vocabulary.encode("".join(f"value_{i} = compute({i}, 'key_{i}')\n" for i in range(2000)))
    return [[first + i, *body[: tokens - 1]] for i in range(count)]


def stall_bound(
    model: Path, short: list[int], long: list[int], n_ctx: int, slots: int, args: argparse.Namespace
) -> tuple[list[float], float]:
    """What one step may cost while ``long`` is read beside a generation: each of its
    ``PREFILL_CHUNK``-token chunks in one pass, alone (a later chunk attends to the ones
    before it, so it costs more), and one decode step of the generation after ``short``.
    Medians of ``--rounds`` in ms, on a context shaped like the engine's."""
    session = LlamaSession(
        model, n_ctx, min(512, n_ctx), args.threads or default_threads(), args.gpu_layers, n_seq=slots
    )
    try:
        chunks: list[list[float]] = []
        steps: list[float] = []
        for _ in range(args.rounds):
            session.keep(0, 0)
            for i, start in enumerate(range(0, len(long), PREFILL_CHUNK)):
                chunk = long[start : start + PREFILL_CHUNK]
                started = time.perf_counter()
                session.decode_parts([Part(0, chunk, len(chunk) - 1)])
                if i == len(chunks):
                    chunks.append([])
                chunks[i].append((time.perf_counter() - started) * 1000)
            session.keep(0, 1)
            session.decode_parts([Part(1, short, len(short) - 1)])
            started = time.perf_counter()
            session.decode_parts([Part(1, [short[-1]], 0)])
            steps.append((time.perf_counter() - started) * 1000)
    finally:
        session.close()
    return [statistics.median(times) for times in chunks], statistics.median(steps)


async def stall_gaps(engine: LocalEngine, short: list[int], long_tokens: int, rounds: int) -> dict[str, Any]:
    """The gaps between one generation's tokens while another document's fresh
    ``long_tokens``-token prompt is read, ``rounds`` times."""
    longs = fresh_prompts(engine, rounds, long_tokens, 300)
    gaps: list[float] = []
    worst: list[float] = []
    for i, long in enumerate(longs):
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
        assert reader.prompt_tokens == len(long) and reader.reused_tokens == 0
    return {"gaps": gaps, "worst_gap_ms_per_round": [round(w, 2) for w in worst]}


def stall(gaps: dict[str, Any], chunks_ms: list[float], step_ms: float) -> dict[str, Any]:
    bound = max(chunks_ms) + step_ms
    stats = percentiles(gaps["gaps"])
    return {
        "prefill_chunk_tokens": PREFILL_CHUNK,
        "chunks_ms": [round(ms, 2) for ms in chunks_ms],
        "step_ms": round(step_ms, 2),
        "bound_ms": round(bound, 2),
        "gaps_ms": {**stats, "max": round(max(gaps["gaps"], default=0.0), 2)},
        "worst_gap_ms_per_round": gaps["worst_gap_ms_per_round"],
        "gaps": len(gaps["gaps"]),
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
        # A model trained on a short context (the stand-in: 512) cannot take the whole prompt.
        long_tokens = min(args.long_prompt, engine.n_ctx - 64)

        async def measure() -> dict[str, Any]:
            rows = [await throughput(engine, prompts, n, args.tokens) for n in args.concurrency]
            base = rows[0]["tok_s"]
            for row in rows:
                row["vs_one"] = round(row["tok_s"] / base, 2)
            return {"throughput": rows, "gaps": await stall_gaps(engine, prompts[0], long_tokens, args.rounds)}

        result = asyncio.run(measure())
    finally:
        engine.stop()
    long = fresh_prompts(engine, 1, long_tokens, 500)[0]
    chunks_ms, step_ms = stall_bound(model, prompts[0], long, engine.n_ctx, slots, args)
    result["stall"] = {"long_prompt_tokens": long_tokens, **stall(result.pop("gaps"), chunks_ms, step_ms)}
    result["kv_layout"] = kv_layout(model, prompts, max(args.concurrency), engine.n_ctx, args)
    if peer.wanted(args.peer, "batching"):
        for row in result["throughput"]:
            row["peer_tok_s"] = peer_throughput(model, prompts, row["generations"], engine.n_ctx, args)
            row["peer_vs_one"] = round(row["peer_tok_s"] / result["throughput"][0]["peer_tok_s"], 2)
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
    parser.add_argument(
        "--peer", choices=["auto", "on", "off"], default="auto", help="llama-server --parallel N side by side"
    )


def main(args: argparse.Namespace) -> None:
    if args.smoke:  # the small default model: checks the harness, not the figures
        args.model = args.model or str(DEFAULT_MODEL_PATH)
        args.concurrency, args.tokens, args.rounds, args.long_prompt = [1, 4], 16, 2, 400
    result = run(args)
    write("batching", result, args.out or Path("bench/results/batching.json"))
    print("| generations at once | tokens | tok/s | vs one | llama-server tok/s | its vs one |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in result["throughput"]:
        theirs = f"{row['peer_tok_s']} | {row['peer_vs_one']}x" if "peer_tok_s" in row else "- | -"
        print(f"| {row['generations']} | {row['tokens']} | {row['tok_s']} | {row['vs_one']}x | {theirs} |")
    layout = result["kv_layout"]
    print(
        f"\n{layout['generations']} generations, KV split per sequence {layout['tok_s']['split']} tok/s, "
        f"one unified pool {layout['tok_s']['unified']} tok/s; llama.cpp's forward pass alone: "
        f"{layout['generations']} rows at once {layout['forward_ceiling']}x the rate of one (batching's ceiling here)"
    )
    s = result["stall"]
    gaps = s["gaps_ms"]
    print(
        f"\nstall while a {s['long_prompt_tokens']}-token prompt is read: gaps between tokens p50 {gaps['p50']} ms, "
        f"p99 {gaps['p99']} ms, max {gaps['max']} ms; bound (its costliest {s['prefill_chunk_tokens']}-token chunk "
        f"{max(s['chunks_ms'])} ms + one step {s['step_ms']} ms) {s['bound_ms']} ms: "
        f"{'within' if s['p99_within_bound'] else 'OVER'}"
    )
