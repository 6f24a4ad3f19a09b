"""Speculative decoding: decode tokens/s with and without each drafter, same greedy output.

Completion points come from the typing traces (code the default model never trained
on). At each point the target prefills the FIM prompt (not timed), then decodes with the
product's stopping rules (stop tokens, ``--max-tokens``, ``--max-lines``) in each mode:
plain, prompt lookup, draft model, draft model stopping at a guess it doubts (a confidence
floor, llama.cpp's ``p_min``), lookup + draft, and adaptive (what the server runs). Modes
alternate point by point, so machine noise hits them alike. Reported per mode: decode
tokens/s, speedup against plain, draft acceptance, tokens per target forward, and whether
every token equals plain greedy decoding. Then, at each point right after ours, llama.cpp's own
server on the same prompt, plain and with ``--model-draft`` (``--max-lines 0`` gives both sides
the same output length). Ours runs the server's own decode loop (``batching``, one generation).

A realistically sized target (>= 100M parameters) cannot be trained on a laptop CPU, so
by default the target is a stand-in grown from the default model
(``copilot.models.recipe.grow``: 102M parameters, noise 0.012, which agrees with the default
model on ~77-87 % of next tokens, like a real draft/target pair) and the draft is the
default model. ``--target``/``--draft`` take any GGUF pair that shares a vocabulary.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from copilot.config import SpeculativeSettings
from copilot.inference.batching import Running, plan, step
from copilot.inference.decoding import DecodeCounters
from copilot.inference.engine import default_threads
from copilot.inference.gguf_info import draft_mismatch
from copilot.inference.jobs import GenerationJob
from copilot.inference.llama import LlamaSession
from copilot.inference.speculative import Drafter, DraftModel, PromptLookup, Speculator
from copilot.inference.vocabulary import Vocabulary
from copilot.models import DEFAULT_MODEL_PATH
from copilot.models.quantize import quantize
from copilot.prompt.fim import build_fim_prompt
from copilot.prompt.window import local_window

from . import peer
from .report import write
from .traces import make_trace

STANDIN = Path("bench/results/standin-102m-noise0.012.gguf")
MODES = ("plain", "lookup", "draft", "draft-floor", "lookup+draft", "adaptive")


def standin_target(path: Path) -> Path:
    if not path.exists():
        print(f"building the stand-in target {path} (once)...", flush=True)
        subprocess.run(
            [sys.executable, "-m", "copilot.models.recipe.grow", "--out", str(path), "--noise", "0.012"], check=True
        )
    return path


def quantized(path: Path, kind: str) -> Path:
    """``path`` quantized by llama.cpp's own quantizer (once, next to the bench results)."""
    out = Path("bench/results") / f"{path.stem}-{kind}.gguf"
    return out if out.exists() else quantize(path, out, kind)


def decode(
    target: LlamaSession,
    vocabulary: Vocabulary,
    prompt: list[int],
    speculator: Speculator | None,
    max_tokens: int,
    max_lines: int,
) -> tuple[list[int], float, DecodeCounters]:
    """One generation through the server's own decode loop (``batching``: the engine's
    steps, here with one generation), the prompt read before the clock starts."""
    target.keep(0)
    target.decode(prompt[:-1])
    for drafter in speculator.drafters if speculator else []:
        if isinstance(drafter, DraftModel):  # the server keeps the draft's KV state like the target's
            drafter.session.keep(0)
            drafter.session.decode(prompt)
    run = speculator.begin(prompt, 0) if speculator is not None else None
    job = GenerationJob(prompt=prompt, max_tokens=max_tokens, max_lines=max_lines)
    generation = Running(job, None, 0, time.perf_counter(), len(prompt) - 1, run=run)
    step(plan([generation], target, 0), target, vocabulary)  # the last prompt token: the first token
    started = time.perf_counter()
    while generation.reason is None:
        step(plan([generation], target, 0), target, vocabulary)
    seconds = time.perf_counter() - started
    if run is not None:
        run.done(generation.generated, seconds)
    return generation.tokens, seconds, generation.counters


NEAR_TIE = 0.05  # logits this close: rounding decides, not the decoding loop


