"""The remote route: a larger model behind a circuit breaker, a rate limit, a spending
budget and deadline-aware retries, with its cost accounted.

``Escalation.complete`` never raises: a remote that is off, unavailable, slow or wrong
gives None, one log line, and the caller keeps the local answer.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from ..config import RemoteSettings
from .backend import RemoteBackend, RemoteError, RemoteRequest, RemoteResult, Template
from .resilience import CircuitBreaker, RetryPolicy, SpendingBudget, TokenBucket, retryable
from .router import RouterState
from .shaping import estimated_cost

log = logging.getLogger(__name__)

EXPECTED_S = 0.5  # a remote answer's duration before one was measured


def template_for(settings: RemoteSettings) -> Template | None:
    """The remote model's FIM template from the catalogue; None to let the server apply it
    (the OpenAI ``suffix`` field)."""
    from ..inference.catalogue import families, family_for_model

    key = family_for_model(settings.model) if settings.template == "auto" else settings.template
    known = families()
    if not key or key not in known:
        if settings.template not in ("auto", ""):
            log.warning("remote.template %r is not in the model catalogue: using the server's own", settings.template)
        return None
    family = known[key]
    return Template(
        prefix=family.fim_prefix,
        suffix=family.fim_suffix,
        middle=family.fim_middle,
        order=family.order,
        repo_name=family.repo_name,
        file_sep=family.file_sep,
        stop=family.stop,
    )


def workspace_allowed(root: Path | None, allow: list[str], deny: list[str]) -> bool:
    """Whether this workspace may use the remote: not matched by ``deny``, and matched by
    ``allow`` when that is set (glob patterns of folder paths)."""
    path = str(root.resolve()) if root is not None else ""
    if any(fnmatch.fnmatch(path, pattern) for pattern in deny):
        return False
    return not allow or any(fnmatch.fnmatch(path, pattern) for pattern in allow)


class Escalation:
    def __init__(
        self, settings: RemoteSettings, backend: RemoteBackend, root: Path | None, seed: int | None = None
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_reset_s)
        rate = settings.requests_per_minute / 60
        self.bucket = TokenBucket(rate, burst=max(1.0, rate * 10))
        self.budget = SpendingBudget(
            max_tokens_per_hour=settings.max_tokens_per_hour,
            max_tokens_per_day=settings.max_tokens_per_day,
            max_cost_per_day=settings.max_cost_per_day,
        )
        self.retry = RetryPolicy(retries=settings.retries)
        self.allowed = workspace_allowed(root, settings.allow_workspaces, settings.deny_workspaces)
        self.counts: Counter[str] = Counter()
        self._expected_s = EXPECTED_S
        self._random = random.Random(seed)
        self._last_failure = ""

    def state(self, private: bool = False) -> RouterState:
        return RouterState(
            remote_enabled=True,
            workspace_allowed=self.allowed,
            document_private=private,
            breaker=self.breaker.state,
            budget_exceeded=self.budget.exceeded(),
        )

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return estimated_cost(self.settings, prompt_tokens, completion_tokens)

    async def complete(
        self, request: RemoteRequest, timeout_s: float, on_text: Callable[[str], None] | None = None
    ) -> RemoteResult | None:
        """The remote answer within ``timeout_s``, retries included; None when there is none."""
        if not self.bucket.try_acquire():
            self.counts["remote_rate_limited"] += 1
            log.info("remote: rate limit reached (remote.requests_per_minute): using the local answer")
            return None
        deadline = time.monotonic() + timeout_s
        attempt = 0
        while True:
            if not self.breaker.allow():
                self.counts["remote_breaker_rejected"] += 1
                log.debug("remote: circuit breaker %s: using the local answer", self.breaker.state)
                return None
            remaining = deadline - time.monotonic()
            self.counts["remote_attempts"] += 1
            try:
                result = await asyncio.wait_for(self.backend.complete(request, remaining, on_text), remaining)
            except (RemoteError, TimeoutError) as exc:
                kind, status = (exc.kind, exc.status) if isinstance(exc, RemoteError) else ("timeout", None)
                self._failed(kind, str(exc) or f"no answer within {timeout_s * 1000:.0f} ms")
                if not retryable(status, kind):
                    return None
                delay = self.retry.next_delay(attempt, deadline - time.monotonic(), self._expected_s, self._random)
                if delay is None:
                    return None
                self.counts["remote_retries"] += 1
                await asyncio.sleep(delay)
                attempt += 1
                continue
            self.breaker.record_success()
            self._expected_s = 0.8 * self._expected_s + 0.2 * result.total_ms / 1000
            tokens = result.prompt_tokens + result.completion_tokens
            self.budget.spend(tokens, self.cost(result.prompt_tokens, result.completion_tokens))
            self.counts["remote_successes"] += 1
            if self._last_failure:
                log.info("remote: answering again")
                self._last_failure = ""
            return result

    def _failed(self, kind: str, message: str) -> None:
        was_open = self.breaker.state == "open"
        self.breaker.record_failure()
        self.counts[f"remote_failed_{kind}"] += 1
        # One line per kind of failure in a row, not one per request.
        if kind != self._last_failure:
            log.warning("remote failed (%s): %s; using the local answer", kind, message)
            self._last_failure = kind
        if self.breaker.state == "open" and not was_open:
            log.warning(
                "remote: circuit breaker open after %d failures; local answers only for %.0f s",
                self.settings.breaker_failures,
                self.settings.breaker_reset_s,
            )

    async def aclose(self) -> None:
        await self.backend.aclose()
