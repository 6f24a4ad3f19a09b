"""Escalation to a remote model, against a real OpenAI-compatible server on loopback
(llama-cpp-python's own `llama_cpp.server`) behind a fault-injecting proxy, driven through
the real language server over stdio."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.support.fault_proxy import FaultMode, FaultProxy
from tests.support.lsp_client import inline_params, open_doc, server_env
from tests.support.openai_server import OpenAIServer, start_openai_server

pytestmark = pytest.mark.slow

GENERATE_TIMEOUT_MS = 3000
SOURCE = 'def area(width, height):\n    """The area of a rectangle."""\n    '
CURSOR = (2, 4)


@pytest.fixture(scope="module")
def openai_server() -> Iterator[OpenAIServer]:
    with start_openai_server() as server:
        yield server


@pytest.fixture(scope="module")
def proxy(openai_server: OpenAIServer) -> Iterator[FaultProxy]:
    with FaultProxy("127.0.0.1", openai_server.port) as running:
        yield running


_server_tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"copilot-e2e-remote-{os.getpid()}"


@pytest_lsp.fixture(
    config=ClientServerConfig(
        server_command=[sys.executable, "-m", "copilot.lsp", "serve"], server_env=server_env(_server_tmp)
    )
)
async def client(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


def options(base_url: str, enabled: bool = True, **remote: Any) -> dict[str, Any]:
    return {
        "completion": {"max_prefill_ms": 0, "max_decode_ms": 0, "max_lines": 1},
        "cache": {"enabled": False, "prefetch": False},
        "remote": {
            "enabled": enabled,
            "base_url": base_url,
            "model": "copilot-remote",
            "template": "copilot_default",  # the served GGUF is the default model: its SPM template
            "generate_timeout_ms": GENERATE_TIMEOUT_MS,
            "read_timeout_ms": 1000,
            "retries": 1,
            "breaker_failures": 3,
            "breaker_reset_s": 1.0,
            "price_input_per_mtok": 1.0,
            "price_output_per_mtok": 2.0,
            "min_confidence": -100.0,  # inline answers stay local: only explicit requests are complex here
            **remote,
        },
    }


async def start(client: LanguageClient, initialization: dict[str, Any]) -> str:
    await client.initialize_session(
        types.InitializeParams(capabilities=types.ClientCapabilities(), initialization_options=initialization)
    )
    uri = "file:///tmp/remote/area.py"
    open_doc(client, uri, SOURCE)
    return uri


async def generate(client: LanguageClient, uri: str) -> tuple[Any, float]:
    started = time.monotonic()
    params = {"textDocument": {"uri": uri}, "position": {"line": CURSOR[0], "character": CURSOR[1]}}
    result = await client.protocol.send_request_async("copilot/generate", params)
    return result, time.monotonic() - started


async def stats(client: LanguageClient) -> Any:
    return await client.protocol.send_request_async("copilot/stats", {"recent": 1})


async def test_complex_requests_go_remote_and_simple_ones_stay_local(client: LanguageClient, proxy: FaultProxy) -> None:
    proxy.set_mode(FaultMode.PASS)
    uri = await start(client, options(proxy.base_url))
    result, _ = await generate(client, uri)
    assert result.route == "remote", result.reason
    assert result.reason == "explicit generation"
    record = (await stats(client)).recent[-1]
    assert record.route == "remote" and record.remote_tokens_in > 0 and record.cost > 0

    inline = await client.text_document_inline_completion_async(inline_params(uri, *CURSOR))
    assert inline is not None
    now = await stats(client)
    record = now.recent[-1]
    assert record.route == "local" and record.route_reason == "simple request" and record.cost == 0
    assert record.cost_all_remote > 0  # what it would have cost remotely: the saving
    assert now.cost.all_remote > now.cost.spent > 0 and 0 < now.cost.saving < 1


async def test_every_fault_falls_back_to_local_in_budget_and_the_breaker_opens_and_recovers(
    client: LanguageClient, proxy: FaultProxy
) -> None:
    proxy.set_mode(FaultMode.PASS, delay_s=GENERATE_TIMEOUT_MS / 1000 + 1, truncate_after=120)
    uri = await start(client, options(proxy.base_url, breaker_failures=100))  # count every fault first
    faults = [
        FaultMode.STATUS_500,
        FaultMode.STATUS_429,
        FaultMode.RESET,
        FaultMode.TRUNCATE,
        FaultMode.CORRUPT,
        FaultMode.NOT_JSON,
        FaultMode.HANG,
        FaultMode.DELAY,
    ]
    for fault in faults:
        proxy.set_mode(fault)
        proxy.drop_connections()  # the client's kept-alive connection would keep the old mode
        result, seconds = await generate(client, uri)
        assert result.route == "local", (fault, result.reason)
        assert "remote gave nothing" in result.reason, fault
        assert seconds < GENERATE_TIMEOUT_MS / 1000 + 2.0, (fault, seconds)  # in budget, plus the local model
    remote = (await stats(client)).remote
    for kind in ("server", "rate_limited", "reset", "bad_response"):
        assert getattr(remote, f"remote_failed_{kind}", 0) >= 1, (kind, remote)


async def test_the_breaker_opens_then_recovers_with_a_probe(client: LanguageClient, proxy: FaultProxy) -> None:
    uri = await start(client, options(proxy.base_url))
    proxy.set_mode(FaultMode.STATUS_500)
    proxy.drop_connections()
    for _ in range(3):
        result, _ = await generate(client, uri)
        assert result.route == "local"
    remote = (await stats(client)).remote
    assert remote.breaker.state == "open"
    proxy.reset_counters()
    result, _ = await generate(client, uri)  # open: no request at all
    assert result.route == "local" and proxy.connections == 0
    proxy.set_mode(FaultMode.PASS)
    await asyncio.sleep(1.2)  # remote.breaker_reset_s
    result, _ = await generate(client, uri)
    assert result.route == "remote", result.reason
    assert (await stats(client)).remote.breaker.state == "closed"


async def test_with_the_remote_disabled_no_connection_is_attempted(client: LanguageClient, proxy: FaultProxy) -> None:
    proxy.set_mode(FaultMode.PASS)
    proxy.drop_connections()
    proxy.reset_counters()
    uri = await start(client, options(proxy.base_url, enabled=False))
    result, _ = await generate(client, uri)
    assert result.route == "local"
    await client.text_document_inline_completion_async(inline_params(uri, *CURSOR))
    assert (await stats(client)).remote is None
    assert proxy.connections == 0


# --- the client itself against real sockets: wrong URL, TLS, a stream that never ends -------------

from copilot.config import RemoteSettings  # noqa: E402
from copilot.remote.backend import RemoteBackend, RemoteError, RemoteRequest  # noqa: E402
from copilot.remote.escalation import Escalation, template_for  # noqa: E402
from tests.support.openai_server import free_port  # noqa: E402

REQUEST = RemoteRequest(prefix="def f(x):\n    return ", suffix="\n", path="a.py", language="python", max_tokens=16)


def remote_settings(base_url: str, **extra: Any) -> RemoteSettings:
    return RemoteSettings(
        enabled=True, base_url=base_url, model="copilot-remote", template="copilot_default", retries=0, **extra
    )


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        (lambda server: f"http://127.0.0.1:{free_port()}/v1", "connect"),  # nothing listens there
        (lambda server: server.base_url.replace("http://", "https://"), "tls"),  # TLS to a plain HTTP server
        (lambda server: server.base_url.replace("/v1", "/nowhere"), "not_found"),  # a wrong path
    ],
)
async def test_wrong_urls_fail_with_their_kind(openai_server: OpenAIServer, url: Any, kind: str) -> None:
    settings = remote_settings(url(openai_server))
    client = RemoteBackend(settings, template_for(settings))
    try:
        with pytest.raises(RemoteError) as raised:
            await client.complete(REQUEST, 3.0)
        assert raised.value.kind == kind
    finally:
        await client.aclose()


async def test_a_stream_that_never_ends_is_cut_at_the_budget(proxy: FaultProxy) -> None:
    proxy.set_mode(FaultMode.DRIP, drip_chunk=1, drip_interval_s=0.2)  # a byte every 200 ms: never idle long
    proxy.drop_connections()
    settings = remote_settings(proxy.base_url, read_timeout_ms=1000)
    escalation = Escalation(settings, RemoteBackend(settings, template_for(settings)), root=None)
    started = time.monotonic()
    try:
        assert await escalation.complete(REQUEST, 1.0) is None
    finally:
        await escalation.aclose()
        proxy.set_mode(FaultMode.PASS)
        proxy.drop_connections()
    assert time.monotonic() - started < 2.5
    assert escalation.counts["remote_failed_timeout"] == 1
