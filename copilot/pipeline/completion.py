"""One completion, start to finish: each tier is a method that answers or passes.

``Pipeline._complete`` reads as the README's data flow: typing-through the suggestion on
screen, the generation still streaming for this document, the context-keyed cache (with a
look back along the line), the prompt, the exact-prompt cache, a pause in typing, the local
model, and the remote model when the router escalates. Each step's logic lives in its own
package; this module only orders them and records what happened.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import msgspec

from ..cache import CompletionCache, context_key, continue_from
from ..cache.inflight import InFlight
from ..cache.keys import look_back_stems
from ..cache.typing_through import Shown, type_through
from ..config import Config
from ..context.retrieval import Retriever
from ..documents import Change, Snapshot
from ..errors import CopilotError, ModelUnavailable
from ..inference import Engine
from ..logs import REQUEST_ID
from ..metrics import Metrics, RequestRecord, as_dict
from ..nextedit.model import ModelEdits
from ..remote.escalation import Escalation
from .debounce import Debounce
from .generating import Generator, cost_if_remote, owner_prefix
from .prompting import ContextReport, Prompt, PromptBuilder, common_prefix
from .request import Partial, Request

log = logging.getLogger(__name__)

LOOK_BACK_CHARS = 16


class CompletionResult(msgspec.Struct, frozen=True, kw_only=True):
    request_id: int
    text: str
    source: str  # "typing", "stream", "memory", "disk", "model", "remote" or "none"
    timings_ms: dict[str, float]
    reason: str = ""  # why the model or the remote one answered (the router's decision)


class Pipeline:
    def __init__(
        self,
        config: Config,
        engine: Engine | None,
        cache: CompletionCache,
        metrics: Metrics | None = None,
        engine_error: str = "",
        retriever: Retriever | None = None,
        escalation: Escalation | None = None,
        session: str = "",
        on_close: Callable[[], None] | None = None,
        next_edit: ModelEdits | None = None,
    ) -> None:
        self.engine = engine
        self.next_edit = next_edit  # the next-edit model, when one is configured and usable
        # The editor session this pipeline serves (one process may serve many): it names the
        # session's KV sequences in the shared engine, which are freed when it closes.
        self.session = session
        self._on_close = on_close
        self.retriever = retriever
        self.escalation = escalation
        self.cache = cache
        self.metrics = metrics or Metrics()
        self.engine_error = engine_error
        self.debounce = Debounce(config.completion.debounce_ms)
        self.prompts: PromptBuilder | None = None
        self.generator: Generator | None = None  # runs the models; None without a local model
        if engine is not None:
            self.prompts = PromptBuilder(config, engine.vocabulary, engine.n_ctx, retriever)
            self.generator = Generator(
                config, engine, self.prompts, cache, self.metrics, self.debounce, retriever, escalation, session
            )
        self.config = config
        self._ids = itertools.count(1)
        self._shown: dict[str, Shown] = {}  # per document: the last suggestion answered
        self._inflight: dict[str, InFlight] = {}  # per document: the generation running
        self._latest: dict[str, int] = {}  # per document: the newest request's id
        self._last_prompt: dict[str, list[int]] = {}  # per document: the previous prompt's tokens

    @property
    def config(self) -> Config:
        return self._config

    @config.setter
    def config(self, config: Config) -> None:
        """A new configuration (``workspace/didChangeConfiguration``) applies from the next request."""
        self._config = config
        if self.prompts is not None and self.generator is not None:
            self.prompts.config = self.generator.config = config

    def state_sizes(self) -> dict[str, int]:
        """How much per-document state the pipeline holds (it must stay bounded)."""
        return {
            "shown": len(self._shown),
            "inflight": sum(1 for flight in self._inflight.values() if flight.running),
            "inflight_entries": len(self._inflight),
            "latest": len(self._latest),
            "last_prompts": len(self._last_prompt),
            "queued_jobs": self.engine.queued() if self.engine else 0,
        }

    def next_request_id(self) -> int:
        return next(self._ids)

    def close(self) -> None:
        """Stop the worker, close the remote client and commit the cache's pending writes."""
        if self.generator is not None:
            self.generator.stop_prefetch()
        if self.escalation is not None:
            _run_soon(self.escalation.aclose())
        if self.retriever is not None:
            self.retriever.stop()
        engines = [e for e in (self.engine, self.next_edit.engine if self.next_edit else None) if e is not None]
        for engine in engines:
            engine.forget_owners(owner_prefix(self.session))
        if self._on_close is not None:
            self._on_close()  # the engines' owner stops them once no pipeline uses them
        else:
            for engine in engines:
                engine.stop()
        self.cache.close()

    def opened(self, uri: str) -> None:
        if self.retriever is not None:
            self.retriever.touch(uri)

    def changed(self, uri: str, changes: list[Change]) -> None:
        """The document's edits, applied: recent edits are context for later requests."""
        if self.retriever is None:
            return
        self.retriever.touch(uri)
        for change in changes:
            if change.start is not None and change.end is not None:
                self.retriever.edits.record(uri, change.start.line, change.end.line - change.start.line, change.text)

    def forget(self, uri: str) -> None:
        """The document was closed."""
        self._shown.pop(uri, None)
        self._latest.pop(uri, None)
        self._last_prompt.pop(uri, None)
        if self.retriever is not None:
            self.retriever.forget(uri)
        self.debounce.forget(uri)
        flight = self._inflight.pop(uri, None)
        if flight is not None:
            flight.cancel()

    def build_prompt(self, snapshot: Snapshot) -> Prompt:
        """The prompt a request at ``snapshot``'s cursor would give the model (tools, benchmarks)."""
        if self.prompts is None:
            raise ModelUnavailable(self.engine_error or "no model loaded")
        return self.prompts.build(snapshot, Request(snapshot=snapshot, id=0, settings=self.config.completion).params)

    def inspect(self, snapshot: Snapshot) -> ContextReport:
        """What the model would be given at ``snapshot``'s cursor: every context candidate
        with its score and whether it was chosen, and the prompt spelled out."""
        if self.prompts is None:
            raise ModelUnavailable(self.engine_error or "no model loaded")
        return self.prompts.report(snapshot, Request(snapshot=snapshot, id=0, settings=self.config.completion).params)

    async def complete(
        self,
        snapshot: Snapshot,
        request_id: int | None = None,
        is_current: Callable[[], bool] = lambda: True,
        on_partial: Partial | None = None,
        sync_ms: float | None = None,
        explicit: bool = False,
    ) -> CompletionResult:
        """The completion at ``snapshot``'s cursor; empty (never raising) when there is none.

        ``is_current`` says whether the document is still at the snapshot's version:
        an answer computed for an older text is not shown. ``on_partial`` receives the raw
        text generated so far, on the inference thread, while the model writes. ``sync_ms``
        is how long applying the document's last change took (the record's sync stage).
        ``explicit``: the user asked for a generation (``copilot/generate``): no cache, no
        debounce, no line limit, and the remote model when one is enabled.
        """
        request = Request(
            snapshot=snapshot,
            id=request_id or self.next_request_id(),
            settings=self.config.completion,
            explicit=explicit,
            is_current=is_current,
            on_partial=on_partial,
        )
        if sync_ms is not None:
            request.timings["sync"] = sync_ms
        context_token = REQUEST_ID.set(request.id)  # on every log line of this request
        try:
            return await self._answer(request)
        finally:
            REQUEST_ID.reset(context_token)

    async def _answer(self, request: Request) -> CompletionResult:
        record = request.record
        self.metrics.started(request.id)
        self._latest[request.uri] = request.id
        self.debounce.keystroke(request.uri, request.started)
        try:
            text = await self._complete(request)
        except asyncio.CancelledError:
            record.outcome = "cancelled"
            self._record(record)
            raise
        except CopilotError as exc:
            log.log(logging.DEBUG if isinstance(exc, ModelUnavailable) else logging.WARNING, "%s", exc)
            text = ""
            record.outcome = "error"
        text = request.finish(text)
        if record.source in ("model", "remote"):
            record.cost_all_remote = cost_if_remote(self.config.remote, record)
        self._remember(request, text)
        self._record(record)
        if text and record.source == "model" and self.generator is not None:
            busy = any(flight.running for flight in self._inflight.values())
            self.generator.start_prefetch(request, text, busy)
        return CompletionResult(
            request_id=request.id,
            text=text,
            source=record.source,
            timings_ms=request.timings,
            reason=record.route_reason,
        )

    async def _complete(self, request: Request) -> str:
        """The answer from the cheapest tier that has one; an explicit request (the user asked
        for a generation) skips the caches and the debounce and prefers the remote model."""
        generator = self.generator
        if generator is not None:
            generator.stop_prefetch()  # the model is for this request now
        request.start_clock()
        if self._ignored(request):
            return ""
        if (text := self._typed_through(request)) is not None:
            return text
        if generator is None:  # already reported once, when the model failed to open
            raise ModelUnavailable(self.engine_error or "no model loaded")
        if (text := await self._from_stream(request)) is not None:
            return text
        if (text := self._from_context_cache(request, generator.engine)) is not None:
            return text
        prompt = self._prompt(request)
        if (text := self._from_exact_cache(request, prompt)) is not None:
            return text
        if not await self._paused(request):
            return ""
        text = await self._from_model(request, generator, prompt)
        if request.record.outcome == "superseded" or self.escalation is None:
            return text
        return await generator.escalated(request, prompt, text)

    # --- the tiers, cheapest first: each answers (text) or passes (None) ----------------------

    def _ignored(self, request: Request) -> bool:
        """Documents the user keeps out of prompts (.gitignore, .copilotignore, context.ignore) get nothing."""
        if self.retriever is None:
            return False
        if (reason := self.retriever.ignored(request.uri)) is not None:
            log.debug("no completions in %s: ignored by %s", request.uri, reason)
            request.record.outcome = "ignored"
            return True
        self.retriever.touch(request.uri)
        return False

    def _typed_through(self, request: Request) -> str | None:
        """The rest of the suggestion on screen, when the user typed its beginning."""
        shown = None if request.explicit else self._shown.get(request.uri)
        if shown is not None and (rest := type_through(shown, request.prefix, request.suffix)):
            self._answered_from("typing", request)
            request.lap("cache")
            return rest
        return None

    async def _from_stream(self, request: Request) -> str | None:
        """The rest of the generation still running for this document, when the user typed
        what it is writing; a generation that cannot serve this request is cancelled."""
        flight = self._inflight.get(request.uri)
        if flight is None or not flight.running:
            return None
        typed = None if request.explicit else flight.typed_since(request.prefix, request.suffix)
        if typed is None or not flight.could_serve(typed):
            flight.cancel()  # the newest request for a document wins
            return None
        text = await flight.wait()
        request.lap("stream")
        if text.startswith(typed) and len(text) > len(typed):
            self._answered_from("stream", request)
            return text[len(typed) :]
        return None  # the stream ended without serving: go on

    def _from_context_cache(self, request: Request, engine: Engine) -> str | None:
        """An answer cached for the text around the cursor, looking back along the line: the
        user may have typed part of a suggestion answered a few keys ago."""
        stem, anchor = request.stem_and_anchor
        suffix = request.suffix
        look_back = [] if request.explicit else [(stem, anchor), *look_back_stems(request.key_prefix, LOOK_BACK_CHARS)]
        for candidate_stem, candidate_anchor in look_back:
            entry, level = self.cache.get(context_key(engine.vocabulary.id, request.params, candidate_stem, suffix))
            if entry is not None and (remainder := continue_from(entry, candidate_anchor)) is not None:
                self._answered_from(level, request)
                request.lap("cache")
                return remainder
        request.lap("cache")
        return None

    def _prompt(self, request: Request) -> Prompt:
        """The context stage: retrieval, the window, the FIM prompt."""
        assert self.prompts is not None  # there is an engine
        prompt = self.prompts.build(request.snapshot, request.params)
        previous = self._last_prompt.get(request.uri, [])
        self._last_prompt[request.uri] = prompt.tokens
        record = request.record
        record.shared_tokens = common_prefix(previous, prompt.tokens)
        record.context_snippets = len(prompt.retrieved.snippets)
        record.context_tokens = prompt.retrieved.tokens
        request.lap("context")
        return prompt

    def _from_exact_cache(self, request: Request, prompt: Prompt) -> str | None:
        entry, level = (None, "") if request.explicit else self.cache.get(prompt.key)
        request.lap("cache", add=True)
        if entry is not None:
            self._answered_from(level, request)
            return entry.text
        self.cache.count("miss")
        return None

    async def _paused(self, request: Request) -> bool:
        """Only now, with every cache missed, wait for a pause in typing (latest wins).
        False when the answer could not be shown anyway."""
        record = request.record
        if not request.is_current():  # the text changed already
            record.outcome = "stale"
            return False
        self.debounce.max_ms = self.config.completion.debounce_ms
        if not request.explicit and (delay := self.debounce.delay_ms(request.uri)) > 0:
            await asyncio.sleep(delay / 1000)
            request.lap("debounce")
            if self._latest.get(request.uri) != request.id:
                record.outcome = "superseded"
                return False
        return True

    async def _from_model(self, request: Request, generator: Generator, prompt: Prompt) -> str:
        """The local model's answer, streamed; other requests for this document may attach to it."""
        record = request.record
        record.source = "model"
        flight = InFlight(request.prefix, request.suffix)
        job = generator.job(request, prompt)
        job.on_text = flight.tracking(request.on_partial)
        flight.run(generator.generate(request, job, generator.cache_keys(request, prompt)))
        self._inflight[request.uri] = flight
        text = await flight.wait()
        request.lap("generate")
        if flight.superseded or record.stop_reason in ("superseded", "cancelled"):
            record.outcome = "superseded"  # a newer request for the document took over
        return text

    # --- bookkeeping --------------------------------------------------------------------------

    def _answered_from(self, level: str, request: Request) -> None:
        request.record.source = level
        self.cache.count(level)

    def _remember(self, request: Request, text: str) -> None:
        if text:
            self._shown[request.uri] = Shown(prefix=request.prefix, suffix=request.suffix, text=text)
        else:
            self._shown.pop(request.uri, None)

    def _record(self, record: RequestRecord) -> None:
        """Count the request, and log its record as one JSON line (debug)."""
        self.metrics.record(record)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("record %s", msgspec.json.encode(as_dict(record)).decode())


def _run_soon(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run ``coroutine`` on the running loop, or to its end when there is none (the CLI)."""
    try:
        asyncio.get_running_loop().create_task(coroutine)
    except RuntimeError:
        asyncio.run(coroutine)
