"""The VS Code extension (editors/vscode) at three levels, against the real server and the
real default model:

1. ``node --test``: unit tests of the extension's logic that does not import ``vscode``, and
   the real server driven over stdio with vscode-languageserver-protocol;
2. the extension's tests inside the extension host of a real VS Code (the compiled VS Code
   of the npm package code-server, run by Node 24 and opened in Debian's chromium through
   playwright-core; ``editors/vscode/scripts/setup-test-vscode.sh`` installs them into
   ``$XDG_CACHE_HOME/copilot-lsp/vscode-test`` once); its cases "over TCP" connect to a
   server that `make run` started, as its banner says;
3. the UI: the .vsix installed into that VS Code, a Python file typed into, the ghost text
   accepted with Tab; screenshots in ``editors/vscode/out/test-output``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.editors.servers import banner_line, private_env, tcp_server

ROOT = Path(__file__).resolve().parents[2]
EXTENSION = ROOT / "editors" / "vscode"
OUTPUT = EXTENSION / "out" / "test-output"
SERVER_CMD = json.dumps([sys.executable, "-m", "copilot.lsp", "serve"])

if shutil.which("node") is None or shutil.which("npm") is None:  # a failure, not a skip: make test must run them
    raise RuntimeError("the VS Code extension's tests need Node.js (>= 20) and npm on PATH")


def run(command: list[str], timeout: int, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=EXTENSION, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


def explain(done: subprocess.CompletedProcess[str], limit: int = 6000) -> str:
    out, err = done.stdout[-limit:], done.stderr[-limit:]
    return f"exit code {done.returncode}\n--- stdout ---\n{out}\n--- stderr ---\n{err}"


@pytest.fixture(scope="session")
def built() -> Path:
    """node_modules from package-lock.json (npm ci, when it changed), the bundle, the tests."""
    installed = EXTENSION / "node_modules" / ".package-lock.json"
    lock = EXTENSION / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        done = run(["npm", "ci", "--no-audit", "--no-fund"], timeout=600)
        assert done.returncode == 0, f"npm ci failed: {explain(done)}"
    for script in ("build", "compile-tests"):
        done = run(["npm", "run", script], timeout=300)
        assert done.returncode == 0, f"npm run {script} failed: {explain(done)}"
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return EXTENSION


@pytest.fixture(scope="session")
def vscode_env(built: Path) -> str:
    """VS Code (code-server), Node 24 and chromium in the cache folder; the first time takes a
    few minutes (VS Code's native modules are built for Node 24)."""
    done = run(["bash", str(EXTENSION / "scripts" / "setup-test-vscode.sh")], timeout=1800)
    assert done.returncode == 0, f"setting up the test VS Code failed: {explain(done)}"
    return done.stdout.strip().splitlines()[-1]


def test_node_unit_and_server(built: Path, tmp_path: Path) -> None:
    """Level 1: the pure logic, and the real server over stdio."""
    done = run(
        ["node", "--test", "out/test/unit/", "out/test/server/"],
        timeout=600,
        env={"COPILOT_LSP_CMD": SERVER_CMD, "TMPDIR": str(tmp_path)},
    )
    assert done.returncode == 0, explain(done)
    assert "# fail 0" in done.stdout, explain(done)


def run_extension_host(vscode_env: str, out: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    """test/exthost/suite.ts inside VS Code's extension host: the results, all passed."""
    out.mkdir()
    done = run(
        ["node", "out/test/driver/run.js", "--env", vscode_env, "--mode", "exthost", "--out", str(out)],
        timeout=900,
        env={"COPILOT_LSP_CMD": SERVER_CMD, **env},
    )
    results_file = out / "vscode-exthost-results.json"
    results: list[dict[str, Any]] = json.loads(results_file.read_text()) if results_file.exists() else []
    failed = "\n\n".join(f"{r['name']}:\n{r.get('error', '')[-4000:]}" for r in results if not r["ok"])
    console = out / "vscode-exthost-console.log"
    tail = console.read_text()[-4000:] if console.exists() and not results else ""
    assert done.returncode == 0, f"{explain(done, 3000)}\n--- failed ---\n{failed}\n--- VS Code console ---\n{tail}"
    assert results and all(r["ok"] for r in results), failed
    return results


def test_extension_host(vscode_env: str, tmp_path: Path) -> None:
    """Level 2: test/exthost/suite.ts inside VS Code's extension host (but its cases over TCP)."""
    results = run_extension_host(vscode_env, tmp_path / "exthost", {"COPILOT_VSCODE_SKIP": "^over TCP"})
    assert len(results) >= 15, [r["name"] for r in results]


def test_extension_host_over_tcp(vscode_env: str, tmp_path: Path) -> None:
    """Level 2, the cases "over TCP": `make run` (copilot-lsp serve --tcp on a free port, with
    private XDG folders) started before VS Code; its banner's "VS Code: set SETTING to VALUE"
    line, applied as printed, connects the extension to it. A malformed address and one where
    nothing listens are one message each, with no retries."""
    with tcp_server(tmp_path, private_env(tmp_path, settings=True), make_run=True) as server:
        found = re.fullmatch(r"set (\S+) to (\S+)", banner_line(server, "VS Code"))
        assert found, f"make run's VS Code line is not 'set SETTING to VALUE'\n{server.output()}"
        assert found.group(2) == server.address, server.output()
        env = {"COPILOT_VSCODE_ONLY": "^over TCP", "COPILOT_TCP_SETTING": found.group(1)}
        env["COPILOT_TCP_VALUE"] = found.group(2)
        try:
            results = run_extension_host(vscode_env, tmp_path / "exthost", env)
        except AssertionError as failure:
            raise AssertionError(f"{failure}\n{server.output()}") from None
    assert len(results) == 5, [r["name"] for r in results]


def test_ui_ghost_text_accepted_with_tab(vscode_env: str, tmp_path: Path) -> None:
    """Level 3: the packaged .vsix, installed; type, see the ghost text, Tab, save."""
    vsix = tmp_path / "copilot-lsp.vsix"
    for command in (
        ["node", "esbuild.mjs", "--production"],
        [
            "node_modules/.bin/vsce",
            "package",
            "--no-dependencies",
            "--skip-license",
            "--allow-missing-repository",
            "-o",
            str(vsix),
        ],
    ):
        done = run(command, timeout=300)
        assert done.returncode == 0, f"packaging the .vsix failed: {explain(done)}"
    driver = ["node", "out/test/driver/run.js", "--env", vscode_env, "--out", str(OUTPUT)]
    done = run(
        [*driver, "--mode", "ui", "--vsix", str(vsix)],
        timeout=600,
        env={"COPILOT_LSP_CMD": SERVER_CMD},
    )
    print(done.stdout)  # the screenshots' paths (pytest -s, or -rP)
    assert done.returncode == 0, f"{explain(done)}\nscreenshots and logs in {OUTPUT}"
    assert (OUTPUT / "vscode-ghost-text.png").stat().st_size > 10_000
    assert "accepted with Tab" in done.stdout
    done = run(["node", "esbuild.mjs"], timeout=300)  # back to the development bundle
    assert done.returncode == 0, explain(done)
