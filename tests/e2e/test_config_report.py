"""Configuration problems as a user meets them: the real server over stdio shows them once
per event (window/showMessage) and applies the valid keys around them; `copilot-lsp doctor`
lists each with its fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import LanguageClient, make_test_lsp_client

from tests.support.gguf_files import write_fim_model
from tests.support.lsp_client import REPETITIVE, change, complete, open_doc, server_env

CLI = [sys.executable, "-m", "copilot.lsp"]
HEADER = "configuration problem"  # in the message's first line
NO_BUDGETS = "max_prefill_ms = 0\nmax_decode_ms = 0\n"  # a loaded machine must not cut answers


def config_messages(client: LanguageClient) -> list[str]:
    return [m.message for m in client.messages if HEADER in m.message.splitlines()[0]]


async def start(tmp: Path, config: str, options: dict[str, Any], log_file: Path | None = None) -> LanguageClient:
    file = tmp / "config.toml"
    file.write_text(config)
    client = make_test_lsp_client()
    logging = ["--log-file", str(log_file)] if log_file else []
    await client.start_io(*CLI, "--config", str(file), *logging, "serve", env=server_env(tmp))
    await client.initialize_session(
        types.InitializeParams(capabilities=types.ClientCapabilities(), initialization_options=options)
    )
    return client


async def stop(client: LanguageClient) -> None:
    await client.shutdown_session()
    await client.stop()


async def last_record(client: LanguageClient) -> Any:
    stats = await client.protocol.send_request_async("copilot/stats", {"recent": 1})
    return stats.recent[-1]


async def test_a_file_with_problems_is_one_message_at_start_and_its_valid_keys_apply(tmp_path: Path) -> None:
    config = f'[completion]\nmax_token = 5\nsuffix_share = 3.0\nmax_tokens = 1\n{NO_BUDGETS}max_lines = "two"\n'
    client = await start(tmp_path, config, {"context": {"recent_file": 3}})
    try:
        (message,) = config_messages(client)
        (shown,) = [m for m in client.messages if m.message == message]
        assert shown.type == types.MessageType.Warning
        file = tmp_path / "config.toml"
        assert message.splitlines()[0].startswith("copilot-lsp: 4 configuration problems")
        assert f"{file}:2: completion.max_token: unknown key, ignored; did you mean completion.max_tokens?" in message
        assert f"{file}:3: completion.suffix_share = 3.0: expected a number from 0 to 1; keeping 0.25" in message
        assert f'{file}:7: completion.max_lines = "two": expected an integer >= 0; keeping 4' in message
        assert "initializationOptions: context.recent_file: unknown key" in message
        assert "did you mean context.recent_files?" in message
        # The valid keys around them apply: max_tokens = 1 cuts the model's answer at one token.
        uri = "file:///table.py"
        open_doc(client, uri, REPETITIVE + "    ")
        await complete(client, uri, 41, 4)
        record = await last_record(client)
        assert (record.route, record.generated_tokens, record.stop_reason) == ("local", 1, "max_tokens")
    finally:
        await stop(client)


async def test_a_typo_no_longer_drops_the_model_path(tmp_path: Path) -> None:
    """The issue's case: `max_token` made the server ignore the whole file, model.path too."""
    missing = tmp_path / "my-model.gguf"
    log_file = tmp_path / "server.log"
    client = await start(tmp_path, f'[model]\npath = "{missing}"\n[completion]\nmax_token = 5\n', {}, log_file)
    try:
        (message,) = config_messages(client)
        assert "completion.max_token" in message and "1 configuration problem " in message
        open_doc(client, "file:///a.py", "import os\n")
        assert await complete(client, "file:///a.py", 1, 0) == ""  # the configured model, which is missing
    finally:
        await stop(client)
    log = log_file.read_text()
    assert f"model file not found: {missing}" in log
    assert log.count("completion.max_token: unknown key") == 1  # once in the log, as in the editor


