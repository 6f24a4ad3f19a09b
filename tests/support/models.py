"""Real GGUF models derived from the default one, for tests that need a second model."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer

from copilot.models import DEFAULT_DIR, DEFAULT_MODEL_PATH
from copilot.models.recipe.export import export_gguf, load_gguf
from copilot.models.recipe.grow import grow, grown_config


def _export(model: torch.nn.Module, path: Path, name: str) -> Path:
    tokenizer = Tokenizer.from_file(str(DEFAULT_DIR / "tokenizer.json"))
    export_gguf(model, tokenizer, path, name, fim_order="spm")  # type: ignore[arg-type]
    return path


def write_disagreeing_draft(path: Path, noise: float = 0.02) -> Path:
    """A model with the default's vocabulary that predicts like it most of the time, but not
    always: a grown copy with noise (see models/recipe/grow.py)."""
    base = load_gguf(DEFAULT_MODEL_PATH)
    grown = grow(base, grown_config(base.cfg, dim=320, n_layers=5, ffn_dim=1024), noise=noise, seed=3)
    return _export(grown, path, "disagreeing-draft")


def write_eos_only_model(path: Path) -> Path:
    """The default model with its final norm zeroed: every logit is 0, so greedy decoding
    picks token 0, <|endoftext|>, at every step."""
    model = load_gguf(DEFAULT_MODEL_PATH)
    with torch.no_grad():
        model.norm.weight.zero_()
    return _export(model, path, "eos-only")
