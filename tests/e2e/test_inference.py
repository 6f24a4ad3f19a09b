"""The local inference path through the real server: streaming order, KV reuse per
document, latest-wins under a flood, and bad input that must not hurt the server."""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, make_test_lsp_client

from tests.support.lsp_client import (
    change,
    complete,
    initialize_recording_partials,
    inline_params,
    open_doc,
    server_env,
    stats,
)
from tests.support.models import write_eos_only_model

_tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"copilot-inference-{os.getpid()}"
SERVER = [sys.executable, "-m", "copilot.lsp", "--log-level", "debug", "serve"]
# No time budgets and no cache: every request below must reach the model, whatever the load.
OPTIONS = {
    "completion": {"max_prefill_ms": 0, "max_decode_ms": 0, "max_lines": 0, "max_tokens": 32},
    "cache": {"enabled": False, "prefetch": False},
}


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER, server_env=server_env(_tmp)))
async def client(lsp_client: LanguageClient):
    await initialize_recording_partials(lsp_client, OPTIONS)
    yield
    await lsp_client.shutdown_session()


async def recent(client: LanguageClient, n: int = 512) -> list[Any]:
    result = await client.protocol.send_request_async("copilot/stats", {"recent": n})
    return list(result.recent)


async def state(client: LanguageClient) -> Any:
    return (await client.protocol.send_request_async("copilot/stats", {})).state


CODE = "import os\n\n\ndef walk(root):\n    for dirpath, dirnames, filenames in os.walk(root):\n        \n"


async def test_partial_notifications_grow_in_order_and_end_with_the_final_answer(client: LanguageClient) -> None:
    uri = "file:///stream.py"
    open_doc(client, uri, CODE)
    final = await complete(client, uri, 5, 8)
    mine = [p for p in client.partials if p.uri == uri]  # type: ignore[attr-defined]
    assert final, "the default model completes this"
    assert mine and mine[-1].done and not any(p.done for p in mine[:-1])  # the done one is last, and only one
    assert mine[-1].text == final  # it arrived before the response, with the final text
    assert len({p.requestId for p in mine}) == 1
    texts = [p.text for p in mine[:-1]]
    assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(texts))


async def test_each_document_keeps_its_kv_state_across_switches(client: LanguageClient) -> None:
    files = {f"file:///kv/{name}.py": CODE.replace("walk", name) * 6 for name in ("alpha", "beta", "gamma")}
    for uri, text in files.items():
        open_doc(client, uri, text)
    line = CODE.count("\n") * 6 - 2
    for round_ in range(2):  # visit each file twice, typing a character each time
        for version, uri in enumerate(files, start=2 + 3 * round_):
            change(client, uri, version, line, 8 + round_, "x")
            await complete(client, uri, line, 9 + round_)
    records = [r for r in await recent(client) if r.source == "model"]
    assert len(records) == 6
    first_visits, second_visits = records[:3], records[3:]
    # A new document takes a sequence that holds another document's prompt (or nothing): it
    # reuses only the prefix their prompts share, up to the first place the names differ.
    assert all(r.reused_tokens < 0.5 * r.prompt_tokens for r in first_visits)
    for record in second_visits:  # back to a document after two others: only the tail is evaluated
        assert record.prompt_tokens > 100
        assert record.prompt_tokens - record.reused_tokens <= 0.1 * record.prompt_tokens


