"""What the inference worker is asked (``GenerationJob``), what it answers (``Generation``),
and who it serves next (``JobQueue``).

Pure logic apart from the queue's lock (no clocks read here): unit-tested directly.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

import msgspec

StopReason = Literal[
    "end", "max_tokens", "max_lines", "cancelled", "context_full", "prefill_budget", "decode_budget", "superseded"
]


class Generation(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    stop_reason: StopReason
    prompt_tokens: int
    reused_tokens: int  # prompt tokens whose KV state was kept from the document's previous job
    generated_tokens: int
    queue_ms: float
    prefill_ms: float
    decode_ms: float
    first_token_ms: float = 0.0  # from the end of the prefill to the first generated token
    mean_logprob: float = 0.0  # of the generated tokens: the completion's confidence
    draft_tokens: int = 0  # proposed by the drafters
    accepted_tokens: int = 0  # of those, kept by the target
    target_forwards: int = 0  # target decode calls after the prompt
    preempted: bool = False  # the worker was busy with this document's superseded job when it arrived


class CancelFlag(threading.Event):
    """A job's cancel flag. Setting it also runs the hooks the worker registered while the
    job is in a forward pass (to abort the pass when every job in it is cancelled)."""

    def __init__(self) -> None:
        super().__init__()
        self._hooks: list[Callable[[], None]] = []
        self._hooks_lock = threading.Lock()

    def set(self) -> None:
        super().set()
        with self._hooks_lock:
            hooks = list(self._hooks)
        for hook in hooks:
            hook()

    def watch(self, hook: Callable[[], None]) -> None:
        with self._hooks_lock:
            self._hooks.append(hook)

    def unwatch(self, hook: Callable[[], None]) -> None:
        with self._hooks_lock:
            self._hooks.remove(hook)


@dataclass
class GenerationJob:
    prompt: list[int]
    max_tokens: int
    max_lines: int = 0
    heal: str = ""  # the half-typed word cut off the prompt: the first tokens must spell it
    owner: str = ""  # the document: its KV sequence, its place in the queue
    background: bool = False  # prefetch: only when no interactive job waits
    max_prefill_ms: float = 0.0  # 0: no limit
    max_decode_ms: float = 0.0
    cancel: CancelFlag = field(default_factory=CancelFlag)
    on_text: Callable[[str], None] | None = None  # called on the worker thread with the text so far
    submitted: float = field(default_factory=time.perf_counter)
    preempted: bool = False
    request_id: int | None = None  # for the log lines the worker writes about this job


T = TypeVar("T")


class JobQueue(Generic[T]):
    """The jobs waiting for the one inference worker.

    - One waiting job per owner (a document): a newer job replaces the older one, which
      ``put`` hands back so the caller can answer it as cancelled (latest wins).
    - Owners are served round-robin in order of arrival, so one busy document cannot
      starve another, whichever client it belongs to.
    - Background jobs (prefetch) run only when no interactive job waits.
    """

    def __init__(self) -> None:
        self._interactive: OrderedDict[str, T] = OrderedDict()
        self._background: OrderedDict[str, T] = OrderedDict()
        self._closed = False
        self._ready = threading.Condition()

    def put(self, owner: str, job: T, background: bool = False) -> list[T]:
        """Queue ``job``; returns the jobs it replaced (the owner's older waiting jobs)."""
        replaced: list[T] = []
        with self._ready:
            if not background and owner in self._background:
                replaced.append(self._background.pop(owner))
            lane = self._background if background else self._interactive
            if owner in lane:
                replaced.append(lane[owner])
            lane[owner] = job  # a replaced job's owner keeps its place in the round
            self._ready.notify()
        return replaced

    def get(self, block: bool = True, exclude: Collection[str] = (), background: bool = True) -> T | None:
        """The next job whose owner is not in ``exclude`` (documents generating now: their
        next job waits, and can still be replaced), background ones only with ``background``.
        With ``block``, waits until there is one; None once closed and drained, or at once
        without ``block`` when none may start."""
        with self._ready:
            while True:
                lanes = (self._interactive, self._background) if background else (self._interactive,)
                for lane in lanes:
                    owner = next((owner for owner in lane if owner not in exclude), None)
                    if owner is not None:
                        return lane.pop(owner)
                if not block or self._closed:
                    return None
                self._ready.wait()

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()

    def waiting_interactive(self) -> bool:
        with self._ready:
            return bool(self._interactive)

    def __len__(self) -> int:
        with self._ready:
            return len(self._interactive) + len(self._background)
