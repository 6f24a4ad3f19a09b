"""`copilot-lsp models ...` as a user runs it: list, info, use, quantize on the real default
model, and pull from a stand-in for the Hugging Face hub on loopback (the hub client's own
endpoint setting), with an interrupted download resumed and a bad checksum refused."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest

from copilot import paths
from copilot.models import DEFAULT_MODEL_PATH
from tests.support.gguf_files import QWEN_FIM, write_chat_model_without_fim, write_fim_model, write_tiny_model
from tests.support.hub_server import HubServer
from tests.support.interrupt import INTERRUPTED, sigint_reaches_children

CLI = [sys.executable, "-m", "copilot.lsp"]
REPO, FILE = "tester/tiny-GGUF", "tiny-q8_0.gguf"
QWEN_FIM_SET = ["<|endoftext|>", *QWEN_FIM]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300, env=env)


def hub_env(hub: HubServer) -> dict[str, str]:
    return {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "HF_HOME": str(paths.cache_dir() / "hf"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }


def add_to_user_catalogue(name: str, repo: str = REPO, file: str = FILE, sha256: str = "") -> None:
    user = paths.config_file().with_name("models.toml")
    user.parent.mkdir(parents=True, exist_ok=True)
    checksum = f'sha256 = "{sha256}"\n' if sha256 else ""
    user.write_text(f'[models."{name}"]\nfamily = "qwen2_5_coder"\nrepo = "{repo}"\nfile = "{file}"\n{checksum}')


@pytest.fixture
def model_bytes(tmp_path: Path) -> bytes:
    """A real (tiny) GGUF padded with a 24 MB tensor, so the download spans several of the
    hub client's 10 MB chunks and can be cut between them."""
    path = write_fim_model(tmp_path / "src.gguf")
    return path.read_bytes() + np.random.default_rng(0).bytes(24 << 20)


def test_list_shows_the_catalogue_and_what_is_in_use() -> None:
    result = run("models", "list")
    assert result.returncode == 0, result.stderr
    assert re.search(r"^\* copilot-default .* yes .*embedded$", result.stdout, re.M)
    assert re.search(r"^  qwen2\.5-coder-7b .*qwen2\.5-coder-0\.5b .*hf:ggml-org/", result.stdout, re.M)
    rows = json.loads(run("models", "list", "--json").stdout)
    assert {r["name"] for r in rows if r["in_use"]} == {"copilot-default"}


