"""Which tokens of a model are markers, not text, decided once when the model loads.

llama.cpp knows a model's end-of-generation tokens by their type and a list of texts; the
model's family (the catalogue) knows the rest: StarCoder2's ``<repo_name>``/``<file_sep>``,
which llama.cpp does not recognise, and the stop tokens of files from older converters,
which typed DeepSeek's ``<|EOT|>`` and FIM tokens as ordinary added text (USER_DEFINED).
Such a token is matched by llama.cpp's tokenizer even in plain text, so its text is
"protected": user code that contains it is encoded as text (``Vocabulary.encode``).

One set of stop tokens comes out, the one the decode loop uses and ``models info`` shows.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterable

import llama_cpp
import msgspec
import numpy as np

from .catalogue import Family

NORMAL = llama_cpp.LLAMA_TOKEN_ATTR_NORMAL
CONTROL = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL
USER_DEFINED = llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
# What to download instead: ggml-org's Qwen2.5-Coder files are recent conversions.
CURRENT = "or use one the catalogue knows is current (copilot-lsp models pull qwen2.5-coder-1.5b)"


class SpecialTokens(msgspec.Struct, frozen=True, kw_only=True):
    stop: frozenset[int]  # a completion ends at any of these, which never reach the user
    repo_name: int  # repository-level tokens (-1: none)
    file_sep: int
    protected: tuple[str, ...]  # marker texts llama.cpp would match inside plain text


def looks_special(text: str) -> bool:
    """A marker's spelling (``<|x|>``, ``<｜x｜>``), as llama.cpp's converter judges it."""
    return (
        text in ("<pad>", "<mask>")
        or (text.startswith("<|") and text.endswith("|>"))
        or (text.startswith("<｜") and text.endswith("｜>"))
    )


class VocabHandle:
    """The few llama.cpp look-ups the decisions need, on a loaded vocabulary."""

    def __init__(self, vocab: llama_cpp.llama_vocab_p) -> None:
        self.vocab = vocab
        self.size = llama_cpp.llama_vocab_n_tokens(vocab)
        get_attr = llama_cpp.llama_vocab_get_attr
        # One C call per token (~0.1 s on a 151k vocabulary), the only per-token pass at load.
        self.attrs = np.fromiter((get_attr(vocab, t) for t in range(self.size)), dtype=np.int32, count=self.size)

    def text(self, token: int) -> str:
        return bytes(llama_cpp.llama_vocab_get_text(self.vocab, token)).decode("utf-8", "replace")

    def single_token(self, text: str) -> int:
        """The id of the token spelled exactly ``text`` (markers included), else -1."""
        data = text.encode()
        buffer = (llama_cpp.llama_token * 4)()
        count = llama_cpp.llama_tokenize(self.vocab, data, len(data), buffer, 4, False, True)
        if count == 1 and self.text(buffer[0]) == text:
            return int(buffer[0])
        return -1

    def ids(self, texts: Iterable[str]) -> set[int]:
        return {t for text in texts if (t := self.single_token(text)) >= 0}


def special_tokens(handle: VocabHandle, family: Family | None, fim: Iterable[int]) -> SpecialTokens:
    vocab = handle.vocab
    attrs = handle.attrs
    repo_name = llama_cpp.llama_vocab_fim_rep(vocab)
    file_sep = llama_cpp.llama_vocab_fim_sep(vocab)
    if family is not None:  # llama.cpp's ids, else the family's spelling
        repo_name = repo_name if repo_name >= 0 else handle.single_token(family.repo_name) if family.repo_name else -1
        file_sep = file_sep if file_sep >= 0 else handle.single_token(family.file_sep) if family.file_sep else -1
    by_id = {
        llama_cpp.llama_vocab_eos(vocab),
        llama_cpp.llama_vocab_eot(vocab),
        llama_cpp.llama_vocab_fim_pad(vocab),
    }
    candidates = {int(t) for t in np.flatnonzero(attrs != NORMAL)} | {t for t in by_id if t >= 0}
    eog = {t for t in candidates if llama_cpp.llama_vocab_is_eog(vocab, t)}
    control = {int(t) for t in np.flatnonzero(attrs & CONTROL)}
    # llama.cpp promotes some ordinary tokens to end-of-generation by their text: Qwen's
    # "</s>" is plain text (HTML's strikethrough), not an end marker of that model.
    promoted = {
        t for t in eog | control if attrs[t] & NORMAL and t not in by_id and not looks_special(handle.text(t))
    }
    family_stops = handle.ids(family.stop) if family is not None else set()
    markers = {t for t in (*fim, repo_name, file_sep) if t >= 0}
    # Added tokens spelled like markers (<|User|>...) that an older converter typed as text.
    user_markers = {int(t) for t in np.flatnonzero(attrs & USER_DEFINED) if looks_special(handle.text(int(t)))}
    stop = frozenset(((eog | control) - promoted) | family_stops | markers | user_markers)
    protected = tuple(sorted({handle.text(t) for t in stop if attrs[t] & USER_DEFINED and not attrs[t] & CONTROL}))
    return SpecialTokens(stop=stop, repo_name=repo_name, file_sep=file_sep, protected=protected)


def tokenizer_warnings(name: str, metadata: dict[str, str], tokens: SpecialTokens) -> list[str]:
    """What is wrong with the file's tokenizer metadata, what it costs, what to do instead."""
    warnings = []
    if metadata["tokenizer.ggml.model"] == "gpt2" and not metadata["tokenizer.ggml.pre"]:
        warnings.append(
            f"{name} has no tokenizer.ggml.pre (converted before April 2024): llama.cpp splits code into "
            "other tokens than the model was trained on (' = ' becomes 3 tokens) and suggestions get worse; "
            f"download a newer conversion of the model, convert it again with a recent llama.cpp, {CURRENT}"
        )
    if tokens.protected:
        warnings.append(
            f"{name} types its marker tokens {', '.join(tokens.protected)} as ordinary text (an older converter): "
            "copilot-lsp stops on them and keeps them out of prompts, but other llama.cpp tools may write them "
            f"into code; a newer conversion of the model fixes it, {CURRENT}"
        )
    return warnings


def metadata_value(model: llama_cpp.llama_model_p, key: str) -> str:
    """A GGUF metadata value as text ("" when the key is absent)."""
    buffer = ctypes.create_string_buffer(256)
    size = llama_cpp.llama_model_meta_val_str(model, key.encode(), buffer, len(buffer))
    return buffer.value.decode("utf-8", "replace") if size >= 0 else ""
