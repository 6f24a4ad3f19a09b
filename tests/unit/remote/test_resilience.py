"""Circuit breaker, token bucket, retry policy and spending budget, on a fake clock."""

from __future__ import annotations

import random

import pytest

from copilot.remote.resilience import CircuitBreaker, RetryPolicy, SpendingBudget, TokenBucket, retryable


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def open_breaker(clock: FakeClock, threshold: int = 3, reset: float = 30.0) -> CircuitBreaker:
    breaker = CircuitBreaker(failure_threshold=threshold, reset_after_s=reset, clock=clock)
    for _ in range(threshold):
        breaker.record_failure()
    assert breaker.state == "open"
    return breaker


# --- circuit breaker -------------------------------------------------------------------------


@pytest.mark.parametrize("threshold", [1, 3, 5])
def test_breaker_opens_at_threshold(threshold: int) -> None:
    breaker = CircuitBreaker(failure_threshold=threshold, clock=FakeClock())
    for _ in range(threshold - 1):
        breaker.record_failure()
        assert breaker.state == "closed" and breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open"
    assert breaker.opened == 1


def test_success_resets_the_consecutive_count() -> None:
    breaker = CircuitBreaker(failure_threshold=3, clock=FakeClock())
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state == "closed"


def test_open_rejects_until_reset_time() -> None:
    clock = FakeClock()
    breaker = open_breaker(clock, reset=30.0)
    clock.advance(29.9)
    assert not breaker.allow()
    assert breaker.snapshot()["state"] == "open"
    clock.advance(0.1)
    assert breaker.snapshot()["state"] == "half_open"
    assert breaker.rejected == 1


def test_half_open_lets_exactly_one_probe_through() -> None:
    clock = FakeClock()
    breaker = open_breaker(clock)
    clock.advance(30)
    assert breaker.allow()
    assert [breaker.allow() for _ in range(3)] == [False, False, False]
    assert breaker.state == "half_open"
    assert breaker.rejected == 3


def test_probe_success_closes() -> None:
    clock = FakeClock()
    breaker = open_breaker(clock)
    clock.advance(30)
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed"
    assert all(breaker.allow() for _ in range(5))
    # the failure count started over: it takes the full threshold to open again
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state == "closed"


def test_probe_failure_reopens_with_a_fresh_timer() -> None:
    clock = FakeClock()
    breaker = open_breaker(clock)
    clock.advance(30)
    assert breaker.allow()
    clock.advance(10)
    breaker.record_failure()
    assert breaker.state == "open" and breaker.opened == 2
    clock.advance(29)
    assert not breaker.allow()
    clock.advance(1)
    assert breaker.allow()


def test_unrecorded_probe_expires() -> None:
    clock = FakeClock()
    breaker = open_breaker(clock)
    clock.advance(30)
    assert breaker.allow()
    clock.advance(29)
    assert not breaker.allow()
    clock.advance(1)
    assert breaker.allow()


def test_late_failure_while_open_keeps_the_timer() -> None:
    clock = FakeClock()
    breaker = open_breaker(clock)
    clock.advance(20)
    breaker.record_failure()
    clock.advance(10)
    assert breaker.state == "half_open"
    assert breaker.opened == 1


def test_breaker_counters_and_snapshot() -> None:
    clock = FakeClock()
    breaker = open_breaker(clock, threshold=2)
    breaker.allow()
    clock.advance(30)
    breaker.allow()
    breaker.record_success()
    assert breaker.snapshot() == {
        "state": "closed",
        "consecutive_failures": 0,
        "opened": 1,
        "failures": 2,
        "successes": 1,
        "rejected": 1,
    }


def test_breaker_rejects_a_zero_threshold() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(failure_threshold=0)


# --- token bucket ----------------------------------------------------------------------------