async def test_a_flood_of_requests_keeps_the_latest_and_bounded_state(client: LanguageClient) -> None:
    """30 requests a second on each of two documents for a minute, without waiting for
    answers or cancelling (like a plain client): older requests are superseded, the
    server keeps answering and holds no state for them afterwards."""
    uris = ["file:///flood/a.py", "file:///flood/b.py"]
    for uri in uris:
        open_doc(client, uri, CODE)
    pending: list[asyncio.Future[Any]] = []
    column, version, started = 8, 1, time.monotonic()
    while time.monotonic() - started < 60:
        version += 1
        for uri in uris:
            change(client, uri, version, 5, column, "a")
            # a task, so the request goes out now (the coroutine alone would wait until awaited)
            pending.append(
                asyncio.ensure_future(client.text_document_inline_completion_async(inline_params(uri, 5, column + 1)))
            )
        column += 1
        await asyncio.sleep(1 / 30)
    answers = await asyncio.wait_for(asyncio.gather(*pending), timeout=60)
    # At least 5 a second per document even when this machine is busy (the client's loop
    # falls behind the 30 a second it aims for when the cores are shared).
    assert len(answers) == len(pending) >= 2 * 5 * 60
    assert all(isinstance(a, types.InlineCompletionList) for a in answers)
    counts = await stats(client)
    assert counts["requests"] == len(pending)
    assert counts.get("outcome_superseded", 0) + counts.get("outcome_stale", 0) > len(pending) / 2
    assert counts.get("outcome_error", 0) == 0
    after = await state(client)
    assert after.inflight == 0 and after.queued_jobs == 0
    assert after.latest <= 2 and after.inflight_entries <= 2 and after.shown <= 2
    assert await complete(client, uris[0], 5, column + 8) is not None  # still answering


async def test_cancels_for_unknown_or_finished_requests_are_harmless(client: LanguageClient) -> None:
    uri = "file:///cancel.py"
    open_doc(client, uri, CODE)
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="never-sent"))
    finished = await client.protocol.send_request_async(
        types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params(uri, 5, 8), msg_id="finished-1"
    )
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="finished-1"))
    again = await complete(client, uri, 5, 8)
    assert again == "".join(str(item.insert_text) for item in finished.items)
    assert (await stats(client)).get("outcome_error", 0) == 0


async def test_closing_a_document_while_its_request_runs(client: LanguageClient) -> None:
    uri = "file:///closing.py"
    open_doc(client, uri, CODE)
    request = asyncio.ensure_future(client.text_document_inline_completion_async(inline_params(uri, 5, 8)))
    await asyncio.sleep(0.01)  # sent before the close
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    answer = await asyncio.wait_for(request, timeout=30)
    assert isinstance(answer, types.InlineCompletionList)
    after = await state(client)
    assert after.latest == 0 and after.inflight_entries == 0 and after.shown == 0
    open_doc(client, uri, CODE)
    assert await complete(client, uri, 5, 8)  # reopened, it completes again


async def test_a_prompt_longer_than_the_context_is_cut_to_fit(client: LanguageClient) -> None:
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"completion": {"prompt_tokens": 100_000, "max_tokens": 500}})
    )
    uri = "file:///long.py"
    text = "".join(f"value_{i} = compute({i}, 'item {i}')\n" for i in range(3000))
    open_doc(client, uri, text)
    await complete(client, uri, 1500, 0)
    record = (await recent(client, 1))[-1]
    assert record.outcome in ("shown", "empty")
    assert record.prompt_tokens < 512  # the default model's context
    assert record.stop_reason in ("context_full", "end", "max_tokens")


@pytest.fixture
def eos_model(tmp_path: Path) -> Path:
    return write_eos_only_model(tmp_path / "eos-only.gguf")


async def test_a_model_that_only_ends_gives_empty_answers(eos_model: Path) -> None:
    client = make_test_lsp_client()  # answers progress and configuration requests, reads stderr
    await client.start_io(*SERVER, env=server_env(_tmp))
    try:
        await initialize_recording_partials(client, {**OPTIONS, "model": {"path": str(eos_model)}})
        uri = "file:///eos.py"
        open_doc(client, uri, CODE)
        assert await complete(client, uri, 2, 0) == ""  # an empty line: no half-typed word to heal first
        record = (await recent(client, 1))[-1]
        assert record.stop_reason == "end" and record.generated_tokens == 0 and record.outcome == "empty"
    finally:
        await client.shutdown_session()
        await client.stop()