async def test_a_bad_configuration_change_is_one_message_and_typing_adds_none(tmp_path: Path) -> None:
    client = await start(tmp_path, f"[completion]\n{NO_BUDGETS}", {})
    try:
        assert client.messages == []  # a clean configuration says nothing
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(
                settings={"completion": {"max_tokens": 1, "max_lines": -3, "debounce": 10}}
            )
        )
        uri = "file:///table.py"
        open_doc(client, uri, REPETITIVE + "    ")
        await complete(client, uri, 41, 4)
        (message,) = config_messages(client)
        assert message.splitlines()[0] == "copilot-lsp: 2 configuration problems (the other settings apply):"
        assert "didChangeConfiguration: completion.max_lines = -3: expected an integer >= 0; keeping 4" in message
        assert "completion.debounce: unknown key, ignored; did you mean completion.debounce_ms?" in message
        record = await last_record(client)
        assert (record.generated_tokens, record.stop_reason) == (1, "max_tokens")  # the valid key applied
        # Typing and completing, and a valid change, show nothing more.
        for typed, char in enumerate("40,", start=1):
            change(client, uri, 1 + typed, 41, 3 + typed, char)
            await complete(client, uri, 41, 4 + typed)
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"completion": {"max_tokens": 8}})
        )
        await last_record(client)  # a round trip: the change has been handled
        assert len(client.messages) == 1
        # Each change with problems is its own message.
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"log": {"level": 3}}))
        await last_record(client)
        assert len(config_messages(client)) == 2 and "log.level = 3" in config_messages(client)[1]
        # Settings that are not an object at all: one message, and the server goes on.
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings="loud"))
        await complete(client, uri, 41, 7)
        assert len(config_messages(client)) == 3 and "expected an object of tables" in config_messages(client)[2]
    finally:
        await stop(client)


def doctor(tmp_path: Path, config: str) -> subprocess.CompletedProcess[str]:
    file = tmp_path / "config.toml"
    file.write_text(config)
    return subprocess.run(
        [*CLI, "--config", str(file), "doctor"], capture_output=True, text=True, timeout=300, env=server_env(tmp_path)
    )


def test_doctor_lists_every_problem_with_its_fix(tmp_path: Path) -> None:
    draft = tmp_path / "draft.gguf"
    result = doctor(
        tmp_path,
        f'[model]\nn_ctx = 0\n[completion]\nmax_token = 5\n[speculative]\ndraft_model = "{draft}"\n'
        f'[log]\nfile = "{tmp_path}/no/such/dir/server.log"\n',
    )
    out = result.stdout
    assert result.returncode == 1, out
    file = tmp_path / "config.toml"
    assert f"[FAIL] config: {file}:2: model.n_ctx = 0: expected an integer >= 85" in out
    assert "fix: set model.n_ctx to an integer >= 85, or remove it for the default (2048)" in out
    assert f"[FAIL] config: {file}:4: completion.max_token: unknown key" in out
    assert "fix: write it as max_tokens under [completion]" in out
    assert "[ok] model weights" in out  # n_ctx fell back to its default: llama.cpp is not asked for 0
    assert f"[FAIL] draft model: model file not found: {draft}" in out
    assert f"[FAIL] log: log.file {tmp_path}/no/such/dir/server.log: {tmp_path}/no/such/dir does not exist" in out
    assert "4 problem(s) found" in out
    assert "cannot log to" in result.stderr  # and the command ran instead of failing on the log file


def test_doctor_refuses_a_draft_of_another_vocabulary(tmp_path: Path) -> None:
    draft = write_fim_model(tmp_path / "other-family.gguf")
    result = doctor(tmp_path, f'[speculative]\ndraft_model = "{draft}"\n')
    assert result.returncode == 1, result.stdout
    assert f"[FAIL] draft model: {draft} cannot draft for the model:" in result.stdout
    assert "fix: set speculative.draft_model to a small GGUF of the model's family" in result.stdout
    assert "1 problem(s) found" in result.stdout


async def test_values_llama_cpp_or_lmdb_would_crash_on_are_refused_and_the_server_completes(tmp_path: Path) -> None:
    """{"model": {"n_ctx": 1}} aborted the process in llama.cpp (GGML_ASSERT); a negative cache
    size failed initialize with a traceback. Both are now problems, and their defaults apply."""
    client = await start(tmp_path, "[completion]\n" + NO_BUDGETS, {"model": {"n_ctx": 1}, "cache": {"max_size_mb": -1}})
    try:
        (message,) = config_messages(client)
        assert "initializationOptions: model.n_ctx = 1" in message
        assert "initializationOptions: cache.max_size_mb = -1" in message
        uri = "file:///table.py"
        open_doc(client, uri, REPETITIVE + "    ")
        await complete(client, uri, 41, 4)
        record = await last_record(client)
        assert record.route == "local" and record.generated_tokens > 0
    finally:
        await stop(client)
