"""quant: what quantisation costs and buys: file size, prefill and decode speed, and greedy
agreement with the f16 original, for Q8_0, Q6_K and Q4_K_M.

Models: the embedded default (4.5M parameters) and, at a realistic size, the 102M stand-in
grown from it (``bench speculative`` builds it once; ``--models`` takes any f16 GGUFs). The
variants are made by llama.cpp's quantiser (``copilot-lsp models quantize``) and timed in
turns, round by round, so machine noise hits them alike; speeds are medians, and ratios
to f16 are the figures to quote on a shared CPU. Agreement: the share of next-token choices
equal to f16's along f16's own greedy continuation of held-out code.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

from copilot.inference.engine import default_threads
from copilot.inference.llama import LlamaSession
from copilot.inference.vocabulary import Vocabulary
from copilot.models import DEFAULT_MODEL_PATH
from copilot.models.quantize import greedy_agreement, quantize

from .report import write
from .speculative import STANDIN, standin_target
from .traces import make_trace

TYPES = ("q8_0", "q6_k", "q4_k_m")


def variant(source: Path, kind: str, folder: Path) -> Path:
    out = folder / f"{source.stem}-{kind}.gguf"
    return out if out.exists() else quantize(source, out, kind)


def time_once(session: LlamaSession, prompt: list[int], tokens: int) -> tuple[float, float]:
    """Seconds to prefill ``prompt`` from an empty cache, and per decoded token after it."""
    session.keep(0)
    started = time.perf_counter()
    session.decode(prompt)
    prefilled = time.perf_counter()
    for _ in range(tokens):
        session.decode([session.argmax()])
    return prefilled - started, (time.perf_counter() - prefilled) / tokens


def study(source: Path, args: argparse.Namespace) -> dict[str, Any]:
    files = {"f16": source, **{kind: variant(source, kind, args.folder) for kind in TYPES}}
    vocabulary = Vocabulary(source)
    n_ctx = min(1024, vocabulary.context_length or 1024)
    trace = make_trace(1, args.seed)[0]
    prompt = vocabulary.encode(trace.text_before)[-(n_ctx - args.tokens - 8) :]
    threads = default_threads()
    sessions = {
        kind: LlamaSession(path, n_ctx=n_ctx, n_batch=min(512, n_ctx), n_threads=threads, n_gpu_layers=0)
        for kind, path in files.items()
    }
    prefill: dict[str, list[float]] = {kind: [] for kind in files}
    decode: dict[str, list[float]] = {kind: [] for kind in files}
    try:
        for _ in range(args.rounds):
            for kind, session in sessions.items():
                p, d = time_once(session, prompt, args.tokens)
                prefill[kind].append(p)
                decode[kind].append(d)
    finally:
        for session in sessions.values():
            session.close()
    rows = {}
    for kind, path in files.items():
        prefill_s, decode_s = statistics.median(prefill[kind]), statistics.median(decode[kind])
        rows[kind] = {
            "bytes": path.stat().st_size,
            "size_vs_f16": round(path.stat().st_size / source.stat().st_size, 3),
            "prefill_tok_s": round(len(prompt) / prefill_s, 1),
            "decode_tok_s": round(1 / decode_s, 1),
            "prefill_time_vs_f16": round(prefill_s / statistics.median(prefill["f16"]), 3),
            "decode_time_vs_f16": round(decode_s / statistics.median(decode["f16"]), 3),
            "greedy_agreement": 1.0
            if kind == "f16"
            else round(greedy_agreement(source, path, prompts=args.prompts, tokens=args.agreement_tokens), 4),
        }
    return {"model": str(source), "prompt_tokens": len(prompt), "decoded_tokens": args.tokens, "types": rows}


def run(args: argparse.Namespace) -> dict[str, Any]:
    sources = [Path(m) for m in args.models] if args.models else [DEFAULT_MODEL_PATH, standin_target(STANDIN)]
    return {
        "rounds": args.rounds,
        "threads": default_threads(),
        "agreement_prompts": args.prompts,
        "models": [study(source, args) for source in sources],
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--models", nargs="*", default=[], help="f16 GGUFs (default: the default model and the 102M stand-in)"
    )
    parser.add_argument("--folder", type=Path, default=Path("bench/results"), help="where the quantised files go")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=64, help="decoded tokens per timing")
    parser.add_argument("--prompts", type=int, default=24, help="held-out prompts for greedy agreement")
    parser.add_argument("--agreement-tokens", type=int, default=32)
    parser.add_argument("--seed", type=int, default=7)


def main(args: argparse.Namespace) -> None:
    if args.smoke:  # the default model only, a round: checks the suite works, not the figures
        args.models = args.models or [str(DEFAULT_MODEL_PATH)]
        args.rounds, args.tokens, args.prompts, args.agreement_tokens = 1, 8, 2, 8
        if args.out:
            args.folder = args.out.parent / "quant-smoke"
            args.folder.mkdir(parents=True, exist_ok=True)
    result = run(args)
    write("quant", result, args.out or Path("bench/results/quant.json"))
    columns = ["model", "type", "size vs f16", "prefill tok/s", "decode tok/s", "prefill time vs f16"]
    columns += ["decode time vs f16", "greedy agreement"]
    print("| " + " | ".join(columns) + " |\n|" + " --- |" * len(columns))
    for model in result["models"]:
        for kind, row in model["types"].items():
            print(
                f"| {Path(model['model']).name} | {kind} | {row['size_vs_f16']:.0%} | {row['prefill_tok_s']} | "
                f"{row['decode_tok_s']} | {row['prefill_time_vs_f16']} | {row['decode_time_vs_f16']} | "
                f"{row['greedy_agreement']:.1%} |"
            )
        if model["types"]["q8_0"]["greedy_agreement"] < 0.5:
            raise SystemExit(f"quant: Q8_0 of {model['model']} disagrees with f16 on most tokens: a broken quantiser")
