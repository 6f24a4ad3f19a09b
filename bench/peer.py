"""The peer: llama.cpp's own server, built from the llama-cpp-python sdist of the installed
version (so both sides run the same llama.cpp), driven the way llama.vim drives it.

``python -m bench peer`` builds it (about 13 minutes on 2 cores, once; the binary is cached
under ``$XDG_CACHE_HOME/copilot-lsp/llama-server/<version>/``). Suites start it with
:class:`PeerServer` and send llama.vim-shaped ``/infill`` requests with :func:`infill_request`.

The same sdist carries llama.cpp's vocabulary-only GGUFs (the real tokenizers of StarCoder2,
DeepSeek-Coder, Qwen2...): :func:`vocabularies` keeps them next to the binary, for the model
families' fixtures (``bench/families.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from copilot.config import MIN_PROMPT_TOKENS, PROMPT_MARGIN
from copilot.inference.gguf_info import read_info

# The llama.cpp build options of the bindings (Makefile's CMAKE_ARGS): the same CPU kernels.
BUILD_OPTIONS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DGGML_NATIVE=OFF",
)


def bindings_version() -> str:
    return metadata.version("llama-cpp-python")


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "copilot-lsp" / "llama-server" / bindings_version()


def server_binary() -> Path | None:
    """The built llama-server, or None when ``python -m bench peer`` has not built it yet."""
    binary = cache_dir() / "llama-server"
    return binary if binary.exists() else None


def _sdist(folder: Path, version: str) -> Path:
    name = f"llama_cpp_python-{version}.tar.gz"
    if not (folder / name).exists():
        print(f"peer: downloading the llama-cpp-python {version} source distribution from PyPI")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", f"llama-cpp-python=={version}", "--no-deps",
             "--no-binary", ":all:", "--quiet", "-d", str(folder)],
            check=True,
        )  # fmt: skip
    return folder / name


# The tokenizers of the catalogue's families among them (StarCoder2's is "starcoder").
VOCABULARIES = ("starcoder", "deepseek-coder", "qwen2")


def vocabularies(folder: Path | None = None) -> Path:
    """The folder of llama.cpp's ``ggml-vocab-*.gguf`` files under ``folder`` (default: the
    peer's cache folder), extracted from the sdist (a 4-second download) unless already there."""
    folder = folder or cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "vocab").exists():
            sdist = _sdist(folder, bindings_version())
            _extract_vocabularies(sdist, folder)
            sdist.unlink()
    return folder / "vocab"


def _extract_vocabularies(sdist: Path, folder: Path) -> None:
    with tarfile.open(sdist) as archive, tempfile.TemporaryDirectory(dir=folder) as scratch:
        members = [
            m for m in archive.getmembers()
            if any(m.name.endswith(f"/vendor/llama.cpp/models/ggml-vocab-{name}.gguf") for name in VOCABULARIES)
        ]
        archive.extractall(scratch, members=members, filter="data")
        staged = Path(scratch) / "vocab"
        staged.mkdir()
        for member in members:
            (Path(scratch) / member.name).replace(staged / Path(member.name).name)
        staged.replace(folder / "vocab")  # only a complete folder is ever found


def _extract_llama_cpp(sdist: Path, into: Path) -> Path:
    with tarfile.open(sdist) as archive:
        root = archive.getnames()[0].split("/")[0]
        wanted = f"{root}/vendor/llama.cpp/"
        members = [m for m in archive.getmembers() if m.name.startswith(wanted)]
        archive.extractall(into, members=members, filter="data")
    return into / root / "vendor" / "llama.cpp"


def _run(command: list[str]) -> None:
    """Run a build step quietly; on failure, show the end of its output and stop."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"peer: `{' '.join(command[:3])} ...` failed:\n{(done.stdout + done.stderr)[-4000:]}")


def build(jobs: int | None = None) -> Path:
    """Build llama-server from the sdist's llama.cpp unless already built; return its path.

    A lock file keeps two concurrent callers (two test runs) from building twice."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary := server_binary():
            return binary
        version = bindings_version()
        sdist = _sdist(folder, version)
        if not (folder / "vocab").exists():
            _extract_vocabularies(sdist, folder)
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="build-", dir=folder) as scratch:
            source = _extract_llama_cpp(sdist, Path(scratch))
            build_dir = Path(scratch) / "build"
            extra = os.environ.get("CMAKE_ARGS", "").split()
            generator = ["-G", "Ninja"] if shutil.which("ninja") else []
            print(f"peer: building llama-server from llama.cpp of llama-cpp-python {version} (about 13 min on 2 cores)")
            _run(["cmake", "-S", str(source), "-B", str(build_dir), *generator, *BUILD_OPTIONS, *extra])
            _run(["cmake", "--build", str(build_dir), "--target", "llama-server", "-j", str(jobs or os.cpu_count())])
            staged = folder / "llama-server.partial"
            shutil.copy2(build_dir / "bin" / "llama-server", staged)
            staged.replace(folder / "llama-server")  # only a complete binary is ever found
        sdist.unlink()  # 75 MB; pip downloads it again if ever needed
        print(f"peer: built {folder / 'llama-server'} in {time.monotonic() - started:.0f} s")
        return folder / "llama-server"


def wanted(choice: str, suite: str) -> bool:
    """Whether a suite runs the peer: ``on`` requires it, ``auto`` runs it when built."""
    if choice == "off":
        return False
    if server_binary() is None:
        if choice == "on":
            raise SystemExit(f"{suite}: the peer llama-server is not built: run `python -m bench peer` first")
        print(f"{suite}: the peer llama-server is not built (python -m bench peer): measuring ours alone")
        return False
    return True


class Matched(NamedTuple):
    n_ctx: int
    n_batch: int
    spm_infill: bool


