"""A thin, lean wrapper over llama.cpp's C API (through llama-cpp-python's ctypes bindings).

It keeps exactly what the decode loop needs: one model and context, the tokens whose KV
state is in the cache, batched decode with logits for the last position only, and KV
trimming. No Python-side sampling or score buffers: the hot loop costs microseconds.
Not thread-safe: only the inference worker thread may use a session.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import llama_cpp
import numpy as np

from ..errors import ModelError

log = logging.getLogger(__name__)

_llama_log = logging.getLogger("copilot.llama_cpp")


# ggml's log levels (DEBUG 1, INFO 2, WARN 3, ERROR 4; CONT 5 continues the last message).
_LEVELS = {1: logging.DEBUG, 2: logging.DEBUG, 3: logging.WARNING, 4: logging.ERROR}
_last_level = [logging.DEBUG]
_warned: set[str] = set()  # each file is read twice (vocabulary, then weights): say things once
_aborting: set[int] = set()  # sessions asked to abort: llama.cpp's "failed to decode" lines are expected then


@llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
def _route_llama_log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    # llama.cpp's messages go to our log, never to stdout (the protocol): its warnings (a
    # file's missing pre-tokenizer, a mistyped token...) at warning level, the rest at debug.
    python_level = _last_level[0] if level == 5 else _LEVELS.get(level, logging.DEBUG)
    if python_level > logging.DEBUG and _aborting:
        python_level = logging.DEBUG  # an abort we asked for, reported by llama.cpp as a failure
    _last_level[0] = python_level
    if _llama_log.isEnabledFor(python_level):
        message = text.decode("utf-8", "replace").rstrip()
        if python_level > logging.DEBUG:
            if not message.partition(": ")[2].strip(" *") or message in _warned:
                return  # the banner lines around a warning, or said already
            if len(_warned) < 1000:
                _warned.add(message)
        _llama_log.log(python_level, "%s", message)


llama_cpp.llama_log_set(_route_llama_log, ctypes.c_void_p(0))
llama_cpp.llama_backend_init()

# ggml polls the abort callback between graph nodes, hundreds of times a forward pass. A
# Python callback would take the GIL each time (stalling on the event loop's work, and
# slowing every token); libc's strlen reads a flag in C memory instead: "" -> 0 (go on),
# "x" -> 1 (abort), returned in the low byte of the return register as a C bool is.
_FLAG_ABORT = ctypes.cast(ctypes.CDLL(None).strlen, llama_cpp.ggml_abort_callback)


class DecodeAborted(ModelError):
    """``abort()`` was called during a decode."""


class Part(NamedTuple):
    """A sequence's share of a batch: ``tokens`` appended to sequence ``seq``; logits for the
    rows from ``logits_from`` on (``len(tokens)``: none, a prefill chunk that is not the last)."""

    seq: int
    tokens: Sequence[int]
    logits_from: int


class LlamaSession:
    """One llama.cpp model with one context holding ``n_seq`` independent sequences.

    Each sequence has its own ``n_ctx`` positions (the KV cache is split, not unified), so
    several documents keep their KV state side by side and switching costs nothing.
    """

    def __init__(
        self,
        path: Path,
        n_ctx: int,
        n_batch: int,
        n_threads: int,
        n_gpu_layers: int,
        n_seq: int = 1,
        kv_unified: bool = False,
    ) -> None:
        model_params = llama_cpp.llama_model_default_params()
        model_params.n_gpu_layers = n_gpu_layers
        self._model = llama_cpp.llama_model_load_from_file(str(path).encode(), model_params)
        if not self._model:
            raise ModelError(f"cannot load {path}: llama.cpp rejected the weights (run with --log-level debug)")
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx * n_seq
        params.n_seq_max = n_seq
        # Split by default: every sequence keeps its n_ctx positions (a prompt fills most of
        # them by design) and attends to its own cells only; ``bench batching`` compares.
        params.kv_unified = kv_unified
        params.n_batch = params.n_ubatch = n_batch
        params.n_outputs_max = params.n_outputs_max_per_seq = n_batch  # a verify batch needs every row
        params.n_threads = params.n_threads_batch = n_threads
        # llama.cpp polls this flag between graph nodes: a cancel stops even a long prefill
        # batch or a big model's forward pass part-way, instead of after it.
        self._abort_flag = ctypes.create_string_buffer(2)
        params.abort_callback = _FLAG_ABORT
        params.abort_callback_data = ctypes.addressof(self._abort_flag)
        self._ctx = llama_cpp.llama_init_from_model(self._model, params)
        if not self._ctx:
            llama_cpp.llama_model_free(self._model)
            raise ModelError(f"cannot create a llama.cpp context of {n_seq} x {n_ctx} tokens for {path}")
        self._memory = llama_cpp.llama_get_memory(self._ctx)
        self._vocab = llama_cpp.llama_model_get_vocab(self._model)
        self.n_ctx = llama_cpp.llama_n_ctx(self._ctx) // n_seq  # positions per sequence
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self._vocab)
        self.n_batch = n_batch
        self._batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        self._piece = ctypes.create_string_buffer(256)
        self._outputs = 0  # rows of logits the last decode produced
        self._rows: np.ndarray | None = None  # a view of them, made once per decode when first read
        self._views: dict[tuple[int, int], np.ndarray] = {}  # by (address, rows): making one costs ~10 us
        # What each sequence's KV cache holds, position by position.
        self.sequences: list[list[int]] = [[] for _ in range(n_seq)]

    @property
    def tokens(self) -> list[int]:
        """Sequence 0 (single-sequence sessions: the draft model)."""
        return self.sequences[0]

    def abort(self) -> None:
        """Stop the forward pass running now (any thread may call it); ``DecodeAborted``."""
        _aborting.add(id(self))
        self._abort_flag[0] = b"x"

    def clear_abort(self) -> None:
        self._abort_flag[0] = b"\0"
        _aborting.discard(id(self))

    def reusable(self, tokens: list[int], seq: int = 0) -> int:
        """How many leading ``tokens`` sequence ``seq`` already holds, at most all but the
        last (which is always evaluated again, for its logits)."""
        held = self.sequences[seq]
        n = 0
        for a, b in zip(held, tokens, strict=False):
            if a != b:
                break
            n += 1
        return min(n, len(tokens) - 1)

    def keep(self, n: int, seq: int = 0) -> None:
        """Drop the KV state of sequence ``seq`` past its first ``n`` tokens."""
        tokens = self.sequences[seq]
        if n < len(tokens):
            if not llama_cpp.llama_memory_seq_rm(self._memory, seq, n, -1):
                llama_cpp.llama_memory_seq_rm(self._memory, seq, 0, -1)
                n = 0
            del tokens[n:]

    def decode(self, tokens: list[int], seq: int = 0, all_logits: bool = False) -> None:
        """Append ``tokens`` to sequence ``seq``. Afterwards the logits of the last token are
        available, or of every token with ``all_logits`` (then ``len(tokens) <= n_batch``)."""
        batch = self._batch
        history = self.sequences[seq]
        for start in range(0, len(tokens), self.n_batch):
            chunk = tokens[start : start + self.n_batch]
            n_past = len(history)
            batch.n_tokens = len(chunk)
            for i, token in enumerate(chunk):
                batch.token[i] = token
                batch.pos[i] = n_past + i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = seq
                batch.logits[i] = all_logits or i == len(chunk) - 1
            self._rows = None  # llama.cpp may move its logits buffer
            status = llama_cpp.llama_decode(self._ctx, batch)
            self.clear_abort()
            if status == 2:  # aborted: what llama.cpp kept of the batch stays, the rest goes
                kept = llama_cpp.llama_memory_seq_pos_max(self._memory, seq) + 1
                history.extend(chunk[: max(0, kept - n_past)])
                self.keep(kept, seq)
                raise DecodeAborted("decode aborted: the request was cancelled")
            if status != 0:
                self.keep(n_past, seq)
                raise ModelError(f"llama_decode failed with status {status}")
            history.extend(chunk)
            self._outputs = len(chunk) if all_logits else 1

    def decode_parts(self, parts: Sequence[Part]) -> list[int]:
        """One forward pass over several sequences' tokens (at most ``n_batch`` in all). Returns,
        per part, the row of its first logits (read them with ``logits(row)``, the next rows
        after it)."""
        batch = self._batch
        rows: list[int] = []
        n = outputs = 0
        for seq, tokens, logits_from in parts:
            n_past = len(self.sequences[seq])
            rows.append(outputs)
            outputs += len(tokens) - logits_from
            for i, token in enumerate(tokens):
                batch.token[n] = token
                batch.pos[n] = n_past + i
                batch.n_seq_id[n] = 1
                batch.seq_id[n][0] = seq
                batch.logits[n] = i >= logits_from
                n += 1
        if n > self.n_batch:
            raise ValueError(f"a batch of {n} tokens is over n_batch ({self.n_batch})")
        batch.n_tokens = n
        self._rows = None  # llama.cpp may move its logits buffer
        status = llama_cpp.llama_decode(self._ctx, batch)  # the caller clears the abort flag
        if status == 2:  # aborted: what llama.cpp kept of each part stays, the rest goes
            for seq, tokens, _ in parts:
                history = self.sequences[seq]
                kept = llama_cpp.llama_memory_seq_pos_max(self._memory, seq) + 1
                n_past = len(history)
                history.extend(tokens[: max(0, kept - n_past)])
                self.keep(kept, seq)
            raise DecodeAborted("decode aborted: every request in the batch was cancelled")
        if status != 0:
            for seq, _, _ in parts:  # whatever llama.cpp wrote past what each sequence held
                llama_cpp.llama_memory_seq_rm(self._memory, seq, len(self.sequences[seq]), -1)
            raise ModelError(f"llama_decode failed with status {status}")
        for seq, tokens, _ in parts:
            self.sequences[seq].extend(tokens)
        self._outputs, self._rows = outputs, None
        return rows

    def save_state(self, seq: int = 0) -> bytearray:
        """A copy of sequence ``seq``'s KV state (the alternative to keeping one sequence
        per document; ``bench kv`` times both). One copy, into a buffer kept as it is: the
        worker makes it between two steps of every other generation."""
        size = llama_cpp.llama_state_seq_get_size(self._ctx, seq)
        buffer = bytearray(size)
        written = llama_cpp.llama_state_seq_get_data(self._ctx, _address(buffer), size, seq)
        del buffer[written:]
        return buffer

    def restore_state(self, data: bytearray, tokens: list[int], seq: int = 0) -> None:
        """Replace sequence ``seq`` with a state from ``save_state`` that holds ``tokens``."""
        self.keep(0, seq)
        if not llama_cpp.llama_state_seq_set_data(self._ctx, _address(data), len(data), seq):
            raise ModelError("llama.cpp could not restore the saved sequence state")
        self.sequences[seq][:] = tokens

    def logits(self, row: int = -1) -> np.ndarray:
        """Next-token logits after a decoded position (a view: read it before the next
        decode). ``row`` counts the last decode's outputs, in batch order; -1 is the last."""
        row_logits: np.ndarray = self.all_logits()[row]
        return row_logits

    def all_logits(self) -> np.ndarray:
        """Every output row of the last decode, shape (rows, n_vocab) (a view, made once per
        decode: the decode loop reads a row or two per generation and token)."""
        if self._rows is None:
            pointer = llama_cpp.llama_get_logits(self._ctx)  # llama.cpp puts its rows in batch order first
            key = (ctypes.addressof(pointer.contents), self._outputs)  # the buffer is allocated once
            if key not in self._views:
                if len(self._views) > 2 * self.n_batch:  # the buffer moved: views of the old one go
                    self._views.clear()
                self._views[key] = np.ctypeslib.as_array(pointer, shape=(self._outputs, self.n_vocab))
            self._rows = self._views[key]
        return self._rows

    def argmax(self, among: np.ndarray | None = None, row: int = -1) -> int:
        """The most likely next token (greedy), optionally among the ``among`` token ids."""
        logits = self.logits(row)
        if among is None or among.size == 0:
            return int(logits.argmax())
        return int(among[logits[among].argmax()])

    def piece(self, token: int) -> bytes:
        # special=True: every marker ends a completion before its piece is used (the stop set),
        # and an ordinary token llama.cpp promoted to control (Qwen's "</s>") keeps its text.
        size = llama_cpp.llama_token_to_piece(self._vocab, token, self._piece, len(self._piece), 0, True)
        return self._piece.raw[: max(size, 0)]

    def close(self) -> None:
        if self._ctx:
            llama_cpp.llama_batch_free(self._batch)
            llama_cpp.llama_free(self._ctx)
            llama_cpp.llama_model_free(self._model)
            self._ctx = None


def _address(buffer: bytearray) -> ctypes.Array[ctypes.c_uint8]:
    """``buffer``'s memory as the ``uint8_t *`` llama.cpp's state calls take (no copy)."""
    return (ctypes.c_uint8 * len(buffer)).from_buffer(buffer)
