"""Cache levels through the real server: typing-through, stream attach, prefetch, and two
servers sharing one LMDB cache."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.support.lsp_client import (
    REPETITIVE,
    SOURCE,
    change,
    complete,
    initialize_recording_partials,
    inline_params,
    open_doc,
    server_env,
    stats,
)

_tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"copilot-e2e-cache-{os.getpid()}"
SERVER = [sys.executable, "-m", "copilot.lsp", "serve"]


# No time budgets: on a loaded shared machine they would cut answers at random.
UNBUDGETED = {"completion": {"max_prefill_ms": 0, "max_decode_ms": 0}}


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER, server_env=server_env(_tmp)))
async def client(lsp_client: LanguageClient):
    await initialize_recording_partials(lsp_client, UNBUDGETED)
    yield
    await lsp_client.shutdown_session()


LINE = "                found.append(os.path.join(dirpath, "


async def first_completion(client: LanguageClient, uri: str) -> str:
    # The URI in the first line makes each test's text its own: the cache is shared.
    open_doc(client, uri, SOURCE.replace("import os", f"import os  # {uri}", 1))
    change(client, uri, 2, 9, 0, LINE)
    text = await complete(client, uri, 9, len(LINE))
    assert len(text) >= 2, f"need a suggestion of two characters or more, got {text!r}"
    return text


async def test_typing_the_start_of_the_suggestion_answers_the_rest(client: LanguageClient) -> None:
    uri = "file:///project/typing.py"
    text = await first_completion(client, uri)
    before = await stats(client)
    change(client, uri, 3, 9, len(LINE), text[0])
    assert await complete(client, uri, 9, len(LINE) + 1) == text[1:]
    after = await stats(client)
    assert after["source_typing"] == before.get("source_typing", 0) + 1
    assert after["source_model"] == before["source_model"]


async def test_after_accepting_the_next_suggestion_was_prefetched(client: LanguageClient) -> None:
    uri = "file:///project/prefetch.py"
    text = await first_completion(client, uri)
    for _ in range(600):  # the worker is idle: the prefetch runs now
        counts = await stats(client)
        if counts.get("prefetch_completions", 0) >= 1:
            break
        await asyncio.sleep(0.05)
    assert counts.get("prefetch_completions", 0) >= 1
    change(client, uri, 3, 9, len(LINE), text)  # the user pressed Tab
    lines = (LINE + text).split("\n")
    await complete(client, uri, 9 + len(lines) - 1, len(lines[-1]))
    after = await stats(client)
    assert after["source_model"] == counts["source_model"]
    assert after.get("source_memory", 0) == counts.get("source_memory", 0) + 1


async def test_typing_what_the_model_is_writing_attaches_to_the_stream(client: LanguageClient) -> None:
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"completion": {"max_tokens": 400, "max_lines": 0}})
    )
    uri = "file:///project/stream.py"
    open_doc(client, uri, REPETITIVE)
    client.protocol.send_request(types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params(uri, 41, 0), msg_id="first")
    partials: list[Any] = client.partials  # type: ignore[attr-defined]

    async def model_is_writing() -> str:
        while not any(p.uri == uri and len(p.text) >= 2 for p in partials):
            await asyncio.sleep(0.002)
        return str(next(p.text for p in partials if p.uri == uri and len(p.text) >= 2))

    typed = (await asyncio.wait_for(model_is_writing(), timeout=60))[0]
    # What an editor does on a keystroke: cancel the old request, send the edit, ask again.
    client.cancel_request(types.CancelParams(id="first"))
    change(client, uri, 2, 41, 0, typed)
    rest = await complete(client, uri, 41, 1)
    counts = await stats(client)
    assert counts["source_stream"] == 1
    assert counts.get("cancel_jobs", 0) == 0  # the generation was never restarted
    assert rest
    done = [p for p in partials if p.uri == uri and p.done]
    assert [(p.version, p.text) for p in done] == [(2, rest)]  # streamed to the new request


def cache_entries(env: dict[str, str]) -> int:
    result = subprocess.run(
        [*SERVER[:-1], "cache", "stats", "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return int(json.loads(result.stdout)["entries"])


async def test_two_servers_share_one_cache(tmp_path: Path) -> None:
    from pygls.lsp.client import LanguageClient as Client

    env = server_env(tmp_path)
    first, second = Client("a", "1"), Client("b", "1")
    await first.start_io(*SERVER, env=env)
    await second.start_io(*SERVER, env=env)
    try:
        for client in (first, second):
            await client.initialize_async(types.InitializeParams(capabilities=types.ClientCapabilities()))
        uri = "file:///project/shared.py"
        text = await first_completion(first, uri)  # type: ignore[arg-type]
        for _ in range(200):  # the writer thread commits in the background
            if cache_entries(env) >= 2:
                break
            await asyncio.sleep(0.05)
        second_text = await first_completion(second, uri)  # type: ignore[arg-type]
        assert second_text == text
        counts = await stats(second)  # type: ignore[arg-type]
        assert counts["source_disk"] == 1 and counts.get("source_model", 0) == 0
    finally:
        for client in (first, second):
            await client.shutdown_async(None)
            client.exit(None)
            await client.stop()
