"""routing: how much goes to the remote model, what it costs against sending everything
there, and the quality of each route.

The remote model is served by llama-cpp-python's own OpenAI-compatible server
(`python -m llama_cpp.server`) on loopback; by default the 102M-parameter stand-in grown
from the default model (`bench speculative` builds it; `--remote-model` for another GGUF),
the local model is the embedded default. The workload is the held-out holes of
`bench quality` (installed packages, cut after `name(` / `name.`), completed in order
through the real pipeline, inline (implicit) requests, with a share of them explicit
(`copilot/generate`-style). Three runs on the same holes: routed (the router decides),
all local (remote off), all remote (every request explicit); cost at the configured prices.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
from pathlib import Path
from typing import Any

from copilot.assembly import build_pipeline
from copilot.config import Config, apply_layer
from copilot.documents import DocumentStore, Position
from tests.support.openai_server import start_openai_server

from .fim import edit_similarity
from .quality import DEFAULT_PACKAGES, Hole, held_out_holes
from .report import write

STANDIN = Path("bench/results/standin-102m-noise0.012.gguf")
PRICE_IN, PRICE_OUT = 0.15, 0.60  # per million tokens: a typical hosted 7B code model's order of magnitude


async def run_holes(holes: list[Hole], config: Config, explicit_share: float, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    documents = DocumentStore()
    pipeline = build_pipeline(config, documents, None)
    assert pipeline.engine is not None
    pipeline.engine.wait_ready()
    results = []
    try:
        for hole in holes:
            lines = Path(hole.path).read_text(encoding="utf-8", errors="replace").split("\n")
            lines[hole.line] = lines[hole.line][: hole.column]
            uri = Path(hole.path).as_uri()
            document = documents.open(uri, "python", 0, "\n".join(lines))
            pipeline.opened(uri)
            snapshot = document.snapshot(Position(line=hole.line, character=hole.column), "utf-32")
            explicit = rng.random() < explicit_share
            result = await pipeline.complete(snapshot, explicit=explicit)
            record = pipeline.metrics.recent[-1]
            documents.close(uri)
            pipeline.forget(uri)
            got = result.text.split("\n", 1)[0].rstrip()
            results.append(
                {
                    "route": record.route,
                    "reason": record.route_reason,
                    "explicit": explicit,
                    "exact": got == hole.target,
                    "similarity": edit_similarity(got, hole.target),
                    "cost": record.cost,
                    "cost_all_remote": record.cost_all_remote,
                    "tokens_local": record.prompt_tokens + record.generated_tokens,
                    "tokens_remote": record.remote_tokens_in + record.remote_tokens_out,
                    "ms": result.timings_ms.get("total", 0.0),
                }
            )
    finally:
        pipeline.close()
    return results


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    def quality(rows: list[dict[str, Any]]) -> dict[str, Any]:
        if not rows:
            return {"n": 0}
        return {
            "n": len(rows),
            "exact_match": round(sum(r["exact"] for r in rows) / len(rows), 4),
            "edit_similarity": round(statistics.fmean(r["similarity"] for r in rows), 4),
            "total_ms_p50": round(statistics.median(r["ms"] for r in rows), 1),
        }

    remote = [r for r in results if r["route"] == "remote"]
    local = [r for r in results if r["route"] == "local"]
    spent = sum(r["cost"] for r in results)
    all_remote = sum(r["cost_all_remote"] for r in results)
    tokens_remote = sum(r["tokens_remote"] for r in results)
    tokens_local = sum(r["tokens_local"] for r in results)
    reasons: dict[str, int] = {}
    for r in results:
        key = re.sub(r"-?\d+\.\d+", "x", r["reason"]) or "-"
        reasons[key] = reasons.get(key, 0) + 1
    return {
        "requests": len(results),
        "share_remote": round(len(remote) / len(results), 4) if results else None,
        "tokens_remote": tokens_remote,
        "tokens_local": tokens_local,
        "share_tokens_remote": round(tokens_remote / (tokens_remote + tokens_local), 4) if tokens_remote else 0.0,
        "cost": round(spent, 6),
        "cost_all_remote": round(all_remote, 6),
        "saving": round(1 - spent / all_remote, 4) if all_remote else None,
        "reasons": dict(sorted(reasons.items())),
        "all": quality(results),
        "remote_route": quality(remote),
        "local_route": quality(local),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    holes = held_out_holes(args.packages, args.holes, args.seed)
    remote_model = Path(args.remote_model) if args.remote_model else STANDIN
    if not remote_model.exists():
        raise SystemExit(f"{remote_model} is missing: run `python -m bench speculative` once (it builds it)")
    result: dict[str, Any] = {
        "remote_model": str(remote_model),
        "holes": len(holes),
        "prices_per_mtok": [PRICE_IN, PRICE_OUT],
    }
    with start_openai_server(remote_model, model_alias="remote", n_ctx=1024) as server:
        remote = {
            "enabled": True,
            "base_url": server.base_url,
            "model": "remote",
            "template": "copilot_default",
            "price_input_per_mtok": PRICE_IN,
            "price_output_per_mtok": PRICE_OUT,
            "inline_timeout_ms": 3000,
            "generate_timeout_ms": 8000,
            "max_tokens": 48,  # the holes are one line
            "prefix_chars": 1500,  # the stand-in was trained on 512-token windows
            "suffix_chars": 300,
            "requests_per_minute": 0,
        }
        common = {"cache": {"enabled": False, "prefetch": False}, "completion": {"debounce_ms": 0, "max_lines": 1}}
        modes = {
            "routed": (apply_layer(Config(), {**common, "remote": remote}, "bench"), args.explicit_share),
            "all_local": (apply_layer(Config(), {**common, "remote": {**remote, "enabled": False}}, "bench"), 0.0),
            "all_remote": (apply_layer(Config(), {**common, "remote": remote}, "bench"), 1.0),
        }
        for mode, (config, explicit_share) in modes.items():
            result[mode] = summarise(asyncio.run(run_holes(holes, config, explicit_share, args.seed)))
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--remote-model", default="", help=f"GGUF the remote server serves (default {STANDIN})")
    parser.add_argument("--packages", nargs="+", default=list(DEFAULT_PACKAGES))
    parser.add_argument("--holes", type=int, default=20, help="per kind and package")
    parser.add_argument("--explicit-share", type=float, default=0.1, help="requests sent as explicit generations")
    parser.add_argument("--seed", type=int, default=7)


def main(args: argparse.Namespace) -> None:
    if args.smoke:
        args.packages, args.holes = ["pathspec"], 2
        if not args.remote_model and not STANDIN.exists():
            from copilot.models import DEFAULT_MODEL_PATH

            args.remote_model = str(DEFAULT_MODEL_PATH)  # the smoke run checks the plumbing, not the figures
    result = run(args)
    write("routing", result, args.out or Path("bench/results/routing.json"))
    print("| run | requests | remote share (requests / tokens) | cost | all-remote cost | saving | exact | edit sim |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for mode in ("routed", "all_local", "all_remote"):
        r = result[mode]
        print(
            f"| {mode} | {r['requests']} | {r['share_remote']} / {r['share_tokens_remote']} | {r['cost']} "
            f"| {r['cost_all_remote']} | {r['saving']} | {r['all'].get('exact_match')} "
            f"| {r['all'].get('edit_similarity')} |"
        )
    routed = result["routed"]
    print(f"\nrouted, per route: remote {routed['remote_route']}, local {routed['local_route']}")
    for mode in ("routed", "all_remote"):
        print(f"reasons ({mode}): {result[mode]['reasons']}")
