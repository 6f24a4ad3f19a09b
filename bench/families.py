"""Tiny models with real tokenizers: the catalogue's families as a user's pulled GGUF has them.

No hub is reachable here, but llama.cpp's vocabulary-only GGUFs (kept by ``bench.peer``) are
the real tokenizers of StarCoder2, DeepSeek-Coder and Qwen2. Each fixture is that vocabulary
(for Qwen2.5-Coder with its 22 added tokens at their real ids) plus the metadata llama.cpp's
converter writes for the family (``conversion/`` in the same sdist) and random weights
(2 layers, width 64), so llama.cpp, llama-server and our server load it like the real model
and only the suggestions are noise.

Variants:
- ``current``: what today's converter writes (token types by ``does_token_look_special``,
  ``tokenizer.ggml.pre``);
- ``legacy``: what converters before mid-2024 wrote: no ``tokenizer.ggml.pre``, added tokens
  that the tokenizer does not flag special typed USER_DEFINED (DeepSeek's ``<|EOT|>`` and FIM
  tokens, Qwen's FIM tokens), as in files still on the hub;
- ``forced=TEXT``: every greedy pick is that token (for testing stop tokens).

Files are built on first use and kept under the peer's cache folder, keyed by this file's
contents, so a change here rebuilds them. The folder is the one of the process's start (tests
give each test its own XDG_CACHE_HOME: the fixtures are shared all the same).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import gguf
import numpy as np

from copilot.inference.gguf_header import read_header

from . import peer

Variant = Literal["current", "legacy"]
NORMAL, CONTROL, USER_DEFINED, UNUSED = 1, 3, 4, 5
DIM, LAYERS, HEADS, KV_HEADS, FFN = 64, 2, 4, 2, 128
CACHE = peer.cache_dir()


@dataclass(frozen=True)
class Spec:
    """One family as its converted GGUFs look."""

    vocabulary: str  # ggml-vocab-<name>.gguf
    architecture: str
    name: str  # general.name: converters derive it from the model folder
    basename: str
    context_length: int
    bos: int
    eos: int
    add_bos: bool | None  # None: the converter writes no key
    pre: str
    # Added tokens written over the vocabulary file's: id -> (text, the tokenizer flags it special)
    added: dict[int, tuple[str, bool]] = field(default_factory=dict)
    # Ids of added tokens the tokenizer does not flag special (legacy converters: USER_DEFINED)
    unflagged: frozenset[int] = frozenset()


QWEN_ADDED = [
    ("<|endoftext|>", True), ("<|im_start|>", True), ("<|im_end|>", True), ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True), ("<|box_start|>", True), ("<|box_end|>", True), ("<|quad_start|>", True),
    ("<|quad_end|>", True), ("<|vision_start|>", True), ("<|vision_end|>", True), ("<|vision_pad|>", True),
    ("<|image_pad|>", True), ("<|video_pad|>", True), ("<tool_call>", False), ("</tool_call>", False),
    ("<|fim_prefix|>", False), ("<|fim_middle|>", False), ("<|fim_suffix|>", False), ("<|fim_pad|>", False),
    ("<|repo_name|>", False), ("<|file_sep|>", False),
]  # fmt: skip

FAMILIES: dict[str, Spec] = {
    "qwen2_5_coder": Spec(
        vocabulary="qwen2",
        architecture="qwen2",
        name="Qwen2.5 Coder 1.5B",
        basename="Qwen2.5-Coder",
        context_length=32768,
        bos=151643,
        eos=151643,
        add_bos=False,
        pre="qwen2",
        added={151643 + i: token for i, token in enumerate(QWEN_ADDED)},
    ),
    "starcoder2": Spec(
        vocabulary="starcoder",
        architecture="starcoder2",
        name="Starcoder2 3b",
        basename="starcoder2",
        context_length=16384,
        bos=0,
        eos=0,
        add_bos=None,
        pre="starcoder",
    ),
    "deepseek_coder": Spec(
        vocabulary="deepseek-coder",
        architecture="llama",
        name="Deepseek Coder 1.3b Base",
        basename="deepseek-coder",
        context_length=16384,
        bos=32013,
        eos=32014,
        add_bos=True,
        pre="deepseek-coder",
        # <｜fim▁hole｜> ... <|EOT|>: added, not flagged special by the tokenizer
        unflagged=frozenset(range(32000, 32013)) | frozenset(range(32015, 32022)),
    ),
}


def family_model(family: str, variant: Variant = "current", forced: str | None = None) -> Path:
    """The fixture's path, built on first use."""
    spec = FAMILIES[family]
    suffix = f"-forced-{hashlib.sha1(forced.encode()).hexdigest()[:8]}" if forced else ""
    path = _folder() / f"{family}-{variant}{suffix}.gguf"
    if not path.exists():
        _write(path, spec, variant, forced)
    return path


