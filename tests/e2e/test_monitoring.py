"""Monitoring through the real server: the per-request record, editor events, the
statistics socket and CLI, the Prometheus endpoint, and model-loading progress."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import LanguageClient, make_test_lsp_client

from tests.support.lsp_client import change, complete, open_doc, server_env

SERVER = [sys.executable, "-m", "copilot.lsp", "--log-level", "debug", "serve"]
CODE = "import os\n\n\ndef walk(root):\n    for dirpath, dirnames, filenames in os.walk(root):\n        \n"
STAGES = ("sync", "cache", "context", "queue", "prefill", "first_token", "decode", "postprocess", "total")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def env_for(tmp: Path) -> dict[str, str]:
    env = server_env(tmp)
    env.update(XDG_STATE_HOME=str(tmp / "state"), XDG_RUNTIME_DIR=str(tmp / "run"))
    return env


async def start_server(
    tmp: Path, options: dict[str, Any], progress: bool = False, log_file: Path | None = None
) -> LanguageClient:
    client = make_test_lsp_client()  # answers progress and configuration requests, reads stderr
    command = SERVER if log_file is None else [*SERVER[:-1], "--log-file", str(log_file), "serve"]
    await client.start_io(*command, env=env_for(tmp))
    capabilities = types.ClientCapabilities(window=types.WindowClientCapabilities(work_done_progress=progress))
    await client.initialize_session(types.InitializeParams(capabilities=capabilities, initialization_options=options))
    return client


async def stop_server(client: LanguageClient) -> None:
    await client.shutdown_session()
    await client.stop()


async def statistics(client: LanguageClient, recent: int = 20) -> Any:
    return await client.protocol.send_request_async("copilot/stats", {"recent": recent})


NO_BUDGETS = {"completion": {"max_prefill_ms": 0, "max_decode_ms": 0}, "cache": {"enabled": False}}


async def test_a_model_answer_has_a_complete_consistent_record(tmp_path: Path) -> None:
    client = await start_server(tmp_path, NO_BUDGETS)
    try:
        uri = "file:///record.py"
        open_doc(client, uri, CODE)
        change(client, uri, 2, 5, 8, "for")
        assert await complete(client, uri, 5, 11)
        stats = await statistics(client, 1)
        (record,) = stats.recent
        assert record.route == "local" and record.outcome == "shown"
        assert set(STAGES) <= set(record.timings_ms._fields)
        assert all(getattr(record.timings_ms, stage) >= 0 for stage in STAGES)
        assert 0 <= record.reused_tokens <= record.prompt_tokens  # evaluated = prompt - reused
        assert record.accepted_tokens <= record.draft_tokens
        assert record.generated_tokens > 0 and record.mean_logprob < 0
        assert record.timings_ms.first_token <= record.timings_ms.decode <= record.timings_ms.total
        window = stats.window
        assert window.requests == 1 and window.routes.local == 1
        assert stats.since_start.stage_ms.total.n == 1
    finally:
        await stop_server(client)


async def test_each_request_logs_one_record_line_and_its_id_on_every_line(tmp_path: Path) -> None:
    log_file = tmp_path / "server.log"
    client = await start_server(tmp_path, NO_BUDGETS, log_file=log_file)
    try:
        uri = "file:///logged.py"
        open_doc(client, uri, CODE)
        await complete(client, uri, 5, 8)
        await complete(client, "file:///never-opened.py", 0, 0)  # answered by the server, not the pipeline
        client.protocol.notify("copilot/completionEvent", {"requestId": 1, "event": 3})
        await statistics(client)
    finally:
        await stop_server(client)
    lines = log_file.read_text().splitlines()
    records = [line for line in lines if " record {" in line]
    assert len(records) == 1
    assert "[r1] record " in records[0]
    fields = json.loads(records[0].split(" record ", 1)[1])
    assert fields["request_id"] == 1 and fields["route"] == "local" and "total" in fields["timings_ms"]
    assert any("copilot.inference.engine: [r1] slot" in line for line in lines)  # the inference thread's line too
    assert not any("[r" in line for line in lines if "malformed" in line)  # outside any request: no id


async def test_editor_events_change_the_acceptance_rate(tmp_path: Path) -> None:
    client = await start_server(tmp_path, NO_BUDGETS)
    try:
        uri = "file:///events.py"
        open_doc(client, uri, CODE)
        shown_ids = []
        for line_end in ("for", "for name"):
            change(client, uri, 2 + len(shown_ids), 5, 8, line_end[len(line_end) - (3 if not shown_ids else 5) :])
            result = await client.text_document_inline_completion_async(
                types.InlineCompletionParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=types.Position(line=5, character=8 + len(line_end)),
                    context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
                )
            )
            assert isinstance(result, types.InlineCompletionList) and result.items
            command = result.items[0].command
            assert command is not None and command.command == "copilot.accepted"
            shown_ids.append(command.arguments[0])
        first, second = shown_ids
        for request_id in shown_ids:
            client.protocol.notify("copilot/completionEvent", {"requestId": request_id, "event": "shown"})
        client.protocol.notify("copilot/completionEvent", {"requestId": second, "event": "dismissed"})
        client.protocol.notify("copilot/completionEvent", {"requestId": "x", "event": 3})  # malformed
        client.protocol.notify("copilot/completionEvent", {"requestId": 10_000, "event": "shown"})  # unknown
        before = (await statistics(client)).acceptance.language.python
        assert before.shown == 2 and before.rate == 0.0
        # LSP 3.18 clients run the item's command on accept; others send the event.
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="copilot.accepted", arguments=[first])
        )
        after = await statistics(client)
        assert after.acceptance.language.python.accepted == 1
        assert after.acceptance.language.python.rate == 0.5
        assert after.acceptance.route.local.dismissed == 1
        assert after.counts.events_malformed == 1 and after.counts.events_ignored == 1
    finally:
        await stop_server(client)


def run_stats_cli(tmp: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "copilot.lsp", "stats"]
    return subprocess.run([*command, "--json"], env=env_for(tmp), capture_output=True, text=True, timeout=60)


async def test_stats_command_reads_a_running_server_then_its_saved_snapshot(tmp_path: Path) -> None:
    empty = run_stats_cli(tmp_path)
    assert empty.returncode == 1 and "no running copilot-lsp server" in empty.stdout
    client = await start_server(tmp_path, NO_BUDGETS)
    try:
        uri = "file:///cli.py"
        open_doc(client, uri, CODE)
        await complete(client, uri, 5, 8)
        live = await asyncio.to_thread(run_stats_cli, tmp_path)
        assert live.returncode == 0, live.stderr
        (server,) = json.loads(live.stdout)
        assert server["counts"]["requests"] == 1 and server["window"]["routes"] == {"local": 1}
        table = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "copilot.lsp", "stats"],
            env=env_for(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "(running)" in table.stdout and "route local" in table.stdout
    finally:
        await stop_server(client)
    saved = run_stats_cli(tmp_path)  # the server is gone: its socket too, its snapshot stays
    assert saved.returncode == 0
    (snapshot,) = json.loads(saved.stdout)
    assert snapshot["counts"]["requests"] == 1 and "saved_at" in snapshot
    assert not list((tmp_path / "run").rglob("*.sock"))


async def test_prometheus_endpoint_only_when_enabled_and_only_on_loopback(tmp_path: Path) -> None:
    port = free_port()
    client = await start_server(tmp_path, {**NO_BUDGETS, "monitoring": {"prometheus_port": port}})
    try:
        uri = "file:///prom.py"
        open_doc(client, uri, CODE)
        await complete(client, uri, 5, 8)
        body = await asyncio.to_thread(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        )
        assert 'copilot_events_total{name="requests"} 1.0' in body
        assert 'copilot_route_latency_ms{quantile="p50",route="local"}' in body
        assert listening_addresses(server_pid(client)) == {("127.0.0.1", port)}
    finally:
        await stop_server(client)
    client = await start_server(tmp_path, NO_BUDGETS)  # prometheus_port 0: off
    try:
        uri = "file:///prom.py"
        open_doc(client, uri, CODE)
        await complete(client, uri, 5, 8)
        assert listening_addresses(server_pid(client)) == set()  # no TCP listener at all
    finally:
        await stop_server(client)


async def test_a_metrics_port_in_use_is_reported_and_completions_go_on(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        client = await start_server(tmp_path, {**NO_BUDGETS, "monitoring": {"prometheus_port": port}})
        try:
            uri = "file:///busy.py"
            open_doc(client, uri, CODE)
            assert await complete(client, uri, 5, 8)
        finally:
            await stop_server(client)


async def test_model_loading_reports_work_done_progress(tmp_path: Path) -> None:
    client = await start_server(tmp_path, NO_BUDGETS, progress=True)
    try:
        for _ in range(200):
            reports = [r for token, rs in client.progress_reports.items() if "load" in str(token) for r in rs]
            if any(isinstance(r, types.WorkDoneProgressEnd) for r in reports):
                break
            await asyncio.sleep(0.05)
        assert isinstance(reports[0], types.WorkDoneProgressBegin) and "loading" in (reports[0].message or "")
        assert isinstance(reports[-1], types.WorkDoneProgressEnd) and "ready" in (reports[-1].message or "")
    finally:
        await stop_server(client)


def server_pid(client: LanguageClient) -> int:
    return int(client._server.pid)  # type: ignore[attr-defined]  # pygls keeps the subprocess here


def listening_addresses(pid: int) -> set[tuple[str, int]]:
    """The (IPv4 address, port) pairs process ``pid`` listens on, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                address, port = local.split(":")
                if len(address) == 8:
                    ip = ".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0))
                else:
                    ip = "ipv6:" + address
                found.add((ip, int(port, 16)))
    return found
