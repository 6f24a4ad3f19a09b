"""Guards around the remote model: circuit breaker, rate limit, retries and spending budget.

Everything here is pure bookkeeping with an injectable clock (and random source for
jitter), so the HTTP client stays thin and the behaviour is tested without sleeping.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Callable
from typing import Literal

import msgspec

BreakerState = Literal["closed", "open", "half_open"]

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# Transport failures where the request may not have reached the server, or the server may
# recover; "tls", "auth" and "bad_response" fail the same way every time.
RETRYABLE_ERRORS = frozenset({"connect", "read_timeout", "reset", "protocol"})

HOUR_S = 3600.0
DAY_S = 86400.0
BUCKET_S = 60.0


class CircuitBreaker:
    """Stops calling a failing server, then lets a single probe find out whether it is back."""

    def __init__(
        self, failure_threshold: int = 5, reset_after_s: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.failure_threshold = failure_threshold
        self.reset_after_s = reset_after_s
        self._clock = clock
        self._state: BreakerState = "closed"
        self._consecutive = 0
        self._opened_at = 0.0
        self._probe_at: float | None = None  # when the half-open probe was let through
        self.opened = 0
        self.failures = 0
        self.successes = 0
        self.rejected = 0

    @property
    def state(self) -> BreakerState:
        # Move to half_open as soon as the timer runs out, not only inside allow(): the router
        # reads the state first and would otherwise never send the probe.
        if self._state == "open" and self._clock() - self._opened_at >= self.reset_after_s:
            self._state = "half_open"
            self._probe_at = None
        return self._state

    def allow(self) -> bool:
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and self._probe_free():
            self._probe_at = self._clock()
            return True
        self.rejected += 1
        return False

    def _probe_free(self) -> bool:
        # A probe whose outcome is never recorded (a cancelled request) would keep the breaker
        # half-open for ever; after reset_after_s another probe may go.
        return self._probe_at is None or self._clock() - self._probe_at >= self.reset_after_s

    def record_success(self) -> None:
        self.successes += 1
        self._consecutive = 0
        self._state = "closed"
        self._probe_at = None

    def record_failure(self) -> None:
        self.failures += 1
        state = self.state
        if state == "half_open":
            self._open()
        elif state == "closed":
            self._consecutive += 1
            if self._consecutive >= self.failure_threshold:
                self._open()
        # open: a late failure from a request sent before opening; the timer keeps running.

    def _open(self) -> None:
        self._state = "open"
        self._opened_at = self._clock()
        self._probe_at = None
        self._consecutive = 0
        self.opened += 1

    def snapshot(self) -> dict[str, object]:
        return {
            "state": self.state,
            "consecutive_failures": self._consecutive,
            "opened": self.opened,
            "failures": self.failures,
            "successes": self.successes,
            "rejected": self.rejected,
        }


class TokenBucket:
    """Rate limit: ``burst`` requests at once, refilled at ``rate_per_s``; rate 0 means unlimited."""

    def __init__(self, rate_per_s: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate_per_s < 0 or burst < 0:
            raise ValueError("rate_per_s and burst must not be negative")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._at = clock()
        self.rejected = 0

    def try_acquire(self, amount: float = 1.0) -> bool:
        if self.rate_per_s == 0:
            return True
        now = self._clock()
        # max(): a clock that steps back must not drain the bucket.
        self._tokens = min(self.burst, self._tokens + max(0.0, now - self._at) * self.rate_per_s)
        self._at = now
        if self._tokens >= amount:
            self._tokens -= amount
            return True
        self.rejected += 1
        return False


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    retries: int = 2
    base_s: float = 0.1
    max_s: float = 2.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Exponential backoff with equal jitter: half fixed so retries never bunch at zero,
        half random so clients that failed together do not retry together."""
        ceiling = min(self.max_s, self.base_s * 2.0 ** min(max(attempt, 0), 64))  # min(): no float overflow
        half = ceiling / 2
        return half + rng.uniform(0.0, half)

    def next_delay(self, attempt: int, remaining_s: float, expected_s: float, rng: random.Random) -> float | None:
        """The delay before retry ``attempt`` (0-based), or None when no retry is left or the
        retry could not finish within ``remaining_s`` (a late answer is useless)."""
        if attempt < 0 or attempt >= self.retries:
            return None
        delay = self.backoff(attempt, rng)
        if delay + expected_s > remaining_s:
            return None
        return delay


