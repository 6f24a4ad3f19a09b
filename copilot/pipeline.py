"""One completion, start to finish: context, prompt, cache, model, post-processing.

Orchestration only: each step's logic lives in its own module.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable

import msgspec

from . import context, postprocess
from .cache import CompletionCache, GenerationParams, cache_key
from .config import Config
from .documents import Snapshot
from .engine import GenerationJob, LocalEngine
from .errors import CopilotError
from .metrics import Metrics, RequestRecord
from .prompt import build_fim_prompt

log = logging.getLogger(__name__)

PROMPT_MARGIN = 4  # FIM marker tokens, plus one spare


class CompletionResult(msgspec.Struct, frozen=True, kw_only=True):
    request_id: int
    text: str
    source: str  # "cache", "model" or "none"
    timings_ms: dict[str, float]


class Pipeline:
    def __init__(
        self,
        config: Config,
        engine: LocalEngine | None,
        cache: CompletionCache | None,
        metrics: Metrics | None = None,
        engine_error: str = "",
    ) -> None:
        self.config = config
        self.engine = engine
        self.cache = cache
        self.metrics = metrics or Metrics()
        self.engine_error = engine_error
        self._ids = itertools.count(1)

    def next_request_id(self) -> int:
        return next(self._ids)

    async def complete(
        self,
        snapshot: Snapshot,
        request_id: int | None = None,
        is_current: Callable[[], bool] = lambda: True,
        on_partial: Callable[[str], None] | None = None,
    ) -> CompletionResult:
        """The completion at ``snapshot``'s cursor; empty (never raising) when there is none.

        ``is_current`` says whether the document is still at the snapshot's version:
        an answer computed for an older text is not shown. ``on_partial`` receives the raw
        text generated so far, on the inference thread, while the model writes.
        """
        request_id = request_id or self.next_request_id()
        timings: dict[str, float] = {}
        record: dict[str, object] = dict(request_id=request_id, language=snapshot.language_id, source="none")
        started = time.perf_counter()
        try:
            result = await self._complete(snapshot, timings, record, on_partial)
        except asyncio.CancelledError:
            self.metrics.record(
                msgspec.convert({**record, "outcome": "cancelled", "timings_ms": timings}, RequestRecord)
            )
            log.debug("request %d cancelled", request_id)
            raise
        except CopilotError as exc:
            log.warning("request %d: %s", request_id, exc)
            result = ""
            record["outcome"] = "error"
        timings["total"] = (time.perf_counter() - started) * 1000
        if result and not is_current():
            result = ""
            record["outcome"] = "stale"
        record.setdefault("outcome", "shown" if result else "empty")
        self.metrics.record(msgspec.convert({**record, "timings_ms": timings}, RequestRecord))
        log.debug(
            "request %d source=%s %s",
            request_id,
            record["source"],
            " ".join(f"{k}_ms={v:.1f}" for k, v in timings.items()),
        )
        return CompletionResult(request_id=request_id, text=result, source=str(record["source"]), timings_ms=timings)

    async def _complete(
        self,
        snapshot: Snapshot,
        timings: dict[str, float],
        record: dict[str, object],
        on_partial: Callable[[str], None] | None,
    ) -> str:
        engine = self.engine
        if engine is None:
            raise CopilotError(self.engine_error or "no model loaded")
        settings = self.config.completion
        mark = time.perf_counter()
        budget = max(16, min(settings.prompt_tokens, engine.n_ctx - settings.max_tokens - PROMPT_MARGIN))
        window = context.local_window(
            snapshot.prefix, snapshot.suffix, budget, settings.suffix_share, engine.vocabulary.encode
        )
        prompt = build_fim_prompt(engine.vocabulary.fim, window.prefix, window.suffix)
        mark = _lap(timings, "context", mark)

        params = GenerationParams(max_tokens=settings.max_tokens, max_lines=settings.max_lines)
        key = cache_key(engine.vocabulary.id, prompt, params)
        cached = self.cache.get(key) if self.cache else None
        mark = _lap(timings, "cache", mark)
        if cached is not None:
            record.update(source="cache", prompt_tokens=len(prompt))
            return cached.text

        record["source"] = "model"
        job = GenerationJob(prompt=prompt, max_tokens=params.max_tokens, max_lines=params.max_lines, on_text=on_partial)
        generation = await engine.generate(job, on_abandoned=self.metrics.record_cancelled_generation)
        mark = _lap(timings, "generate", mark)
        timings.update(queue=generation.queue_ms, prefill=generation.prefill_ms, decode=generation.decode_ms)
        record.update(
            stop_reason=generation.stop_reason,
            prompt_tokens=generation.prompt_tokens,
            reused_tokens=generation.reused_tokens,
            generated_tokens=generation.generated_tokens,
        )
        if generation.stop_reason == "cancelled":
            record["outcome"] = "cancelled"
            return ""
        text = postprocess.clean(generation.text, snapshot.suffix[: window.suffix_chars])
        _lap(timings, "postprocess", mark)
        if self.cache is not None:
            self.cache.put(key, text, engine.vocabulary.id)
        return text


def _lap(timings: dict[str, float], stage: str, since: float) -> float:
    now = time.perf_counter()
    timings[stage] = (now - since) * 1000
    return now
