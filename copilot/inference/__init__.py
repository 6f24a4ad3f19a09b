"""The local model: one worker thread owns llama.cpp and serves every request.

``engine`` runs the worker; ``jobs`` holds what it is asked and answers and the queue of
waiting jobs; ``decoding`` the greedy decode loop and ``speculative`` its drafters;
``llama`` the llama.cpp session; ``vocabulary`` the model's tokens and FIM layout, read
from its GGUF; ``gguf_info`` and ``catalogue`` what a model file is and which family it
belongs to.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from ..prompt.fim import FimTokens
from .jobs import Generation, GenerationJob


class Tokenizer(Protocol):
    """The model's vocabulary, as prompts are built with it."""

    @property
    def id(self) -> str: ...  # names the model in cache keys
    @property
    def path(self) -> Path: ...  # the model file
    @property
    def fim(self) -> FimTokens: ...
    def encode(self, text: str) -> list[int]: ...
    def detokenize(self, tokens: list[int]) -> str: ...


class Engine(Protocol):
    """What the pipeline needs of the model service (``engine.LocalEngine`` is the real one)."""

    @property
    def vocabulary(self) -> Tokenizer: ...
    @property
    def n_ctx(self) -> int: ...
    def queued(self) -> int: ...
    def busy(self) -> bool: ...  # an interactive job runs or waits
    def wait_ready(self, timeout: float | None = None) -> None: ...  # raises ModelError when loading failed
    def stop(self) -> None: ...
    def forget_owners(self, prefix: str) -> int: ...  # frees the KV sequences of owners named ``prefix...``
    async def generate(
        self, job: GenerationJob, on_abandoned: Callable[[GenerationJob, Generation], None] | None = None
    ) -> Generation: ...
