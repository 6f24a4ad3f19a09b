"""The lean greedy decode loop over llama.cpp, with optional speculative drafts.

Each step the target decodes the token it just chose plus a draft of guesses in one
batch, with logits for every row; row i is the target's own choice after the i-th token,
so a guess is accepted only while it equals that choice, and the first disagreement is
replaced by the target's token. Output is therefore exactly plain greedy decoding. The
rejected guesses' KV positions are trimmed right away.

The log-probability of each chosen token comes from the same logits (one log-sum-exp per
token), for the completion's confidence.

``prefill`` and ``decode_job`` run one job on a sequence the worker picked: the prompt
in chunks within the job's prefill budget, then greedy steps until a stop condition
(token or line limit, decode budget, cancel, full context, end of text), reporting the
text so far after each token.
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from ..prompt.healing import heal_step
from .jobs import GenerationJob, StopReason
from .llama import DecodeAborted, LlamaSession
from .speculative import Speculator
from .vocabulary import Vocabulary

PREFILL_CHUNK = 128  # prompt tokens per llama_decode call: the prefill time budget is checked between them


@dataclass(frozen=True, slots=True)
class Step:
    token: int
    piece: bytes
    logprob: float


@dataclass
class DecodeCounters:
    forwards: int = 0  # target decode calls after the prompt
    drafted: int = 0
    accepted: int = 0


def _logprob(row: np.ndarray, token: int) -> float:
    top = float(row.max())
    return float(row[token]) - top - float(np.log(np.exp(row - top).sum()))


def _choose(session: LlamaSession, vocabulary: Vocabulary, pending: bytes) -> tuple[int, float]:
    """The greedy token after the last decoded position (spelling ``pending`` first)."""
    token = session.argmax(vocabulary.healing.candidates(pending) if pending else None)
    return token, _logprob(session.logits(), token)


def greedy_steps(
    session: LlamaSession,
    vocabulary: Vocabulary,
    prompt: list[int],
    seq: int = 0,
    heal: bytes = b"",
    speculator: Speculator | None = None,
    counters: DecodeCounters | None = None,
) -> Iterator[Step]:
    """Greedy steps after ``prompt`` (already decoded into ``seq``); the first ones spell
    ``heal``. The caller stops by no longer asking: a token is decoded only when the next
    one is asked for, and the KV state always matches ``session.sequences[seq]``."""
    counters = counters or DecodeCounters()
    history = session.sequences[seq]
    context = list(prompt)  # prompt + generated, for the drafters (grows only)
    if speculator is not None:
        speculator.start(context)
    pending = heal
    token, logprob = _choose(session, vocabulary, pending)
    while True:
        piece = session.piece(token)
        pending = heal_step(pending, piece)
        yield Step(token, piece, logprob)
        context.append(token)
        drafter, draft = None, list[int]()
        if speculator is not None and not pending:  # healing constrains choices: no drafts then
            drafter, draft = speculator.propose(context, session.n_ctx - len(history) - 1)
        counters.forwards += 1
        if drafter is None or speculator is None:
            session.decode([token], seq)
            token, logprob = _choose(session, vocabulary, pending)
            continue
        base = len(history)
        session.decode([token, *draft], seq, all_logits=True)
        rows = session.all_logits()
        choices = rows.argmax(axis=1)
        accepted = 0
        while accepted < len(draft) and choices[accepted] == draft[accepted]:
            accepted += 1
        logprobs = [_logprob(rows[i], int(choices[i])) for i in range(accepted + 1)]
        session.keep(base + 1 + accepted, seq)
        speculator.feedback(drafter, len(draft), accepted)
        counters.drafted += len(draft)
        counters.accepted += accepted
        for i in range(accepted):
            guess = draft[i]
            yield Step(guess, session.piece(guess), logprobs[i])
            context.append(guess)
        token, logprob = int(choices[accepted]), logprobs[accepted]


@dataclass
class Decoded:
    """What ``decode_job`` generated, and why it stopped."""

    text: str  # without the healed anchor
    reason: StopReason
    generated: int  # tokens
    logprob_sum: float
    first_token: float  # perf_counter() when the first token came (the decode's start if none did)
    counters: DecodeCounters = field(default_factory=DecodeCounters)

    @property
    def mean_logprob(self) -> float:
        return self.logprob_sum / self.generated if self.generated else 0.0


def prefill(session: LlamaSession, job: GenerationJob, seq: int, start: int, started: float) -> StopReason | None:
    """Decode ``job.prompt[start:]`` into ``seq``, ``PREFILL_CHUNK`` tokens at a time;
    before each chunk, stop if the job was cancelled or is past its prefill budget
    (counted from ``started``). None once the whole prompt is in, else why it stopped.
    What was evaluated stays in the KV cache: the next keystroke continues from it."""
    prompt = job.prompt
    for chunk in range(start, len(prompt), PREFILL_CHUNK):
        if job.cancel.is_set():  # also between chunks of a long prompt
            return "cancelled"
        if job.max_prefill_ms and (time.perf_counter() - started) * 1000 > job.max_prefill_ms:
            return "prefill_budget"
        try:
            session.decode(prompt[chunk : chunk + PREFILL_CHUNK], seq)
        except DecodeAborted:
            return "cancelled"
    return None


def decode_job(
    session: LlamaSession,
    vocabulary: Vocabulary,
    job: GenerationJob,
    seq: int,
    speculator: Speculator | None,
    started: float,
) -> Decoded:
    """Greedy tokens after ``job.prompt`` (already decoded into ``seq``) until a stop
    condition; ``job.on_text`` gets the text so far after each token. The cancel flag is
    checked between tokens, and the decode budget counts from ``started``."""
    stop_tokens = vocabulary.stop_tokens
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    counters = DecodeCounters()
    heal = job.heal.encode("utf-8", "surrogatepass")
    steps = greedy_steps(session, vocabulary, job.prompt, seq, heal, speculator, counters)
    written, text, generated, logprob_sum = "", "", 0, 0.0  # written includes the healed anchor
    first_token = started
    reason: StopReason = "max_tokens"
    deadline = started + job.max_decode_ms / 1000 if job.max_decode_ms else None
    while generated < job.max_tokens:
        if job.cancel.is_set():
            reason = "cancelled"
            break
        if deadline is not None and time.perf_counter() > deadline:
            reason = "decode_budget"
            break
        if len(session.sequences[seq]) + (1 if generated else 0) > session.n_ctx:  # the next step decodes a token
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
    return Decoded(text, reason, generated, logprob_sum, first_token, counters)
