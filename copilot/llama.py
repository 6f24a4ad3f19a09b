"""A thin, lean wrapper over llama.cpp's C API (through llama-cpp-python's ctypes bindings).

It keeps exactly what the decode loop needs: one model and context, the tokens whose KV
state is in the cache, batched decode with logits for the last position only, and KV
trimming. No Python-side sampling or score buffers: the hot loop costs microseconds.
Not thread-safe: only the inference worker thread may use a session.
"""

from __future__ import annotations

import ctypes
import logging
from pathlib import Path

import llama_cpp
import numpy as np

from .errors import ModelError

log = logging.getLogger(__name__)

_llama_log = logging.getLogger("copilot.llama_cpp")


@llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
def _route_llama_log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    # llama.cpp's own messages go to our log at debug level, never to stdout (the protocol).
    if _llama_log.isEnabledFor(logging.DEBUG):
        _llama_log.debug("%s", text.decode("utf-8", "replace").rstrip())


llama_cpp.llama_log_set(_route_llama_log, ctypes.c_void_p(0))
llama_cpp.llama_backend_init()


class LlamaSession:
    """One llama.cpp model with one context (sequence 0)."""

    def __init__(self, path: Path, n_ctx: int, n_batch: int, n_threads: int, n_gpu_layers: int) -> None:
        model_params = llama_cpp.llama_model_default_params()
        model_params.n_gpu_layers = n_gpu_layers
        self._model = llama_cpp.llama_model_load_from_file(str(path).encode(), model_params)
        if not self._model:
            raise ModelError(f"cannot load {path}: llama.cpp rejected the weights (run with --log-level debug)")
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = params.n_ubatch = n_batch
        params.n_threads = params.n_threads_batch = n_threads
        self._ctx = llama_cpp.llama_init_from_model(self._model, params)
        if not self._ctx:
            llama_cpp.llama_model_free(self._model)
            raise ModelError(f"cannot create a llama.cpp context of {n_ctx} tokens for {path}")
        self._memory = llama_cpp.llama_get_memory(self._ctx)
        self._vocab = llama_cpp.llama_model_get_vocab(self._model)
        self.n_ctx = llama_cpp.llama_n_ctx(self._ctx)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self._vocab)
        self.n_batch = n_batch
        self._batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        self._piece = ctypes.create_string_buffer(256)
        self.tokens: list[int] = []  # what the KV cache holds, position by position

    def keep(self, n: int) -> None:
        """Drop the KV state past the first ``n`` tokens."""
        if n < len(self.tokens):
            if not llama_cpp.llama_memory_seq_rm(self._memory, 0, n, -1):
                llama_cpp.llama_memory_clear(self._memory, True)
                n = 0
            del self.tokens[n:]

    def decode(self, tokens: list[int]) -> None:
        """Append ``tokens`` to the sequence; afterwards the last one's logits are available."""
        batch = self._batch
        for start in range(0, len(tokens), self.n_batch):
            chunk = tokens[start : start + self.n_batch]
            n_past = len(self.tokens)
            batch.n_tokens = len(chunk)
            for i, token in enumerate(chunk):
                batch.token[i] = token
                batch.pos[i] = n_past + i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = i == len(chunk) - 1
            status = llama_cpp.llama_decode(self._ctx, batch)
            if status != 0:
                self.keep(n_past)
                raise ModelError(f"llama_decode failed with status {status}")
            self.tokens.extend(chunk)

    def logits(self) -> np.ndarray:
        """The next-token logits after the last decoded position (a view: read it before the
        next decode)."""
        return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self._ctx, -1), shape=(self.n_vocab,))

    def argmax(self, among: np.ndarray | None = None) -> int:
        """The most likely next token (greedy), optionally among the ``among`` token ids."""
        logits = self.logits()
        if among is None or among.size == 0:
            return int(logits.argmax())
        return int(among[logits[among].argmax()])

    def piece(self, token: int) -> bytes:
        size = llama_cpp.llama_token_to_piece(self._vocab, token, self._piece, len(self._piece), 0, False)
        return self._piece.raw[: max(size, 0)]

    def close(self) -> None:
        if self._ctx:
            llama_cpp.llama_batch_free(self._batch)
            llama_cpp.llama_free(self._ctx)
            llama_cpp.llama_model_free(self._model)
            self._ctx = None
