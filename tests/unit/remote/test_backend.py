"""The remote client's prompt, parsing and error mapping, and the escalation's fallbacks
(httpx's MockTransport stands in for the network: the real server is in tests/e2e)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import httpx
import pytest

from copilot.config import RemoteSettings
from copilot.remote.backend import RemoteBackend, RemoteError, RemoteRequest, Template, fim_prompt, unfenced
from copilot.remote.escalation import Escalation, template_for, workspace_allowed

REQUEST = RemoteRequest(prefix="def f(x):\n    ret", suffix="\n\nprint(1)", path="pkg/a.py", language="python")
SETTINGS = RemoteSettings(enabled=True, base_url="http://remote.test/v1", model="qwen2.5-coder-7b", retries=0)


def sse(*events: object) -> bytes:
    return b"".join(f"data: {json.dumps(e) if not isinstance(e, str) else e}\n\n".encode() for e in events)


def backend(handler, settings: RemoteSettings = SETTINGS) -> RemoteBackend:  # type: ignore[no-untyped-def]
    return RemoteBackend(settings, template_for(settings), transport=httpx.MockTransport(handler))


def streamed(body: bytes, status: int = 200, content_type: str = "text/event-stream"):  # type: ignore[no-untyped-def]
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"content-type": content_type})

    return handler


def test_the_model_name_picks_the_catalogue_template_and_the_prompt_has_its_tokens() -> None:
    template = template_for(SETTINGS)
    assert template is not None and template.prefix == "<|fim_prefix|>" and template.file_sep == "<|file_sep|>"
    request = RemoteRequest(prefix="a", suffix="b", path="x.py", language="python", snippets=[("y.py", "def g(): ...")])
    prompt = fim_prompt(template, request, "repo")
    assert prompt == (
        "<|repo_name|>repo\n<|file_sep|>y.py\ndef g(): ...\n<|file_sep|>x.py\n"
        "<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>"
    )
    spm = Template(prefix="[PREFIX]", suffix="[SUFFIX]", middle="", order="spm")
    assert fim_prompt(spm, REQUEST, "r").startswith("[SUFFIX]\n\nprint(1)[PREFIX]def f(x):")
    assert template_for(RemoteSettings(model="some-unknown-model")) is None  # the server's own FIM (suffix field)


def test_a_streamed_completion_is_joined_and_its_usage_kept() -> None:
    body = sse(
        {"choices": [{"text": "urn"}]},
        {"choices": [{"text": " x"}]},
        {"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 2}},
        "[DONE]",
    )
    result = asyncio.run(backend(streamed(body)).complete(REQUEST, 2.0))
    assert (result.text, result.prompt_tokens, result.completion_tokens) == ("urn x", 11, 2)


@pytest.mark.parametrize(
    ("handler", "kind"),
    [
        (streamed(b'{"error": "no key"}', 401, "application/json"), "auth"),
        (streamed(b'{"error": "model not found"}', 404, "application/json"), "not_found"),
        (streamed(b"slow down", 429, "text/plain"), "rate_limited"),
        (streamed(b"oops", 503, "text/plain"), "server"),
        (streamed(b"<html>login</html>", 200, "text/html"), "bad_response"),
        (streamed(sse({"choices": [{"text": "a"}]})), "protocol"),  # no [DONE]: not a whole answer
        (streamed(sse("{not json")), "bad_response"),
        (streamed(sse({"unexpected": 1})), "bad_response"),
        (streamed(sse({"error": {"message": "overloaded"}})), "server"),
    ],
)
def test_each_failure_has_a_kind(handler, kind: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RemoteError) as raised:
        asyncio.run(backend(handler).complete(REQUEST, 2.0))
    assert raised.value.kind == kind


def test_chat_answers_lose_their_code_fences() -> None:
    assert unfenced("```python\nreturn x\n```") == "return x"
    assert unfenced("return x") == "return x"


@pytest.mark.parametrize(
    ("root", "allow", "deny", "allowed"),
    [
        ("/work/secret", [], ["/work/secret*"], False),
        ("/work/app", ["/work/*"], [], True),
        ("/home/me/app", ["/work/*"], [], False),
        ("/work/app", [], [], True),
    ],
)
def test_workspace_allow_and_deny(root: str, allow: list[str], deny: list[str], allowed: bool) -> None:
    assert workspace_allowed(Path(root), allow, deny) is allowed


def test_failures_fall_back_with_one_log_line_per_kind_and_open_the_breaker(caplog: pytest.LogCaptureFixture) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(500, content=b"down")

    settings = RemoteSettings(enabled=True, base_url="http://remote.test/v1", model="m", retries=0, breaker_failures=3)
    escalation = Escalation(settings, backend(handler, settings), root=None, seed=1)
    with caplog.at_level(logging.WARNING, logger="copilot.remote.escalation"):
        results = [asyncio.run(escalation.complete(REQUEST, 1.0)) for _ in range(5)]
    assert results == [None] * 5
    assert len(calls) == 3  # then the breaker is open: no more requests
    assert escalation.breaker.state == "open"
    messages = [r.getMessage() for r in caplog.records]
    assert sum("remote failed (server)" in m for m in messages) == 1
    assert sum("circuit breaker open" in m for m in messages) == 1
