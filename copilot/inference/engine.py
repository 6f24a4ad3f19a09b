"""Local inference on llama.cpp: one worker thread owns the model and batches every job.

llama.cpp contexts are not thread-safe, so exactly one thread touches the model: the
engine of a process serves every editor session in it. The event loop submits a job and
awaits its future; ctypes releases the GIL while llama.cpp decodes (and its abort flag is
read in C, see ``llama``), so the loop stays responsive.

The worker batches continuously (``batching``): each forward pass advances every running
generation by a token (plus its draft) and reads a bounded, fairly shared chunk of the
prompts still pending. A job waits in the queue (``jobs.JobQueue``: one waiting job per
document, newest wins, documents round-robin, prefetch only beside other prefetch) until a
KV sequence is free. A newer job for a document cancels its running one; a cancelled
generation stops at the next step, and a forward pass is aborted part-way when every job
in it is cancelled.

The context holds one KV sequence per recently used document (the model settings'
``kv_slots``, which also bounds how many generate at once); ``slots`` says which document
holds which (a new document takes the idle sequence sharing the longest prefix with its
prompt, never one generating) and keeps the states of those pushed out, so a prompt
re-evaluates only what changed since that document's last prompt.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from ..config import ModelSettings, SpeculativeSettings
from ..errors import ModelError
from ..logs import REQUEST_ID, shared_thread
from .batching import ForwardPass, Running, check_limits, plan, step
from .gguf_info import draft_mismatch
from .jobs import Generation, GenerationJob, JobQueue, StopReason
from .llama import LlamaSession
from .slots import KvSlots, SavedStates
from .speculative import Drafter, DraftModel, PromptLookup, Speculator
from .vocabulary import Vocabulary

log = logging.getLogger(__name__)

_Item = tuple[GenerationJob, "asyncio.Future[Generation]"]


def default_threads() -> int:
    return max(1, min(8, os.cpu_count() or 1))


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
        self._active: dict[str, GenerationJob] = {}  # owner -> its job being generated
        self._lock = threading.Lock()  # guards _active, _slots, _saved and the records between the loop and the worker
        self._ready = threading.Event()
        self._load_error: ModelError | None = None
        # It serves every session of the process: it logs as none of them (a context of its own).
        self._thread = shared_thread(self._run, "copilot-inference")
        self._llama: LlamaSession | None = None
        self._slots = KvSlots(max(1, settings.kv_slots))
        self._saved = SavedStates(settings.saved_states_mb * 1_000_000)
        self._speculator: Speculator | None = None
        self._batch_sizes: deque[int] = deque(maxlen=4096)  # generations per forward pass, recent steps
        self._passes: deque[ForwardPass] = deque(maxlen=4096)  # recent forward passes, timed

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

    def busy(self) -> bool:
        """Whether an interactive job (a completion, not a prefetch) runs or waits."""
        with self._lock:
            running = any(not job.background for job in self._active.values())
        return running or self._jobs.waiting_interactive()

    def forget_owners(self, prefix: str) -> int:
        """Free the KV sequences (and saved states) of the owners named ``prefix...``: an
        editor session ended. Returns how many sequences were freed."""
        with self._lock:
            self._saved.drop(prefix)
            return len(self._slots.release(prefix))

    def sequence_owners(self) -> dict[str, int]:
        """Which owner holds which KV sequence now."""
        with self._lock:
            return self._slots.owners()

    def batch_sizes(self) -> list[int]:
        """How many generations each recent forward pass advanced."""
        with self._lock:  # the worker appends: copying a deque while it changes raises
            return list(self._batch_sizes)

    def recent_passes(self) -> list[ForwardPass]:
        """The recent forward passes, oldest first: when each ran and what it held."""
        with self._lock:
            return list(self._passes)

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
            running = self._active.get(job.owner)
            if not job.background and running is not None:
                running.cancel.set()
                job.preempted = True
            for old_job, old_future in self._jobs.put(job.owner, (job, future), job.background):
                old_job.cancel.set()
                _answer(old_future, _not_run(old_job, "superseded"))
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
        running: list[Running] = []
        turn = 0
        while True:
            self._admit(running)
            if not running:
                return  # closed
            turn += 1
            try:
                self._step(running, turn)
            except Exception as exc:  # report to every request in the batch, keep the worker alive
                log.exception("generation failed")
                for r in running:
                    r.reason = r.reason or "cancelled"
                    self._finish(r, exc)
                running.clear()
                continue
            for r in [r for r in running if r.reason is not None]:
                running.remove(r)
                self._finish(r)

    def _admit(self, running: list[Running]) -> None:
        """Start waiting jobs while sequences are free: at most one per document, background
        jobs only beside other background jobs; blocks only when nothing is running."""
        while len(running) < self._slots.size:
            interactive = any(not r.job.background for r in running)
            item = self._jobs.get(
                block=not running, exclude={r.job.owner for r in running}, background=not interactive
            )
            if item is None:
                return
            job, future = item
            started = self._start(job, future, {r.seq for r in running})
            if started.reason is not None:
                self._finish(started)
            else:
                running.append(started)

    def _start(self, job: GenerationJob, future: asyncio.Future[Generation], busy: set[int]) -> Running:
        """The job on its document's KV sequence (prefix-aware when it needs a new one), its
        reusable prompt prefix kept."""
        now = time.perf_counter()
        REQUEST_ID.set(job.request_id)
        if self._load_error is not None or self._llama is None:
            error = self._load_error or ModelError("model not loaded")
            return Running(job, future, -1, now, 0, reason="cancelled", error=error)
        llm = self._llama
        prompt = job.prompt
        if job.cancel.is_set():
            return Running(job, future, -1, now, 0, reason="cancelled")
        if len(prompt) >= llm.n_ctx:
            error = ModelError(f"a prompt of {len(prompt)} tokens does not fit the context ({llm.n_ctx})")
            return Running(job, future, -1, now, 0, reason="cancelled", error=error)
        with self._lock:
            seq, arrived, evicted = self._slots.slot_for(
                job.owner, busy, shared=lambda slot: llm.reusable(prompt, slot)
            )
            if arrived:
                self._switch(llm, seq, job.owner, evicted)
            self._active[job.owner] = job
        reused = llm.reusable(prompt, seq)
        llm.keep(reused, seq)
        run = self._speculator.begin(prompt, seq) if self._speculator is not None else None
        return Running(job, future, seq, now, reused, run=run)

    def _step(self, running: list[Running], turn: int) -> None:
        llm = self._llama
        assert llm is not None
        now = time.perf_counter()
        for r in running:
            check_limits(r, llm, now)
        active = [r for r in running if r.reason is None]
        if active:
            passes = step(plan(active, llm, turn), llm, self.vocabulary)
            with self._lock:
                self._batch_sizes.append(len(active))
                self._passes.extend(passes)

    def _finish(self, r: Running, error: BaseException | None = None) -> None:
        """Answer a finished generation, with its text or the error that stopped it."""
        with self._lock:
            if self._active.get(r.job.owner) is r.job:
                del self._active[r.job.owner]
        error = error or r.error
        result: Generation | BaseException = error if error is not None else self._generation(r)
        loop = r.reply.get_loop()
        if not loop.is_closed():
            loop.call_soon_threadsafe(_answer, r.reply, result)

    def _generation(self, r: Running) -> Generation:
        job = r.job
        queue_ms = (r.admitted - job.submitted) * 1000
        if r.seq < 0 or (not r.decoding and r.generated == 0 and not r.prefill_done):
            reason = r.reason if r.reason is not None else "cancelled"
            return _not_run(job, reason, queue_ms, r.reused, r.admitted)
        done = time.perf_counter()
        if r.run is not None:
            r.run.done(r.generated, done - r.prefill_done)
        assert r.reason is not None
        log.debug(
            "slot %d: %d prompt tokens (%d reused), %d generated (%s), %d drafted / %d accepted",
            r.seq,
            len(job.prompt),
            r.reused,
            r.generated,
            r.reason,
            r.counters.drafted,
            r.counters.accepted,
        )
        return Generation(
            text=r.text,
            stop_reason=r.reason,
            prompt_tokens=len(job.prompt),
            reused_tokens=r.reused,
            generated_tokens=r.generated,
            queue_ms=queue_ms,
            prefill_ms=(r.prefill_done - r.admitted) * 1000,
            decode_ms=(done - r.prefill_done) * 1000,
            first_token_ms=(r.first_token - r.prefill_done) * 1000,
            mean_logprob=r.mean_logprob,
            draft_tokens=r.counters.drafted,
            accepted_tokens=r.counters.accepted,
            target_forwards=r.counters.forwards,
            preempted=job.preempted,
        )

    def _switch(self, llm: LlamaSession, seq: int, owner: str, evicted: str | None) -> None:
        """Give ``seq`` to ``owner``: keep a copy of the evicted document's state, and bring
        back the owner's own if one was kept (else the sequence keeps what it holds: the
        prompt reuses whatever prefix it shares with it)."""
        if evicted is not None and llm.sequences[seq] and self._saved.budget:
            self._saved.put(evicted, llm.save_state(seq), llm.sequences[seq])
        saved = self._saved.take(owner)
        if saved is not None:
            try:
                llm.restore_state(saved[0], saved[1], seq)
            except ModelError as exc:  # then the prompt is evaluated again, as without a copy
                log.debug("%s", exc)
                llm.keep(0, seq)


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


def _answer(future: asyncio.Future[Generation], result: Generation | BaseException) -> None:
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def open_engine(path: Path, settings: ModelSettings, speculative: SpeculativeSettings | None = None) -> LocalEngine:
    """Check the model (without loading weights) and start loading it on the worker thread."""
    vocabulary = Vocabulary(path)
    for warning in vocabulary.warnings:
        log.warning("%s", warning)
    vocabulary.build_healing_index()
    engine = LocalEngine(vocabulary, settings, speculative)
    engine.start()
    return engine
