"""Drafters for speculative decoding: cheap guesses of the next tokens that the target
model then checks in one batched forward pass.

- ``PromptLookup`` copies what followed the latest earlier occurrence of the last few
  tokens (code repeats itself: names, argument lists, the lines after the cursor).
- ``DraftModel`` asks a small model that shares the target's tokenizer.
- ``Speculator`` picks one per step and sizes the draft from the measured acceptance.

Verification (in ``decoding.py``) keeps only the draft tokens the target would have
chosen itself, so greedy output is the same whatever a drafter proposes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .llama import LlamaSession


class Drafter(Protocol):
    name: str

    def start(self, prompt: list[int]) -> None:
        """A new generation begins after ``prompt``."""

    def propose(self, context: list[int], k: int) -> list[int]:
        """Up to ``k`` tokens that may follow ``context`` (which only grows within a job)."""


class PromptLookup:
    """N-gram lookup in the prompt and the text generated so far (llama.cpp's "lookup")."""

    name = "lookup"

    def __init__(self, ngram_max: int = 3, ngram_min: int = 2) -> None:
        self.ngram_max = ngram_max
        self.ngram_min = ngram_min
        self._last_seen: dict[tuple[int, ...], int] = {}  # n-gram -> position just after its latest occurrence
        self._indexed = 0  # context positions already in the index

    def start(self, prompt: list[int]) -> None:
        self._last_seen.clear()
        self._indexed = 0

    def _index(self, context: list[int], upto: int) -> None:
        """Index the n-grams ending before ``upto`` (the newest ones are not indexed yet, so
        a lookup never finds the n-gram it is looking for at its own position)."""
        for end in range(max(self._indexed, 1), upto + 1):
            for n in range(self.ngram_min, self.ngram_max + 1):
                if end >= n:
                    self._last_seen[tuple(context[end - n : end])] = end
        self._indexed = max(self._indexed, upto + 1)

    def propose(self, context: list[int], k: int) -> list[int]:
        if k <= 0 or len(context) < self.ngram_min + 1:
            return []
        self._index(context, len(context) - 1)
        for n in range(self.ngram_max, self.ngram_min - 1, -1):
            follows = self._last_seen.get(tuple(context[-n:]))
            if follows is not None:
                return context[follows : follows + k]
        return []


class DraftModel:
    """Greedy guesses from a small model with the same vocabulary, on its own context."""

    name = "draft"

    def __init__(self, session: LlamaSession, min_confidence: float = 0.0) -> None:
        self.session = session
        # Stop drafting at a guess the draft gives less than this probability: each drafted token
        # makes the target's verify batch dearer (llama.cpp's p_min). 0 by default: a small draft
        # is often right without being sure, and the floor cost more than it saved (BENCHMARKS.md).
        self.min_confidence = min_confidence

    def start(self, prompt: list[int]) -> None:
        pass  # the KV state of the previous job is kept as far as the prompts agree

    def propose(self, context: list[int], k: int, seq: int = 0) -> list[int]:
        """``seq``: the draft context's sequence (one per generation decoded at once)."""
        session = self.session
        if k <= 0 or len(context) + k > session.n_ctx:
            return []
        kept = session.reusable(context, seq)
        session.keep(kept, seq)
        session.decode(context[kept:], seq)
        drafts: list[int] = []
        while True:
            token = session.argmax()
            if self.min_confidence > 0 and top_probability(session.logits()) < self.min_confidence:
                return drafts
            drafts.append(token)
            if len(drafts) == k:
                return drafts
            session.decode([token], seq)


class _OnSequence:
    """A draft model proposing on a sequence of its own (one per concurrent generation)."""

    name = "draft"

    def __init__(self, model: DraftModel, seq: int) -> None:
        self.model = model
        self.seq = seq

    def start(self, prompt: list[int]) -> None:
        pass

    def propose(self, context: list[int], k: int) -> list[int]:
        return self.model.propose(context, k, self.seq)


def top_probability(logits: np.ndarray) -> float:
    """The softmax probability of the most likely token."""
    return float(1.0 / np.exp(logits - logits.max()).sum())


@dataclass
class DraftStats:
    """Per drafter: how much it proposed and how much the target accepted."""

    proposed: int = 0
    accepted: int = 0
    rounds: int = 0
    acceptance: float = 0.6  # moving average of accepted / proposed, optimistic at first
    token_hits: float = 9.0  # moving counts of drafted tokens accepted and of rejections,
    token_misses: float = 1.0  # optimistic at first: a first draft is full length

    @property
    def token_acceptance(self) -> float:
        """The chance that the target accepts a drafted token once it accepted the ones
        before it: accepted tokens / (accepted tokens + rejections). A draft's tokens after
        its first rejection are never judged, so accepted / proposed would understate it."""
        return self.token_hits / (self.token_hits + self.token_misses)

    def length(self, max_length: int) -> int:
        """The longest draft whose every token the target still accepts with a chance of at
        least ``WHOLE_DRAFT_CHANCE`` (at most ``max_length``)."""
        p = self.token_acceptance
        if p >= 1.0:
            return max_length
        return max(1, min(max_length, int(math.log(WHOLE_DRAFT_CHANCE) / math.log(p)) if p > 0 else 1))


# Why not shorter: a verify pass over k + 1 rows costs far less than k + 1 passes (on 2 CPU
# cores 9 rows cost ~2.6x one; on a GPU about one), so a drafted token pays for its row long
# before it is likely to be accepted. Measured on the 102M stand-in with the 4.5M draft
# (BENCHMARKS.md, Speculative): 7.6 tokens per target forward instead of 6.5 when the engine
# shrank a draft to just past the accepted part after a rejection, and ours / llama-server's
# decode rate with the draft model 1.00x instead of 0.92x.
WHOLE_DRAFT_CHANCE = 0.2
TOKEN_DECAY = 0.95  # per round: the weight of older rounds in the per-token acceptance
SMOOTHING = 0.2
PROBE_EVERY = 16  # steps (a drafter) or jobs (drafting at all): what does not pay is still tried
MIN_JOB_TOKENS = 4  # shorter generations say little about decode speed
WARM_UP_JOBS = 3  # jobs measured each way before the faster way is chosen
RATE_DECAY = 0.8  # per job: the weight of older jobs in a decode rate


@dataclass
class DecodeRate:
    """Tokens per second over recent jobs, weighted by their tokens (a long job says more
    than a short one), older jobs fading."""

    tokens: float = 0.0
    seconds: float = 0.0
    jobs: int = 0

    def add(self, tokens: int, seconds: float) -> None:
        self.tokens = self.tokens * RATE_DECAY + tokens
        self.seconds = self.seconds * RATE_DECAY + seconds
        self.jobs += 1

    @property
    def per_second(self) -> float | None:
        return self.tokens / self.seconds if self.seconds > 0 else None


@dataclass
class Speculator:
    """Chooses the drafter and the draft length for each decoding step.

    Whether to draft at all is decided per job from measured decode speed: jobs decoded
    with drafts and without are timed (``DecodeRate``), and once each way has a few jobs,
    the slower way is only tried again every ``PROBE_EVERY`` jobs. Drafting loses where a
    verify pass is not much cheaper than its tokens one by one (a tiny target on a CPU, or
    a draft model barely smaller than the target). Within a job, the drafter with the best running
    acceptance goes first (prompt lookup, listed first, costs nothing when it finds no
    match), and one below ``min_acceptance`` is only probed now and then. A draft is as long
    as the drafter's per-token acceptance makes worth verifying (``DraftStats.length``): the
    full ``max_length`` for a drafter the target mostly agrees with.
    """

    drafters: list[Drafter]
    max_length: int = 8
    min_acceptance: float = 0.3
    adaptive: bool = True  # False: always draft (to measure a drafter)
    stats: dict[str, DraftStats] = field(default_factory=dict)
    plain: DecodeRate = field(default_factory=lambda: DecodeRate())  # jobs decoded without drafts
    with_drafts: DecodeRate = field(default_factory=lambda: DecodeRate())
    drafting: bool = False  # this job's choice
    _jobs: int = 0
    _skipped: dict[str, int] = field(default_factory=dict)

    def start(self, prompt: list[int]) -> None:
        """A job begins: choose whether it drafts, and reset the drafters."""
        self.drafting = self._choose_drafting()
        for drafter in self.drafters:
            drafter.start(prompt)

    def begin(self, prompt: list[int], seq: int) -> DraftRun:
        """A generation begins on sequence ``seq`` while others may be decoding too: it gets
        drafters of its own (a prompt-lookup index, the draft model's sequence ``seq``);
        acceptance and decode rates stay shared."""
        drafters: list[Drafter] = []
        for drafter in self.drafters:
            if isinstance(drafter, PromptLookup):
                drafters.append(PromptLookup(drafter.ngram_max, drafter.ngram_min))
            elif isinstance(drafter, DraftModel):
                drafters.append(_OnSequence(drafter, seq))
            else:
                drafters.append(drafter)
        for drafter in drafters:
            drafter.start(prompt)
        return DraftRun(self, drafters, self._choose_drafting())

    def _choose_drafting(self) -> bool:
        self._jobs += 1
        plain, with_drafts = self.plain.per_second, self.with_drafts.per_second
        if not self.adaptive:
            return True
        if min(self.plain.jobs, self.with_drafts.jobs) < WARM_UP_JOBS or plain is None or with_drafts is None:
            return self.with_drafts.jobs < self.plain.jobs  # measure both ways a few times first
        faster = with_drafts > plain
        return not faster if self._jobs % PROBE_EVERY == 0 else faster

    def job_done(self, tokens: int, seconds: float, drafting: bool | None = None) -> None:
        """A job decoded ``tokens`` in ``seconds`` (after its prompt), drafting or not."""
        drafting = self.drafting if drafting is None else drafting
        if tokens >= MIN_JOB_TOKENS and seconds > 0:
            (self.with_drafts if drafting else self.plain).add(tokens, seconds)

    def propose(self, context: list[int], room: int) -> tuple[Drafter | None, list[int]]:
        """A draft of at most ``room`` tokens and who made it (None, [] when no one)."""
        if room <= 0 or not self.drafting:
            return None, []
        return self.propose_from(self.drafters, context, room)

    def propose_from(self, drafters: list[Drafter], context: list[int], room: int) -> tuple[Drafter | None, list[int]]:
        for drafter in drafters:
            self.stats.setdefault(drafter.name, DraftStats())
        # The drafter the target agrees with most goes first (ties: the configured order).
        for drafter in sorted(drafters, key=lambda d: -self.stats[d.name].acceptance):
            stats = self.stats[drafter.name]
            if stats.acceptance < self.min_acceptance:
                skipped = self._skipped.get(drafter.name, 0) + 1
                self._skipped[drafter.name] = skipped
                if skipped % PROBE_EVERY:
                    continue
            draft = drafter.propose(context, min(stats.length(self.max_length), room))
            if draft:
                return drafter, draft
        return None, []

    def feedback(self, drafter: Drafter, proposed: int, accepted: int) -> None:
        """A round of ``drafter``: the target kept ``accepted`` of ``proposed`` tokens."""
        stats = self.stats[drafter.name]
        stats.rounds += 1
        stats.proposed += proposed
        stats.accepted += accepted
        stats.acceptance += SMOOTHING * (accepted / proposed - stats.acceptance)
        stats.token_hits = stats.token_hits * TOKEN_DECAY + accepted
        stats.token_misses = stats.token_misses * TOKEN_DECAY + (accepted < proposed)


@dataclass
class DraftRun:
    """One generation's drafting, decided when it began (``Speculator.begin``)."""

    speculator: Speculator
    drafters: list[Drafter]
    drafting: bool

    def propose(self, context: list[int], room: int) -> tuple[Drafter | None, list[int]]:
        if room <= 0 or not self.drafting:
            return None, []
        return self.speculator.propose_from(self.drafters, context, room)

    def feedback(self, drafter: Drafter, proposed: int, accepted: int) -> None:
        self.speculator.feedback(drafter, proposed, accepted)

    def done(self, tokens: int, seconds: float) -> None:
        self.speculator.job_done(tokens, seconds, self.drafting)
