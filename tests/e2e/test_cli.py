"""`copilot-lsp complete` and `copilot-lsp doctor` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.gguf_files import write_chat_model_without_fim

CLI = [sys.executable, "-m", "copilot.lsp"]


def run(*args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    extra = ["--config", str(config)] if config else []
    return subprocess.run([*CLI, *extra, *args], capture_output=True, text=True, timeout=300)


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "walk.py"
    path.write_text(
        "import os\n\n\ndef list_files(root):\n    for dirpath, dirnames, filenames in os.walk(root):\n"
        "        for name in filenames:\n            path = os.path.\n"
    )
    return path


def test_complete_prints_the_completion_then_answers_from_the_cache(tmp_path: Path, source: Path) -> None:
    # No time budgets: an answer cut short by a busy machine is (rightly) not cached.
    config = write_config(tmp_path, "[completion]\nmax_prefill_ms = 60000\nmax_decode_ms = 60000\n")
    first = run("complete", f"{source}:7:{len('            path = os.path.') + 1}", config=config)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip()
    assert "[model," in first.stderr
    second = run("complete", f"{source}:7:{len('            path = os.path.') + 1}", config=config)
    assert second.stdout == first.stdout
    assert "[disk," in second.stderr  # a new process: the answer came from LMDB


def test_complete_explains_bad_input(tmp_path: Path, source: Path) -> None:
    latin1 = tmp_path / "latin1.py"
    latin1.write_bytes(b"name = '\xe9t\xe9'\n")
    result = run("complete", f"{latin1}:1:1")
    assert result.returncode == 1 and "is not UTF-8 text" in result.stderr
    result = run("complete", f"{source}:99:1")
    assert result.returncode == 1 and "past the end" in result.stderr
    result = run("complete", "no-position.py")
    assert result.returncode == 2 and "FILE:LINE:COL" in result.stderr


def test_doctor_passes_on_a_fresh_install() -> None:
    result = run("doctor")
    assert result.returncode == 0, result.stdout
    assert "all checks passed" in result.stdout
    assert "[ok] model weights" in result.stdout


def test_doctor_names_each_problem_and_its_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    config = write_config(tmp_path, f'[model]\npath = "{tmp_path}/missing.gguf"\n[cache]\ndir = "{blocker}/sub"\n')
    result = run("doctor", config=config)
    assert result.returncode == 1
    assert "[FAIL] model: model file not found" in result.stdout
    assert "[FAIL] cache:" in result.stdout
    assert result.stdout.count("fix:") == 2
    assert "2 problem(s) found" in result.stdout


def test_chat_model_without_fim_tokens_is_refused_with_advice(tmp_path: Path, source: Path) -> None:
    model = write_chat_model_without_fim(tmp_path / "tiny-chat.gguf")
    config = write_config(tmp_path, f'[model]\npath = "{model}"\n')
    result = run("doctor", config=config)
    assert result.returncode == 1
    assert "has no fill-in-the-middle tokens" in result.stdout and "Qwen2.5-Coder" in result.stdout
    completion = run("complete", f"{source}:1:1", config=config)
    assert completion.returncode == 1 and "no fill-in-the-middle tokens" in completion.stderr


def test_unknown_config_key_is_reported_by_doctor(tmp_path: Path) -> None:
    config = write_config(tmp_path, "[completion]\nmax_tokenz = 3\n")
    result = run("doctor", config=config)
    assert "[FAIL] config:" in result.stdout and "max_tokenz" in result.stdout


def test_cache_stats_and_clear(source: Path) -> None:
    assert run("complete", f"{source}:7:{len('            path = os.path.') + 1}").returncode == 0
    stats = json.loads(run("cache", "stats", "--json").stdout)
    assert stats["entries"] >= 2  # exact and context keys
    assert stats["count.miss"] >= 1
    readable = run("cache", "stats")
    assert "entries" in readable.stdout and "miss" in readable.stdout
    assert run("cache", "clear").returncode == 0
    assert json.loads(run("cache", "stats", "--json").stdout)["entries"] == 0


def test_doctor_reports_a_truncated_cache(source: Path, isolated_dirs: Path) -> None:
    from copilot.cache.keys import CachedCompletion
    from copilot.cache.store import LmdbStore

    directory = isolated_dirs / "xdg_cache_home" / "copilot-lsp" / "completions"
    store = LmdbStore(directory, 16)
    for i in range(2000):
        store.put(f"k{i}".encode(), CachedCompletion(anchor="", text="x" * 300, created=0.0))
    store.close()
    data = directory / "data.mdb"
    with data.open("r+b") as file:
        file.truncate(data.stat().st_size // 2)
    result = run("doctor")
    assert "[FAIL] cache:" in result.stdout and "truncated" in result.stdout
    assert run("complete", f"{source}:1:1").returncode == 0  # the server side rebuilds it
    assert "[ok] cache" in run("doctor").stdout
