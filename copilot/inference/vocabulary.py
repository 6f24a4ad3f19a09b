"""Opening a GGUF code model: its tokenizer, FIM tokens, stop tokens and identity.

The vocabulary loads without the weights (milliseconds), so a model that cannot do
fill-in-the-middle is refused before its weights are read.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import itertools
import os
import re
import threading
from pathlib import Path

import llama_cpp

from ..errors import ModelError
from ..logs import shared_thread
from ..prompt.fim import FimOrder, FimTokens
from ..prompt.healing import HealingIndex
from . import llama as _llama  # noqa: F401  (routes llama.cpp's log, initialises the backend)
from .catalogue import detect_family, families
from .gguf_info import CHAT_MODEL_ADVICE, read_info, tokenizer_digest
from .special_tokens import VocabHandle, metadata_value, special_tokens, tokenizer_warnings


def model_id(path: Path) -> str:
    """A short identity of the file's contents (size plus its first and last MiB)."""
    digest = hashlib.blake2b(digest_size=12)
    size = path.stat().st_size
    digest.update(str(size).encode())
    with path.open("rb") as file:
        digest.update(file.read(1 << 20))
        file.seek(max(0, size - (1 << 20)))
        digest.update(file.read(1 << 20))
    return f"{path.stem}-{digest.hexdigest()}"


def check_readable(path: Path) -> None:
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    if not os.access(path, os.R_OK):
        raise ModelError(f"model file is not readable: {path}")
    with path.open("rb") as file:
        if file.read(4) != b"GGUF":
            raise ModelError(f"{path} is not a GGUF file")


