"""A grown default model computes the default model's function, in torch and in llama.cpp."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from copilot.inference.llama import LlamaSession
from copilot.inference.vocabulary import Vocabulary
from copilot.models import DEFAULT_MODEL_PATH
from copilot.models.recipe.export import load_gguf
from copilot.models.recipe.grow import grow, grown_config, main
from copilot.models.recipe.model import CodeLM
from copilot.prompt.fim import build_fim_prompt

SHAPE = {"dim": 320, "n_layers": 5, "ffn_dim": 1024}  # small: 10 heads of 32, one extra layer


@pytest.fixture(scope="module")
def model() -> CodeLM:
    torch.set_num_threads(2)
    return load_gguf(DEFAULT_MODEL_PATH)


@pytest.fixture(scope="module")
def tokens() -> torch.Tensor:
    return torch.randint(0, 4096, (2, 96), generator=torch.Generator().manual_seed(0))


@torch.no_grad()
def test_grown_model_gives_the_same_logits(model: CodeLM, tokens: torch.Tensor) -> None:
    grown = grow(model, grown_config(model.cfg, **SHAPE))
    assert (grown.cfg.n_heads, grown.cfg.head_dim) == (10, model.cfg.head_dim)
    # The norm eps is scaled with the width, so the function is the same up to f32 rounding of
    # longer sums; logits are O(10), so 1e-4 is a few hundred ulps.
    torch.testing.assert_close(grown(tokens), model(tokens), rtol=1e-5, atol=1e-4)


@torch.no_grad()
def test_noise_moves_the_logits_by_a_controlled_amount(model: CodeLM, tokens: torch.Tensor) -> None:
    target = grown_config(model.cfg, **SHAPE)
    expected = model(tokens)
    small = (grow(model, target, noise=1e-3)(tokens) - expected).abs().max()
    large = (grow(model, target, noise=1e-2)(tokens) - expected).abs().max()
    assert 1e-3 < small < large


def test_the_target_must_keep_head_dim_and_vocabulary(model: CodeLM) -> None:
    target = grown_config(model.cfg, **SHAPE)
    with pytest.raises(ValueError):
        grow(model, replace(target, n_heads=5))
    with pytest.raises(ValueError):
        grow(model, replace(target, vocab_size=8192))
    with pytest.raises(ValueError):
        grow(model, replace(target, n_layers=2))


def greedy(session: LlamaSession, prompt: list[int], steps: int) -> tuple[list[int], np.ndarray]:
    session.keep(0)
    session.decode(prompt)
    first = session.logits().copy()
    out = [session.argmax()]
    for _ in range(steps - 1):
        session.decode(out[-1:])
        out.append(session.argmax())
    return out, first


def test_llama_cpp_predicts_the_same_tokens_with_the_grown_gguf(tmp_path: Path) -> None:
    path = tmp_path / "grown.gguf"
    main(["--out", str(path), "--dim", "320", "--layers", "5", "--ffn-dim", "1024"])  # f16, noise 0
    vocabulary = Vocabulary(DEFAULT_MODEL_PATH)
    assert Vocabulary(path).fim.order == vocabulary.fim.order
    encode = vocabulary.encode
    prompts = [
        encode("import os\n\ndef main():\n    "),
        encode("class Stack:\n    def push(self, item):\n        self."),
        build_fim_prompt(vocabulary.fim, encode("for i in range(10):\n    print("), encode(")\n")),
    ]
    sessions = [LlamaSession(p, 512, n_batch=512, n_threads=2, n_gpu_layers=0) for p in (DEFAULT_MODEL_PATH, path)]
    try:
        for prompt in prompts:
            (expected, logits), (got, grown_logits) = (greedy(s, prompt, 16) for s in sessions)
            assert got == expected
            np.testing.assert_allclose(grown_logits, logits, atol=1e-2)  # ggml's f16 kernels, other sum order
    finally:
        for session in sessions:
            session.close()
