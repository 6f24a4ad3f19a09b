"""shapes: Qwen2.5-Coder-1.5B and -7B shaped models with random weights (speed only), quantised by llama.cpp.

No model hub is reachable from the bench machines, and speed does not depend on weight values:
a model with the exact architecture of Qwen2.5-Coder (llama.cpp ``qwen2``: tensor shapes, GQA,
q/k/v biases, tied or untied output) times like the real one. The weights are one block of
N(0, 0.02) noise tiled over every matrix, streamed to an f16 GGUF (a 7B never sits in memory),
then quantised by llama.cpp's own quantiser (:func:`copilot.models.quantize.quantize`). The
tokenizer is the embedded default model's, padded with unused tokens to the shape's vocabulary,
so the FIM, stop and padding ids stay what llama.cpp and the server look for.

Other suites call :func:`ensure_model`; files are cached under
``$XDG_CACHE_HOME/copilot-lsp/bench-models/`` and only complete files ever carry the final name.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import math
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple

import gguf
import numpy as np

import copilot.inference.llama  # noqa: F401  (routes llama.cpp's log, the quantiser's line per tensor, to debug logging)
from copilot.errors import ModelError
from copilot.inference.gguf_info import read_info
from copilot.models import DEFAULT_MODEL_PATH
from copilot.models.quantize import quantize
from copilot.paths import cache_dir

from .report import write

QTYPES = ("q4_k_m", "q8_0", "f16")
# Upper bounds of the file size per parameter, for the free-space check (Q4_K_M mixes Q4_K
# with Q6_K: real Qwen2.5-Coder files are 0.61-0.64 bytes per parameter).
BYTES_PER_PARAMETER = {"f16": 2.0, "q8_0": 1.07, "q4_k_m": 0.7}
NOISE_VALUES = 1 << 22  # 8 MB of f16 noise, tiled over every tensor
PAD_TOKEN_TYPE = 5  # llama.cpp's UNUSED, as convert_hf_to_gguf.py pads Qwen's vocabulary


@dataclass(frozen=True)
class Shape:
    """A Qwen2-architecture model's hyperparameters; ``vocab`` None: the default model's, rounded up to 256."""

    stem: str  # file name stem, e.g. qwen2.5-coder-1.5b-shape
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int | None
    tied: bool  # the output projection is token_embd (no output.weight)
    context: int = 32768
    rope_base: float = 1e6
    rms_eps: float = 1e-6

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    def vocab_size(self) -> int:
        return self.vocab or -(-len(default_tokenizer().tokens) // 256) * 256

    def tensors(self) -> list[TensorSpec]:
        """What llama.cpp's qwen2 loader expects, in numpy (row-major) shape order."""
        h, q, kv, ffn = self.hidden, self.heads * self.head_dim, self.kv_heads * self.head_dim, self.ffn
        specs = [TensorSpec("token_embd.weight", (self.vocab_size(), h)), TensorSpec("output_norm.weight", (h,))]
        if not self.tied:
            specs.append(TensorSpec("output.weight", (self.vocab_size(), h)))
        for i in range(self.layers):
            specs += [
                TensorSpec(f"blk.{i}.attn_norm.weight", (h,)),
                TensorSpec(f"blk.{i}.attn_q.weight", (q, h)),
                TensorSpec(f"blk.{i}.attn_q.bias", (q,)),
                TensorSpec(f"blk.{i}.attn_k.weight", (kv, h)),
                TensorSpec(f"blk.{i}.attn_k.bias", (kv,)),
                TensorSpec(f"blk.{i}.attn_v.weight", (kv, h)),
                TensorSpec(f"blk.{i}.attn_v.bias", (kv,)),
                TensorSpec(f"blk.{i}.attn_output.weight", (h, q)),
                TensorSpec(f"blk.{i}.ffn_norm.weight", (h,)),
                TensorSpec(f"blk.{i}.ffn_gate.weight", (ffn, h)),
                TensorSpec(f"blk.{i}.ffn_up.weight", (ffn, h)),
                TensorSpec(f"blk.{i}.ffn_down.weight", (h, ffn)),
            ]
        return specs

    @property
    def parameters(self) -> int:
        return sum(spec.elements for spec in self.tensors())


