"""The next-edit model: what propagation cannot find, asked of a model trained on the Sweep
format (``sweep.py``), on an engine of its own (shared by every session of the process).

Its jobs are background jobs there, and start only while the completion model has no
completion running or waiting: completions come first. A
rewrite mostly copies its input, so the engine's prompt-lookup drafts (the lines around the
cursor are in the prompt twice) carry most of its tokens. The answer is dropped when the
document changed meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from urllib.parse import unquote, urlparse

from ..config import NextEditSettings
from ..documents import Document
from ..errors import ModelError
from ..inference import Engine
from ..inference.engine import LocalEngine
from ..inference.jobs import GenerationJob
from ..inference.vocabulary import Vocabulary
from . import sweep
from .history import EditEvent
from .rename import Replacement

log = logging.getLogger(__name__)


YIELD_S = 0.01  # how often a next-edit job waiting for the completions looks again


class ModelEdits:
    """``defer_to``: the completion model's engine; a next-edit job starts only while no
    completion runs or waits there (within its time budget): completions come first."""

    def __init__(
        self, engine: LocalEngine, settings: NextEditSettings, session: str = "", defer_to: Engine | None = None
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.owner = f"{session} next-edit" if session else "next-edit"
        self.defer_to = defer_to

    def check(self) -> None:
        """ModelError when the model cannot speak the format (no ``<|file_sep|>`` token)."""
        if self.engine.vocabulary.fim.file_sep < 0:
            name = self.engine.vocabulary.path.name
            raise ModelError(f"{name} has no <|file_sep|> token: not a next-edit model of the Sweep format")

    def tokens(self, prompt: sweep.Prompt) -> list[int]:
        return prompt_tokens(self.engine.vocabulary, prompt)

    def prompt(self, document: Document, cursor: int, events: list[EditEvent]) -> tuple[sweep.Prompt, list[int]]:
        """The prompt, its first section (the whole file) left out when it does not fit."""
        path = display_path(document.uri)
        mine = [event for event in events if event.uri == document.uri]
        prompt = sweep.build(path, document.text, cursor, mine)
        tokens = self.tokens(prompt)
        if len(tokens) + self.settings.max_tokens > self.engine.n_ctx:
            prompt = sweep.Prompt(prompt.sections[1:], prompt.block)
            tokens = self.tokens(prompt)
        return prompt, tokens

    async def suggest(self, document: Document, cursor: int, events: list[EditEvent]) -> list[Replacement]:
        self.check()
        version = document.version
        prompt, tokens = self.prompt(document, cursor, events)
        if len(tokens) + self.settings.max_tokens > self.engine.n_ctx:
            log.debug("next-edit prompt of %d tokens does not fit the model's context", len(tokens))
            return []
        limit = self.settings.max_ms
        started = time.monotonic()
        while self.defer_to is not None and self.defer_to.busy():
            if limit and (time.monotonic() - started) * 1000 > limit:
                return []  # the completions kept the machine busy: no next edit this time
            await asyncio.sleep(YIELD_S)
            if document.version != version:
                return []
        job = GenerationJob(
            prompt=tokens,
            max_tokens=self.settings.max_tokens,
            owner=f"{self.owner} {document.uri}",
            background=True,
            max_prefill_ms=limit,
            max_decode_ms=limit,
        )
        generation = await self.engine.generate(job)
        if document.version != version or generation.stop_reason != "end":
            return []  # the text changed meanwhile, or the rewrite was cut short: its missing lines are no edit
        block = prompt.block
        return [
            Replacement(document.uri, version, block.start + hunk.start, block.start + hunk.end, hunk.new, "model")
            for hunk in sweep.diff(block, generation.text)
        ]


def prompt_tokens(vocabulary: Vocabulary, prompt: sweep.Prompt) -> list[int]:
    """The prompt in the model's tokens: each section after a ``<|file_sep|>`` token."""
    fim = vocabulary.fim
    tokens = [fim.bos] if fim.bos >= 0 else []
    for section in prompt.sections:
        tokens += [fim.file_sep, *vocabulary.encode(section)]
    return tokens


def display_path(uri: str) -> str:
    """The file's path as the prompt names it (its last three parts: enough for the model to
    know the file, and no more of the user's folders than that)."""
    parts = [part for part in unquote(urlparse(uri).path).split("/") if part]
    return "/".join(parts[-3:]) or "untitled"
