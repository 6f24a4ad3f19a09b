"""Local inference on llama.cpp: one worker thread owns the model; jobs arrive on a queue.

llama.cpp contexts are not thread-safe, so exactly one thread touches the model. The
event loop submits a job and awaits its future; ctypes releases the GIL while llama.cpp
decodes, so the loop stays responsive. Each job carries a cancel flag that the decode
loop checks between tokens and llama.cpp polls during a forward pass (its abort
callback): a cancelled request stops within one token, even mid-prefill.

The queue (``scheduler.JobQueue``) keeps one waiting job per document, newest wins, and
serves documents round-robin. The context holds one KV sequence per recently used
document (``model.kv_slots``), so a prompt re-evaluates only what changed since that
document's last prompt, even after working in other files meanwhile.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from ..config import ModelSettings, SpeculativeSettings
from ..errors import ModelError
from ..logs import REQUEST_ID
from .decoding import DecodeCounters, greedy_steps
from .gguf_info import draft_mismatch
from .jobs import Generation, GenerationJob, JobQueue, StopReason
from .llama import DecodeAborted, LlamaSession
from .speculative import Drafter, DraftModel, PromptLookup, Speculator
from .vocabulary import Vocabulary

log = logging.getLogger(__name__)

PREFILL_CHUNK = 128  # prompt tokens per llama_decode call: the prefill time budget is checked between them

_Item = tuple[GenerationJob, "asyncio.Future[Generation]"]


def default_threads() -> int:
    return max(1, min(8, os.cpu_count() or 1))


class KvSlots:
    """Which KV sequence holds which document: least recently used goes first."""

    def __init__(self, n: int) -> None:
        self._owners: OrderedDict[str, int] = OrderedDict()
        self._free = list(range(n))

    def slot_for(self, owner: str) -> tuple[int, bool, str | None]:
        """The owner's slot; whether the owner just got it (its state is not there); and
        the owner it was taken from, if any."""
        if owner in self._owners:
            self._owners.move_to_end(owner)
            return self._owners[owner], False, None
        evicted = None
        if self._free:
            slot = self._free.pop(0)
        else:
            evicted, slot = self._owners.popitem(last=False)
        self._owners[owner] = slot
        return slot, True, evicted


class SavedStates:
    """KV states of documents pushed out of their sequence, newest kept, within a byte
    budget: restoring one costs milliseconds where evaluating the prompt again costs its
    whole prefill (BENCHMARKS.md, "KV reuse")."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget = budget_bytes
        self._states: OrderedDict[str, tuple[bytes, list[int]]] = OrderedDict()
        self._bytes = 0

    def put(self, owner: str, state: bytes, tokens: list[int]) -> None:
        self.take(owner)
        if len(state) > self.budget:
            return
        self._states[owner] = (state, list(tokens))
        self._bytes += len(state)
        while self._bytes > self.budget:
            _, (old, _) = self._states.popitem(last=False)
            self._bytes -= len(old)

    def take(self, owner: str) -> tuple[bytes, list[int]] | None:
        entry = self._states.pop(owner, None)
        if entry is not None:
            self._bytes -= len(entry[0])
        return entry


