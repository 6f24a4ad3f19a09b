"""What a GGUF file is, read from its header alone (``gguf_header`` maps the file and reads
no weights): architecture, size, quantisation, context, FIM tokens, and a tokenizer
identity that says whether a draft can speculate for a target. (The stop tokens and the
repository-level tokens the server uses come from llama.cpp's reading: ``special_tokens``.)

A file that cannot serve as a code-completion model is refused here with one message that
says what to do instead, before llama.cpp spends seconds loading it.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import gguf
import msgspec

from ..errors import ModelError
from .catalogue import detect_family, families
from .gguf_header import read_header

CHAT_MODEL_ADVICE = (
    "use a base code model with fill-in-the-middle tokens (for example Qwen2.5-Coder-1.5B, "
    "not -Instruct; `copilot-lsp models list` shows some) or the embedded default"
)
# llama.cpp accepts a draft whose vocabulary is at most this many tokens longer or shorter
# (padding tokens) when the common tokens are the same (common/speculative.cpp).
VOCAB_SIZE_SLACK = 128
PADDING = re.compile(r"^(\[PAD\d*\]|<\|?PAD(_TOKEN)?\d*\|?>|<pad_\d+>)$")


class FimIds(msgspec.Struct, frozen=True):
    prefix: int
    suffix: int
    middle: int
    repo_name: int = -1
    file_sep: int = -1


class ModelInfo(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    name: str
    architecture: str
    parameters: int
    file_type: str  # the dominant quantisation, e.g. Q8_0, Q4_K, F16
    tensor_types: dict[str, int]  # quantisation -> parameters stored in it
    size_bytes: int
    context_length: int  # trained context (0: unknown)
    vocab_size: int
    tokenizer: str  # tokenizer model, e.g. gpt2 (byte-level BPE) or llama (SentencePiece)
    tokenizer_digest: str  # hash of the token texts, padding left out
    fim: FimIds | None
    fim_order: str  # psm or spm
    repo_level: bool  # trained on <|repo_name|>/<|file_sep|> prompts (our own models say; others: has the tokens)
    family: str | None  # catalogue key, when the tokens or the name say which

    @property
    def can_complete(self) -> bool:
        return self.fim is not None


def read_info(path: Path, strict_architecture: bool = False) -> ModelInfo:
    """The header of ``path``; ModelError with what to do when it is not a usable GGUF.

    gguf-py's list of architectures lags llama.cpp's (the vendored llama.cpp knows ~25 more),
    so an architecture missing from it is refused only with ``strict_architecture``: after
    llama.cpp itself has rejected the file."""
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    size = path.stat().st_size
    with path.open("rb") as file:
        magic = file.read(4)
    if magic != b"GGUF":
        raise ModelError(f"{path} is not a GGUF file (llama.cpp reads only GGUF; convert or download a .gguf)")
    try:
        header = read_header(path)
    except ValueError as exc:
        if str(exc).startswith("truncated:"):
            raise ModelError(f"{path} is {exc}: the download or copy did not finish; fetch it again") from None
        raise ModelError(f"{path} is truncated or corrupt ({exc}): download or convert it again") from None
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc.strerror}") from None
    fields = header.fields
    architecture = str(fields.get("general.architecture") or "")
    if strict_architecture and architecture not in gguf.MODEL_ARCH_NAMES.values():
        raise ModelError(
            f"{path.name}: architecture {architecture!r} is not one llama.cpp supports; "
            "use a model of a supported architecture (llama, qwen2, starcoder2, gemma...)"
        )
    tokens: list[str] = fields.get("tokenizer.ggml.tokens") or []
    if not tokens:
        raise ModelError(f"{path.name} has no tokenizer in its metadata: convert it with a recent llama.cpp")
    per_type: Counter[str] = Counter()
    for tensor in header.tensors:
        per_type[tensor.ggml_type.name] += tensor.n_elements
    present = set(tokens)
    name = str(fields.get("general.name") or path.stem)
    family = detect_family((str(fields.get("general.basename") or ""), name, path.stem), present.issuperset)
    fim = _fim_ids(fields, tokens, family)
    return ModelInfo(
        path=str(path),
        name=name,
        architecture=architecture,
        parameters=sum(per_type.values()),
        file_type=_file_type(fields, per_type),
        tensor_types=dict(per_type.most_common()),
        size_bytes=size,
        context_length=int(fields.get(f"{architecture}.context_length") or 0),
        vocab_size=len(tokens),
        tokenizer=str(fields.get("tokenizer.ggml.model") or ""),
        tokenizer_digest=tokenizer_digest(tokens),
        fim=fim,
        fim_order="spm" if fields.get("copilot.fim_order") == "spm" else "psm",
        repo_level=_repo_level(fields, fim),
        family=family,
    )


def _file_type(fields: dict[str, Any], per_type: Counter[str]) -> str:
    """The quantisation the file was made with (general.file_type: Q4_K_M, Q8_0...), else the
    type most parameters are stored in, ignoring the f32 norms and biases."""
    code: Any = fields.get("general.file_type")
    try:
        return gguf.LlamaFileType(int(code)).name.removeprefix("MOSTLY_").removeprefix("ALL_")
    except (TypeError, ValueError):
        pass
    matrices = Counter({k: v for k, v in per_type.items() if k != "F32"}) or per_type
    return matrices.most_common(1)[0][0] if matrices else "unknown"


def _fim_ids(fields: dict[str, Any], tokens: list[str], family: str | None) -> FimIds | None:
    """FIM token ids from the metadata, else found by text (older conversions lack the keys,
    and llama.cpp itself then looks for the texts)."""
    keys = ("fim_pre", "fim_suf", "fim_mid", "fim_rep", "fim_sep")
    meta = [fields.get(f"tokenizer.ggml.{k}_token_id") for k in keys]
    if all(m is not None for m in meta[:3]):
        ids = [int(m) if m is not None else -1 for m in meta]
        return FimIds(*ids)
    if family is None:
        return None
    f = families()[family]
    index = {t: i for i, t in enumerate(tokens)}
    if not {f.fim_prefix, f.fim_suffix, f.fim_middle} <= index.keys():
        return None
    return FimIds(
        index[f.fim_prefix],
        index[f.fim_suffix],
        index[f.fim_middle],
        index.get(f.repo_name, -1),
        index.get(f.file_sep, -1),
    )


def _repo_level(fields: dict[str, Any], fim: FimIds | None) -> bool:
    if fim is None or fim.repo_name < 0 or fim.file_sep < 0:
        return False
    own_model = fields.get("copilot.fim_order") is not None  # reserves the tokens, says if it learned them
    return not own_model or fields.get("copilot.repo_level") == "true"


def tokenizer_digest(tokens: Sequence[str]) -> str:
    """Hash of the token texts without trailing padding tokens (checkpoints of one family
    pad their vocabularies to different sizes)."""
    end = len(tokens)
    while end and PADDING.match(tokens[end - 1]):
        end -= 1
    digest = hashlib.blake2b(digest_size=12)
    for token in tokens[:end]:
        digest.update(token.encode("utf-8", "surrogateescape") + b"\0")
    return digest.hexdigest()


class TokenizerIdentity(Protocol):
    """What a draft check needs: a ModelInfo (from the header) or a loaded Vocabulary."""

    @property
    def tokenizer(self) -> str: ...
    @property
    def vocab_size(self) -> int: ...
    @property
    def tokenizer_digest(self) -> str: ...


def require_completion_model(info: ModelInfo) -> None:
    """ModelError unless the model can fill in the middle."""
    if info.fim is None:
        raise ModelError(
            f"{Path(info.path).name} has no fill-in-the-middle tokens (a chat or instruct model?): {CHAT_MODEL_ADVICE}"
        )


def draft_mismatch(target: TokenizerIdentity, draft: TokenizerIdentity) -> str | None:
    """Why ``draft`` cannot speculate for ``target`` (None when it can): its token ids must
    mean the same text to both, as llama.cpp's own check requires."""
    if draft.tokenizer != target.tokenizer:
        return f"tokenizer {draft.tokenizer!r} differs from the target's {target.tokenizer!r}"
    if abs(draft.vocab_size - target.vocab_size) > VOCAB_SIZE_SLACK:
        return f"vocabulary of {draft.vocab_size} tokens differs from the target's {target.vocab_size}"
    if draft.tokenizer_digest != target.tokenizer_digest:
        return "its tokens differ from the target's (a model of another family?)"
    return None
