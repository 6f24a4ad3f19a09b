"""Grow a trained CodeLM into a bigger one that computes the same function (Net2Net style).

This builds a stand-in target for speculative-decoding measurements: a model with real
100M-parameter shapes whose predictions equal the default model's (noise=0), or deviate from
them by a controlled amount (noise>0), without training anything.

Why the grown model computes the same function, for a residual stream widened from d to D dims:

- the embeddings are zero-padded, so the stream's new dims start at zero; every block that writes
  to the stream (wo, w_down) is zero outside the copied d x d / d x ffn block, so they stay zero;
- the RMS over D dims of a zero-padded vector is sqrt(d/D) times its RMS over d dims, so each RMSNorm
  weight is scaled by sqrt(d/D) and its eps by d/D: every layer, and the tied output projection after
  the final norm, reads exactly what it read before;
- new heads (same head_dim), new FFN units and new layers read the stream through random weights
  but write to it only through those zero blocks, so they add nothing.

With noise > 0 each of those zero blocks (the embeddings' padding, and wo and w_down outside the
copied block, in every layer) is drawn from N(0, noise^2) instead.

    python -m copilot.models.recipe.grow --out /tmp/standin/target-100m.gguf [--noise 0.02]
"""

from __future__ import annotations

import argparse
import math
from dataclasses import replace
from pathlib import Path

import gguf
import torch
from tokenizers import Tokenizer

from .. import DEFAULT_DIR, DEFAULT_MODEL_PATH
from .export import FIM_ORDER_KEY, export_gguf, load_gguf
from .model import CodeLM, ModelConfig

_WRITERS = ("attn.wo.weight", "ffn.w_down.weight", "embed.weight")  # what writes to the residual stream


def grown_config(base: ModelConfig, dim: int, n_layers: int, ffn_dim: int) -> ModelConfig:
    """``base`` at a bigger shape: same vocab, head_dim, RoPE and context length."""
    return replace(base, dim=dim, n_layers=n_layers, n_heads=dim // base.head_dim, ffn_dim=ffn_dim)


def _check(base: ModelConfig, target: ModelConfig) -> None:
    same = ("vocab_size", "head_dim", "rope_theta", "max_seq_len")
    if target.dim % target.n_heads or any(getattr(base, k) != getattr(target, k) for k in same):
        raise ValueError(f"target must keep {', '.join(same)} and have dim = n_heads * head_dim: {target}")
    if target.dim < base.dim or target.n_layers < base.n_layers or target.ffn_dim < base.ffn_dim:
        raise ValueError(f"target must not be smaller than the model: {target} < {base}")


@torch.no_grad()
def grow(model: CodeLM, target: ModelConfig, noise: float = 0.0, seed: int = 0) -> CodeLM:
    """A ``target``-shaped CodeLM computing ``model``'s function (noise=0) or a perturbation of it.

    The result's norm_eps is ``model``'s eps * d/D whatever ``target`` says: that keeps it exact.
    Original layers come first; the extra layers are appended after them.
    """
    base = model.cfg
    _check(base, target)
    cfg = replace(target, norm_eps=base.norm_eps * base.dim / target.dim)
    scale = math.sqrt(base.dim / cfg.dim)
    old = model.state_dict()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        grown = CodeLM(cfg)  # random init: the input weights of new heads, units and layers stay so
        for name, weight in grown.state_dict().items():  # these share storage with the parameters
            if name.endswith("norm.weight"):
                weight.fill_(scale)  # new dims and layers: the same scale as the copied ones
            elif name.endswith(_WRITERS):
                weight.normal_(0.0, noise)  # exactly zero when noise is 0
            if name in old:
                src = old[name] * scale if name.endswith("norm.weight") else old[name]
                weight[tuple(slice(0, n) for n in src.shape)] = src  # heads and units keep their slots
    return grown.eval()


def parameter_count(model: CodeLM) -> int:
    return sum(p.numel() for p in model.parameters())  # the tied embedding counts once


def _gguf_string(path: Path, key: str) -> str:
    field = gguf.GGUFReader(str(path)).fields[key]
    return bytes(field.parts[field.data[0]]).decode()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--from", dest="source", type=Path, default=DEFAULT_MODEL_PATH)
    parser.add_argument("--tokenizer", type=Path, default=DEFAULT_DIR / "tokenizer.json")
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--ffn-dim", type=int, default=2560)
    parser.add_argument("--noise", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    model = load_gguf(args.source)
    target = grown_config(model.cfg, args.dim, args.layers, args.ffn_dim)
    grown = grow(model, target, noise=args.noise, seed=args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fim_order = _gguf_string(args.source, FIM_ORDER_KEY)
    name = f"{args.source.stem}-grown-{args.dim}x{args.layers}"
    export_gguf(grown, Tokenizer.from_file(str(args.tokenizer)), args.out, name=name, fim_order=fim_order)
    print(
        f"{args.out}: {parameter_count(grown):,} parameters (from {parameter_count(model):,}), "
        f"dim {target.dim}, {target.n_heads} heads of {target.head_dim}, {target.n_layers} layers, "
        f"ffn {target.ffn_dim}, noise {args.noise}, fim_order {fim_order}"
    )


if __name__ == "__main__":
    main()
