"""Where a completion is generated: the small local model, or the larger remote one.

Most requests stay local. A request escalates when it is complex (an explicit generation,
an empty block to fill, or a local answer the model itself was unsure of) and the remote
model is available: switched on, allowed for this workspace and document, and not held back
by the circuit breaker, the rate limit or the spending budget. Every decision carries a
short reason for the logs and the request record.
"""

from __future__ import annotations

from typing import Literal

import msgspec


class RouteRequest(msgspec.Struct, frozen=True, kw_only=True):
    explicit: bool = False  # the user asked for a generation (a copilot/generate request or editor command)
    wants_block: bool = False  # the cursor wants a multi-line block (after a block header)
    empty_body: bool = False  # ... and the body there is empty (nothing but whitespace until the scope ends)
    local_confidence: float | None = None  # mean log-probability of the local answer, when one was computed
    local_chars: int = 0  # length of the local answer
    prompt_tokens: int = 0


class RouterState(msgspec.Struct, frozen=True, kw_only=True):
    remote_enabled: bool = False  # configured and switched on by the user
    workspace_allowed: bool = True  # per-workspace allow/deny
    document_private: bool = False  # the file matches an ignore rule: never sent
    breaker: str = "closed"  # CircuitBreaker.state
    rate_limited: bool = False
    budget_exceeded: str = ""  # SpendingBudget.exceeded()


class RouterSettings(msgspec.Struct, frozen=True, kw_only=True):
    escalate_explicit: bool = True
    escalate_empty_blocks: bool = True
    min_confidence: float = -1.0  # local answers with a lower mean log-probability escalate; set very low to disable


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    route: Literal["local", "remote"]
    reason: str


def wants_remote(request: RouteRequest, settings: RouterSettings) -> str:
    """Why the request is complex enough for the remote model, or "" when it is not."""
    if request.explicit and settings.escalate_explicit:
        return "explicit generation"
    if request.wants_block and request.empty_body and settings.escalate_empty_blocks:
        return "empty block"
    confidence = request.local_confidence
    if confidence is None:  # no local answer yet: nothing to judge
        return ""
    if request.local_chars > 0:
        if confidence < settings.min_confidence:
            return f"low confidence {confidence:.2f} < {settings.min_confidence:.2f}"
        return ""
    # The local model stopped at once where the user expects code: it has nothing to offer.
    if request.explicit or request.wants_block:
        return "empty local answer"
    return ""


def unavailable(state: RouterState) -> str:
    """Why the remote model cannot take a request now, or "" when it can. A half-open breaker
    counts as available: the breaker itself lets only its one probe through."""
    if not state.remote_enabled:
        return "remote off"
    if not state.workspace_allowed:
        return "workspace denied"
    if state.document_private:
        return "document private"
    if state.breaker == "open":
        return "breaker open"
    if state.rate_limited:
        return "rate limited"
    if state.budget_exceeded:
        return f"budget: {state.budget_exceeded}"
    return ""


def decide(request: RouteRequest, state: RouterState, settings: RouterSettings) -> Decision:
    why = wants_remote(request, settings)
    if not why:
        return Decision(route="local", reason="simple request")
    blocked = unavailable(state)
    if blocked:
        return Decision(route="local", reason=f"{why}, but {blocked}")
    return Decision(route="remote", reason=why)