class LocalEngine:
    """Owns the llama.cpp model on its own thread; ``generate`` is called from the event loop."""

    def __init__(
        self, vocabulary: Vocabulary, settings: ModelSettings, speculative: SpeculativeSettings | None = None
    ) -> None:
        self.vocabulary = vocabulary
        self.settings = settings
        self.speculative = speculative or SpeculativeSettings()
        trained = vocabulary.context_length
        # Positions past the trained length give garbage: never use a longer context.
        self.n_ctx = min(settings.n_ctx, trained) if trained else settings.n_ctx
        if self.n_ctx < settings.n_ctx:  # expected with the small default model: not worth more than debug
            log.debug(
                "model.n_ctx %d is longer than %s was trained for: using %d",
                settings.n_ctx,
                vocabulary.path.name,
                self.n_ctx,
            )
        self._jobs: JobQueue[_Item] = JobQueue()
        self._running: GenerationJob | None = None
        self._lock = threading.Lock()  # guards _running between the loop and the worker
        self._ready = threading.Event()
        self._load_error: ModelError | None = None
        self._thread = threading.Thread(target=self._run, name="copilot-inference", daemon=True)
        self._llama: LlamaSession | None = None
        self._slots = KvSlots(max(1, settings.kv_slots))
        self._saved = SavedStates(settings.saved_states_mb * 1_000_000)
        self._speculator: Speculator | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._jobs.close()

    def wait_ready(self, timeout: float | None = None) -> None:
        """Block until the weights are loaded; raises the load error if there was one."""
        self._ready.wait(timeout)
        if self._load_error is not None:
            raise self._load_error

    def queued(self) -> int:
        return len(self._jobs)

    @property
    def speculator(self) -> Speculator | None:
        """The drafters in use, once the model is loaded (None: no speculation)."""
        return self._speculator

    async def generate(
        self, job: GenerationJob, on_abandoned: Callable[[GenerationJob, Generation], None] | None = None
    ) -> Generation:
        """Run ``job`` on the worker. If the awaiting task is cancelled, the job is told to
        stop and ``on_abandoned`` later receives what the worker had generated by then.

        A newer interactive job for the same document supersedes this one: a waiting one
        is answered at once as superseded, a running one stops within a token."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Generation] = loop.create_future()
        with self._lock:
            running = self._running
            if not job.background and running is not None and running.owner == job.owner:
                running.cancel.set()
                job.preempted = True
            for old_job, old_future in self._jobs.put(job.owner, (job, future), job.background):
                old_job.cancel.set()
                _resolve(old_future, _not_run(old_job, "superseded"))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            job.cancel.set()  # the worker stops at the next token
            if on_abandoned is not None:
                future.add_done_callback(
                    lambda done: on_abandoned(job, done.result()) if not done.exception() else None
                )
            raise

    # --- worker thread -------------------------------------------------------------------

    def _load(self) -> None:
        try:
            self._llama = LlamaSession(
                self.vocabulary.path,
                n_ctx=self.n_ctx,
                n_batch=min(512, self.n_ctx),
                n_threads=self.settings.n_threads or default_threads(),
                n_gpu_layers=self.settings.n_gpu_layers,
                n_seq=max(1, self.settings.kv_slots),
            )
            self._speculator = self._open_speculator()
        except ModelError as exc:
            self._load_error = exc
        finally:
            self._ready.set()

    def _open_speculator(self) -> Speculator | None:
        settings = self.speculative
        drafters: list[Drafter] = []
        if settings.lookup:
            drafters.append(PromptLookup())
        if settings.draft_model:
            try:
                draft = Vocabulary(Path(settings.draft_model).expanduser())
                mismatch = draft_mismatch(self.vocabulary, draft)
                if mismatch:
                    raise ModelError(f"{settings.draft_model} cannot draft for the model: {mismatch}")
                session = LlamaSession(
                    draft.path,
                    n_ctx=self.n_ctx,
                    n_batch=min(512, self.n_ctx),
                    n_threads=self.settings.n_threads or default_threads(),
                    n_gpu_layers=self.settings.n_gpu_layers,
                )
                drafters.append(DraftModel(session, settings.draft_min_confidence))
            except ModelError as exc:
                log.warning("draft model not used: %s; completing without it", exc)
        if not drafters:
            return None
        return Speculator(drafters, max_length=settings.max_draft, min_acceptance=settings.min_acceptance)

    def _run(self) -> None:
        self._load()
        while (item := self._jobs.get()) is not None:
            job, future = item
            with self._lock:
                self._running = job
            self._watch(job.cancel)
            REQUEST_ID.set(job.request_id)
            try:
                result: Generation | BaseException = self._generate(job)
            except Exception as exc:  # report to the awaiting request, keep the worker alive
                log.exception("generation failed")
                result = exc
            self._watch(None)
            with self._lock:
                self._running = None
            loop = future.get_loop()
            if not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, future, result)

    def _watch(self, cancel: threading.Event | None) -> None:
        """Let a cancel abort llama.cpp mid-batch, in the target and the draft model."""
        if self._llama is not None:
            self._llama.abort_when = cancel
        for drafter in self._speculator.drafters if self._speculator else []:
            if isinstance(drafter, DraftModel):
                drafter.session.abort_when = cancel

    def _switch(self, llm: LlamaSession, seq: int, owner: str, evicted: str | None) -> None:
        """Give ``seq`` to ``owner``: keep a copy of the evicted document's state, and bring
        back the owner's own if one was kept."""
        if evicted is not None and llm.sequences[seq] and self._saved.budget:
            self._saved.put(evicted, llm.save_state(seq), llm.sequences[seq])
        llm.keep(0, seq)
        saved = self._saved.take(owner)
        if saved is not None:
            try:
                llm.restore_state(saved[0], saved[1], seq)
            except ModelError as exc:  # then the prompt is evaluated again, as without a copy
                log.debug("%s", exc)
                llm.keep(0, seq)

    def _generate(self, job: GenerationJob) -> Generation:
        try:
            return self._run_job(job)
        except DecodeAborted:
            return _not_run(job, "cancelled")

    def _run_job(self, job: GenerationJob) -> Generation:
        started = time.perf_counter()
        queue_ms = (started - job.submitted) * 1000
        if job.cancel.is_set():
            return _not_run(job, "cancelled", queue_ms)
        if self._load_error is not None or self._llama is None:
            raise self._load_error or ModelError("model not loaded")
        llm = self._llama
        prompt = job.prompt
        if len(prompt) >= llm.n_ctx:
            raise ModelError(f"a prompt of {len(prompt)} tokens does not fit the context ({llm.n_ctx})")
        seq, arrived, evicted = self._slots.slot_for(job.owner)
        if arrived:
            self._switch(llm, seq, job.owner, evicted)
        # Keep the KV state of the longest common prefix with the document's previous prompt.
        reused = llm.reusable(prompt, seq)
        llm.keep(reused, seq)
        for start in range(reused, len(prompt), PREFILL_CHUNK):
            if job.cancel.is_set():  # also between chunks of a long prompt
                return _not_run(job, "cancelled", queue_ms, reused, started)
            if job.max_prefill_ms and (time.perf_counter() - started) * 1000 > job.max_prefill_ms:
                # What was evaluated stays in the KV cache: the next keystroke continues from it.
                return _not_run(job, "prefill_budget", queue_ms, reused, started)
            try:
                llm.decode(prompt[start : start + PREFILL_CHUNK], seq)
            except DecodeAborted:
                return _not_run(job, "cancelled", queue_ms, reused, started)
        prefill_done = time.perf_counter()

        stop_tokens = self.vocabulary.stop_tokens
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        counters = DecodeCounters()
        heal = job.heal.encode("utf-8", "surrogatepass")
        steps = greedy_steps(llm, self.vocabulary, prompt, seq, heal, self._speculator, counters)
        written, text, generated, logprob_sum = "", "", 0, 0.0  # written includes the healed anchor
        first_token = prefill_done
        reason: StopReason = "max_tokens"
        deadline = prefill_done + job.max_decode_ms / 1000 if job.max_decode_ms else None
        while generated < job.max_tokens:
            if job.cancel.is_set():
                reason = "cancelled"
                break
            if deadline is not None and time.perf_counter() > deadline:
                reason = "decode_budget"
                break
            if len(llm.sequences[seq]) + (1 if generated else 0) > llm.n_ctx:  # the next step decodes a token
                reason = "context_full"
                break
            try:
                step = next(steps)
            except DecodeAborted:  # cancelled during the forward pass
                reason = "cancelled"
                break
            if step.token in stop_tokens:
                reason = "end"
                break
            generated += 1
            if generated == 1:
                first_token = time.perf_counter()
            logprob_sum += step.logprob
            written += decoder.decode(step.piece)
            text = written[len(job.heal) :]
            if job.max_lines and text.count("\n") >= job.max_lines:
                text = "\n".join(text.split("\n")[: job.max_lines])
                reason = "max_lines"
                break
            if job.on_text is not None and text:
                job.on_text(text)
        done = time.perf_counter()
        if self._speculator is not None:
            self._speculator.job_done(generated, done - prefill_done)
        log.debug(
            "slot %d: %d prompt tokens (%d reused), %d generated (%s), %d drafted / %d accepted",
            seq,
            len(prompt),
            reused,
            generated,
            reason,
            counters.drafted,
            counters.accepted,
        )
        return Generation(
            text=text,
            stop_reason=reason,
            prompt_tokens=len(prompt),
            reused_tokens=reused,
            generated_tokens=generated,
            queue_ms=queue_ms,
            prefill_ms=(prefill_done - started) * 1000,
            decode_ms=(done - prefill_done) * 1000,
            first_token_ms=(first_token - prefill_done) * 1000,
            mean_logprob=logprob_sum / generated if generated else 0.0,
            draft_tokens=counters.drafted,
            accepted_tokens=counters.accepted,
            target_forwards=counters.forwards,
            preempted=job.preempted,
        )


def _not_run(
    job: GenerationJob, reason: StopReason, queue_ms: float = 0.0, reused: int = 0, started: float | None = None
) -> Generation:
    """The answer for a job stopped before it generated anything."""
    return Generation(
        text="",
        stop_reason=reason,
        prompt_tokens=len(job.prompt),
        reused_tokens=reused,
        generated_tokens=0,
        queue_ms=queue_ms,
        prefill_ms=(time.perf_counter() - started) * 1000 if started is not None else 0.0,
        decode_ms=0.0,
        preempted=job.preempted,
    )


def _resolve(future: asyncio.Future[Generation], result: Generation | BaseException) -> None:
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def open_engine(path: Path, settings: ModelSettings, speculative: SpeculativeSettings | None = None) -> LocalEngine:
    """Check the model (without loading weights) and start loading it on the worker thread."""
    engine = LocalEngine(Vocabulary(path), settings, speculative)
    engine.start()
    return engine
