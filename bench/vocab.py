"""Big vocabularies: loading, ``models info`` and token healing on a 151k-token tokenizer.

The model is the Qwen2.5-Coder fixture (``bench/families.py``: Qwen2's real tokenizer with
Qwen2.5-Coder's added tokens, tiny random weights), so the figures are the tokenizer's cost
and not the weights'. Measured for this tree and, with ``--before REV``, for another
revision of the project (a git worktree), each in its own process, side by side:

- loading the vocabulary (``Vocabulary``: llama.cpp's vocab-only load and the special tokens);
- reading the header (``read_info``) and the whole ``copilot-lsp models info`` command;
- first-token latency (end of prefill to first token, where token healing runs) of the first
  mid-word request right after the model is ready, then of later mid-word requests, of
  requests whose anchor is one space (after ``x = ``), and of requests without an anchor.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .families import family_model
from .report import write

ROOT = Path(__file__).resolve().parent.parent
PROBE = Path(__file__).with_name("vocab_probe.py")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--before", default="", help="a git revision to measure side by side (e.g. main~3)")


def probe(tree: Path, model: Path, repeats: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, str(PROBE), str(tree), str(model), str(repeats)], capture_output=True, text=True, cwd=tree
    )
    if done.returncode != 0:
        raise SystemExit(f"vocab: the probe failed in {tree}:\n{done.stderr[-3000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(args: argparse.Namespace) -> None:
    repeats = 2 if args.smoke else args.repeats
    model = family_model("qwen2_5_coder")
    sides: dict[str, dict[str, Any]] = {"this tree": probe(ROOT, model, repeats)}
    if args.before:
        with tempfile.TemporaryDirectory() as scratch:
            tree = Path(scratch) / "before"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), args.before], check=True)
            try:
                sides[f"before ({args.before})"] = probe(tree, model, repeats)
            finally:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=True)
    names = list(sides)
    print(f"\n151,936-token vocabulary (Qwen2.5-Coder fixture), medians of {repeats}, ms\n")
    print("| measure | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for key in sides[names[0]]:
        cells = " | ".join(f"{side[key]:.1f}" for side in sides.values())
        print(f"| {key.removesuffix('_ms').replace('_', ' ')} | {cells} |")
    write("vocab", {"model": str(model), "repeats": repeats, "sides": sides}, args.out)
