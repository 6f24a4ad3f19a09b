"""The Neovim plugin (editors/nvim) in a real headless Neovim 0.12, against the real server
and the real default model. Neovim comes from Debian sid (editors/nvim/scripts/fetch-nvim.sh,
cached); each Lua test runs as a coroutine on Neovim's main loop (tests/editors/nvim/harness.lua)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("script", sorted(p.name for p in TESTS.glob("test_*.lua")))
def test_in_neovim(nvim: str, script: str, tmp_path: Path) -> None:
    source = tmp_path / "project" / "walk.py"
    source.parent.mkdir()
    source.write_text(SOURCE)
    env = {
        **os.environ,
        "COPILOT_LSP_CMD": json.dumps([sys.executable, "-m", "copilot.lsp", "serve"]),
        "COPILOT_HARNESS": str(TESTS / "harness.lua"),
        "COPILOT_TEST_FILE": str(source),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    # -u NONE: no user config; filetype detection and the plugin loaded as a plugin manager would.
    command = [nvim, "--headless", "-u", "NONE", "-i", "NONE", "-n", "--cmd", "filetype on"]
    command += ["--cmd", f"set rtp^={PLUGIN}", "--cmd", "runtime! plugin/copilot_lsp.lua"]
    command += ["-c", f"luafile {TESTS / script}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    assert done.returncode == 0, f"{script}:\n{done.stderr[-3000:]}\n{done.stdout[-2000:]}"
