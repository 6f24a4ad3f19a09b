"""The Neovim plugin (editors/nvim) in a real headless Neovim 0.12, against the real server
and the real default model. Neovim comes from Debian sid (editors/nvim/scripts/fetch-nvim.sh,
cached); each Lua test runs as a coroutine on Neovim's main loop (tests/editors/nvim/harness.lua).
test_*.lua: the plugin starts its servers; tcp_*.lua: it connects to one started before it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.editors.servers import banner_line, private_env, tcp_server

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "editors" / "nvim"
TESTS = Path(__file__).parent / "nvim"
SOURCE = (
    "import os\n\n\ndef list_files(root):\n    for dirpath, dirnames, filenames in os.walk(root):\n"
    "        for name in filenames:\n            path = os.path.join(dirpath, name)\n"
)


@pytest.fixture(scope="session")
def nvim() -> str:
    fetched = subprocess.run(
        ["bash", str(PLUGIN / "scripts" / "fetch-nvim.sh")], capture_output=True, text=True, timeout=600
    )
    assert fetched.returncode == 0, fetched.stderr
    return fetched.stdout.strip().splitlines()[-1]


def run_lua(nvim: str, script: Path, tmp_path: Path, **extra: str) -> None:
    source = tmp_path / "project" / "walk.py"
    source.parent.mkdir()
    source.write_text(SOURCE)
    env = {
        **private_env(tmp_path),
        "COPILOT_LSP_CMD": json.dumps([sys.executable, "-m", "copilot.lsp", "serve"]),
        "COPILOT_HARNESS": str(TESTS / "harness.lua"),
        "COPILOT_TEST_FILE": str(source),
        **extra,
    }
    # -u NONE: no user config; filetype detection and the plugin loaded as a plugin manager would.
    command = [nvim, "--headless", "-u", "NONE", "-i", "NONE", "-n", "--cmd", "filetype on"]
    command += ["--cmd", f"set rtp^={PLUGIN}", "--cmd", "runtime! plugin/copilot_lsp.lua"]
    command += ["-c", f"luafile {script}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    assert done.returncode == 0, f"{script.name}:\n{done.stderr[-3000:]}\n{done.stdout[-2000:]}"


@pytest.mark.parametrize("script", sorted(p.name for p in TESTS.glob("test_*.lua")))
def test_in_neovim(nvim: str, script: str, tmp_path: Path) -> None:
    run_lua(nvim, TESTS / script, tmp_path)


@pytest.mark.parametrize("script", sorted(p.name for p in TESTS.glob("tcp_*.lua")))
def test_in_neovim_over_tcp(nvim: str, script: str, tmp_path: Path) -> None:
    """The plugin connected to a server started before Neovim (`copilot-lsp serve --tcp`,
    with the test's private XDG folders), as `make run` starts it."""
    with tcp_server(tmp_path, private_env(tmp_path)) as server:
        try:
            run_lua(nvim, TESTS / script, tmp_path, COPILOT_LSP_ADDRESS=server.address)
        except AssertionError as failure:
            raise AssertionError(f"{failure}\n{server.output()}") from None


def test_make_run_banner_neovim_line(nvim: str, tmp_path: Path) -> None:
    """`make run`'s banner says how to connect Neovim: that line, run as printed, connects the
    plugin to the server make started, which makes a suggestion."""
    with tcp_server(tmp_path, private_env(tmp_path, settings=True), make_run=True) as server:
        line = banner_line(server, "Neovim")
        try:
            run_lua(nvim, TESTS / "banner.lua", tmp_path, COPILOT_LSP_ADDRESS=server.address, COPILOT_BANNER_LINE=line)
        except AssertionError as failure:
            raise AssertionError(f"{failure}\n{server.output()}") from None
