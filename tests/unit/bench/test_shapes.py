"""The bench's speed-only Qwen2.5-Coder shapes: the tiny one really built, read back and run by llama.cpp."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import llama_cpp
import pytest

from bench.shapes import SHAPES, default_tokenizer, ensure_model, model_path, padded_vocabulary
from copilot.errors import ModelError
from copilot.inference.gguf_info import PADDING, read_info, tokenizer_digest


def test_the_tiny_shape_builds_reads_back_as_qwen2_and_generates(isolated_dirs: Path) -> None:
    path = ensure_model("tiny", "q8_0")
    assert path.parent == isolated_dirs / "xdg_cache_home" / "copilot-lsp" / "bench-models"
    assert sorted(p.name for p in path.parent.glob("*.gguf*")) == [path.name]  # no f16 or .partial left behind
    info = read_info(path)
    shape = SHAPES["tiny"]
    assert (info.architecture, info.file_type, info.fim_order) == ("qwen2", "Q8_0", "psm")
    assert info.parameters == shape.parameters
    assert info.vocab_size == shape.vocab_size() == len(default_tokenizer().tokens)
    tokens = default_tokenizer().tokens
    assert info.fim is not None
    assert [tokens[i] for i in (info.fim.prefix, info.fim.suffix, info.fim.middle)] == [
        "<|fim_prefix|>",
        "<|fim_suffix|>",
        "<|fim_middle|>",
    ]
    model = llama_cpp.Llama(model_path=str(path), n_ctx=256, n_threads=1, verbose=False)
    try:
        out = model("def add(a, b):", max_tokens=4, temperature=0)
        assert isinstance(out, dict)
        assert out["usage"]["completion_tokens"] > 0
    finally:
        model.close()


def test_a_built_model_is_reused_not_rebuilt() -> None:
    first = ensure_model("tiny", "q4_k_m")
    built = first.stat().st_mtime_ns
    assert ensure_model("tiny", "q4_k_m") == first
    assert first.stat().st_mtime_ns == built


def test_the_real_shapes_have_qwen_s_parameter_counts() -> None:
    assert SHAPES["1.5b"].parameters == 1_543_714_304  # Qwen2.5-Coder-1.5B, embeddings included
    assert SHAPES["7b"].parameters == 7_615_616_512  # Qwen2.5-Coder-7B
    assert not any(spec.name == "output.weight" for spec in SHAPES["1.5b"].tensors())  # tied embeddings


def test_padding_keeps_every_id_and_the_tokenizer_digest() -> None:
    base = default_tokenizer()
    tokens, types = padded_vocabulary(151936)
    assert len(tokens) == len(types) == 151936
    assert tokens[: len(base.tokens)] == base.tokens and types[: len(base.types)] == base.types
    assert all(PADDING.match(t) for t in tokens[len(base.tokens) :])
    assert tokenizer_digest(tokens) == tokenizer_digest(base.tokens)
    with pytest.raises(ValueError, match="cannot hold"):
        padded_vocabulary(len(base.tokens) - 1)


def test_too_little_disk_space_fails_before_writing_with_one_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "disk_usage", lambda _: SimpleNamespace(free=10 * 10**9))
    with pytest.raises(ModelError, match=r"needs 20\.\d GB free .* only 10\.0 GB"):
        ensure_model("7b", "q4_k_m")  # 15.2 GB f16 source + 5.3 GB Q4_K_M at most
    assert not list(model_path("7b", "f16").parent.glob("*.gguf*"))
