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
  ``on_text`` calls) while the long prompt is read, against the bound: the costliest
  ``PREFILL_CHUNK``-token chunk of a prompt as long read alone (a later chunk attends to the
  earlier ones) plus one decode pass of the generation, timed in the same engine in the same
  round, compared at the same percentile. From the engine's record of its forward passes, what each
  gap held: how many prompt passes (the bound's claim: one at most) and the time outside
  forward passes (the engine's own work).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

from copilot.config import ModelSettings, SpeculativeSettings
from copilot.inference.batching import PREFILL_CHUNK, ForwardPass, Running, plan, step
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


async def throughput(
    engine: LocalEngine, prompts: list[list[int]], n: int, tokens: int, repeats: int
) -> dict[str, Any]:
    """N generations at once, ``repeats`` times: the median rate (one run of a few hundred
    milliseconds is at the mercy of this shared machine)."""
    rates = []
    for _ in range(repeats):
        jobs = [endless(prompts[i % len(prompts)], tokens, f"doc{i}") for i in range(n)]
        # Prompts first (not timed): the throughput of decoding is what batching changes.
        warm = [endless(job.prompt, 1, job.owner) for job in jobs]
        await asyncio.gather(*(engine.generate(job) for job in warm))
        started = time.perf_counter()
        generations: list[Generation] = await asyncio.gather(*(engine.generate(job) for job in jobs))
        seconds = time.perf_counter() - started
        generated = sum(g.generated_tokens for g in generations)
        rates.append(generated / seconds)
    return {"generations": n, "tokens": generated, "tok_s": round(statistics.median(rates), 1)}


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
        rates = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            generated = sum(pool.map(ask, range(n), [args.tokens] * n))
            rates.append(generated / (time.perf_counter() - started))
        return round(statistics.median(rates), 1)


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


class Gap(NamedTuple):
    """The time between two tokens of the decoding generation, and the engine's forward passes
    within it."""

    ms: float
    prompt_passes: int  # passes that read prompt tokens
    passes_ms: float  # all passes together


def seconds_within(passes: list[ForwardPass], start: float, end: float) -> list[tuple[ForwardPass, float]]:
    """The passes that ran between ``start`` and ``end``, each with the part of it that did."""
    return [(p, min(p.ended, end) - max(p.started, start)) for p in passes if p.ended > start and p.started < end]


async def stall_gaps(engine: LocalEngine, short: list[int], long_tokens: int, rounds: int) -> dict[str, Any]:
    """The gaps between one generation's tokens while another document's fresh
    ``long_tokens``-token prompt is read, ``rounds`` times; and the bound, measured in the same
    engine in the same rounds: before each, a fresh prompt of the same length read alone (its
    costliest chunk) plus the generation's own decode pass before the prompt arrives."""
    longs = fresh_prompts(engine, 2 * rounds, long_tokens, 300)
    gaps: list[Gap] = []
    bound: list[float] = []
    for i in range(rounds):
        started = time.perf_counter()
        await engine.generate(endless(longs[2 * i + 1], 1, f"alone{i}"))
        alone = seconds_within(engine.recent_passes(), started, time.perf_counter())
        chunk = max(seconds for p, seconds in alone if p.prompt_tokens)
        stamps: list[float] = []

        def on_text(_text: str, stamps: list[float] = stamps) -> None:
            stamps.append(time.perf_counter())

        writer = endless(short, 10_000, f"writer{i}", on_text=on_text)
        task = asyncio.ensure_future(engine.generate(writer))
        while len(stamps) < 4:  # decoding
            await asyncio.sleep(0.001)
        window = time.perf_counter()
        decoding = [seconds for p, seconds in seconds_within(engine.recent_passes(), stamps[1], window)]
        bound.append((chunk + statistics.median(decoding)) * 1000)
        reader = await engine.generate(endless(longs[2 * i], 1, f"reader{i}"))
        window_end = time.perf_counter()
        writer.cancel.set()
        await task
        passes = engine.recent_passes()
        for a, b in itertools.pairwise(stamps):
            if window <= b <= window_end:
                # A token is emitted inside its pass (the pass's record includes its rows' handling):
                # each pass counts for the part of it within the gap.
                within = seconds_within(passes, a, b)
                prompt_passes = sum(1 for p, _ in within if p.prompt_tokens)
                gaps.append(Gap((b - a) * 1000, prompt_passes, sum(seconds for _, seconds in within) * 1000))
        assert reader.prompt_tokens == long_tokens and reader.reused_tokens == 0
    return {"gaps": gaps, "bound": bound}


def stall(gaps: list[Gap], bound_samples: list[float]) -> dict[str, Any]:
    """The gaps against the bound, at the same percentile: one chunk's cost varies from pass to
    pass on a shared machine like the gaps do, so the slowest gaps are compared with the
    slowest bound samples, not with their median. And what the gaps are made of."""
    stats = percentiles([gap.ms for gap in gaps])
    bound = percentiles(bound_samples)
    outside = [gap.ms - gap.passes_ms for gap in gaps]
    return {
        "prefill_chunk_tokens": PREFILL_CHUNK,
        "bound_ms": bound,
        "gaps_ms": {**stats, "max": round(max((gap.ms for gap in gaps), default=0.0), 2)},
        "gaps": len(gaps),
        "most_prompt_passes_in_a_gap": max((gap.prompt_passes for gap in gaps), default=0),
        "outside_passes_ms": percentiles(outside),
        "p99_within_bound": bool(stats) and stats["p99"] <= bound["p99"],
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
            rows = [await throughput(engine, prompts, n, args.tokens, args.repeats) for n in args.concurrency]
            base = rows[0]["tok_s"]
            for row in rows:
                row["vs_one"] = round(row["tok_s"] / base, 2)
            return {"throughput": rows, "stall": await stall_gaps(engine, prompts[0], long_tokens, args.rounds)}

        result = asyncio.run(measure())
    finally:
        engine.stop()
    measured = result.pop("stall")
    result["stall"] = {"long_prompt_tokens": long_tokens, **stall(measured["gaps"], measured["bound"])}
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
    parser.add_argument("--repeats", type=int, default=3, help="throughput: runs of each N (the median counts)")
    parser.add_argument("--long-prompt", type=int, default=1500, help="tokens of the other editor's prompt")
    parser.add_argument("--prompt-budget", type=int, default=256, help="tokens of each generation's own prompt")
    parser.add_argument("--rounds", type=int, default=12, help="stall: long prompts read, and bound samples")
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--gpu-layers", type=int, default=0, help="layers offloaded to a GPU (-1: all)")
    parser.add_argument(
        "--peer", choices=["auto", "on", "off"], default="auto", help="llama-server --parallel N side by side"
    )


def main(args: argparse.Namespace) -> None:
    if args.smoke:  # the small default model: checks the harness, not the figures
        args.model = args.model or str(DEFAULT_MODEL_PATH)
        args.concurrency, args.tokens, args.rounds, args.long_prompt, args.repeats = [1, 4], 16, 2, 400, 1
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
    gaps, bound, outside = s["gaps_ms"], s["bound_ms"], s["outside_passes_ms"]
    print(
        f"\nstall while a {s['long_prompt_tokens']}-token prompt is read: gaps between tokens p50 {gaps['p50']} / "
        f"p99 {gaps['p99']} ms; bound (its costliest {s['prefill_chunk_tokens']}-token chunk + one step, read "
        f"alone in the same engine) p50 {bound['p50']} / p99 {bound['p99']} ms: "
        f"{'within' if s['p99_within_bound'] else 'OVER'}; "
        f"at most {s['most_prompt_passes_in_a_gap']} prompt pass in a gap; time outside forward passes "
        f"p50 {outside['p50']} / p99 {outside['p99']} ms"
    )
