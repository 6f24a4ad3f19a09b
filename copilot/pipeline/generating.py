"""Running the models for a request: the local model's job, cleaning and caching its text;
the remote model when the router escalates; and the prefetch of the completion that follows
an accepted one. The pipeline (``completion``) decides when; this module does it."""

from __future__ import annotations

import asyncio
import time

import msgspec

from .. import postprocess
from ..cache import CachedCompletion, CompletionCache, context_key
from ..config import Config, RemoteSettings
from ..context.retrieval import Retriever
from ..documents import Snapshot
from ..inference import Engine
from ..inference.jobs import GenerationJob
from ..logs import REQUEST_ID
from ..metrics import Metrics, RequestRecord
from ..remote.escalation import Escalation
from ..remote.router import RouteRequest, RouterSettings, decide
from ..remote.shaping import estimated_cost, shape_request
from .debounce import Debounce
from .prompting import Prompt, PromptBuilder
from .request import Request

PREFETCH_DELAY_S = 0.15  # a user still typing cancels the prefetch before it costs anything


class Generator:
    def __init__(
        self,
        config: Config,
        engine: Engine,
        prompts: PromptBuilder,
        cache: CompletionCache,
        metrics: Metrics,
        debounce: Debounce,
        retriever: Retriever | None = None,
        escalation: Escalation | None = None,
        session: str = "",
    ) -> None:
        self.config = config
        self.owner_prefix = owner_prefix(session)
        self.engine = engine
        self.prompts = prompts
        self.cache = cache
        self.metrics = metrics
        self.debounce = debounce
        self.retriever = retriever
        self.escalation = escalation
        self._prefetch: asyncio.Task[None] | None = None

    async def escalated(self, request: Request, prompt: Prompt, local_text: str) -> str:
        """The remote model's answer instead of ``local_text`` when the router says so and
        the remote answers in time; ``local_text`` otherwise."""
        escalation = self.escalation
        assert escalation is not None
        settings = self.config.remote
        record, snapshot = request.record, request.snapshot
        route = RouteRequest(
            explicit=request.explicit,
            wants_block=request.wants_block,
            empty_body=request.wants_block,
            local_confidence=record.mean_logprob if record.generated_tokens else None,
            local_chars=len(local_text),
            prompt_tokens=record.prompt_tokens,
        )
        router = RouterSettings(escalate_empty_blocks=settings.escalate_blocks, min_confidence=settings.min_confidence)
        decision = decide(route, escalation.state(), router)
        record.route_reason = decision.reason
        if decision.route == "local":
            return local_text
        if request.explicit and request.on_partial is not None and local_text:
            request.on_partial(local_text)  # shown while the remote model writes; its text then replaces it
        timeout_ms = settings.generate_timeout_ms if request.explicit else settings.inline_timeout_ms
        path = self.retriever.display_path(request.uri) if self.retriever is not None else request.uri
        sent = shape_request(
            settings,
            request.prefix,
            request.suffix,
            path,
            snapshot.language_id,
            snippets=[(c.path, c.text) for c in prompt.retrieved.snippets],
            max_lines=request.params.max_lines,
        )
        result = await escalation.complete(sent, timeout_ms / 1000, request.on_partial)
        request.lap("remote")
        if result is None or not result.text.strip():
            record.route_reason = f"{decision.reason}; remote gave nothing: local answer"
            return local_text
        text = postprocess.clean(result.text, request.prefix, request.suffix, snapshot.language_id)
        if request.params.max_lines:
            text = "\n".join(text.split("\n")[: request.params.max_lines])
        record.source = "remote"
        record.remote_tokens_in = result.prompt_tokens
        record.remote_tokens_out = result.completion_tokens
        record.cost = escalation.cost(result.prompt_tokens, result.completion_tokens)
        request.timings["remote_first_token"] = result.first_token_ms
        self.store(request, self.cache_keys(request, prompt), text)
        return text

    async def generate(self, request: Request, job: GenerationJob, keys: list[bytes]) -> str:
        """Run the model, clean and cache its text. The statistics go to the request that
        started the generation (requests attached to its stream count as "stream")."""
        on_abandoned = None if job.background else self.metrics.record_cancelled_generation
        generation = await self.engine.generate(job, on_abandoned=on_abandoned)
        request.answered_by(generation)
        if not job.background and generation.generated_tokens:
            self.debounce.model_time(generation.queue_ms + generation.prefill_ms + generation.decode_ms)
        if generation.stop_reason in ("cancelled", "superseded", "prefill_budget"):
            return ""
        started = time.perf_counter()
        text = postprocess.clean(generation.text, request.prefix, request.suffix, request.snapshot.language_id)
        request.timings["postprocess"] = (time.perf_counter() - started) * 1000
        if generation.stop_reason not in ("decode_budget", "context_full"):  # cut short: not the real answer
            self.store(request, keys, text)
        return text

    def job(self, request: Request, prompt: Prompt) -> GenerationJob:
        settings = self.config.completion
        return GenerationJob(
            prompt=prompt.tokens,
            max_tokens=request.params.max_tokens,
            max_lines=request.params.max_lines,
            heal=prompt.heal,
            owner=self.owner_prefix + request.uri,
            max_prefill_ms=settings.max_prefill_ms,
            max_decode_ms=settings.max_decode_ms,
            request_id=REQUEST_ID.get(),
        )

    def cache_keys(self, request: Request, prompt: Prompt) -> list[bytes]:
        """Where an answer is stored: its exact prompt, and the text around the cursor."""
        stem = request.stem_and_anchor[0]
        return [prompt.key, context_key(self.engine.vocabulary.id, request.params, stem, request.suffix)]

    def store(self, request: Request, keys: list[bytes], text: str) -> None:
        anchor = request.stem_and_anchor[1]
        self.cache.put(keys, CachedCompletion(anchor=anchor, text=text, created=time.time()))

    def start_prefetch(self, request: Request, text: str, busy: bool) -> None:
        """The completion after accepting ``text`` at ``request``'s cursor, generated in the
        background (unless the model is ``busy``: real requests come first) and cached."""
        if not self.config.cache.prefetch or busy:
            return
        snapshot = request.snapshot
        accepted = msgspec.structs.replace(
            snapshot, text=request.prefix + text + request.suffix, offset=snapshot.offset + len(text)
        )
        self._prefetch = asyncio.ensure_future(self.run_prefetch(accepted))

    def stop_prefetch(self) -> None:
        if self._prefetch is not None and not self._prefetch.done():
            self._prefetch.cancel()
        self._prefetch = None

    async def run_prefetch(self, snapshot: Snapshot) -> None:
        """``snapshot``: the document as it would be with the suggestion accepted."""
        await asyncio.sleep(PREFETCH_DELAY_S)
        request = Request(snapshot=snapshot, id=0, settings=self.config.completion)  # not counted: no one asked
        # The context chosen for the request just answered: the text is not the document's.
        reuse = self.retriever.last(snapshot.uri) if self.retriever is not None else None
        prompt = self.prompts.build(snapshot, request.params, reuse=reuse)
        if self.cache.get(prompt.key)[0] is not None:
            return
        job = self.job(request, prompt)
        job.background = True
        await self.generate(request, job, self.cache_keys(request, prompt))
        self.metrics.counts["prefetch_completions"] += 1


def cost_if_remote(settings: RemoteSettings, record: RequestRecord) -> float:
    """What the answer cost, or would have cost, from the remote model (its prices; the
    local token counts stand in for the remote's when it did not answer)."""
    if record.source == "remote":
        return record.cost
    return estimated_cost(settings, record.prompt_tokens, record.generated_tokens)


def owner_prefix(session: str) -> str:
    """What starts the engine's owner names (KV sequences, queue places) of a session's
    documents: two editors with the same file open never share or supersede each other's."""
    return f"{session} " if session else ""
