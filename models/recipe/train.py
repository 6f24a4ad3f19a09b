"""Train the embedded default model and export it to GGUF: one command, seeded.

    python -m copilot.models.recipe.train --out models/default

Writes ``tokenizer.json``, ``copilot-default.gguf`` and ``training.json`` (the settings,
loss curve, held-out loss and held-out line-completion quality) to ``--out``. The defaults
reproduce the committed model on 2 CPU cores in about 50 minutes; on a GPU raise
``--steps`` and the model size.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F
from tqdm import tqdm

from .data import ExampleSampler, load_corpus, stdlib_root
from .evaluate import evaluate
from .export import export_gguf
from .model import CodeLM, ModelConfig
from .tokenizer import train_tokenizer

log = logging.getLogger("copilot.models.recipe")
GGUF_NAME = "copilot-default.gguf"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("models/default"))
    p.add_argument("--corpus", type=Path, default=None, help="source tree (default: the Python stdlib)")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seq-len", type=int, default=512)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--vocab-size", type=int, default=4096)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--ffn-dim", type=int, default=768)
    p.add_argument("--fim-rate", type=float, default=0.7)
    p.add_argument(
        "--fim-order",
        choices=["spm", "psm"],
        default="spm",
        help="prompt layout (spm: a small model learns it far faster; see copilot/prompt/fim.py)",
    )
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return p.parse_args(argv)


def lr_at(step: int, total: int, peak: float) -> float:
    warmup = max(1, total // 50)
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def batch_loss(model: CodeLM, batch: list[list[int]], device: str) -> torch.Tensor:
    data = torch.tensor(batch, device=device)
    inputs, targets = data[:, :-1].clamp(min=0), data[:, 1:]
    logits = model(inputs)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-1)


@torch.no_grad()
def held_out_loss(model: CodeLM, sampler: ExampleSampler, device: str, batches: int = 8) -> float:
    model.eval()
    losses = [float(batch_loss(model, next(sampler.batches(8)), device)) for _ in range(batches)]
    model.train()
    return sum(losses) / len(losses)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args = parse_args(argv)
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    root = args.corpus or stdlib_root()
    train_texts = load_corpus(root, held_out=False)
    eval_texts = load_corpus(root, held_out=True)
    log.info("corpus %s: %d training files, %d held out", root, len(train_texts), len(eval_texts))

    tokenizer = train_tokenizer(train_texts, args.vocab_size)
    args.out.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(args.out / "tokenizer.json"))

    cfg = ModelConfig(
        vocab_size=tokenizer.get_vocab_size(),
        dim=args.dim,
        n_layers=args.layers,
        n_heads=args.heads,
        ffn_dim=args.ffn_dim,
        max_seq_len=args.seq_len,
    )
    model = CodeLM(cfg).to(args.device)
    n_params = sum(p.numel() for p in model.parameters())
    log.info("model %s: %.2fM parameters", cfg, n_params / 1e6)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    train_sampler = ExampleSampler(train_texts, tokenizer, args.seq_len, args.fim_rate, args.seed, args.fim_order)
    eval_sampler = ExampleSampler(eval_texts, tokenizer, args.seq_len, args.fim_rate, args.seed + 1, args.fim_order)

    curve: list[dict[str, float]] = []
    started = time.monotonic()
    batches = train_sampler.batches(args.batch_size)
    progress = tqdm(range(args.steps), desc="training", unit="step", disable=not sys.stderr.isatty())
    for step in progress:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, args.steps, args.lr)
        loss = batch_loss(model, next(batches), args.device)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % args.eval_every == 0 or step == args.steps - 1:
            point = {
                "step": step,
                "train_loss": float(loss.detach()),
                "held_out_loss": held_out_loss(model, eval_sampler, args.device),
                "seconds": time.monotonic() - started,
            }
            curve.append(point)
            progress.set_postfix(held_out_loss=f"{point['held_out_loss']:.3f}")
            log.info("%s", point)

    model = model.cpu().eval()
    export_gguf(model, tokenizer, args.out / GGUF_NAME, name="copilot-default", fim_order=args.fim_order)
    card = {
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "corpus": str(root),
        "training_files": len(train_texts),
        "held_out_files": len(eval_texts),
        "parameters": n_params,
        "tokens_seen": args.steps * args.batch_size * args.seq_len,
        "torch": torch.__version__,
        "curve": curve,
    }
    card["settings"]["corpus"] = "python stdlib" if args.corpus is None else str(args.corpus)
    card["corpus"] = card["settings"]["corpus"]
    card["held_out_quality"] = evaluate(args.out / GGUF_NAME, samples=300, seed=11, corpus=args.corpus)
    (args.out / "training.json").write_text(json.dumps(card, indent=2) + "\n")
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
