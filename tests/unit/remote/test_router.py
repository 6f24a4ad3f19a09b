"""Routing between the local and remote model: every branch and its reason."""

from __future__ import annotations

import pytest

from copilot.remote.router import Decision, RouteRequest, RouterSettings, RouterState, decide, wants_remote

EXPLICIT = RouteRequest(explicit=True)
EMPTY_BLOCK = RouteRequest(wants_block=True, empty_body=True)
UNSURE = RouteRequest(local_confidence=-2.31, local_chars=40)
ON = RouterState(remote_enabled=True)
DEFAULTS = RouterSettings()


@pytest.mark.parametrize(
    ("request_", "settings", "reason"),
    [
        (RouteRequest(), DEFAULTS, ""),
        (EXPLICIT, DEFAULTS, "explicit generation"),
        (EXPLICIT, RouterSettings(escalate_explicit=False), ""),
        (EMPTY_BLOCK, DEFAULTS, "empty block"),
        (EMPTY_BLOCK, RouterSettings(escalate_empty_blocks=False), ""),
        (RouteRequest(wants_block=True), DEFAULTS, ""),  # the block has a body already
        (RouteRequest(empty_body=True), DEFAULTS, ""),
        (RouteRequest(explicit=True, wants_block=True, empty_body=True), DEFAULTS, "explicit generation"),
        (UNSURE, DEFAULTS, "low confidence -2.31 < -1.00"),
        (UNSURE, RouterSettings(min_confidence=-1e9), ""),
        (RouteRequest(local_confidence=-0.5, local_chars=40), DEFAULTS, ""),
        (RouteRequest(local_confidence=-1.0, local_chars=40), DEFAULTS, ""),  # at the threshold stays local
        (RouteRequest(local_confidence=None, local_chars=40), DEFAULTS, ""),
        (RouteRequest(local_confidence=-5.0, local_chars=0), DEFAULTS, ""),  # empty, nothing was expected
        (RouteRequest(local_confidence=-0.1, local_chars=0, wants_block=True), DEFAULTS, "empty local answer"),
        (
            RouteRequest(explicit=True, local_confidence=-0.1, local_chars=0),
            RouterSettings(escalate_explicit=False),
            "empty local answer",
        ),
        (RouteRequest(explicit=True), RouterSettings(escalate_explicit=False), ""),  # no local answer yet
        (
            RouteRequest(wants_block=True, empty_body=True, local_confidence=-3.0, local_chars=5),
            RouterSettings(escalate_empty_blocks=False),
            "low confidence -3.00 < -1.00",
        ),
    ],
)
def test_wants_remote(request_: RouteRequest, settings: RouterSettings, reason: str) -> None:
    assert wants_remote(request_, settings) == reason


@pytest.mark.parametrize(
    ("request_", "state", "expected"),
    [
        (RouteRequest(), ON, Decision(route="local", reason="simple request")),
        (RouteRequest(), RouterState(), Decision(route="local", reason="simple request")),
        (EXPLICIT, ON, Decision(route="remote", reason="explicit generation")),
        (EMPTY_BLOCK, ON, Decision(route="remote", reason="empty block")),
        (UNSURE, ON, Decision(route="remote", reason="low confidence -2.31 < -1.00")),
        (EXPLICIT, RouterState(), Decision(route="local", reason="explicit generation, but remote off")),
        (
            EXPLICIT,
            RouterState(remote_enabled=True, workspace_allowed=False),
            Decision(route="local", reason="explicit generation, but workspace denied"),
        ),
        (
            EMPTY_BLOCK,
            RouterState(remote_enabled=True, document_private=True),
            Decision(route="local", reason="empty block, but document private"),
        ),
        (
            EXPLICIT,
            RouterState(remote_enabled=True, breaker="open"),
            Decision(route="local", reason="explicit generation, but breaker open"),
        ),
        (
            EXPLICIT,
            RouterState(remote_enabled=True, breaker="half_open"),
            Decision(route="remote", reason="explicit generation"),
        ),
        (
            UNSURE,
            RouterState(remote_enabled=True, rate_limited=True),
            Decision(route="local", reason="low confidence -2.31 < -1.00, but rate limited"),
        ),
        (
            EXPLICIT,
            RouterState(remote_enabled=True, budget_exceeded="tokens per hour 12034 >= 12000"),
            Decision(route="local", reason="explicit generation, but budget: tokens per hour 12034 >= 12000"),
        ),
        # several blockers: the first in order is named
        (
            EXPLICIT,
            RouterState(workspace_allowed=False, document_private=True, breaker="open"),
            Decision(route="local", reason="explicit generation, but remote off"),
        ),
        (
            EXPLICIT,
            RouterState(remote_enabled=True, document_private=True, breaker="open", rate_limited=True),
            Decision(route="local", reason="explicit generation, but document private"),
        ),
        (
            EXPLICIT,
            RouterState(remote_enabled=True, rate_limited=True, budget_exceeded="cost per day 5 >= 5"),
            Decision(route="local", reason="explicit generation, but rate limited"),
        ),
    ],
)
def test_decide(request_: RouteRequest, state: RouterState, expected: Decision) -> None:
    assert decide(request_, state, DEFAULTS) == expected