def retryable(status: int | None, error: str = "") -> bool:
    """Whether a failed call may succeed if repeated: an HTTP status decides when there is one,
    else the transport error kind."""
    if status is not None:
        return status in RETRYABLE_STATUSES
    return error in RETRYABLE_ERRORS


class _Bucket:
    """Spending within one minute; ``last`` is the latest spend so expiry errs on counting longer."""

    __slots__ = ("cost", "last", "minute", "tokens")

    def __init__(self, minute: int, at: float) -> None:
        self.minute = minute
        self.last = at
        self.tokens = 0
        self.cost = 0.0


class SpendingBudget:
    """Token and cost limits over the last hour and day; a limit of 0 means none.

    Spends are summed per minute, so a day's history holds at most 1,441 entries
    (a rolling day overlaps that many clock minutes).
    """

    def __init__(
        self,
        max_tokens_per_hour: int = 0,
        max_tokens_per_day: int = 0,
        max_cost_per_hour: float = 0.0,
        max_cost_per_day: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_tokens_per_hour = max_tokens_per_hour
        self.max_tokens_per_day = max_tokens_per_day
        self.max_cost_per_hour = max_cost_per_hour
        self.max_cost_per_day = max_cost_per_day
        self._clock = clock
        self._buckets: deque[_Bucket] = deque()

    def spend(self, tokens: int, cost: float) -> None:
        now = self._clock()
        minute = math.floor(now / BUCKET_S)
        # A wall clock that stepped back adds to the newest bucket, keeping the deque ordered.
        if not self._buckets or minute > self._buckets[-1].minute:
            self._buckets.append(_Bucket(minute, now))
        bucket = self._buckets[-1]
        bucket.last = max(bucket.last, now)
        bucket.tokens += tokens
        bucket.cost += cost
        self._prune(now)

    def _prune(self, now: float) -> None:
        while self._buckets and self._buckets[0].last <= now - DAY_S:
            self._buckets.popleft()

    def _totals(self) -> tuple[int, float, int, float]:
        now = self._clock()
        self._prune(now)
        tokens_hour = tokens_day = 0
        cost_hour = cost_day = 0.0
        for bucket in self._buckets:
            tokens_day += bucket.tokens
            cost_day += bucket.cost
            if bucket.last > now - HOUR_S:
                tokens_hour += bucket.tokens
                cost_hour += bucket.cost
        return tokens_hour, cost_hour, tokens_day, cost_day

    def usage(self) -> dict[str, float]:
        tokens_hour, cost_hour, tokens_day, cost_day = self._totals()
        return {"tokens_hour": tokens_hour, "tokens_day": tokens_day, "cost_hour": cost_hour, "cost_day": cost_day}

    def exceeded(self) -> str:
        """The first limit reached, e.g. "tokens per hour 12034 >= 12000"; "" while within every limit."""
        tokens_hour, cost_hour, tokens_day, cost_day = self._totals()
        for name, used, limit in (
            ("tokens per hour", tokens_hour, self.max_tokens_per_hour),
            ("tokens per day", tokens_day, self.max_tokens_per_day),
        ):
            if limit > 0 and used >= limit:
                return f"{name} {used} >= {limit}"
        for name, spent, cap in (
            ("cost per hour", cost_hour, self.max_cost_per_hour),
            ("cost per day", cost_day, self.max_cost_per_day),
        ):
            if cap > 0 and (spent >= cap or math.isclose(spent, cap)):  # isclose: float sums like 0.1 + 0.2
                return f"{name} {spent:.4g} >= {cap:.4g}"
        return ""

    def __len__(self) -> int:
        """Entries held: for tests and metrics on memory use."""
        return len(self._buckets)
