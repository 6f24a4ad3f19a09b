"""Continuous batching: every active generation advances in the same llama.cpp forward pass.

Each step (``step``) decodes, in one pass, for every generation that is decoding, the token
it chose last plus its speculative draft (logits for every row, to verify the draft); then,
in a second pass, a bounded chunk of pending prompt evaluation, shared fairly among the
generations still reading their prompts. A long prompt from one editor therefore delays
another editor's next token by at most one chunk, and N generations cost about one forward
pass a token instead of N. Verification and stopping are ``decoding.greedy_steps``' rules applied
per generation, so each one's tokens are plain greedy decoding's (up to llama.cpp rounding
a batch of rows differently from a single row where two tokens nearly tie).

``Running`` is one generation's state; the engine (``engine.py``) admits jobs, runs
``step`` and answers the finished ones.
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..prompt.healing import heal_step
from .decoding import DecodeCounters, choose, greedy_logprobs
from .jobs import GenerationJob, StopReason
from .llama import DecodeAborted, LlamaSession, Part
from .speculative import Drafter, DraftRun
from .vocabulary import Vocabulary

PREFILL_CHUNK = 128  # prompt tokens per step, all generations together: the bound on a stall


class ForwardPass(NamedTuple):
    """One llama.cpp forward pass of a step and the handling of its rows (verifying, choosing,
    emitting), for the engine's record (``perf_counter`` times)."""

    started: float
    ended: float
    decoding_rows: int  # the decoding generations' tokens and drafts
    prompt_tokens: int  # prompt evaluation


@dataclass(eq=False)
class Running:
    """A generation on its KV sequence: reading its prompt, then decoding."""

    job: GenerationJob
    reply: Any  # what the engine answers through (a future)
    seq: int
    admitted: float  # perf_counter()
    reused: int  # prompt tokens whose KV state was already there
    run: DraftRun | None = None
    prompt_done: int = 0  # prompt tokens in the KV
    token: int = -1  # chosen and emitted, not yet decoded (-1: still reading the prompt)
    pending: bytes = b""  # what the next tokens must still spell of the healed word
    context: list[int] = field(default_factory=list)  # prompt + generated, for the drafters
    draft: list[int] = field(default_factory=list)
    drafter: Drafter | None = None
    written: str = ""  # generated text, the healed anchor included
    text: str = ""
    tokens: list[int] = field(default_factory=list)  # generated
    logprob_sum: float = 0.0
    prefill_done: float = 0.0
    first_token: float = 0.0
    counters: DecodeCounters = field(default_factory=DecodeCounters)
    reason: StopReason | None = None  # set once finished
    error: BaseException | None = None  # what the request is answered instead of a generation
    decoder: codecs.IncrementalDecoder = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")("replace"))

    def __post_init__(self) -> None:
        self.prompt_done = self.reused
        self.pending = self.job.heal.encode("utf-8", "surrogatepass")
        self.context = list(self.job.prompt)

    @property
    def decoding(self) -> bool:
        return self.token >= 0

    @property
    def generated(self) -> int:
        return len(self.tokens)

    @property
    def mean_logprob(self) -> float:
        return self.logprob_sum / self.generated if self.generated else 0.0


def check_limits(running: Running, session: LlamaSession, now: float) -> None:
    """Before a step: stop a generation that was cancelled, ran out of its time budgets or
    of context."""
    job = running.job
    if job.cancel.is_set():
        running.reason = "cancelled"
    elif not running.decoding:
        if job.max_prefill_ms and (now - running.admitted) * 1000 > job.max_prefill_ms:
            running.reason = "prefill_budget"
    elif job.max_decode_ms and (now - running.prefill_done) * 1000 > job.max_decode_ms:
        running.reason = "decode_budget"
    elif len(session.sequences[running.seq]) + 1 > session.n_ctx:  # the step decodes a token
        running.reason = "context_full"


def plan(running: Sequence[Running], session: LlamaSession, turn: int) -> list[tuple[Running, Part]]:
    """This step's batch: each decoding generation's token and draft, then prompt chunks
    (``PREFILL_CHUNK`` in all, shared evenly, the first share rotating with ``turn``)."""
    parts: list[tuple[Running, Part]] = []
    room = session.n_batch
    decoding = [r for r in running if r.decoding]
    for i, r in enumerate(decoding):
        r.drafter, r.draft = None, []
        if r.run is not None and not r.pending:  # healing constrains choices: no drafts then
            later = len(decoding) - i - 1  # each needs a row of the batch too
            space = min(session.n_ctx - len(session.sequences[r.seq]) - 1, room - 1 - later)
            r.drafter, r.draft = r.run.propose(r.context, space)
        parts.append((r, Part(r.seq, [r.token, *r.draft], 0)))
        room -= 1 + len(r.draft)
    reading = [r for r in running if not r.decoding]
    budget = min(PREFILL_CHUNK, room)
    if reading and budget > 0:
        start = turn % len(reading)
        reading = reading[start:] + reading[:start]
        shares = _shares([len(r.job.prompt) - r.prompt_done for r in reading], budget)
        for r, share in zip(reading, shares, strict=True):
            if share:
                chunk = r.job.prompt[r.prompt_done : r.prompt_done + share]
                last = r.prompt_done + share == len(r.job.prompt)
                parts.append((r, Part(r.seq, chunk, len(chunk) - 1 if last else len(chunk))))
    return parts


