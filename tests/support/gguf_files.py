"""Small but real GGUF files for tests of the model checks (llama.cpp really loads them)."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
from tokenizers import pre_tokenizers


def write_chat_model_without_fim(path: Path, seed: int = 0) -> Path:
    """A tiny llama-architecture model whose vocabulary has chat markers but no FIM tokens,
    like an instruct model's: byte tokens plus <|endoftext|>, <|im_start|>, <|im_end|>."""
    rng = np.random.default_rng(seed)
    tokens = [*pre_tokenizers.ByteLevel.alphabet(), "<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tokens = sorted(tokens[:-3]) + tokens[-3:]
    n_vocab, dim, ffn, heads = len(tokens), 32, 64, 2
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-chat")
    writer.add_context_length(128)
    writer.add_embedding_length(dim)
    writer.add_block_count(1)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(heads)
    writer.add_head_count_kv(heads)
    writer.add_rope_dimension_count(dim // heads)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_types([1] * (n_vocab - 3) + [3, 3, 3])
    writer.add_token_merges(["Ġ Ġ"])
    writer.add_bos_token_id(n_vocab - 3)
    writer.add_eos_token_id(n_vocab - 1)
    writer.add_add_bos_token(False)

    def weight(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    writer.add_tensor("token_embd.weight", weight(n_vocab, dim))
    writer.add_tensor("output_norm.weight", np.ones(dim, dtype=np.float32))
    writer.add_tensor("blk.0.attn_norm.weight", np.ones(dim, dtype=np.float32))
    writer.add_tensor("blk.0.ffn_norm.weight", np.ones(dim, dtype=np.float32))
    for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
        writer.add_tensor(f"blk.0.{name}.weight", weight(dim, dim))
    writer.add_tensor("blk.0.ffn_gate.weight", weight(ffn, dim))
    writer.add_tensor("blk.0.ffn_up.weight", weight(ffn, dim))
    writer.add_tensor("blk.0.ffn_down.weight", weight(dim, ffn))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
