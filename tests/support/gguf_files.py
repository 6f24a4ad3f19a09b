"""Small but real GGUF files for tests of the model checks (llama.cpp really loads them)."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
from tokenizers import pre_tokenizers

CHAT_MARKERS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
QWEN_FIM = ["<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"]


def write_tiny_model(
    path: Path,
    special: list[str],
    *,
    extra: list[str] = (),  # type: ignore[assignment]
    fim_ids_in_metadata: bool = False,
    architecture: str = "llama",
    name: str = "tiny",
    seed: int = 0,
) -> Path:
    """A 1-layer llama-shaped model: byte tokens, then ``extra`` plain tokens, then the
    ``special`` (control) tokens. With ``fim_ids_in_metadata`` the FIM ids are also written
    as metadata keys, as recent conversions do; otherwise only the token texts say."""
    rng = np.random.default_rng(seed)
    tokens = [*sorted(pre_tokenizers.ByteLevel.alphabet()), *extra, *special]
    n_plain = len(tokens) - len(special)
    n_vocab, dim, ffn, heads = len(tokens), 32, 64, 2
    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_name(name)
    writer.add_context_length(128)
    writer.add_embedding_length(dim)
    writer.add_block_count(1)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(heads)
    writer.add_head_count_kv(heads)
    writer.add_rope_dimension_count(dim // heads)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_types([1] * n_plain + [3] * len(special))
    writer.add_token_merges(["Ġ Ġ"])
    end = tokens.index("<|endoftext|>") if "<|endoftext|>" in tokens else n_vocab - 1
    writer.add_bos_token_id(end)
    writer.add_eos_token_id(tokens.index("<|im_end|>") if "<|im_end|>" in tokens else end)
    writer.add_add_bos_token(False)
    if fim_ids_in_metadata:
        writer.add_uint32(gguf.Keys.Tokenizer.FIM_PRE_ID, tokens.index("<|fim_prefix|>"))
        writer.add_uint32(gguf.Keys.Tokenizer.FIM_SUF_ID, tokens.index("<|fim_suffix|>"))
        writer.add_uint32(gguf.Keys.Tokenizer.FIM_MID_ID, tokens.index("<|fim_middle|>"))

    def weight(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    writer.add_tensor("token_embd.weight", weight(n_vocab, dim))
    writer.add_tensor("output_norm.weight", np.ones(dim, dtype=np.float32))
    writer.add_tensor("blk.0.attn_norm.weight", np.ones(dim, dtype=np.float32))
    writer.add_tensor("blk.0.ffn_norm.weight", np.ones(dim, dtype=np.float32))
    for tensor in ("attn_q", "attn_k", "attn_v", "attn_output"):
        writer.add_tensor(f"blk.0.{tensor}.weight", weight(dim, dim))
    writer.add_tensor("blk.0.ffn_gate.weight", weight(ffn, dim))
    writer.add_tensor("blk.0.ffn_up.weight", weight(ffn, dim))
    writer.add_tensor("blk.0.ffn_down.weight", weight(dim, ffn))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_chat_model_without_fim(path: Path, seed: int = 0) -> Path:
    """Like an instruct model's vocabulary: byte tokens plus chat markers, no FIM tokens."""
    return write_tiny_model(path, CHAT_MARKERS, name="tiny-chat", seed=seed)


def write_fim_model(path: Path, extra: list[str] = (), **options: object) -> Path:  # type: ignore[assignment]
    """A tiny completion model with Qwen2.5-Coder's FIM and stop tokens."""
    return write_tiny_model(path, ["<|endoftext|>", *QWEN_FIM, *CHAT_MARKERS[1:]], extra=extra, **options)  # type: ignore[arg-type]
