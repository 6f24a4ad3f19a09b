"""The remote-model test rig itself: llama-cpp-python's real OpenAI-compatible server on
loopback, and the fault proxy in front of it, each fault seen as an HTTP client sees it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fault_proxy import FaultMode, FaultProxy
from tests.support.openai_server import OpenAIServer, start_openai_server

pytestmark = pytest.mark.slow

ALIAS = "copilot-remote"
# Token 0 is <|endoftext|>: banned, so that every answer runs to max_tokens (greedy decoding
# of this prompt would otherwise stop at once).
COMPLETION: dict[str, Any] = {
    "model": ALIAS,
    "prompt": "def add(a, b):\n",
    "max_tokens": 8,
    "temperature": 0,
    "logit_bias": {"0": -100},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenAIServer]:
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with start_openai_server(model_alias=ALIAS, log_path=log) as running:
        yield running


@pytest.fixture
def proxy(server: OpenAIServer) -> Iterator[FaultProxy]:
    with FaultProxy("127.0.0.1", server.port) as running:
        yield running


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    # trust_env=False: an http_proxy in the environment must not catch loopback requests.
    with httpx.Client(trust_env=False, timeout=httpx.Timeout(30.0)) as running:
        yield running


def sse_data(raw: bytes) -> list[str]:
    """The payloads of the `data:` lines of an SSE body."""
    return [line[5:].strip() for line in raw.decode().splitlines() if line.startswith("data:")]


def stream(client: httpx.Client, url: str, received: list[bytes], **overrides: Any) -> httpx.Response:
    """POST a streamed completion, appending each piece to `received` as it comes (so that a
    test still has what arrived before an error)."""
    timeout = overrides.pop("timeout", None) or client.timeout
    body = {**COMPLETION, "stream": True, **overrides}
    with client.stream("POST", f"{url}/completions", json=body, timeout=timeout) as response:
        for piece in response.iter_raw():
            received.append(piece)
    return response


def test_the_real_server_answers_completions_and_chat(server: OpenAIServer, client: httpx.Client) -> None:
    models = client.get(f"{server.base_url}/models").json()
    assert [m["id"] for m in models["data"]] == [ALIAS]

    completion = client.post(f"{server.base_url}/completions", json=COMPLETION).json()
    assert completion["object"] == "text_completion" and completion["model"] == ALIAS
    assert isinstance(completion["choices"][0]["text"], str)
    assert completion["usage"]["completion_tokens"] <= 8

    messages = [{"role": "user", "content": "def add(a, b):"}]
    chat = client.post(f"{server.base_url}/chat/completions", json={"model": ALIAS, "messages": messages}).json()
    assert chat["object"] == "chat.completion"
    assert chat["choices"][0]["message"]["role"] == "assistant" and "usage" in chat

    body = {"model": ALIAS, "messages": messages, "max_tokens": 4, "stream": True}
    raw = client.post(f"{server.base_url}/chat/completions", json=body).content
    *chunks, done = sse_data(raw)
    assert done == "[DONE]"
    assert {json.loads(chunk)["object"] for chunk in chunks} == {"chat.completion.chunk"}


def test_pass_streams_sse_events_ending_in_done(proxy: FaultProxy, client: httpx.Client) -> None:
    received: list[bytes] = []
    response = stream(client, proxy.base_url, received)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    *events, done = sse_data(b"".join(received))
    assert done == "[DONE]" and events
    for event in events:
        assert json.loads(event)["object"] == "text_completion"
    assert proxy.connections == 1 and proxy.requests == {FaultMode.PASS: 1}


def test_a_mode_switch_applies_to_the_next_request_on_a_kept_alive_connection(
    proxy: FaultProxy, client: httpx.Client
) -> None:
    assert client.post(f"{proxy.base_url}/completions", json=COMPLETION).status_code == 200
    proxy.set_mode("status_500")
    assert client.post(f"{proxy.base_url}/completions", json=COMPLETION).status_code == 500
    assert proxy.connections == 1  # the client kept its connection
    proxy.drop_connections()
    proxy.set_mode(FaultMode.PASS)
    assert client.post(f"{proxy.base_url}/completions", json=COMPLETION).status_code == 200
    assert proxy.connections == 2
    assert proxy.requests == {FaultMode.PASS: 2, FaultMode.STATUS_500: 1}


@pytest.mark.parametrize(("mode", "status"), [("status_500", 500), ("status_429", 429)])
def test_error_statuses_come_with_an_openai_error_body(
    proxy: FaultProxy, client: httpx.Client, mode: str, status: int
) -> None:
    proxy.set_mode(mode)
    response = client.post(f"{proxy.base_url}/completions", json=COMPLETION)
    assert response.status_code == status
    assert response.json()["error"]["message"].startswith("injected fault")
    assert response.headers.get("retry-after") == ("1" if status == 429 else None)


def test_delay_holds_the_request_back(proxy: FaultProxy, client: httpx.Client) -> None:
    proxy.set_mode("delay", delay_s=0.5)
    start = time.monotonic()
    response = client.post(f"{proxy.base_url}/completions", json=COMPLETION)
    assert response.status_code == 200 and response.json()["choices"]
    assert time.monotonic() - start >= 0.5


def test_reset_is_a_connection_reset(proxy: FaultProxy, client: httpx.Client) -> None:
    proxy.set_mode("reset")
    with pytest.raises(httpx.ReadError, match="reset"):
        client.post(f"{proxy.base_url}/completions", json=COMPLETION)
    assert proxy.requests == {FaultMode.RESET: 1}


def test_truncate_cuts_the_stream_before_done(proxy: FaultProxy, client: httpx.Client) -> None:
    proxy.set_mode("truncate", truncate_after=250)
    received: list[bytes] = []
    with pytest.raises(httpx.RemoteProtocolError, match="incomplete"):
        stream(client, proxy.base_url, received, max_tokens=16)
    raw = b"".join(received)
    assert raw.startswith(b"data: {") and b"[DONE]" not in raw
    assert len(raw) < 250  # body bytes on the wire include the chunk framing


def test_corrupt_makes_later_sse_payloads_invalid_json(proxy: FaultProxy, client: httpx.Client) -> None:
    proxy.set_mode("corrupt")
    received: list[bytes] = []
    assert stream(client, proxy.base_url, received).status_code == 200
    first, *later, done = sse_data(b"".join(received))
    assert json.loads(first)["object"] == "text_completion"
    assert done == "[DONE]" and later
    for payload in later:
        with pytest.raises(json.JSONDecodeError):
            json.loads(payload)


def test_drip_delivers_the_response_slowly_in_small_pieces(proxy: FaultProxy, client: httpx.Client) -> None:
    proxy.set_mode("drip", drip_chunk=16, drip_interval_s=0.01)
    received: list[bytes] = []
    start = time.monotonic()
    assert stream(client, proxy.base_url, received).status_code == 200
    elapsed = time.monotonic() - start
    raw = b"".join(received)
    assert sse_data(raw)[-1] == "[DONE]"
    assert len(received) > 10 and max(map(len, received)) <= 16
    assert elapsed >= (len(raw) // 16 - 1) * 0.01  # the wire carries more than the body: a lower bound


def test_hang_ends_in_a_read_timeout(proxy: FaultProxy, client: httpx.Client) -> None:
    proxy.set_mode("hang")
    start = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        client.post(f"{proxy.base_url}/completions", json=COMPLETION, timeout=httpx.Timeout(5.0, read=0.5))
    assert 0.5 <= time.monotonic() - start < 5
    assert proxy.requests == {FaultMode.HANG: 1}


def test_not_json_is_a_200_html_page(proxy: FaultProxy, client: httpx.Client) -> None:
    proxy.set_mode("not_json")
    response = client.post(f"{proxy.base_url}/completions", json=COMPLETION)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_a_server_that_dies_at_startup_is_reported_with_its_log(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="exited with status") as failure:
        start_openai_server(tmp_path / "missing.gguf", log_path=tmp_path / "server.log")
    assert "Model path does not exist" in str(failure.value)