def test_bucket_allows_burst_then_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_per_s=2.0, burst=3.0, clock=clock)
    assert [bucket.try_acquire() for _ in range(4)] == [True, True, True, False]
    clock.advance(0.5)
    assert [bucket.try_acquire() for _ in range(2)] == [True, False]
    assert bucket.rejected == 2


@pytest.mark.parametrize(("idle_s", "granted"), [(0.0, 0), (0.5, 1), (1.0, 2), (100.0, 4)])
def test_bucket_refills_with_time_up_to_burst(idle_s: float, granted: int) -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_per_s=2.0, burst=4.0, clock=clock)
    for _ in range(4):
        assert bucket.try_acquire()
    clock.advance(idle_s)
    assert sum(bucket.try_acquire() for _ in range(10)) == granted


def test_bucket_amount_larger_than_one() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_per_s=1.0, burst=5.0, clock=clock)
    assert bucket.try_acquire(4)
    assert not bucket.try_acquire(2)
    clock.advance(1)
    assert bucket.try_acquire(2)


def test_bucket_rate_zero_is_unlimited() -> None:
    bucket = TokenBucket(rate_per_s=0.0, burst=0.0, clock=FakeClock())
    assert all(bucket.try_acquire(100) for _ in range(1000))
    assert bucket.rejected == 0


def test_bucket_survives_a_clock_stepping_back() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_per_s=1.0, burst=1.0, clock=clock)
    assert bucket.try_acquire()
    clock.advance(-10)
    assert not bucket.try_acquire()
    clock.advance(1)
    assert bucket.try_acquire()


# --- retry policy ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(0, 0.1), (1, 0.2), (2, 0.4), (3, 0.8), (4, 1.6), (5, 2.0), (9, 2.0), (5000, 2.0)]
)
def test_backoff_grows_caps_and_jitters_between_half_and_full(attempt: int, ceiling: float) -> None:
    policy = RetryPolicy(retries=10, base_s=0.1, max_s=2.0)
    rng = random.Random(7)
    delays = [policy.backoff(attempt, rng) for _ in range(200)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert max(delays) - min(delays) > ceiling / 4  # it is random, not fixed


def test_backoff_is_deterministic_for_a_seed() -> None:
    policy = RetryPolicy()
    assert policy.backoff(1, random.Random(3)) == policy.backoff(1, random.Random(3))


@pytest.mark.parametrize(
    ("attempt", "remaining_s", "expected_s", "fits"),
    [
        (0, 10.0, 1.0, True),
        (1, 10.0, 1.0, True),
        (2, 10.0, 1.0, False),  # retries=2: attempts 0 and 1 only
        (-1, 10.0, 1.0, False),
        (0, 1.0, 1.0, False),  # the delay plus a full attempt does not fit
        (0, 1.04, 1.0, False),  # delay is at least 0.05
        (0, 1.1, 1.0, True),  # delay is at most 0.1
        (1, 0.0, 0.0, False),
    ],
)
def test_next_delay(attempt: int, remaining_s: float, expected_s: float, fits: bool) -> None:
    policy = RetryPolicy(retries=2, base_s=0.1, max_s=2.0)
    delay = policy.next_delay(attempt, remaining_s, expected_s, random.Random(1))
    if fits:
        assert delay is not None and delay + expected_s <= remaining_s
    else:
        assert delay is None


def test_retry_policy_is_a_frozen_value() -> None:
    assert RetryPolicy() == RetryPolicy(retries=2, base_s=0.1, max_s=2.0)


# --- retryable -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (429, "", True),
        (500, "", True),
        (502, "", True),
        (503, "", True),
        (504, "", True),
        (400, "", False),
        (401, "", False),
        (403, "", False),
        (404, "", False),
        (422, "", False),
        (501, "", False),
        (200, "", False),
        (None, "connect", True),
        (None, "read_timeout", True),
        (None, "reset", True),
        (None, "protocol", True),
        (None, "tls", False),
        (None, "auth", False),
        (None, "bad_response", False),
        (None, "", False),
        (400, "reset", False),  # a status decides over the error kind
    ],
)
def test_retryable(status: int | None, error: str, expected: bool) -> None:
    assert retryable(status, error) is expected