def _shares(wanted: list[int], budget: int) -> list[int]:
    """``budget`` split evenly among ``wanted``; what one does not need goes to the others."""
    shares = [0] * len(wanted)
    left = budget
    while left > 0:
        hungry = [i for i, want in enumerate(wanted) if shares[i] < want]
        if not hungry:
            break
        each = max(1, left // len(hungry))
        for i in hungry:
            give = min(each, wanted[i] - shares[i], left)
            shares[i] += give
            left -= give
            if left == 0:
                break
    return shares


def step(parts: list[tuple[Running, Part]], session: LlamaSession, vocabulary: Vocabulary) -> list[ForwardPass]:
    """Decode the planned batch, then advance each generation: verify drafts, choose and
    emit tokens, stop where the job's rules say. Returns the forward passes it ran.

    The decoding generations' rows go through a forward pass of their own, and their tokens
    are out before the prompt chunk's pass: the gap between two of their tokens is then one
    chunk and one step. (In one batch, llama.cpp would split rows of several sequences into
    equal micro-batches anyway when the KV cache is split per sequence, and the tokens would
    wait for the chunk too.)"""
    decoding = [(r, part) for r, part in parts if r.decoding]
    reading = [(r, part) for r, part in parts if not r.decoding]
    passes = []
    for group in (decoding, reading):
        if group:
            started = time.perf_counter()
            _pass(group, session, vocabulary)
            rows = sum(len(part.tokens) for _, part in group)
            is_prompt = group is reading
            passes.append(ForwardPass(started, time.perf_counter(), 0 if is_prompt else rows, rows if is_prompt else 0))
    return passes


def _pass(parts: list[tuple[Running, Part]], session: LlamaSession, vocabulary: Vocabulary) -> None:
    """One forward pass over ``parts``, then each generation advanced."""
    jobs = {id(r.job): r.job for r, _ in parts}.values()

    def abort_if_all_cancelled() -> None:
        if all(job.cancel.is_set() for job in jobs):
            session.abort()

    for job in jobs:
        job.cancel.watch(abort_if_all_cancelled)
    try:
        abort_if_all_cancelled()  # one may have come before the hooks
        rows = session.decode_parts([part for _, part in parts])
    except DecodeAborted:
        for r, _ in parts:
            r.reason = "cancelled"
        return
    finally:
        for job in jobs:
            job.cancel.unwatch(abort_if_all_cancelled)
        session.clear_abort()  # after the hooks are gone: none can set it for the next pass
    now = time.perf_counter()
    for (r, part), row in zip(parts, rows, strict=True):
        if not r.decoding:
            r.prompt_done += len(part.tokens)
            if r.prompt_done == len(r.job.prompt):
                r.prefill_done = r.first_token = now
                _choose_and_emit(r, session, vocabulary, row)
            continue
        _verify(r, session, vocabulary, row)


def _verify(r: Running, session: LlamaSession, vocabulary: Vocabulary, row: int) -> None:
    """After decoding ``[token, *draft]``: keep the draft's prefix the target agrees with."""
    r.counters.forwards += 1
    if not r.draft:
        _choose_and_emit(r, session, vocabulary, row)
        return
    draft = r.draft
    rows = session.all_logits()[row : row + len(draft) + 1]
    choices = rows.argmax(axis=1)
    accepted = 0
    while accepted < len(draft) and choices[accepted] == draft[accepted]:
        accepted += 1
    session.keep(len(session.sequences[r.seq]) - len(draft) + accepted, r.seq)
    assert r.run is not None and r.drafter is not None
    r.run.feedback(r.drafter, len(draft), accepted)
    r.counters.drafted += len(draft)
    r.counters.accepted += accepted
    logprobs = greedy_logprobs(rows[: accepted + 1], choices[: accepted + 1])
    for i in range(accepted):
        if not _emit(r, session, vocabulary, draft[i], logprobs[i]):
            return
        r.context.append(draft[i])
    token = int(choices[accepted])
    if _emit(r, session, vocabulary, token, logprobs[accepted]):
        r.token = token
        r.context.append(token)


def _choose_and_emit(r: Running, session: LlamaSession, vocabulary: Vocabulary, row: int) -> None:
    token, token_logprob = choose(session, vocabulary, r.pending, row)
    if _emit(r, session, vocabulary, token, token_logprob):
        r.token = token
        r.context.append(token)


def _emit(r: Running, session: LlamaSession, vocabulary: Vocabulary, token: int, token_logprob: float) -> bool:
    """One generated token, by the rules of one completion; False once the generation stops."""
    job = r.job
    if token in vocabulary.stop_tokens:
        r.reason = "end"
        return False
    piece = session.piece(token)
    r.pending = heal_step(r.pending, piece)
    r.tokens.append(token)
    if r.generated == 1:
        r.first_token = time.perf_counter()
    r.logprob_sum += token_logprob
    r.written += r.decoder.decode(piece)
    r.text = r.written[len(job.heal) :]
    if job.max_lines and r.text.count("\n") >= job.max_lines:
        r.text = "\n".join(r.text.split("\n")[: job.max_lines])
        r.reason = "max_lines"
        return False
    if job.on_text is not None and r.text:
        job.on_text(r.text)
    if r.generated >= job.max_tokens:
        r.reason = "max_tokens"
        return False
    return True