class Vocabulary:
    """Tokenizer and special tokens of a GGUF model, loaded without its weights or a context."""

    def __init__(self, path: Path) -> None:
        check_readable(path)
        params = llama_cpp.llama_model_default_params()
        params.vocab_only = True
        self._model = llama_cpp.llama_model_load_from_file(str(path).encode(), params)
        if not self._model:
            # The header says what is wrong (truncated, corrupt, unknown architecture...);
            # read only now: parsing a 150k-token vocabulary in Python takes seconds.
            read_info(path, strict_architecture=True)
            raise ModelError(f"cannot load {path}: llama.cpp rejected the file (run with --log-level debug)")
        self._vocab = vocab = llama_cpp.llama_model_get_vocab(self._model)
        self.path = path
        self.id = model_id(path)
        ids = (
            llama_cpp.llama_vocab_fim_pre(vocab),
            llama_cpp.llama_vocab_fim_suf(vocab),
            llama_cpp.llama_vocab_fim_mid(vocab),
        )
        if min(ids) < 0:
            raise ModelError(
                f"{path.name} has no fill-in-the-middle tokens (a chat or instruct model?): {CHAT_MODEL_ADVICE}"
            )
        handle = VocabHandle(vocab)
        names = (self.metadata("general.basename"), self.metadata("general.name"), path.stem)
        self.family = detect_family(names, lambda texts: all(handle.single_token(t) >= 0 for t in texts))
        special = special_tokens(handle, families().get(self.family or ""), ids)
        # The layout the model was trained for: our own models say so in their metadata;
        # PSM otherwise (what the model catalogue's families use).
        order: FimOrder = "spm" if self.metadata("copilot.fim_order") == "spm" else "psm"
        self.fim = FimTokens(
            prefix=ids[0],
            suffix=ids[1],
            middle=ids[2],
            order=order,
            file_sep=special.file_sep,
            repo_name=special.repo_name,
            # BOS where the model asks for it, as its own tokenizer and llama-server add it
            bos=llama_cpp.llama_vocab_bos(vocab) if llama_cpp.llama_vocab_get_add_bos(vocab) else -1,
        )
        # Models with repository-level tokens were trained on that form (Qwen2.5-Coder,
        # StarCoder2); our own recipe's models reserve the tokens but say when they learned them.
        own_model = bool(self.metadata("copilot.fim_order"))
        self.repo_level = self.fim.has_repo_tokens and (not own_model or self.metadata("copilot.repo_level") == "true")
        self.size = handle.size
        self.stop_tokens = special.stop
        self._protected = re.compile("|".join(map(re.escape, special.protected))) if special.protected else None
        keys = ("tokenizer.ggml.model", "tokenizer.ggml.pre")
        self.warnings = tokenizer_warnings(path.name, {k: self.metadata(k) for k in keys}, special)
        self._healing: HealingIndex | None = None
        self._healing_built = threading.Lock()
        arch = self.metadata("general.architecture")
        self.context_length = int(self.metadata(f"{arch}.context_length") or 0)  # 0: unknown

    def metadata(self, key: str) -> str:
        """A GGUF metadata value as text ("" when the key is absent)."""
        return metadata_value(self._model, key)

    def build_healing_index(self) -> threading.Thread:
        """Index the token pieces for token healing in the background (a 151k-token vocabulary
        takes a quarter of a second: not on a keystroke)."""
        thread = shared_thread(lambda: self.healing, "copilot-healing-index")  # the model's, not a session's
        thread.start()
        return thread

    @property
    def healing(self) -> HealingIndex:
        """The token pieces indexed for token healing (built on first use, or waited for)."""
        with self._healing_built:
            if self._healing is None:
                buffer = ctypes.create_string_buffer(256)
                to_piece = llama_cpp.llama_token_to_piece
                pieces = []
                for token in range(self.size):
                    size = to_piece(self._vocab, token, buffer, len(buffer), 0, False)
                    pieces.append(b"" if token in self.stop_tokens else buffer.raw[: max(size, 0)])
                self._healing = HealingIndex(pieces)
            return self._healing

    @property
    def vocab_size(self) -> int:
        return int(self.size)

    @property
    def tokenizer(self) -> str:
        """The tokenizer model: gpt2 (byte-level BPE), llama (SentencePiece)..."""
        return self.metadata("tokenizer.ggml.model")

    @functools.cached_property
    def tokenizer_digest(self) -> str:
        """A hash of the token texts (padding left out), equal to the one ``copilot-lsp models
        info`` reads from the header: a draft may speculate for a target with the same one."""
        texts: list[str] = [
            llama_cpp.llama_vocab_get_text(self._vocab, t).decode("utf-8", "surrogateescape") for t in range(self.size)
        ]
        return str(tokenizer_digest(texts))

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (no BOS; special-token text is treated as plain text)."""
        if self._protected is not None and self._protected.search(text):
            # llama.cpp matches USER_DEFINED markers even in plain text: cut each one after
            # its first character, so user code that spells "<|EOT|>" stays text.
            cuts = [0, *(m.start() + 1 for m in self._protected.finditer(text)), len(text)]
            return [t for a, b in itertools.pairwise(cuts) for t in self._encode(text[a:b])]
        return self._encode(text)

    def _encode(self, text: str) -> list[int]:
        if not text:
            return []
        data = text.encode("utf-8")
        capacity = len(data) + 1  # byte-level BPE: at most one token per byte
        buffer = (llama_cpp.llama_token * capacity)()
        count = llama_cpp.llama_tokenize(self._vocab, data, len(data), buffer, capacity, False, False)
        if count < 0:
            raise ModelError(f"tokenizer needs {-count} tokens for {len(data)} bytes")
        return list(buffer[:count])

    def detokenize(self, tokens: list[int]) -> str:
        """The text of ``tokens``, special tokens spelled out (for showing a prompt)."""
        buffer = ctypes.create_string_buffer(256)
        data = bytearray()
        for token in tokens:
            size = llama_cpp.llama_token_to_piece(self._vocab, token, buffer, len(buffer), 0, True)
            data += buffer.raw[: max(size, 0)]
        return data.decode("utf-8", "replace")

    def __del__(self) -> None:
        if getattr(self, "_model", None):
            llama_cpp.llama_model_free(self._model)