def _folder() -> Path:
    digest = hashlib.sha1(Path(__file__).read_bytes()).hexdigest()[:10]
    folder = CACHE / f"families-{digest}"
    if not folder.exists():
        for stale in CACHE.glob("families-*"):  # built by an older version of this file
            shutil.rmtree(stale, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def _looks_special(text: str) -> bool:
    """llama.cpp's converter: ``does_token_look_special`` (conversion/base.py)."""
    return (
        text in ("<pad>", "<mask>")
        or (text.startswith("<|") and text.endswith("|>"))
        or (text.startswith("<｜") and text.endswith("｜>"))
    )


def _vocabulary(spec: Spec, variant: Variant) -> tuple[list[str], list[int], list[str]]:
    fields = read_header(peer.vocabularies(CACHE) / f"ggml-vocab-{spec.vocabulary}.gguf", skip=frozenset()).fields
    tokens: list[str] = list(fields["tokenizer.ggml.tokens"])
    types = [int(t) for t in fields["tokenizer.ggml.token_type"]]
    merges: list[str] = list(fields["tokenizer.ggml.merges"])
    for token, (text, special) in spec.added.items():
        tokens[token] = text
        types[token] = CONTROL if special else USER_DEFINED
    for token, text in enumerate(tokens):
        if variant == "legacy":
            if token in spec.unflagged or (token in spec.added and not spec.added[token][1]):
                types[token] = USER_DEFINED  # before does_token_look_special
        elif types[token] == USER_DEFINED and _looks_special(text):
            types[token] = CONTROL
        if text.startswith("[PAD") and variant == "current":
            types[token] = UNUSED
    return tokens, types, merges


def _write(path: Path, spec: Spec, variant: Variant, forced: str | None) -> None:
    tokens, types, merges = _vocabulary(spec, variant)
    arch = spec.architecture
    fd, scratch = tempfile.mkstemp(dir=path.parent, suffix=".partial")
    os.close(fd)
    writer = gguf.GGUFWriter(scratch, arch)
    writer.add_name(spec.name)
    writer.add_basename(spec.basename)
    writer.add_context_length(spec.context_length)
    writer.add_embedding_length(DIM)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    if arch == "starcoder2":
        writer.add_layer_norm_eps(1e-5)
    else:
        writer.add_layer_norm_rms_eps(1e-6)
        writer.add_rope_dimension_count(DIM // HEADS)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    writer.add_tokenizer_model("gpt2")
    if variant == "current":
        writer.add_tokenizer_pre(spec.pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(spec.bos)
    writer.add_eos_token_id(spec.eos)
    if spec.add_bos is not None:
        writer.add_add_bos_token(spec.add_bos)
        writer.add_add_eos_token(False)
    for name, tensor in _weights(arch, len(tokens), tokens.index(forced) if forced else None).items():
        writer.add_tensor(name, tensor)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(scratch, path)


def _weights(arch: str, n_vocab: int, forced: int | None) -> dict[str, np.ndarray]:
    """Random weights; or, with ``forced``, weights under which every position's output is
    that token: every embedding is the same +-1 pattern, the blocks add nothing (zero
    projections), and only the forced token's output row matches the pattern."""
    rng = np.random.default_rng(0)
    pattern = np.where(np.arange(DIM) % 2 == 0, 1.0, -1.0).astype(np.float32)
    kv = DIM // HEADS * KV_HEADS

    def matrix(rows: int, cols: int) -> np.ndarray:
        if forced is not None:
            return np.zeros((rows, cols), dtype=np.float16)
        return (rng.standard_normal((rows, cols)) * 0.02).astype(np.float16)

    def vector(size: int, fill: float) -> np.ndarray:
        return np.full(size, fill, dtype=np.float32)

    if forced is None:
        embeddings, output = matrix(n_vocab, DIM), matrix(n_vocab, DIM)
    else:
        embeddings = np.tile(pattern, (n_vocab, 1)).astype(np.float16)
        output = np.zeros((n_vocab, DIM), dtype=np.float16)
        output[forced] = pattern
    weights = {"token_embd.weight": embeddings, "output_norm.weight": vector(DIM, 1.0), "output.weight": output}
    biased = arch == "starcoder2"
    if biased:
        weights["output_norm.bias"] = vector(DIM, 0.0)
    for layer in range(LAYERS):
        block = {
            "attn_norm.weight": vector(DIM, 1.0),
            "ffn_norm.weight": vector(DIM, 1.0),
            "attn_q.weight": matrix(DIM, DIM),
            "attn_k.weight": matrix(kv, DIM),
            "attn_v.weight": matrix(kv, DIM),
            "attn_output.weight": matrix(DIM, DIM),
            "ffn_up.weight": matrix(FFN, DIM),
            "ffn_down.weight": matrix(DIM, FFN),
        }
        if arch == "qwen2":
            block |= {"attn_q.bias": vector(DIM, 0.0), "attn_k.bias": vector(kv, 0.0), "attn_v.bias": vector(kv, 0.0)}
        if biased:
            for name in ("attn_norm", "ffn_norm", "attn_q", "attn_output", "ffn_down"):
                block[f"{name}.bias"] = vector(DIM, 0.0)
            block |= {"attn_k.bias": vector(kv, 0.0), "attn_v.bias": vector(kv, 0.0), "ffn_up.bias": vector(FFN, 0.0)}
        else:
            block["ffn_gate.weight"] = matrix(FFN, DIM)
        weights |= {f"blk.{layer}.{name}": tensor for name, tensor in block.items()}
    return weights
