"""Write the torch model and its tokenizer as a llama-architecture GGUF, and read one back.

llama.cpp applies RoPE to adjacent pairs of each head's dimensions, while the torch model
(like HF llama checkpoints) rotates the two halves of each head. The exporter permutes the
rows of wq/wk exactly as llama.cpp's HF converter does, so both compute the same function.
"""

from __future__ import annotations

import json
from pathlib import Path

import gguf
import numpy as np
import torch
from tokenizers import Tokenizer

from .model import CodeLM, ModelConfig
from .tokenizer import ENDOFTEXT, FILE_SEP, FIM_MIDDLE, FIM_PAD, FIM_PREFIX, FIM_SUFFIX, REPO_NAME, SPECIAL_TOKENS

ARCH = "llama"


def permute_qk(weight: np.ndarray, n_heads: int) -> np.ndarray:
    rows, cols = weight.shape
    return weight.reshape(n_heads, 2, rows // n_heads // 2, cols).swapaxes(1, 2).reshape(rows, cols)


def unpermute_qk(weight: np.ndarray, n_heads: int) -> np.ndarray:
    rows, cols = weight.shape
    return weight.reshape(n_heads, rows // n_heads // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)


def _tensor_names(layer: int) -> dict[str, str]:
    return {
        f"blocks.{layer}.attn_norm.weight": f"blk.{layer}.attn_norm.weight",
        f"blocks.{layer}.attn.wq.weight": f"blk.{layer}.attn_q.weight",
        f"blocks.{layer}.attn.wk.weight": f"blk.{layer}.attn_k.weight",
        f"blocks.{layer}.attn.wv.weight": f"blk.{layer}.attn_v.weight",
        f"blocks.{layer}.attn.wo.weight": f"blk.{layer}.attn_output.weight",
        f"blocks.{layer}.ffn_norm.weight": f"blk.{layer}.ffn_norm.weight",
        f"blocks.{layer}.ffn.w_gate.weight": f"blk.{layer}.ffn_gate.weight",
        f"blocks.{layer}.ffn.w_up.weight": f"blk.{layer}.ffn_up.weight",
        f"blocks.{layer}.ffn.w_down.weight": f"blk.{layer}.ffn_down.weight",
    }


def name_map(cfg: ModelConfig) -> dict[str, str]:
    names = {"embed.weight": "token_embd.weight", "norm.weight": "output_norm.weight"}
    for layer in range(cfg.n_layers):
        names.update(_tensor_names(layer))
    return names


def _add_tokenizer(writer: gguf.GGUFWriter, tokenizer: Tokenizer) -> None:
    spec = json.loads(tokenizer.to_str())
    vocab: dict[str, int] = spec["model"]["vocab"]
    tokens = [""] * len(vocab)
    for token, index in vocab.items():
        tokens[index] = token
    special = set(SPECIAL_TOKENS)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_types([3 if t in special else 1 for t in tokens])  # 3 = control
    merges = spec["model"]["merges"]
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in merges])
    ids = {t: vocab[t] for t in SPECIAL_TOKENS}
    writer.add_bos_token_id(ids[ENDOFTEXT])
    writer.add_eos_token_id(ids[ENDOFTEXT])
    writer.add_eot_token_id(ids[ENDOFTEXT])
    writer.add_pad_token_id(ids[FIM_PAD])
    writer.add_add_bos_token(False)
    writer.add_uint32(gguf.Keys.Tokenizer.FIM_PRE_ID, ids[FIM_PREFIX])
    writer.add_uint32(gguf.Keys.Tokenizer.FIM_SUF_ID, ids[FIM_SUFFIX])
    writer.add_uint32(gguf.Keys.Tokenizer.FIM_MID_ID, ids[FIM_MIDDLE])
    writer.add_uint32(gguf.Keys.Tokenizer.FIM_PAD_ID, ids[FIM_PAD])
    writer.add_uint32(gguf.Keys.Tokenizer.FIM_REP_ID, ids[REPO_NAME])
    writer.add_uint32(gguf.Keys.Tokenizer.FIM_SEP_ID, ids[FILE_SEP])


FIM_ORDER_KEY = "copilot.fim_order"  # "psm" or "spm": how the model was trained to see FIM prompts


def export_gguf(model: CodeLM, tokenizer: Tokenizer, path: Path, name: str, fim_order: str, f16: bool = True) -> None:
    """Write ``model`` to ``path``: matrices in f16 (or f32), norms in f32."""
    cfg = model.cfg
    writer = gguf.GGUFWriter(str(path), ARCH)
    writer.add_name(name)
    writer.add_description("copilot-lsp default code model, trained by models/recipe")
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if f16 else gguf.LlamaFileType.ALL_F32)
    writer.add_context_length(cfg.max_seq_len)
    writer.add_embedding_length(cfg.dim)
    writer.add_block_count(cfg.n_layers)
    writer.add_feed_forward_length(cfg.ffn_dim)
    writer.add_head_count(cfg.n_heads)
    writer.add_head_count_kv(cfg.n_heads)
    writer.add_rope_dimension_count(cfg.head_dim)
    writer.add_rope_freq_base(cfg.rope_theta)
    writer.add_layer_norm_rms_eps(cfg.norm_eps)
    writer.add_vocab_size(cfg.vocab_size)
    writer.add_string("copilot.model_config", json.dumps(cfg.to_dict()))
    writer.add_string(FIM_ORDER_KEY, fim_order)
    _add_tokenizer(writer, tokenizer)
    names = name_map(cfg)
    for torch_name, tensor in model.state_dict().items():
        data = tensor.detach().float().cpu().numpy()
        if torch_name.endswith(("attn.wq.weight", "attn.wk.weight")):
            data = permute_qk(data, cfg.n_heads)
        if data.ndim == 2 and f16:
            data = data.astype(np.float16)
        writer.add_tensor(names[torch_name], np.ascontiguousarray(data))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def load_gguf(path: Path) -> CodeLM:
    """The torch model stored in one of our GGUF files (weights upcast to f32)."""
    reader = gguf.GGUFReader(str(path))
    field = reader.fields["copilot.model_config"]
    cfg = ModelConfig(**json.loads(bytes(field.parts[field.data[0]]).decode()))
    model = CodeLM(cfg)
    by_gguf = {g: t for t, g in name_map(cfg).items()}
    state = {}
    for tensor in reader.tensors:
        shape = [int(d) for d in reversed(tensor.shape)]  # GGUF lists dims fastest-first
        data = np.asarray(tensor.data, dtype=np.float32).reshape(shape)
        torch_name = by_gguf[tensor.name]
        if torch_name.endswith(("attn.wq.weight", "attn.wk.weight")):
            data = unpermute_qk(data, cfg.n_heads)
        state[torch_name] = torch.from_numpy(np.array(data, copy=True))
    model.load_state_dict(state)
    return model.eval()