def test_info_reads_the_header_and_refuses_chat_models(tmp_path: Path) -> None:
    readable = run("models", "info", "copilot-default")
    assert f"({DEFAULT_MODEL_PATH.stat().st_size / 2**20:.1f} MiB)" in readable.stdout  # sizes in MiB
    result = run("models", "info", "copilot-default", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["architecture"] == "llama" and info["family"] == "copilot_default"
    assert info["fim"] is not None and info["parameters"] > 1_000_000
    chat = write_chat_model_without_fim(tmp_path / "chat.gguf")
    result = run("models", "info", str(chat))
    assert result.returncode == 1
    assert "completion    NO" in result.stdout
    assert "error: chat.gguf has no fill-in-the-middle tokens" in result.stderr and "Qwen2.5-Coder" in result.stderr
    result = run("models", "info", str(DEFAULT_MODEL_PATH), "--draft", str(write_fim_model(tmp_path / "q.gguf")))
    assert result.returncode == 1 and "NOT usable: tokenizer" not in result.stdout and "NOT usable" in result.stdout
    alien = write_tiny_model(tmp_path / "alien.gguf", QWEN_FIM_SET, architecture="not-a-transformer")
    result = run("models", "info", str(alien))
    assert result.returncode == 1
    assert "architecture  not-a-transformer" in result.stdout  # described from the header...
    assert "error: alien.gguf: architecture 'not-a-transformer' is not one llama.cpp supports" in result.stderr


def test_info_of_a_name_not_pulled_or_unknown_says_what_to_do() -> None:
    result = run("models", "info", "qwen2.5-coder-1.5b")
    assert result.returncode == 1 and "models pull qwen2.5-coder-1.5b" in result.stderr
    result = run("models", "info", "gpt-17")
    assert result.returncode == 1 and "no model called 'gpt-17'" in result.stderr


def test_pull_downloads_verifies_and_installs(model_bytes: bytes) -> None:
    add_to_user_catalogue("tiny")
    with HubServer({f"{REPO}/{FILE}": model_bytes}) as hub:
        result = run("models", "pull", "tiny", "--quiet", env=hub_env(hub))
        assert result.returncode == 0, result.stderr
        installed = paths.data_dir() / "models" / FILE
        assert installed.read_bytes() == model_bytes
        assert hashlib.sha256(model_bytes).hexdigest() in result.stdout
        again = run("models", "pull", "tiny", "--quiet", env=hub_env(hub))
        assert "already installed" in again.stdout
        assert len(hub.gets()) == 1  # verified in place, not downloaded twice
    listed = run("models", "list")
    assert re.search(r"^  tiny .* yes .*hf:tester/tiny-GGUF", listed.stdout, re.M)


def test_a_connection_cut_mid_download_is_resumed_where_it_stopped(model_bytes: bytes) -> None:
    add_to_user_catalogue("tiny")
    with HubServer({f"{REPO}/{FILE}": model_bytes}) as hub:
        hub.faults.cut_after, hub.faults.cuts = 15 << 20, 1
        result = run("models", "pull", "tiny", "--quiet", env=hub_env(hub))
        assert result.returncode == 0, result.stderr
        ranges = [g["range"] for g in hub.gets()]
    assert ranges[0] is None and ranges[1] == f"bytes={10 << 20}-"  # the second request continued
    assert (paths.data_dir() / "models" / FILE).read_bytes() == model_bytes


def test_a_killed_pull_resumes_on_the_next_run_and_never_replaces_a_good_file(model_bytes: bytes) -> None:
    add_to_user_catalogue("tiny")
    installed = paths.data_dir() / "models" / FILE
    installed.parent.mkdir(parents=True)
    installed.write_bytes(b"GGUF the previous good file")  # a good file of an older version
    with HubServer({f"{REPO}/{FILE}": model_bytes}) as hub:
        hub.faults.stall_after = 22 << 20
        process = subprocess.Popen(
            [*CLI, "models", "pull", "tiny", "--quiet"], env=hub_env(hub), stderr=subprocess.DEVNULL
        )
        assert hub.faults.stalled.wait(120), "the download never started"
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        assert installed.read_bytes() == b"GGUF the previous good file"
        hub.faults.stall_after = None
        hub.faults.release.set()
        result = run("models", "pull", "tiny", "--quiet", env=hub_env(hub))
        assert result.returncode == 0, result.stderr
        resumed = hub.gets()[-1]["range"]
    assert resumed is not None and int(resumed.split("=")[1].rstrip("-")) >= 10 << 20
    assert installed.read_bytes() == model_bytes
    assert not list(installed.parent.rglob("*.partial"))


def test_a_bad_checksum_is_refused_and_nothing_is_installed(model_bytes: bytes) -> None:
    add_to_user_catalogue("tiny")
    with HubServer({f"{REPO}/{FILE}": model_bytes}) as hub:
        hub.faults.corrupt = True
        result = run("models", "pull", "tiny", "--quiet", env=hub_env(hub))
    assert result.returncode == 1
    assert "error: checksum mismatch for tiny-q8_0.gguf" in result.stderr
    assert result.stderr.count("\n") == 1  # one clear line
    assert not (paths.data_dir() / "models" / FILE).exists()
    assert not list((paths.data_dir() / "models").rglob("*.gguf"))  # the corrupt copy is gone too


def test_a_catalogue_checksum_that_disagrees_is_refused(model_bytes: bytes) -> None:
    add_to_user_catalogue("tiny", sha256="0" * 64)
    with HubServer({f"{REPO}/{FILE}": model_bytes}) as hub:
        result = run("models", "pull", "tiny", "--quiet", env=hub_env(hub))
    assert result.returncode == 1 and "checksum mismatch" in result.stderr


def test_a_file_missing_on_the_hub_says_the_entry_is_out_of_date(model_bytes: bytes) -> None:
    add_to_user_catalogue("tiny", file="gone.gguf")
    with HubServer({f"{REPO}/{FILE}": model_bytes}) as hub:
        result = run("models", "pull", "tiny", "--quiet", env=hub_env(hub))
    assert result.returncode == 1 and "not on the hub" in result.stderr


def test_quantize_the_default_model_and_report_greedy_agreement(tmp_path: Path) -> None:
    out = tmp_path / "default-q8_0.gguf"
    result = run("models", "quantize", "copilot-default", str(out), "--type", "q8_0", "--agreement", "4")
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size < DEFAULT_MODEL_PATH.stat().st_size * 0.6  # 8.5 of 16 bits per weight
    after, before = out.stat().st_size / 2**20, DEFAULT_MODEL_PATH.stat().st_size / 2**20
    line = re.escape(f"{out}: q8_0, {after:.1f} MiB (") + r"\d+" + re.escape(f"% of {before:.1f} MiB)")
    assert re.search(f"^{line}$", result.stdout, re.M), result.stdout  # sizes in MiB
    share = float(re.search(r"greedy agreement with copilot-default\.gguf: ([\d.]+)%", result.stdout).group(1))  # type: ignore[union-attr]
    assert share >= 90.0  # Q8_0 is nearly lossless; a broken quantiser would agree far less
    info = json.loads(run("models", "info", str(out), "--json").stdout)
    assert (
        info["file_type"] == "Q8_0"
        and info["tokenizer_digest"]
        == json.loads(run("models", "info", "copilot-default", "--json").stdout)["tokenizer_digest"]
    )


def test_quantize_refuses_bad_input_without_leaving_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(DEFAULT_MODEL_PATH.read_bytes()[:100_000])
    result = run("models", "quantize", str(broken), str(tmp_path / "out.gguf"), "--type", "q4_k_m")
    assert result.returncode == 1 and "truncated" in result.stderr
    result = run("models", "quantize", "copilot-default", str(tmp_path / "out.gguf"), "--type", "q3_weird")
    assert result.returncode == 1 and "unknown quantisation type 'q3_weird'" in result.stderr
    assert not list(tmp_path.glob("out.gguf*"))  # neither the output nor a partial one


def test_use_sets_the_model_in_the_config_file_keeping_the_rest(tmp_path: Path) -> None:
    config = paths.config_file()
    config.parent.mkdir(parents=True)
    config.write_text("# my settings\n[completion]\nmax_lines = 2  # short\n")
    other = DEFAULT_MODEL_PATH  # any FIM model file
    result = run("models", "use", str(other))
    assert result.returncode == 0, result.stderr
    text = config.read_text()
    assert "# my settings" in text and "max_lines = 2  # short" in text
    data = tomllib.loads(text)
    assert data["model"]["path"] == ""  # the embedded default is the empty path
    assert data["speculative"]["draft_model"] == ""  # its draft is slower than none: not turned on
    chat = write_chat_model_without_fim(tmp_path / "chat.gguf")
    refused = run("models", "use", str(chat))
    assert refused.returncode == 1 and "no fill-in-the-middle tokens" in refused.stderr
    assert config.read_text() == text  # unchanged


def test_a_full_disk_is_reported_before_downloading(model_bytes: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from copilot.errors import ModelError
    from copilot.models import hub as hub_module

    add_to_user_catalogue("tiny")
    monkeypatch.setattr(hub_module.shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))  # type: ignore[attr-defined]
    with (
        HubServer({f"{REPO}/{FILE}": model_bytes}) as hub,
        pytest.raises(ModelError, match=r"^not enough disk space in .*: the file needs 24 MiB more, 0 MiB are free$"),
    ):
        hub_module.pull("tiny", endpoint=hub.url, progress=False)
    assert hub.gets() == []  # nothing was downloaded


def test_use_a_pulled_model_turns_on_its_pulled_draft(tmp_path: Path) -> None:
    user = paths.config_file().with_name("models.toml")
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text(
        f'[models."big"]\nfamily = "qwen2_5_coder"\nrepo = "{REPO}"\nfile = "big.gguf"\ndraft = "small"\n'
        f'[models."small"]\nfamily = "qwen2_5_coder"\nrepo = "{REPO}"\nfile = "small.gguf"\n'
    )
    files = {
        f"{REPO}/big.gguf": write_fim_model(tmp_path / "big.gguf", seed=1).read_bytes(),
        f"{REPO}/small.gguf": write_fim_model(tmp_path / "small.gguf", seed=2).read_bytes(),
    }
    with HubServer(files) as hub:
        pulled = run("models", "pull", "big", "--quiet", env=hub_env(hub))
        assert "copilot-lsp models pull small" in pulled.stdout  # says how to get its draft
        assert run("models", "pull", "small", "--quiet", env=hub_env(hub)).returncode == 0
    result = run("models", "use", "big")
    assert result.returncode == 0, result.stderr
    data = tomllib.loads(paths.config_file().read_text())
    assert data["model"]["path"] == str((paths.data_dir() / "models" / "big.gguf").resolve())
    assert data["speculative"]["draft_model"] == str((paths.data_dir() / "models" / "small.gguf").resolve())
    listed = run("models", "list")
    assert re.search(r"^\* big .* small .* yes", listed.stdout, re.M)


def refused_endpoint() -> str:
    """An address on loopback where nothing listens: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_an_unreachable_hub_is_named_and_no_resume_is_promised() -> None:
    add_to_user_catalogue("tiny")
    endpoint = refused_endpoint()
    env = {**os.environ, "HF_ENDPOINT": endpoint, "HF_HOME": str(paths.cache_dir() / "hf")}
    result = run("models", "pull", "tiny", "--quiet", env=env)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr  # one line, no traceback
    assert f"error: download of tiny from {endpoint} ($HF_ENDPOINT; --endpoint overrides it) failed" in result.stderr
    assert "run the same command again to retry (nothing was downloaded)" in result.stderr
    assert "resume" not in result.stderr
    env.pop("HF_ENDPOINT")
    result = run("models", "pull", "tiny", "--quiet", "--endpoint", endpoint, env=env)
    assert result.returncode == 1 and f"from {endpoint} (--endpoint) failed" in result.stderr


def test_ctrl_c_mid_download_is_one_line_and_what_was_downloaded_is_offered_for_resuming(model_bytes: bytes) -> None:
    add_to_user_catalogue("tiny")
    staging = paths.data_dir() / "models" / ".downloads"
    with HubServer({f"{REPO}/{FILE}": model_bytes}) as hub:
        hub.faults.stall_after = 12 << 20
        with sigint_reaches_children():
            process = subprocess.Popen(
                [*CLI, "models", "pull", "tiny", "--quiet"], env=hub_env(hub), stderr=subprocess.PIPE, text=True
            )
        try:
            assert hub.faults.stalled.wait(120), "the download never started"
            deadline = time.monotonic() + 60
            while not any(p.stat().st_size for p in staging.glob("*.partial")) and time.monotonic() < deadline:
                time.sleep(0.1)  # until the client has written some of what it received
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=60)
        finally:
            process.kill()
            process.wait()
    assert process.returncode == 130
    assert stderr == INTERRUPTED + "\n"
    (partial,) = staging.glob("*.partial")
    kept = partial.stat().st_size
    assert 0 < kept <= 12 << 20
    env = {**os.environ, "HF_ENDPOINT": refused_endpoint(), "HF_HOME": str(paths.cache_dir() / "hf")}
    result = run("models", "pull", "tiny", "--quiet", env=env)  # the hub is gone now
    assert result.returncode == 1
    assert f"run the same command again to resume ({kept / 2**20:.1f} MiB downloaded so far are kept)" in result.stderr
