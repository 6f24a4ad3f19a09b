"""The default model's tokenizer and weights mean the same thing in torch and in llama.cpp."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer

from copilot.inference.llama import LlamaSession
from copilot.inference.vocabulary import Vocabulary
from copilot.models import DEFAULT_DIR, DEFAULT_MODEL_PATH
from copilot.models.recipe.data import load_corpus, stdlib_root
from copilot.models.recipe.export import export_gguf, load_gguf, permute_qk, unpermute_qk
from copilot.models.recipe.tokenizer import FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX
from copilot.prompt.fim import FimTokens, build_fim_prompt

SAMPLES = [
    "",
    "x",
    "def f(a, b):\n    return a + b\n",
    "naïve = 'café' # 日本語 \U0001f600\n\t\r\n",
    "    \n\n\n        pass",
    "<|fim_prefix|> is plain text here",
]


@pytest.fixture(scope="module")
def vocabulary() -> Vocabulary:
    return Vocabulary(DEFAULT_MODEL_PATH)


@pytest.fixture(scope="module")
def hf_tokenizer() -> Tokenizer:
    return Tokenizer.from_file(str(DEFAULT_DIR / "tokenizer.json"))


def test_llama_cpp_tokenizes_like_the_training_tokenizer(vocabulary: Vocabulary, hf_tokenizer: Tokenizer) -> None:
    texts = SAMPLES + load_corpus(stdlib_root(), held_out=True)[:25]
    for text in texts:
        expected = hf_tokenizer.encode(text, add_special_tokens=False).ids if text else []
        if "<|fim_prefix|>" in text:
            continue  # the training tokenizer parses special tokens in text; the server never does
        assert vocabulary.encode(text) == expected, text[:80]


def test_fim_ids_in_the_gguf_are_the_tokenizers(vocabulary: Vocabulary, hf_tokenizer: Tokenizer) -> None:
    assert vocabulary.fim == FimTokens(
        prefix=hf_tokenizer.token_to_id(FIM_PREFIX),
        suffix=hf_tokenizer.token_to_id(FIM_SUFFIX),
        middle=hf_tokenizer.token_to_id(FIM_MIDDLE),
        order=vocabulary.fim.order,
        file_sep=hf_tokenizer.token_to_id("<|file_sep|>"),
        repo_name=hf_tokenizer.token_to_id("<|repo_name|>"),
    )
    assert not vocabulary.repo_level  # reserved, but the recipe does not train the repository-level form


def test_qk_permutation_round_trips() -> None:
    weight = np.arange(64 * 8, dtype=np.float32).reshape(64, 8)
    permuted = permute_qk(weight, n_heads=4)
    assert not np.array_equal(permuted, weight)
    assert np.array_equal(unpermute_qk(permuted, n_heads=4), weight)


def llama_greedy(session: LlamaSession, prompt: list[int], steps: int, stop: frozenset[int]) -> list[int]:
    session.keep(0)
    session.decode(prompt)
    out: list[int] = []
    for _ in range(steps):
        token = session.argmax()
        if token in stop:
            break
        out.append(token)
        session.decode([token])
    return out


def test_torch_and_llama_cpp_give_the_same_greedy_tokens(
    tmp_path: Path, vocabulary: Vocabulary, hf_tokenizer: Tokenizer
) -> None:
    model = load_gguf(DEFAULT_MODEL_PATH)  # the committed weights, back in torch
    exported = tmp_path / "f32.gguf"
    export_gguf(model, hf_tokenizer, exported, name="parity", fim_order=vocabulary.fim.order, f16=False)
    session = LlamaSession(exported, n_ctx=512, n_batch=512, n_threads=2, n_gpu_layers=0)
    torch.set_num_threads(2)
    cases = [
        ("import os\n\ndef main():\n    ", "\n"),
        ("class Stack:\n    def push(self, item):\n        self.", ""),
        ("for i in range(10):\n    print(", ")\n"),
    ]
    try:
        for prefix, suffix in cases:
            prompt = build_fim_prompt(vocabulary.fim, vocabulary.encode(prefix), vocabulary.encode(suffix))
            expected = model.greedy(prompt, 24, stop=set(vocabulary.stop_tokens))
            assert llama_greedy(session, prompt, 24, vocabulary.stop_tokens) == expected
            assert len(expected) > 0
    finally:
        session.close()


@pytest.mark.parametrize("order", ["psm", "spm"])
def test_the_gguf_says_which_fim_layout_the_model_learned(tmp_path: Path, hf_tokenizer: Tokenizer, order: str) -> None:
    path = tmp_path / f"{order}.gguf"
    export_gguf(load_gguf(DEFAULT_MODEL_PATH), hf_tokenizer, path, name="layout", fim_order=order)
    assert Vocabulary(path).fim.order == order