class TensorSpec(NamedTuple):
    name: str
    shape: tuple[int, ...]

    @property
    def elements(self) -> int:
        return math.prod(self.shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        """Matrices f16; norms and biases f32, as llama.cpp's converter writes 1-D tensors."""
        return np.dtype(np.float16 if len(self.shape) > 1 else np.float32)

    @property
    def nbytes(self) -> int:
        return self.elements * self.dtype.itemsize


SHAPES: dict[str, Shape] = {
    "tiny": Shape("qwen2.5-coder-tiny-shape", 256, 2, 4, 2, 512, None, tied=True),
    "1.5b": Shape("qwen2.5-coder-1.5b-shape", 1536, 28, 12, 2, 8960, 151936, tied=True),
    "7b": Shape("qwen2.5-coder-7b-shape", 3584, 28, 28, 4, 18944, 152064, tied=False),
}


@dataclass(frozen=True)
class Tokenizer:
    tokens: list[str]
    types: list[int]
    merges: list[str]
    scalars: dict[str, tuple[Any, gguf.GGUFValueType]]  # tokenizer.ggml.* ids and flags, with their types


@functools.cache
def default_tokenizer() -> Tokenizer:
    """The embedded default model's tokenizer: Qwen2.5-Coder's FIM and stop token texts, byte-level BPE."""
    reader = gguf.GGUFReader(str(DEFAULT_MODEL_PATH))
    arrays = {"tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges"}
    scalars: dict[str, tuple[Any, gguf.GGUFValueType]] = {
        key: (field.contents(), field.types[0])
        for key, field in reader.fields.items()
        if key.startswith("tokenizer.ggml.") and key not in arrays and field.types[0] != gguf.GGUFValueType.ARRAY
    }
    field = reader.fields
    return Tokenizer(
        tokens=field["tokenizer.ggml.tokens"].contents(),
        types=field["tokenizer.ggml.token_type"].contents(),
        merges=field["tokenizer.ggml.merges"].contents(),
        scalars=scalars,
    )


def padded_vocabulary(size: int) -> tuple[list[str], list[int]]:
    """The default tokens, then ``[PADn]`` unused tokens up to ``size`` (the padding text the
    converter writes and :data:`copilot.inference.gguf_info.PADDING` leaves out of the tokenizer digest)."""
    base = default_tokenizer()
    if size < len(base.tokens):
        raise ValueError(f"a vocabulary of {size} cannot hold the default model's {len(base.tokens)} tokens")
    extra = range(len(base.tokens), size)
    return [*base.tokens, *(f"[PAD{i}]" for i in extra)], [*base.types, *(PAD_TOKEN_TYPE for _ in extra)]


def _add_metadata(writer: gguf.GGUFWriter, shape: Shape) -> None:
    """Qwen2's hyperparameters and the padded default tokenizer. No ``copilot.fim_order``: that
    key marks our own SPM-trained model, and these stand in for Qwen, which is PSM."""
    writer.add_name(f"{shape.stem} (random weights, speed only)")
    writer.add_description("copilot-lsp bench: Qwen2.5-Coder architecture with random weights, for speed only")
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    writer.add_context_length(shape.context)
    writer.add_embedding_length(shape.hidden)
    writer.add_block_count(shape.layers)
    writer.add_feed_forward_length(shape.ffn)
    writer.add_head_count(shape.heads)
    writer.add_head_count_kv(shape.kv_heads)
    writer.add_rope_freq_base(shape.rope_base)
    writer.add_layer_norm_rms_eps(shape.rms_eps)
    tokenizer = default_tokenizer()
    tokens, types = padded_vocabulary(shape.vocab_size())
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(tokenizer.merges)
    for key, (value, value_type) in tokenizer.scalars.items():
        writer.add_key_value(key, value, value_type)


@functools.cache
def _noise() -> np.ndarray[Any, np.dtype[np.float16]]:
    return (np.random.default_rng(0).standard_normal(NOISE_VALUES, dtype=np.float32) * 0.02).astype(np.float16)


def _write_values(out: IO[bytes], spec: TensorSpec, start: int) -> None:
    """Norms 1.0; everything else the noise block from ``start`` on, wrapped, in 8 MB chunks."""
    if spec.name.endswith("norm.weight"):
        np.ones(spec.elements, dtype=spec.dtype).tofile(out)
        return
    noise, left, position = _noise(), spec.elements, start % NOISE_VALUES
    while left:
        n = min(left, NOISE_VALUES - position)
        noise[position : position + n].astype(spec.dtype, copy=False).tofile(out)
        left, position = left - n, 0


def write_f16(shape: Shape, path: Path) -> Path:
    """Stream ``shape`` with random weights to an f16 GGUF at ``path``, tensor by tensor."""
    writer = gguf.GGUFWriter(str(path), "qwen2")
    _add_metadata(writer, shape)
    specs = shape.tensors()
    for spec in specs:
        writer.add_tensor_info(spec.name, spec.shape, spec.dtype, spec.nbytes)
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        assert writer.fout is not None
        out = writer.fout[0]
        for i, spec in enumerate(specs):
            writer.write_padding(out, out.tell())  # each tensor starts aligned, as write_tensor_data does
            _write_values(out, spec, start=i * 104729)  # a different slice per tensor
        writer.write_padding(out, out.tell())
    finally:
        writer.close()
    return path


def models_dir() -> Path:
    return cache_dir() / "bench-models"


def model_path(shape: str, qtype: str) -> Path:
    return models_dir() / f"{SHAPES[shape].stem}-{qtype}.gguf"


def _require_space(shape: Shape, qtype: str, with_f16: bool) -> None:
    """One clear message before writing gigabytes, not a disk-full error halfway."""
    needed = int(shape.parameters * BYTES_PER_PARAMETER[qtype] * 1.02) + (64 << 20)
    if with_f16 and qtype != "f16":
        needed += sum(spec.nbytes for spec in shape.tensors())
    free = shutil.disk_usage(models_dir()).free
    if free < needed:
        raise ModelError(
            f"building {shape.stem}-{qtype} needs {needed / 1e9:.1f} GB free in {models_dir()}, "
            f"only {free / 1e9:.1f} GB is: free some space or set XDG_CACHE_HOME to a larger disk"
        )


@contextlib.contextmanager
def _locked(shape: Shape) -> Iterator[None]:
    """Two callers (two bench runs) never build one shape at once."""
    with open(models_dir() / f".{shape.stem}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_model(shape: str, qtype: str, *, keep_f16: bool = False) -> Path:
    """The cached ``shape`` model quantised to ``qtype`` (q4_k_m, q8_0, f16), built when missing.

    The f16 source is written next to it under a ``.partial`` name and deleted after
    quantising, unless ``keep_f16`` (then it is cached too and later builds start from it)."""
    if shape not in SHAPES or qtype not in QTYPES:
        raise ModelError(f"unknown model {shape!r} {qtype!r}: shapes {', '.join(SHAPES)}; types {', '.join(QTYPES)}")
    target = model_path(shape, qtype)
    if target.exists():
        return target
    models_dir().mkdir(parents=True, exist_ok=True)
    with _locked(SHAPES[shape]):
        if not target.exists():  # else another caller built it while this one waited
            _build(shape, qtype, keep_f16)
    return target


def _build(shape: str, qtype: str, keep_f16: bool) -> None:
    spec, f16 = SHAPES[shape], model_path(shape, "f16")
    partial = f16.with_name(f16.name + ".partial")
    partial.unlink(missing_ok=True)  # left by an interrupted build
    _require_space(spec, qtype, with_f16=not f16.exists())
    try:
        if not f16.exists():
            print(f"shapes: writing {spec.stem}, random weights ({spec.parameters:,} parameters, f16)", flush=True)
            write_f16(spec, partial)
            if qtype == "f16" or keep_f16:
                os.replace(partial, f16)
        if qtype != "f16":
            print(f"shapes: quantising {spec.stem} to {qtype} with llama.cpp", flush=True)
            quantize(f16 if f16.exists() else partial, model_path(shape, qtype), qtype)
    finally:
        partial.unlink(missing_ok=True)


def build(shape: str, qtypes: list[str], keep_f16: bool) -> list[dict[str, Any]]:
    """Ensure ``shape`` in each type (one f16 source written for all of them) and describe
    each from its header, which must say qwen2 and the shape's parameter count."""
    f16 = model_path(shape, "f16")
    had_f16 = f16.exists()
    try:
        return [_describe(shape, qtype) for qtype in qtypes]
    finally:
        if not (keep_f16 or had_f16 or "f16" in qtypes):
            f16.unlink(missing_ok=True)


def _describe(shape: str, qtype: str) -> dict[str, Any]:
    started = time.perf_counter()
    path = ensure_model(shape, qtype, keep_f16=True)
    seconds = time.perf_counter() - started
    info = read_info(path)
    if info.architecture != "qwen2" or info.parameters != SHAPES[shape].parameters:
        raise SystemExit(f"shapes: {path} reads back as {info.architecture} with {info.parameters:,} parameters")
    return {
        "shape": shape,
        "type": qtype,
        "path": str(path),
        "parameters": info.parameters,
        "bytes": info.size_bytes,
        "file_type": info.file_type,
        "vocab_size": info.vocab_size,
        "seconds": round(seconds, 1),  # ~0 when it was already cached
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shape", choices=[*SHAPES, "all"], default="1.5b")
    parser.add_argument("--type", dest="qtype", choices=["q4_k_m", "q8_0", "f16", "all"], default="all",
                        help="all: q4_k_m and q8_0")  # fmt: skip
    parser.add_argument("--keep-f16", action="store_true", help="cache the f16 source too (later types start from it)")


def main(args: argparse.Namespace) -> None:
    shapes = ["tiny"] if args.smoke else list(SHAPES) if args.shape == "all" else [args.shape]
    qtypes = ["q4_k_m", "q8_0"] if args.smoke or args.qtype == "all" else [args.qtype]
    try:
        rows = [row for shape in shapes for row in build(shape, qtypes, args.keep_f16)]
    except ModelError as exc:
        raise SystemExit(f"shapes: {exc}") from None
    write("shapes", {"models": rows}, args.out or Path("bench/results/shapes.json"))
    print("| shape | type | parameters | size | build s | path |\n| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(
            f"| {row['shape']} | {row['type']} | {row['parameters']:,} | {row['bytes'] / 1e6:,.1f} MB | "
            f"{row['seconds']} | {row['path']} |"
        )
