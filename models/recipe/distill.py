"""Train the default model's draft: a smaller model with the target's tokenizer, distilled
from the target's logits so that it predicts what the target would (which is what
speculative decoding rewards), and export it to GGUF.

    python -m copilot.models.recipe.distill --teacher models/default --out models/default

``--kd-weight 0`` trains the same small model on the corpus alone (the baseline a
distilled draft must beat); ``draft.json`` records settings, curve, held-out loss and the
held-out top-1 agreement with the target either way. Runs on a CUDA GPU when there is one.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from pathlib import Path

import torch
from tokenizers import Tokenizer
from torch.nn import functional as F
from tqdm import tqdm

from .data import ExampleSampler, load_corpus, stdlib_root
from .export import export_gguf, load_gguf
from .model import CodeLM, ModelConfig
from .train import GGUF_NAME, lr_at

log = logging.getLogger("copilot.models.recipe")
DRAFT_NAME = "copilot-draft.gguf"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--teacher", type=Path, default=Path("models/default"), help="folder of the target model")
    p.add_argument("--out", type=Path, default=Path("models/default"))
    p.add_argument("--name", default=DRAFT_NAME, help="file name of the draft GGUF in --out")
    p.add_argument("--corpus", type=Path, default=None, help="source tree (default: the Python stdlib)")
    p.add_argument("--steps", type=int, default=1200)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=3e-3)
    # Multiples of 256 throughout, so llama.cpp's K-quants apply to every matrix.
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--ffn-dim", type=int, default=512)
    p.add_argument("--kd-weight", type=float, default=0.9, help="share of the loss from the target's logits")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=4321)
    p.add_argument("--eval-every", type=int, default=300)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return p.parse_args(argv)


def distill_loss(
    student: torch.Tensor, teacher: torch.Tensor | None, targets: torch.Tensor, kd_weight: float, temperature: float
) -> torch.Tensor:
    """``kd_weight`` x KL(teacher || student) at ``temperature`` + the rest x cross-entropy;
    positions whose target is -1 (padding) count in neither."""
    vocab = student.shape[-1]
    hard = F.cross_entropy(student.reshape(-1, vocab), targets.reshape(-1), ignore_index=-1)
    if teacher is None or kd_weight == 0:
        return hard
    mask = (targets >= 0).reshape(-1)
    s = F.log_softmax(student.reshape(-1, vocab)[mask] / temperature, dim=-1)
    t = F.log_softmax(teacher.reshape(-1, vocab)[mask] / temperature, dim=-1)
    soft = F.kl_div(s, t, log_target=True, reduction="batchmean") * temperature**2
    return kd_weight * soft + (1 - kd_weight) * hard


@torch.no_grad()
def held_out(
    student: CodeLM, teacher: CodeLM, sampler: ExampleSampler, device: str, batches: int = 8
) -> dict[str, float]:
    """Held-out loss of the student and how often its top choice is the target's."""
    student.eval()
    losses, agree, positions = [], 0, 0
    for _ in range(batches):
        data = torch.tensor(next(sampler.batches(8)), device=device)
        inputs, targets = data[:, :-1].clamp(min=0), data[:, 1:]
        s_logits, t_logits = student(inputs), teacher(inputs)
        losses.append(
            float(F.cross_entropy(s_logits.reshape(-1, s_logits.shape[-1]), targets.reshape(-1), ignore_index=-1))
        )
        valid = targets >= 0
        agree += int(((s_logits.argmax(-1) == t_logits.argmax(-1)) & valid).sum())
        positions += int(valid.sum())
    student.train()
    return {"held_out_loss": sum(losses) / len(losses), "top1_agreement": agree / max(1, positions)}


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args = parse_args(argv)
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    teacher = load_gguf(args.teacher / GGUF_NAME).to(args.device)
    for param in teacher.parameters():
        param.requires_grad_(False)
    tokenizer = Tokenizer.from_file(str(args.teacher / "tokenizer.json"))
    training = json.loads((args.teacher / "training.json").read_text())
    fim_order, fim_rate = training["settings"]["fim_order"], training["settings"]["fim_rate"]
    seq_len = teacher.cfg.max_seq_len

    root = args.corpus or stdlib_root()
    train_texts, eval_texts = load_corpus(root, held_out=False), load_corpus(root, held_out=True)
    cfg = ModelConfig(
        vocab_size=teacher.cfg.vocab_size,
        dim=args.dim,
        n_layers=args.layers,
        n_heads=args.heads,
        ffn_dim=args.ffn_dim,
        max_seq_len=seq_len,
    )
    student = CodeLM(cfg).to(args.device)
    n_params = sum(p.numel() for p in student.parameters())
    log.info("draft %s: %.2fM parameters, kd weight %.2f", cfg, n_params / 1e6, args.kd_weight)
    optimizer = torch.optim.AdamW(student.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    train_sampler = ExampleSampler(train_texts, tokenizer, seq_len, fim_rate, args.seed, fim_order)
    eval_sampler_seed = args.seed + 1

    curve: list[dict[str, float]] = []
    started = time.monotonic()
    batches = train_sampler.batches(args.batch_size)
    progress = tqdm(range(args.steps), desc="distilling", unit="step", disable=not sys.stderr.isatty())
    for step in progress:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, args.steps, args.lr)
        data = torch.tensor(next(batches), device=args.device)
        inputs, targets = data[:, :-1].clamp(min=0), data[:, 1:]
        with torch.no_grad():
            t_logits = teacher(inputs) if args.kd_weight > 0 else None
        loss = distill_loss(student(inputs), t_logits, targets, args.kd_weight, args.temperature)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        optimizer.step()
        if step % args.eval_every == 0 or step == args.steps - 1:
            # The same held-out examples at every evaluation, for every run.
            sampler = ExampleSampler(eval_texts, tokenizer, seq_len, fim_rate, eval_sampler_seed, fim_order)
            point = {
                "step": step,
                "train_loss": float(loss.detach()),
                **held_out(student, teacher, sampler, args.device),
            }
            point["seconds"] = time.monotonic() - started
            curve.append(point)
            log.info("%s", point)

    student = student.cpu().eval()
    args.out.mkdir(parents=True, exist_ok=True)
    export_gguf(student, tokenizer, args.out / args.name, name=Path(args.name).stem, fim_order=fim_order)
    card = {
        "settings": {k: str(v) for k, v in vars(args).items()},
        "target": str(args.teacher / GGUF_NAME),
        "parameters": n_params,
        "tokens_seen": args.steps * args.batch_size * seq_len,
        "torch": torch.__version__,
        "curve": curve,
        "held_out": curve[-1],
    }
    (args.out / (Path(args.name).stem + ".json")).write_text(json.dumps(card, indent=2) + "\n")
    log.info("wrote %s", args.out / args.name)


if __name__ == "__main__":
    main()
