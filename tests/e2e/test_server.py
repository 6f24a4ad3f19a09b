"""The real server as a subprocess over stdio, on the real embedded default model."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.support.lsp_client import REPETITIVE, SOURCE, change, complete, inline_params, open_doc, server_env, stats

SLOW_MAX_TOKENS = 400
_server_tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"copilot-e2e-{os.getpid()}"


@pytest_lsp.fixture(
    config=ClientServerConfig(
        server_command=[sys.executable, "-m", "copilot.lsp", "--log-level", "debug", "serve"],
        server_env=server_env(_server_tmp),
    )
)
async def client(lsp_client: LanguageClient):
    lsp_client.initialize_result = await lsp_client.initialize_session(  # type: ignore[attr-defined]
        types.InitializeParams(
            capabilities=types.ClientCapabilities(),
            # No time budgets: on a loaded shared machine they would cut answers at random.
            initialization_options={"completion": {"max_tokens": 48, "max_prefill_ms": 0, "max_decode_ms": 0}},
        )
    )
    yield
    await lsp_client.shutdown_session()


async def test_advertises_inline_completion(client: LanguageClient) -> None:
    capabilities = client.initialize_result.capabilities  # type: ignore[attr-defined]
    assert capabilities.inline_completion_provider is not None


async def test_edit_then_complete_then_the_same_request_hits_the_cache(client: LanguageClient) -> None:
    uri = "file:///project/walk.py"
    open_doc(client, uri, SOURCE)
    change(client, uri, 2, 9, 0, "                found.append(os.path.")
    text = await complete(client, uri, 9, len("                found.append(os.path."))
    assert text.strip(), "the default model should complete this line"

    before = await stats(client)
    again = await complete(client, uri, 9, len("                found.append(os.path."))
    after = await stats(client)
    assert again == text
    assert after.get("source_memory") == before.get("source_memory", 0) + 1, after
    assert after.get("source_model", 0) == before.get("source_model", 0)


async def test_cancelled_request_stops_generation_and_the_next_is_served(client: LanguageClient) -> None:
    # Long answers and no cache, so the first request is still generating when it is cancelled.
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"completion": {"max_tokens": SLOW_MAX_TOKENS, "max_lines": 0}})
    )
    partials: list[Any] = []
    started = asyncio.Event()

    @client.feature("copilot/partialCompletion")
    def on_partial(params: Any) -> None:
        partials.append(params)
        started.set()

    uri = "file:///project/table.py"
    open_doc(client, uri, REPETITIVE)
    params = inline_params(uri, 41, 0)
    slow = client.protocol.send_request(types.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id="slow-1")
    await asyncio.wait_for(started.wait(), timeout=60)  # the model is writing
    client.cancel_request(types.CancelParams(id="slow-1"))
    with pytest.raises(Exception, match="cancel"):
        await asyncio.wait_for(asyncio.wrap_future(slow) if not asyncio.isfuture(slow) else slow, timeout=60)

    # Back to short answers: the next request gets the worker at once.
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"completion": {"max_tokens": 16}})
    )
    uri2 = "file:///project/walk.py"
    open_doc(client, uri2, SOURCE)
    await complete(client, uri2, 9, 0)

    # Batched, the next request may finish while the abandoned generation is still being
    # stopped (after the stream's grace for requests attaching to it): its count comes then.
    counts = await stats(client)
    deadline = asyncio.get_running_loop().time() + 10
    while "cancel_jobs" not in counts and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
        counts = await stats(client)
    assert counts["cancel_jobs"] == 1
    assert counts["cancel_stopped_early"] == 1
    assert 0 < counts["cancel_generated_tokens"] < SLOW_MAX_TOKENS
    assert not any(p.done for p in partials if p.uri == uri)  # it never finished


async def test_bad_requests_get_empty_answers_and_the_server_stays_up(client: LanguageClient) -> None:
    assert await complete(client, "file:///never/opened.py", 0, 0) == ""
    uri = "file:///project/short.py"
    open_doc(client, uri, "x = 1\n")
    assert await complete(client, uri, 50, 0) == ""  # past the end of the document
    open_doc(client, "file:///project/bad.py", "x = '\udcff'\n")  # not valid Unicode
    assert await complete(client, "file:///project/bad.py", 0, 0) == ""
    change(client, uri, 2, 1, 0, "def f(a, b):\n    return a")
    assert isinstance(await complete(client, uri, 2, len("    return a")), str)
    counts = await stats(client)
    assert counts["requests"] >= 1  # still answering


@pytest_lsp.fixture(
    config=ClientServerConfig(
        server_command=[sys.executable, "-m", "copilot.lsp", "serve"], server_env=server_env(_server_tmp)
    )
)
async def client_without_model(lsp_client: LanguageClient):
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(),
            initialization_options={"model": {"path": "/nonexistent/model.gguf"}},
        )
    )
    yield
    await lsp_client.shutdown_session()


async def test_missing_model_gives_empty_answers_and_the_server_stays_up(client_without_model: LanguageClient) -> None:
    uri = "file:///project/a.py"
    open_doc(client_without_model, uri, "import os\n")
    assert await complete(client_without_model, uri, 1, 0) == ""
    assert await complete(client_without_model, uri, 0, 3) == ""
    counts = await stats(client_without_model)
    assert counts["outcome_error"] == 2 and counts["requests"] == 2


async def test_answer_for_a_version_the_editor_has_replaced_is_empty(client: LanguageClient) -> None:
    uri = "file:///project/stale.py"
    open_doc(client, uri, SOURCE)
    params = inline_params(uri, 9, 0)
    pending = client.protocol.send_request(types.TEXT_DOCUMENT_INLINE_COMPLETION, params)
    change(client, uri, 2, 9, 0, "x")  # the user typed on while the model was writing
    result = await asyncio.wait_for(asyncio.wrap_future(pending) if not asyncio.isfuture(pending) else pending, 60)
    assert len(result.items) == 0
    counts = await stats(client)
    assert counts["outcome_stale"] == 1