def divergence(
    target: LlamaSession, prompt: list[int], plain: list[int], other: list[int], mode: str
) -> dict[str, Any]:
    """Where ``other`` first leaves plain greedy decoding, and by how much the plain pass's
    logits preferred its token there. llama.cpp's CPU kernels round a batch of rows (the
    verify pass) slightly differently from a single row, so where two tokens' logits nearly
    tie, a batched pass can pick the other one; a real bug would show a large margin."""
    at = next(i for i, (a, b) in enumerate(zip(plain, other, strict=False)) if a != b) if plain[:1] else 0
    target.keep(0)
    target.decode(prompt)
    for token in plain[:at]:
        target.decode([token])
    logits = target.logits()
    margin = float(logits[plain[at]] - logits[other[at]]) if at < min(len(plain), len(other)) else 0.0
    return {"mode": mode, "position": at, "logit_margin": round(margin, 6)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    target_path = Path(args.target) if args.target else standin_target(STANDIN)
    if args.quantize:
        target_path = quantized(target_path, args.quantize)
    draft_path = Path(args.draft)
    vocabulary = Vocabulary(target_path)
    mismatch = draft_mismatch(vocabulary, Vocabulary(draft_path))
    if mismatch:
        raise SystemExit(f"speculative: the draft cannot draft for the target: {mismatch}")
    n_ctx = min(args.n_ctx, vocabulary.context_length or args.n_ctx)
    threads = default_threads()
    layers = args.gpu_layers
    target = LlamaSession(target_path, n_ctx=n_ctx, n_batch=min(512, n_ctx), n_threads=threads, n_gpu_layers=layers)
    draft = LlamaSession(draft_path, n_ctx=n_ctx, n_batch=min(512, n_ctx), n_threads=threads, n_gpu_layers=layers)
    lookup, draft_model = PromptLookup(), DraftModel(draft, args.draft_min_confidence)
    drafters: dict[str, list[Drafter]] = {
        "lookup": [lookup],
        "draft": [draft_model],
        "draft-floor": [DraftModel(draft, args.draft_floor)],  # stops at a guess it doubts (--draft-floor)
        "lookup+draft": [lookup, draft_model],
    }
    speculators = {mode: Speculator(list(d), max_length=args.max_draft, adaptive=False) for mode, d in drafters.items()}
    # What the server runs: both drafters, drafting only while it measures faster than not.
    speculators["adaptive"] = Speculator([PromptLookup(), draft_model], max_length=args.max_draft)
    totals = {mode: {"tokens": 0, "seconds": 0.0, "forwards": 0, "drafted": 0, "accepted": 0} for mode in MODES}
    identical = {mode: 0 for mode in MODES}  # completion points whose tokens equal plain decoding
    divergences: list[dict[str, Any]] = []
    budget = n_ctx - args.max_tokens - 8
    # llama-server's two servers wait beside ours and answer each point right after our modes
    # did: machine noise hits both sides alike (it drifts over minutes on a shared machine).
    pair = PeerPair(target_path, draft_path, n_ctx, threads, args) if peer.wanted(args.peer, "speculative") else None
    with pair or contextlib.nullcontext():
        for session in make_trace(args.points, args.seed):
            window = local_window(session.text_before, session.text_after, budget, 0.25, vocabulary.encode)
            prompt = build_fim_prompt(vocabulary.fim, window.prefix, window.suffix)
            reference: list[int] | None = None
            for mode in MODES:
                tokens, seconds, counters = decode(
                    target, vocabulary, prompt, speculators.get(mode), args.max_tokens, args.max_lines
                )
                reference = tokens if reference is None else reference
                identical[mode] += tokens == reference
                if tokens != reference:
                    divergences.append(divergence(target, prompt, reference, tokens, mode))
                total = totals[mode]
                total["tokens"] += len(tokens)
                total["seconds"] += seconds
                total["forwards"] += counters.forwards
                total["drafted"] += counters.drafted
                total["accepted"] += counters.accepted
            if pair is not None:
                pair.measure(prompt)
    target.close()
    draft.close()
    plain_rate = totals["plain"]["tokens"] / totals["plain"]["seconds"]
    modes = {}
    for mode, total in totals.items():
        rate = total["tokens"] / total["seconds"]
        modes[mode] = {
            "tok_s": round(rate, 1),
            "speedup": round(rate / plain_rate, 2),
            "acceptance": round(total["accepted"] / total["drafted"], 3) if total["drafted"] else None,
            "tokens_per_target_forward": round(total["tokens"] / max(1, total["forwards"]), 2),
            "tokens": total["tokens"],
        }
    return {
        "peer": pair.modes() if pair is not None else {},
        "target": str(target_path),
        "draft": str(draft_path),
        "points": args.points,
        "max_tokens": args.max_tokens,
        "max_lines": args.max_lines,
        "threads": threads,
        "identical_output": all(same == args.points for same in identical.values()),
        "identical_points": identical,
        "divergences": divergences,
        "largest_divergence_margin": max((d["logit_margin"] for d in divergences), default=0.0),
        "modes": modes,
    }


class PeerPair:
    """llama-server on the same prompts (token ids to ``/completion``, greedy, the same output
    cap), plain and with ``--model-draft``. Its decode rate comes from its own ``timings``
    (prefill excluded, as ours). With ``--peer-binary``, another build of it beside them, plain
    (``plain (other build)``): the same llama.cpp built another way, e.g. as shared libraries
    like the ones llama-cpp-python loads."""

    def __init__(self, target: Path, draft: Path, n_ctx: int, threads: int, args: argparse.Namespace) -> None:
        common = {
            "n_ctx": n_ctx, "n_batch": min(512, n_ctx), "threads": threads, "spm_infill": False,
            "gpu_layers": args.gpu_layers,
        }  # fmt: skip
        self.servers = {
            "plain": peer.PeerServer(target, **common),
            "draft": peer.PeerServer(target, **common, draft=draft, max_draft=args.max_draft),
        }
        if args.peer_binary:
            self.servers["plain (other build)"] = peer.PeerServer(target, **common, binary=args.peer_binary)
        self.args = args
        self.totals = {m: {"tokens": 0, "ms": 0.0, "drafted": 0, "accepted": 0, "same": 0} for m in self.servers}
        self.points = 0

    def __enter__(self) -> PeerPair:
        for server in self.servers.values():
            server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self.servers.values():
            server.__exit__(*exc)

    def measure(self, prompt: list[int]) -> None:
        body = {"prompt": prompt, "n_predict": self.args.max_tokens, "samplers": ["top_k"], "top_k": 1}
        texts = {}
        for mode, server in self.servers.items():
            answer = server.http.post("/completion", json=body).raise_for_status().json()
            timings, total = answer["timings"], self.totals[mode]
            total["tokens"] += timings["predicted_n"]
            total["ms"] += timings["predicted_ms"]
            total["drafted"] += timings.get("draft_n", 0)
            total["accepted"] += timings.get("draft_n_accepted", 0)
            texts[mode] = answer["content"]
        self.totals["draft"]["same"] += texts["draft"] == texts["plain"]
        self.points += 1

    def modes(self) -> dict[str, Any]:
        totals = self.totals
        if not totals["draft"]["drafted"]:
            raise SystemExit("speculative: llama-server with --model-draft drafted nothing (see its --spec-* options)")
        plain_rate = totals["plain"]["tokens"] / (totals["plain"]["ms"] / 1000)
        modes = {}
        for mode, total in totals.items():
            rate = total["tokens"] / (total["ms"] / 1000)
            modes[mode] = {
                "tok_s": round(rate, 1),
                "speedup": round(rate / plain_rate, 2),
                "acceptance": round(total["accepted"] / total["drafted"], 3) if total["drafted"] else None,
                "tokens": total["tokens"],
                "identical_points": total["same"] if mode == "draft" else self.points,
            }
        return modes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", default="", help="target GGUF (default: the 102M stand-in, built once)")
    parser.add_argument("--draft", default=str(DEFAULT_MODEL_PATH))
    parser.add_argument("--quantize", choices=["q8_0", "q6_k", "q4_k_m"], default="", help="quantize the target first")
    parser.add_argument("--points", type=int, default=40)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--max-lines", type=int, default=4)
    parser.add_argument("--max-draft", type=int, default=8)
    parser.add_argument(
        "--draft-min-confidence", type=float, default=SpeculativeSettings().draft_min_confidence,
        help="the draft mode's speculative.draft_min_confidence (default: the server's)",
    )  # fmt: skip
    parser.add_argument(
        "--draft-floor", type=float, default=0.75, help="the draft-floor mode's confidence floor (llama.cpp's p_min)"
    )
    parser.add_argument("--n-ctx", type=int, default=512)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--gpu-layers", type=int, default=0, help="layers offloaded to a GPU (-1: all), both sides")
    parser.add_argument(
        "--peer", choices=["auto", "on", "off"], default="auto", help="llama-server with --model-draft side by side"
    )
    parser.add_argument(
        "--peer-binary", type=Path, default=None, help="another llama-server build, measured plain beside the peer"
    )


def main(args: argparse.Namespace) -> None:
    if args.smoke:  # the small default model as both target and draft: checks the loop, not the speedup
        args.target, args.points, args.max_tokens = args.target or str(DEFAULT_MODEL_PATH), 3, 24
    result = run(args)
    write("speculative", result, args.out or Path("bench/results/speculative.json"))
    print("| mode | tok/s | speedup | acceptance | tokens per target forward |\n| --- | --- | --- | --- | --- |")
    for mode, row in result["modes"].items():
        cells = (mode, row["tok_s"], f"{row['speedup']}x", row["acceptance"], row["tokens_per_target_forward"])
        print("| " + " | ".join(str(cell) for cell in cells) + " |")
    for mode, row in result["peer"].items():
        cells = (f"llama-server {mode}", row["tok_s"], f"{row['speedup']}x", row["acceptance"], "-")
        print("| " + " | ".join(str(cell) for cell in cells) + " |")
    if result["peer"]:
        ours, theirs = result["modes"], result["peer"]
        best = max(ours.values(), key=lambda row: row["tok_s"])["tok_s"]
        print(
            f"ours / llama-server decode rate: plain {ours['plain']['tok_s'] / theirs['plain']['tok_s']:.2f}x, "
            f"with a draft {ours['draft']['tok_s'] / theirs['draft']['tok_s']:.2f}x, "
            f"best of each {best / max(theirs['plain']['tok_s'], theirs['draft']['tok_s']):.2f}x"
        )
    print(f"completion points identical to plain decoding: {result['identical_points']} of {result['points']}")
    for row in result["divergences"]:
        print(f"  {row['mode']}: diverges at token {row['position']}, plain logits margin {row['logit_margin']}")
    if result["largest_divergence_margin"] > NEAR_TIE:
        raise SystemExit("speculative: output differs from plain greedy decoding beyond a near-tie")