# --- spending budget -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limits", "tokens", "cost", "reason"),
    [
        ({}, 10**9, 10**6, ""),
        ({"max_tokens_per_hour": 12000}, 11999, 0.0, ""),
        ({"max_tokens_per_hour": 12000}, 12034, 0.0, "tokens per hour 12034 >= 12000"),
        ({"max_tokens_per_day": 100}, 100, 0.0, "tokens per day 100 >= 100"),
        ({"max_cost_per_hour": 1.0}, 0, 0.99, ""),
        ({"max_cost_per_hour": 1.0}, 0, 1.5, "cost per hour 1.5 >= 1"),
        ({"max_cost_per_day": 5.0}, 0, 5.0, "cost per day 5 >= 5"),
        ({"max_tokens_per_hour": 10, "max_cost_per_day": 1.0}, 10, 2.0, "tokens per hour 10 >= 10"),
    ],
)
def test_budget_limits(limits: dict[str, float], tokens: int, cost: float, reason: str) -> None:
    budget = SpendingBudget(**limits, clock=FakeClock())  # type: ignore[arg-type]
    budget.spend(tokens, cost)
    assert budget.exceeded() == reason


def test_budget_float_sums_reach_the_limit() -> None:
    budget = SpendingBudget(max_cost_per_hour=0.3, clock=FakeClock())
    budget.spend(0, 0.1)
    budget.spend(0, 0.2)
    assert budget.exceeded().startswith("cost per hour")


def test_hour_window_rolls_but_day_keeps_counting() -> None:
    clock = FakeClock()
    budget = SpendingBudget(max_tokens_per_hour=100, max_tokens_per_day=250, clock=clock)
    budget.spend(100, 1.0)
    assert budget.exceeded() == "tokens per hour 100 >= 100"
    clock.advance(3599)
    assert budget.exceeded() != ""
    clock.advance(1)
    assert budget.exceeded() == ""
    assert budget.usage() == {"tokens_hour": 0, "tokens_day": 100, "cost_hour": 0.0, "cost_day": 1.0}
    budget.spend(100, 0.0)
    clock.advance(3600)
    budget.spend(50, 0.0)
    assert budget.exceeded() == "tokens per day 250 >= 250"
    clock.advance(86400 - 2 * 3600)
    assert budget.usage()["tokens_day"] == 150


def test_usage_sums_the_last_hour_and_day() -> None:
    clock = FakeClock()
    budget = SpendingBudget(clock=clock)
    budget.spend(10, 0.5)
    clock.advance(2 * 3600)
    budget.spend(5, 0.25)
    budget.spend(5, 0.25)
    assert budget.usage() == {"tokens_hour": 10, "tokens_day": 20, "cost_hour": 0.5, "cost_day": 1.0}
    clock.advance(86400)
    assert budget.usage() == {"tokens_hour": 0, "tokens_day": 0, "cost_hour": 0.0, "cost_day": 0.0}


def test_budget_memory_is_bounded_after_many_spends() -> None:
    clock = FakeClock(now=0.0)
    budget = SpendingBudget(clock=clock)
    for _ in range(3 * 86400 // 7):  # three days, a spend every 7 seconds
        budget.spend(1, 0.001)
        clock.advance(7)
    assert len(budget) <= 1441
    usage = budget.usage()
    # a day of spends is kept, give or take the minute the oldest bucket covers
    assert 86400 // 7 - 10 <= usage["tokens_day"] <= 86400 // 7 + 10


def test_budget_clock_stepping_back_adds_to_the_newest_entry() -> None:
    clock = FakeClock()
    budget = SpendingBudget(clock=clock)
    budget.spend(1, 0.0)
    clock.advance(-600)
    budget.spend(1, 0.0)
    assert len(budget) == 1
    assert budget.usage()["tokens_hour"] == 2
