"""One completion, start to finish: cache levels, context, prompt, model, post-processing.

Orchestration only: each step's logic lives in its own module. The cheapest answers are
tried first: typing-through the suggestion on screen, the generation still streaming for
this document, the context-keyed cache (with a look back along the line), then the
exact-prompt cache; only then the model.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

import msgspec

from . import postprocess
from .cache import CachedCompletion, CompletionCache, GenerationParams, context_key, continue_from, exact_key
from .cache.inflight import InFlight
from .cache.keys import MAX_KEY_CHARS, look_back_stems
from .cache.typing_through import Shown, type_through
from .config import Config
from .context.privacy import mask_secrets
from .context.ranking import Candidate, Span
from .context.retrieval import EMPTY, Retrieved, Retriever
from .debounce import Debounce
from .documents import Change, Snapshot
from .errors import CopilotError, ModelUnavailable
from .inference.engine import Generation, GenerationJob, LocalEngine
from .logs import REQUEST_ID
from .metrics import Metrics, RequestRecord, as_dict
from .prompt import window as context
from .prompt.fim import build_fim_prompt
from .prompt.healing import split_anchor, split_heal
from .remote.backend import RemoteRequest
from .remote.escalation import Escalation
from .remote.router import RouteRequest, RouterSettings, decide

log = logging.getLogger(__name__)

PROMPT_MARGIN = 4  # FIM marker tokens, plus one spare
LOOK_BACK_CHARS = 16
PREFETCH_DELAY_S = 0.15  # a user still typing cancels the prefetch before it costs anything

Partial = Callable[[str], None]


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
        engine: LocalEngine | None,
        cache: CompletionCache,
        metrics: Metrics | None = None,
        engine_error: str = "",
        retriever: Retriever | None = None,
        escalation: Escalation | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        self.retriever = retriever
        self.escalation = escalation
        self.cache = cache
        self.metrics = metrics or Metrics()
        self.engine_error = engine_error
        self._ids = itertools.count(1)
        self._shown: dict[str, Shown] = {}  # per document: the last suggestion answered
        self._inflight: dict[str, InFlight] = {}  # per document: the generation running
        self._prefetch: asyncio.Task[None] | None = None
        self._latest: dict[str, int] = {}  # per document: the newest request's id
        self._last_prompt: dict[str, list[int]] = {}  # per document: the previous prompt's tokens
        self._encoder: context.Encoder | None = None  # the model's tokenizer, with memory
        self.debounce = Debounce(config.completion.debounce_ms)

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
        self._stop_prefetch()
        if self.escalation is not None:
            _run_soon(self.escalation.aclose())
        if self.retriever is not None:
            self.retriever.stop()
        if self.engine is not None:
            self.engine.stop()
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
        request_id = request_id or self.next_request_id()
        context_token = REQUEST_ID.set(request_id)  # on every log line of this request
        try:
            return await self._answer(snapshot, request_id, is_current, on_partial, sync_ms, explicit)
        finally:
            REQUEST_ID.reset(context_token)

    async def _answer(
        self,
        snapshot: Snapshot,
        request_id: int,
        is_current: Callable[[], bool],
        on_partial: Partial | None,
        sync_ms: float | None,
        explicit: bool,
    ) -> CompletionResult:
        timings: dict[str, float] = {}
        record: dict[str, object] = dict(request_id=request_id, language=snapshot.language_id, source="none")
        started = time.perf_counter()
        self.metrics.started(request_id)
        self._latest[snapshot.uri] = request_id
        self.debounce.keystroke(snapshot.uri, started)
        if sync_ms is not None:
            timings["sync"] = sync_ms
        try:
            result = await self._complete(snapshot, request_id, timings, record, on_partial, is_current, explicit)
        except asyncio.CancelledError:
            record["outcome"] = "cancelled"
            self._record(record, timings)
            raise
        except CopilotError as exc:
            level = logging.DEBUG if isinstance(exc, ModelUnavailable) else logging.WARNING
            log.log(level, "%s", exc)
            result = ""
            record["outcome"] = "error"
        timings["total"] = (time.perf_counter() - started) * 1000
        if result and not is_current():
            result = ""
            record["outcome"] = "stale"
        record.setdefault("outcome", "shown" if result else "empty")
        if record["source"] in ("model", "remote"):
            record["cost_all_remote"] = self._cost_if_remote(record)
        record["chars"] = len(result)
        self._remember(snapshot, result)
        self._record(record, timings)
        if result and record["source"] == "model":
            self._start_prefetch(snapshot, result)
        return CompletionResult(
            request_id=request_id,
            text=result,
            source=str(record["source"]),
            timings_ms=timings,
            reason=str(record.get("route_reason", "")),
        )

    def _cost_if_remote(self, record: dict[str, object]) -> float:
        """What the answer cost, or would have cost, from the remote model (its prices; the
        local token counts stand in for the remote's when it did not answer)."""
        if record["source"] == "remote":
            return _number(record, "cost")
        remote = self.config.remote
        tokens_in, tokens_out = _number(record, "prompt_tokens"), _number(record, "generated_tokens")
        return (tokens_in * remote.price_input_per_mtok + tokens_out * remote.price_output_per_mtok) / 1e6

    def _record(self, fields: dict[str, object], timings: dict[str, float]) -> None:
        """Count the request, and log its record as one JSON line (debug)."""
        record = msgspec.convert({**fields, "timings_ms": timings}, RequestRecord)
        self.metrics.record(record)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("record %s", msgspec.json.encode(as_dict(record)).decode())

    async def _complete(
        self,
        snapshot: Snapshot,
        request_id: int,
        timings: dict[str, float],
        record: dict[str, object],
        on_partial: Partial | None,
        is_current: Callable[[], bool] = lambda: True,
        explicit: bool = False,
    ) -> str:
        """The answer, from the cheapest place that has one; an ``explicit`` request (the user
        asked for a generation) skips the caches and the debounce and prefers the remote model."""
        self._stop_prefetch()
        mark = time.perf_counter()
        if self.retriever is not None:
            if (reason := self.retriever.ignored(snapshot.uri)) is not None:
                log.debug("no completions in %s: ignored by %s", snapshot.uri, reason)
                record["outcome"] = "ignored"
                return ""
            self.retriever.touch(snapshot.uri)
        prefix, suffix = snapshot.prefix, snapshot.suffix
        shown = None if explicit else self._shown.get(snapshot.uri)
        if shown is not None and (rest := type_through(shown, prefix, suffix)):
            self._answered_from("typing", record)
            _lap(timings, "cache", mark)
            return rest

        engine = self.engine
        if engine is None:  # already reported once, when the model failed to open
            raise ModelUnavailable(self.engine_error or "no model loaded")
        settings = self.config.completion
        params = self._params(prefix, suffix, snapshot.language_id, explicit)

        flight = self._inflight.get(snapshot.uri)
        if flight is not None and flight.running:
            typed = None if explicit else flight.typed_since(prefix, suffix)
            if typed is not None and flight.could_serve(typed):
                text = await flight.wait()
                if text.startswith(typed) and len(text) > len(typed):
                    self._answered_from("stream", record)
                    _lap(timings, "stream", mark)
                    return text[len(typed) :]
                mark = _lap(timings, "stream", mark)  # the stream ended without serving: go on
            else:
                flight.cancel()  # the newest request for a document wins

        # The context keys hash the end of the text before the cursor: no need to copy the rest.
        key_prefix = prefix[-2 * MAX_KEY_CHARS :]
        stem, anchor = split_anchor(key_prefix)
        look_back = [] if explicit else [(stem, anchor), *look_back_stems(key_prefix, LOOK_BACK_CHARS)]
        for candidate_stem, candidate_anchor in look_back:
            entry, level = self.cache.get(context_key(engine.vocabulary.id, params, candidate_stem, suffix))
            if entry is not None and (remainder := continue_from(entry, candidate_anchor)) is not None:
                self._answered_from(level, record)
                _lap(timings, "cache", mark)
                return remainder
        mark = _lap(timings, "cache", mark)

        prompt, key, heal, retrieved = self._prompt(engine, snapshot, prefix, suffix, params)
        previous = self._last_prompt.get(snapshot.uri, [])
        self._last_prompt[snapshot.uri] = prompt
        record.update(
            shared_tokens=common_prefix(previous, prompt),
            context_snippets=len(retrieved.snippets),
            context_tokens=retrieved.tokens,
        )
        mark = _lap(timings, "context", mark)
        entry, level = (None, "") if explicit else self.cache.get(key)
        timings["cache"] += (time.perf_counter() - mark) * 1000
        if entry is not None:
            self._answered_from(level, record)
            return entry.text
        self.cache.count("miss")

        if not is_current():  # the text changed already: the answer could not be shown
            record["outcome"] = "stale"
            return ""
        # Only now, with every cache missed, wait for a pause in typing (latest wins).
        self.debounce.max_ms = settings.debounce_ms
        if not explicit and (delay := self.debounce.delay_ms(snapshot.uri)) > 0:
            await asyncio.sleep(delay / 1000)
            mark = _lap(timings, "debounce", mark)
            if self._latest.get(snapshot.uri) != request_id:
                record["outcome"] = "superseded"
                return ""

        record["source"] = "model"
        flight = InFlight(prefix, suffix)
        job = self._job(snapshot.uri, prompt, params, heal)
        job.on_text = flight.tracking(on_partial)
        keys = [key, context_key(engine.vocabulary.id, params, stem, suffix)]
        flight.run(self._generate(engine, job, anchor, prefix, suffix, snapshot.language_id, keys, record, timings))
        self._inflight[snapshot.uri] = flight
        text = await flight.wait()
        _lap(timings, "generate", mark)
        if flight.superseded or record.get("stop_reason") in ("superseded", "cancelled"):
            record["outcome"] = "superseded"  # a newer request for the document took over
            return text
        if self.escalation is not None:
            text = await self._escalate(snapshot, params, record, timings, text, retrieved, keys, explicit, on_partial)
        return text

    async def _escalate(
        self,
        snapshot: Snapshot,
        params: GenerationParams,
        record: dict[str, object],
        timings: dict[str, float],
        local_text: str,
        retrieved: Retrieved,
        keys: list[bytes],
        explicit: bool,
        on_partial: Partial | None,
    ) -> str:
        """The remote model's answer instead of ``local_text`` when the router says so and
        the remote answers in time; ``local_text`` otherwise."""
        escalation = self.escalation
        assert escalation is not None
        settings = self.config.remote
        # After a block header or in an empty body (what wants_block detects): a block to fill.
        block = postprocess.wants_block(snapshot.prefix, snapshot.suffix, snapshot.language_id)
        request = RouteRequest(
            explicit=explicit,
            wants_block=block,
            empty_body=block,
            local_confidence=_number(record, "mean_logprob") if _number(record, "generated_tokens") else None,
            local_chars=len(local_text),
            prompt_tokens=int(_number(record, "prompt_tokens")),
        )
        router = RouterSettings(escalate_empty_blocks=settings.escalate_blocks, min_confidence=settings.min_confidence)
        decision = decide(request, escalation.state(), router)
        record["route_reason"] = decision.reason
        if decision.route == "local":
            return local_text
        if explicit and on_partial is not None and local_text:
            on_partial(local_text)  # shown while the remote model writes; its text then replaces it
        mark = time.perf_counter()
        timeout_ms = settings.generate_timeout_ms if explicit else settings.inline_timeout_ms
        sent = self._remote_request(snapshot, params, retrieved)
        result = await escalation.complete(sent, timeout_ms / 1000, on_partial)
        _lap(timings, "remote", mark)
        if result is None or not result.text.strip():
            record["route_reason"] = f"{decision.reason}; remote gave nothing: local answer"
            return local_text
        text = postprocess.clean(result.text, snapshot.prefix, snapshot.suffix, snapshot.language_id)
        if params.max_lines:
            text = "\n".join(text.split("\n")[: params.max_lines])
        record.update(
            source="remote",
            remote_tokens_in=result.prompt_tokens,
            remote_tokens_out=result.completion_tokens,
            cost=escalation.cost(result.prompt_tokens, result.completion_tokens),
        )
        timings["remote_first_token"] = result.first_token_ms
        anchor = split_anchor(snapshot.prefix[-2 * MAX_KEY_CHARS :])[1]
        self.cache.put(keys, CachedCompletion(anchor=anchor, text=text, created=time.time()))
        return text

    def _remote_request(self, snapshot: Snapshot, params: GenerationParams, retrieved: Retrieved) -> RemoteRequest:
        """What is sent: the text around the cursor and the chosen snippets, secrets masked."""
        remote = self.config.remote
        prefix = snapshot.prefix[-remote.prefix_chars :] if remote.prefix_chars else ""
        if len(prefix) < len(snapshot.prefix) and "\n" in prefix:
            prefix = prefix[prefix.index("\n") + 1 :]  # whole lines
        suffix = snapshot.suffix[: remote.suffix_chars]
        path = self.retriever.display_path(snapshot.uri) if self.retriever is not None else snapshot.uri
        return RemoteRequest(
            prefix=mask_secrets(prefix)[0],
            suffix=mask_secrets(suffix)[0],
            path=path,
            language=snapshot.language_id,
            snippets=[(c.path, c.text) for c in retrieved.snippets],
            max_tokens=self.config.remote.max_tokens,
            max_lines=params.max_lines,
        )

    async def _generate(
        self,
        engine: LocalEngine,
        job: GenerationJob,
        anchor: str,
        prefix: str,
        suffix: str,
        language: str,
        keys: list[bytes],
        record: dict[str, object],
        timings: dict[str, float],
        prefetch: bool = False,
    ) -> str:
        """Run the model, clean and cache its text. Statistics go to the first request's record."""
        on_abandoned = None if prefetch else self.metrics.record_cancelled_generation
        generation = await engine.generate(job, on_abandoned=on_abandoned)
        _record_generation(record, timings, generation)
        if not prefetch and generation.generated_tokens:
            self.debounce.model_time(generation.queue_ms + generation.prefill_ms + generation.decode_ms)
        if generation.stop_reason in ("cancelled", "superseded", "prefill_budget"):
            return ""
        mark = time.perf_counter()
        text = postprocess.clean(generation.text, prefix, suffix, language)
        _lap(timings, "postprocess", mark)
        if generation.stop_reason not in ("decode_budget", "context_full"):  # cut short: not the real answer
            self.cache.put(keys, CachedCompletion(anchor=anchor, text=text, created=time.time()))
        return text

    def _prompt(
        self,
        engine: LocalEngine,
        snapshot: Snapshot,
        prefix: str,
        suffix: str,
        params: GenerationParams,
        reuse: Retrieved | None = None,
    ) -> tuple[list[int], bytes, str, Retrieved]:
        """The FIM prompt: context retrieved from outside the local window, then the window
        around the cursor; its exact cache key, the half-typed word left out of it for the
        model to heal, and what was retrieved.

        The retrieved context gets at most ``context.crossfile_share`` of the budget and the
        window the rest (all of it when nothing was retrieved), so the window's size does not
        depend on how much context was found and stays put while the user types."""
        settings = self.config.completion
        budget = max(16, min(settings.prompt_tokens, engine.n_ctx - settings.max_tokens - PROMPT_MARGIN))
        prompt_prefix, heal = split_heal(prefix)
        if self._encoder is None:
            self._encoder = context.Encoder(engine.vocabulary.encode)
        encode = self._encoder
        retrieved = reuse or EMPTY
        if self.retriever is not None:
            share = int(budget * self.config.context.crossfile_share)
            window = context.local_window(prompt_prefix, suffix, budget - share, settings.suffix_share, encode)
            if reuse is None:
                span = _window_span(snapshot.uri, prompt_prefix, suffix, window)
                retrieved = self.retriever.retrieve(snapshot, span, share)
        if not retrieved.snippets:
            retrieved = EMPTY
            window = context.local_window(prompt_prefix, suffix, budget, settings.suffix_share, encode)
        prompt = build_fim_prompt(
            engine.vocabulary.fim, window.prefix, window.suffix, context=retrieved.context, preamble=retrieved.preamble
        )
        return prompt, exact_key(engine.vocabulary.id, prompt, params, heal), heal, retrieved

    def inspect(self, snapshot: Snapshot) -> dict[str, object]:
        """What the model would be given at ``snapshot``'s cursor: every context candidate
        with its score and whether it was chosen, and the prompt spelled out."""
        engine = self.engine
        if engine is None:
            raise ModelUnavailable(self.engine_error or "no model loaded")
        ignored = self.retriever.ignored(snapshot.uri) if self.retriever is not None else None
        if ignored is not None:
            return {"ignored": ignored, "candidates": [], "snippets": [], "prompt": ""}
        params = self._params(snapshot.prefix, snapshot.suffix, snapshot.language_id)
        prompt, _, heal, retrieved = self._prompt(engine, snapshot, snapshot.prefix, snapshot.suffix, params)
        chosen = {(c.uri, c.kind, c.start_line) for c in retrieved.snippets}
        return {
            "ignored": None,
            "style": retrieved.style,
            "prompt_tokens": len(prompt),
            "context_tokens": retrieved.tokens,
            "heal": heal,
            "candidates": [
                {**_described(c), "chosen": (c.uri, c.kind, c.start_line) in chosen} for c in retrieved.pool
            ],
            "snippets": [{**_described(c), "text": c.text} for c in retrieved.snippets],
            "prompt": engine.vocabulary.detokenize(prompt),
        }

    def _params(self, prefix: str, suffix: str, language: str, explicit: bool = False) -> GenerationParams:
        """One line, unless the syntax at the cursor asks for a block (after a block header,
        in an empty body): then up to ``completion.max_lines`` (0: no line limit at all).
        An explicit generation has no line limit."""
        settings = self.config.completion
        if settings.max_lines == 0 or explicit:
            return GenerationParams(max_tokens=settings.max_tokens, max_lines=0)
        block = settings.max_lines > 1 and postprocess.wants_block(prefix, suffix, language)
        return GenerationParams(max_tokens=settings.max_tokens, max_lines=settings.max_lines if block else 1)

    def _job(self, uri: str, prompt: list[int], params: GenerationParams, heal: str) -> GenerationJob:
        settings = self.config.completion
        return GenerationJob(
            prompt=prompt,
            max_tokens=params.max_tokens,
            max_lines=params.max_lines,
            heal=heal,
            owner=uri,
            max_prefill_ms=settings.max_prefill_ms,
            max_decode_ms=settings.max_decode_ms,
            request_id=REQUEST_ID.get(),
        )

    def _answered_from(self, level: str, record: dict[str, object]) -> None:
        record["source"] = level
        self.cache.count(level)

    def _remember(self, snapshot: Snapshot, text: str) -> None:
        if text:
            self._shown[snapshot.uri] = Shown(prefix=snapshot.prefix, suffix=snapshot.suffix, text=text)
        else:
            self._shown.pop(snapshot.uri, None)

    # --- prefetch: the completion after accepting the one just shown -------------------------

    def _start_prefetch(self, snapshot: Snapshot, text: str) -> None:
        if not self.config.cache.prefetch or any(f.running for f in self._inflight.values()):
            return  # off, or the worker is busy: real requests come first
        self._prefetch = asyncio.ensure_future(
            self._run_prefetch(
                msgspec.structs.replace(
                    snapshot, text=snapshot.prefix + text + snapshot.suffix, offset=snapshot.offset + len(text)
                )
            )
        )

    def _stop_prefetch(self) -> None:
        if self._prefetch is not None and not self._prefetch.done():
            self._prefetch.cancel()
        self._prefetch = None

    async def _run_prefetch(self, snapshot: Snapshot) -> None:
        """``snapshot``: the document as it would be with the suggestion accepted."""
        engine = self.engine
        if engine is None:
            return
        await asyncio.sleep(PREFETCH_DELAY_S)
        uri, language, prefix, suffix = snapshot.uri, snapshot.language_id, snapshot.prefix, snapshot.suffix
        params = self._params(prefix, suffix, language)
        stem, anchor = split_anchor(prefix[-2 * MAX_KEY_CHARS :])
        # The context chosen for the request just answered: the text is not the document's.
        reuse = self.retriever.last(uri) if self.retriever is not None else None
        prompt, key, heal, _ = self._prompt(engine, snapshot, prefix, suffix, params, reuse=reuse)
        if self.cache.get(key)[0] is not None:
            return
        keys = [key, context_key(engine.vocabulary.id, params, stem, suffix)]
        job = self._job(uri, prompt, params, heal)
        job.background = True
        await self._generate(engine, job, anchor, prefix, suffix, language, keys, {}, {}, prefetch=True)
        self.metrics.counts["prefetch_completions"] += 1


def _record_generation(record: dict[str, object], timings: dict[str, float], generation: Generation) -> None:
    timings.update(queue=generation.queue_ms, prefill=generation.prefill_ms, decode=generation.decode_ms)
    if generation.generated_tokens:
        timings["first_token"] = generation.first_token_ms
    record.update(
        stop_reason=generation.stop_reason,
        prompt_tokens=generation.prompt_tokens,
        reused_tokens=generation.reused_tokens,
        generated_tokens=generation.generated_tokens,
        mean_logprob=round(generation.mean_logprob, 4),
        draft_tokens=generation.draft_tokens,
        accepted_tokens=generation.accepted_tokens,
        target_forwards=generation.target_forwards,
        preempted=generation.preempted,
    )


def _number(record: dict[str, object], key: str) -> float:
    value = record.get(key, 0)
    return float(value) if isinstance(value, int | float) else 0.0


def _run_soon(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run ``coroutine`` on the running loop, or to its end when there is none (the CLI)."""
    try:
        asyncio.get_running_loop().create_task(coroutine)
    except RuntimeError:
        asyncio.run(coroutine)


def _described(candidate: Candidate) -> dict[str, object]:
    return {
        "kind": candidate.kind,
        "path": candidate.path,
        "lines": [candidate.start_line + 1, candidate.end_line + 1],
        "score": candidate.score,
        "reason": candidate.reason,
    }


def _window_span(uri: str, prefix: str, suffix: str, window: context.Window) -> Span:
    """The lines of the document the local window shows."""
    cursor_line = prefix.count("\n")
    return Span(
        uri=uri,
        start_line=cursor_line - prefix.count("\n", len(prefix) - window.prefix_chars),
        end_line=cursor_line + suffix.count("\n", 0, window.suffix_chars),
    )


def common_prefix(a: list[int], b: list[int]) -> int:
    """How many leading tokens two prompts share."""
    count = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        count += 1
    return count


def _lap(timings: dict[str, float], stage: str, since: float) -> float:
    now = time.perf_counter()
    timings[stage] = (now - since) * 1000
    return now