def matched_settings(model: Path, n_ctx: int, prompt_tokens: int, max_tokens: int) -> Matched:
    """llama-server settings that give its infill prompt our server's budget on ``model``:
    our engine never uses more context than the model was trained for, and packs at most
    ``prompt_tokens`` (a quarter for the suffix) leaving room for the answer; llama-server's
    infill takes 3/4 of ``n_batch`` for the prefix and 1/4 for the suffix, and other files'
    chunks only from what ``n_ctx`` has left beyond that and twice the answer."""
    info = read_info(model)
    n_ctx = min(n_ctx, info.context_length or n_ctx)
    budget = max(MIN_PROMPT_TOKENS, min(prompt_tokens, n_ctx - max_tokens - PROMPT_MARGIN))
    return Matched(n_ctx, budget, info.fim_order == "spm")


def timing(answer: dict[str, Any], name: str) -> float:
    """A ``timings`` field of an answer, also when ``response_fields`` flattened it."""
    return float(answer.get(f"timings/{name}", answer.get("timings", {}).get(name, 0)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PeerServer:
    """A running llama-server on loopback, stopped on exit. ``n_batch`` sets its infill
    budget (prefix 3/4, suffix 1/4 of it: our ``completion.prompt_tokens`` split); the
    physical batch is 512 tokens, as in our engine; ``n_ctx`` is per slot."""

    def __init__(
        self,
        model: Path,
        *,
        n_ctx: int,
        n_batch: int,
        threads: int,
        spm_infill: bool,
        draft: Path | None = None,
        max_draft: int = 8,
        slots: int = 1,
        n_predict: int = 64,
        gpu_layers: int = 0,
        binary: Path | None = None,
    ) -> None:
        binary = binary or server_binary()  # another build of the same llama.cpp, to compare builds
        if binary is None:
            raise SystemExit("the peer llama-server is not built: run `python -m bench peer` (about 13 min, once)")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [
            str(binary), "--model", str(model), "--host", "127.0.0.1", "--port", str(self.port),
            "--ctx-size", str(n_ctx * slots), "--batch-size", str(n_batch), "--ubatch-size", str(min(512, n_batch)),
            "--threads", str(threads), "--threads-batch", str(threads), "--parallel", str(slots),
            "--cache-reuse", "256",  # llama.vim's recommended server setting
            # The infill prompt's room for other files' chunks is n_ctx - n_batch - 2 * the server's
            # n_predict (not the request's): without it, prompts overflow the context.
            "--n-predict", str(n_predict),
            "--no-webui", "--log-disable",
        ]  # fmt: skip
        if spm_infill:
            self.args.append("--spm-infill")
        if gpu_layers:
            self.args += ["--n-gpu-layers", str(999 if gpu_layers < 0 else gpu_layers)]
        if draft is not None:
            # --spec-type is needed too: with a draft model alone this version loads the draft
            # and never drafts (its /slots say "speculative": false).
            self.args += ["--model-draft", str(draft), "--spec-type", "draft-simple"]
            self.args += ["--spec-draft-n-max", str(max_draft), "--spec-draft-n-min", "0"]
            if gpu_layers:
                self.args += ["--n-gpu-layers-draft", str(999 if gpu_layers < 0 else gpu_layers)]
        self.process: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.url, timeout=120.0)

    def __enter__(self) -> PeerServer:
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                tail = self.log.read().decode(errors="replace")[-2000:]
                raise SystemExit(f"the peer llama-server exited ({self.process.returncode}):\n{tail}")
            with contextlib.suppress(httpx.HTTPError):
                if self.http.get("/health").status_code == 200:
                    return self
            time.sleep(0.1)
        raise SystemExit("the peer llama-server did not become ready in 120 s")

    def __exit__(self, *exc: object) -> None:
        self.http.close()
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()

    def rss_mb(self) -> float:
        return process_rss_mb(self.process.pid) if self.process else 0.0


def process_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def infill_request(
    text_before: str,
    text_after: str,
    extra: list[dict[str, str]],
    *,
    n_predict: int,
    single_line: bool,
    n_prefix_lines: int = 256,
    n_suffix_lines: int = 64,
) -> dict[str, Any]:
    """llama.vim's request for the cursor between ``text_before`` and ``text_after``: whole
    lines of prefix and suffix around the cursor's line, the cursor's line split into
    ``prompt`` (before it) and the start of ``input_suffix``, other files' chunks as
    ``input_extra``, ``cache_prompt`` on. Greedy here (llama.vim samples top-k 40 / top-p 0.9),
    so both sides compute the same kind of answer; one line when our side is asked for one."""
    before_lines = text_before.split("\n")
    after_lines = text_after.split("\n")
    prefix = "".join(line + "\n" for line in before_lines[:-1][-n_prefix_lines:])
    middle = before_lines[-1]
    suffix = "\n".join(after_lines[: n_suffix_lines + 1])
    indent = len(middle) - len(middle.lstrip(" \t"))
    request: dict[str, Any] = {
        "input_prefix": prefix,
        "input_suffix": suffix,
        "input_extra": extra,
        "prompt": middle,
        "n_predict": n_predict,
        "n_indent": indent,
        "samplers": ["top_k"],
        "top_k": 1,
        "stream": False,
        "cache_prompt": True,
        "t_max_predict_ms": 1000,
        "response_fields": ["content", "timings/prompt_n", "timings/predicted_n", "timings/cache_n",
                            "timings/prompt_ms", "timings/predicted_ms"],
    }  # fmt: skip
    if single_line:
        request["stop"] = ["\n"]
    return request


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", type=int, default=None, help="parallel compile jobs (default: all cores)")


def main(args: argparse.Namespace) -> None:
    print(build(args.jobs))
    print(vocabularies())
