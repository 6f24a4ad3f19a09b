"""Decode speed of the engine's lean greedy loop against llama-cpp-python's ``Llama.generate``.

Both run the same GGUF model on the same FIM prompt, alternating, several rounds; the
result is the median tokens per second of each and their ratio, and a check that both
produced the same tokens (greedy decoding must not depend on the loop).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import llama_cpp

from copilot.inference.engine import default_threads
from copilot.inference.llama import LlamaSession
from copilot.inference.vocabulary import Vocabulary
from copilot.models import DEFAULT_MODEL_PATH
from copilot.prompt.fim import build_fim_prompt

from .report import write
from .traces import make_trace


def lean_loop(session: LlamaSession, prompt: list[int], n: int) -> list[int]:
    session.keep(0)
    session.decode(prompt)
    out = []
    for _ in range(n):
        token = session.argmax()
        out.append(token)
        session.decode([token])
    return out


def high_level(llm: llama_cpp.Llama, prompt: list[int], n: int) -> list[int]:
    llm.reset()
    out = []
    for token in llm.generate(prompt, temp=0.0, reset=True):
        out.append(token)
        if len(out) == n:
            break
    return out


def timed(fn: Any, *args: Any) -> tuple[list[int], float]:
    started = time.perf_counter()
    tokens = fn(*args)
    return tokens, time.perf_counter() - started


def run(args: argparse.Namespace) -> dict[str, Any]:
    model = Path(args.model)
    vocabulary = Vocabulary(model)
    trace = make_trace(1, args.seed)[0]
    prompt = build_fim_prompt(
        vocabulary.fim, vocabulary.encode(trace.text_before[-1200:]), vocabulary.encode(trace.text_after[:300])
    )
    threads = default_threads()
    session = LlamaSession(model, n_ctx=1024, n_batch=512, n_threads=threads, n_gpu_layers=0)
    llm = llama_cpp.Llama(str(model), n_ctx=1024, n_batch=512, n_threads=threads, verbose=False)
    lean_times, high_times, same = [], [], True
    for _ in range(args.rounds):
        lean_tokens, lean_s = timed(lean_loop, session, prompt, args.tokens)
        high_tokens, high_s = timed(high_level, llm, prompt, args.tokens)
        lean_times.append(lean_s)
        high_times.append(high_s)
        same = same and lean_tokens == high_tokens
    session.close()
    lean = args.tokens / statistics.median(lean_times)
    high = args.tokens / statistics.median(high_times)
    return {
        "model": str(model),
        "prompt_tokens": len(prompt),
        "generated_tokens": args.tokens,
        "rounds": args.rounds,
        "lean_loop_tok_s": round(lean, 1),
        "llama_generate_tok_s": round(high, 1),
        "speedup": round(lean / high, 2),
        "identical_tokens": same,
        "note": "each timing includes the prompt prefill (from an empty KV cache)",
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=str(DEFAULT_MODEL_PATH))
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seed", type=int, default=7)


def main(args: argparse.Namespace) -> None:
    if args.smoke:
        args.tokens, args.rounds = 16, 1
    result = run(args)
    write("decode", result, args.out or Path("bench/results/decode.json"))
    print(
        f"| lean loop tok/s | Llama.generate tok/s | speedup | identical tokens |\n| --- | --- | --- | --- |\n"
        f"| {result['lean_loop_tok_s']} | {result['llama_generate_tok_s']} | {result['speedup']}x "
        f"| {result['identical_tokens']} |"
    )
    if not result["identical_tokens"]:
        raise SystemExit("decode: the two loops disagree on greedy tokens")
