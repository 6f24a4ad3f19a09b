"""Context from outside the local window, seen through the inspector: the CLI
(`copilot-lsp context`) and the server's `copilot/inspectContext`, on the real model."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.support.lsp_client import inline_params, open_doc, server_env

CLI = [sys.executable, "-m", "copilot.lsp"]
# Built by concatenation so that no secret-shaped literal sits in the repository.
FAKE_TOKEN = "ghp_" + "Zq8" * 12
SHAPES = '''"""Geometry helpers."""


def polygon_area(points: list[tuple[float, float]]) -> float:
    """The area of a simple polygon (shoelace formula)."""
    total = 0.0
    for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1]):
        total += x1 * y2 - x2 * y1
    return abs(total) / 2
'''
CLIENT = f'''"""Talking to the shape service."""


def service_headers() -> dict[str, str]:
    return {{"Authorization": "token {FAKE_TOKEN}"}}
'''
REPORT = '''"""Reports about shapes."""

from .shapes import polygon_area
from .client import service_headers


def describe(points):
    headers = service_headers()
    area = polygon_area(points)
    return '''
CURSOR = (9, len("    return "))  # 0-based line, character


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    package = root / "geometry"
    package.mkdir(parents=True)
    (package / "shapes.py").write_text(SHAPES)
    (package / "client.py").write_text(CLIENT)
    (package / "report.py").write_text(REPORT)
    (root / ".env").write_text("def leaked_helper():\n    return 'never in a prompt'\n")
    (root / ".gitignore").write_text("build/\n")
    (root / "build").mkdir()
    (root / "build" / "generated.py").write_text("def polygon_area(points):\n    return 'stale copy'\n")
    return root


def inspect_cli(workspace: Path, *extra: str, config: Path | None = None) -> dict[str, Any]:
    line, column = CURSOR
    location = f"{workspace / 'geometry' / 'report.py'}:{line + 1}:{column + 1}"
    settings = ["--config", str(config)] if config else []
    done = subprocess.run(
        [*CLI, *settings, "context", location, "--root", str(workspace), "--json", *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_the_definition_used_at_the_cursor_comes_from_another_file(workspace: Path) -> None:
    report = inspect_cli(workspace)
    chosen = {s["reason"]: s for s in report["snippets"]}
    assert "defines polygon_area" in chosen, report["candidates"]
    definition = chosen["defines polygon_area"]
    assert definition["path"] == "geometry/shapes.py"
    assert definition["text"].startswith("def polygon_area(points: list[tuple[float, float]]) -> float:")
    # ... and the model really gets it: in the prompt, before the text at the cursor.
    prompt = report["prompt"]
    assert "# geometry/shapes.py\n# def polygon_area(points" in prompt
    assert prompt.index("def polygon_area") < prompt.index("area = polygon_area(points)")
    assert 0 < report["context_tokens"] < report["prompt_tokens"]


def test_ignored_files_never_enter_a_prompt_and_secrets_are_masked(workspace: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[context]\ncrossfile_share = 0.6\n")  # room for both definitions
    report = inspect_cli(workspace, config=config)
    prompt = report["prompt"]
    assert "stale copy" not in prompt  # build/ is in .gitignore: not indexed
    assert "leaked_helper" not in prompt and "never in a prompt" not in prompt  # .env: a default pattern
    assert "defines service_headers" in {s["reason"] for s in report["snippets"]}
    assert FAKE_TOKEN not in prompt
    assert "<secret:" in prompt
    # Completing inside an ignored file gives nothing at all.
    env = subprocess.run(
        [*CLI, "context", f"{workspace / '.env'}:1:1", "--root", str(workspace), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert json.loads(env.stdout)["ignored"].startswith("default")


def test_without_a_workspace_the_open_documents_still_resolve(workspace: Path) -> None:
    report = inspect_cli(
        workspace, "--root", str(workspace / "geometry" / "none"), "--open", str(workspace / "geometry" / "shapes.py")
    )
    assert "defines polygon_area" in {s["reason"] for s in report["snippets"]}


_server_tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"copilot-e2e-context-{os.getpid()}"


@pytest_lsp.fixture(
    config=ClientServerConfig(
        server_command=[sys.executable, "-m", "copilot.lsp", "serve"], server_env=server_env(_server_tmp)
    )
)
async def client(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


async def test_the_server_inspects_and_completes_with_the_workspace_index(
    client: LanguageClient, workspace: Path
) -> None:
    await client.initialize_session(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(),
            root_uri=workspace.as_uri(),
            initialization_options={
                "completion": {"max_prefill_ms": 0, "max_decode_ms": 0},
                "cache": {"enabled": False},  # the model answers, with the context in its prompt
            },
        )
    )
    uri = (workspace / "geometry" / "report.py").as_uri()
    open_doc(client, uri, REPORT)
    line, column = CURSOR
    params = {"textDocument": {"uri": uri}, "position": {"line": line, "character": column}}
    for _ in range(100):  # the index builds in the background: a moment on this tiny workspace
        report = await client.protocol.send_request_async("copilot/inspectContext", params)
        if any(s.reason == "defines polygon_area" for s in report.snippets):
            break
        await asyncio.sleep(0.1)
    assert any(s.reason == "defines polygon_area" for s in report.snippets)
    result = await client.text_document_inline_completion_async(inline_params(uri, line, column))
    assert result is not None
    stats = await client.protocol.send_request_async("copilot/stats", {"recent": 1})
    record = stats.recent[-1]
    assert record.context_snippets >= 1 and record.context_tokens > 0
    # Params without a document are InvalidParams saying what is missing (issue 21: every request an answer).
    with pytest.raises(JsonRpcInvalidParams, match=r"required field missing @ \$\.params\.textDocument"):
        await client.protocol.send_request_async("copilot/inspectContext", {"position": {}})


BAD_INPUTS = {
    "minified.js": ("javascript", "var a=function(b){return b+1};" * 350_000),  # one 10 MB line
    "huge.py": ("python", "def f(x):\n    return x + 1\n" * 400_000),  # 10 MB, 800k lines
    "nested.py": ("python", "x = " + "[" * 100_000),  # quadratic for tree-sitter's queries
    "binary.py": ("python", "\x00\x01\x02abc\x00\x7f" * 50_000),
    "braces.js": ("javascript", "{a:" * 50_000),
}


async def test_bad_input_gets_an_answer_and_the_server_stays_up(client: LanguageClient, tmp_path: Path) -> None:
    """Huge, minified, deeply nested and binary files, and a file that changes language:
    each request is answered (possibly empty), and a normal file still completes after."""
    await client.initialize_session(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(),
            root_uri=tmp_path.as_uri(),
            initialization_options={"completion": {"max_prefill_ms": 0, "max_decode_ms": 0}},
        )
    )
    for name, (language, text) in BAD_INPUTS.items():
        uri = (tmp_path / name).as_uri()
        open_doc(client, uri, text, language)
        lines = text.split("\n")
        position = (len(lines) - 1, len(lines[-1]))
        result = await client.text_document_inline_completion_async(inline_params(uri, *position))
        assert result is not None, name
        report = await client.protocol.send_request_async(
            "copilot/inspectContext",
            {"textDocument": {"uri": uri}, "position": {"line": position[0], "character": position[1]}},
        )
        assert report.prompt_tokens > 0, name
    # The same document reopened as another language: the new grammar, completions go on.
    uri = (tmp_path / "switch.txt").as_uri()
    open_doc(client, uri, "def greet(name):\n    return ", "python")
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    open_doc(client, uri, "function greet(name) {\n  return ", "javascript")
    assert await client.text_document_inline_completion_async(inline_params(uri, 1, 9)) is not None
    stats = await client.protocol.send_request_async("copilot/stats", {"recent": 0})
    assert stats.counts.requests == len(BAD_INPUTS) + 1
    assert getattr(stats.counts, "outcome_error", 0) == 0
