"""The catalogue's families on their real tokenizers (llama.cpp's vocabulary GGUFs, with the
metadata each family's converter writes: ``bench/families.py``), as a user with a pulled
Qwen2.5-Coder, StarCoder2 or DeepSeek-Coder meets them: what ``models info`` and ``doctor``
say, the prompt against llama-server's own ``/infill`` prompt on the same file, token
healing with the family's tokens, and stop tokens that never reach the editor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import peer
from bench.families import FAMILIES, Variant, family_model
from copilot.cache import GenerationParams
from copilot.config import Config
from copilot.documents import Snapshot
from copilot.inference.decoding import greedy_steps
from copilot.inference.llama import LlamaSession
from copilot.inference.vocabulary import Vocabulary
from copilot.pipeline.prompting import PromptBuilder
from tests.support.lsp_client import server_env
from tests.support.stdio_lsp import StdioServer

CLI = [sys.executable, "-m", "copilot.lsp"]


class Expected:
    """What each family's real files have (token ids from its tokenizer)."""

    def __init__(self, fim: tuple[int, int, int], repo: tuple[int, int], bos: int, stops: dict[str, int]) -> None:
        self.fim, self.repo, self.bos, self.stops = fim, repo, bos, stops


EXPECTED = {
    "qwen2_5_coder": Expected(
        (151659, 151661, 151660),
        (151663, 151664),
        -1,
        {
            "<|endoftext|>": 151643,
            "<|fim_pad|>": 151662,
            "<|repo_name|>": 151663,
            "<|file_sep|>": 151664,
            "<|im_end|>": 151645,
        },
    ),
    # StarCoder2's <repo_name>/<file_sep>: llama.cpp does not know the spelling, the catalogue does
    "starcoder2": Expected((1, 3, 2), (5, 6), -1, {"<|endoftext|>": 0, "<file_sep>": 6}),
    # DeepSeek-Coder asks for BOS (add_bos_token); <|EOT|> ends its answers
    "deepseek_coder": Expected(
        (32016, 32015, 32017), (-1, -1), 32013, {"<｜end▁of▁sentence｜>": 32014, "<|EOT|>": 32021}
    ),
}
QWEN_PLAIN_S = 128247  # Qwen's "</s>": ordinary text (HTML), though llama.cpp promotes it to end-of-generation
CASES = [(family, variant) for family in FAMILIES for variant in ("current", "legacy")]


def models_info(path: Path) -> dict[str, Any]:
    done = subprocess.run([*CLI, "models", "info", str(path), "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    info: dict[str, Any] = json.loads(done.stdout)
    return info


@pytest.mark.parametrize(("family", "variant"), CASES)
def test_models_info_reads_the_family_as_the_server_will(family: str, variant: Variant) -> None:
    expected = EXPECTED[family]
    info = models_info(family_model(family, variant))
    assert info["family"] == family
    fim = info["fim"]
    assert (fim["prefix"], fim["suffix"], fim["middle"]) == expected.fim
    assert (fim["repo_name"], fim["file_sep"]) == expected.repo
    assert info["repo_level"] == (expected.repo[0] >= 0)
    assert fim["bos"] == expected.bos
    stops = set(info["stop_tokens"])
    assert set(expected.stops.values()) <= stops
    assert set(expected.fim) <= stops  # a FIM marker is never part of a suggestion either
    if family == "qwen2_5_coder":
        assert QWEN_PLAIN_S not in stops
    # the server's own set, the one `models info` shows
    assert stops == set(Vocabulary(family_model(family, variant)).stop_tokens)
    warnings = " | ".join(info["warnings"])
    if variant == "current":
        assert info["warnings"] == []
    else:
        assert "no tokenizer.ggml.pre" in warnings and "newer conversion" in warnings
    if family == "deepseek_coder" and variant == "legacy":
        assert "<|EOT|>" in warnings  # typed as ordinary text by the old converter


def test_doctor_warns_about_a_legacy_conversion_without_failing(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[model]\npath = "{family_model("deepseek_coder", "legacy")}"\nn_ctx = 512\n')
    done = subprocess.run(
        [*CLI, "--config", str(config), "doctor"], capture_output=True, text=True, timeout=300, env=server_env(tmp_path)
    )
    warned = [line for line in done.stdout.splitlines() if line.startswith("[warn] tokenizer")]
    assert len(warned) == 2, done.stdout
    assert "tokenizer.ggml.pre" in warned[0] and "<|EOT|>" in warned[1]
    assert "warning(s)" in done.stdout.splitlines()[-1]


# ---------------------------------------------------------------------------------------------
# The prompt, token for token against llama-server's /infill on the same file


def our_prompt(vocabulary: Vocabulary, prefix: str, suffix: str) -> tuple[list[int], str]:
    builder = PromptBuilder(Config(), vocabulary, n_ctx=2048)
    snapshot = Snapshot(uri="file:///w/m.py", version=1, language_id="python", text=prefix + suffix, offset=len(prefix))
    prompt = builder.build(snapshot, GenerationParams(max_tokens=32, max_lines=1))
    return prompt.tokens, prompt.heal


class Peer:
    def __init__(self, server: peer.PeerServer) -> None:
        self.http = server.http

    def infill(self, prefix: str, suffix: str) -> list[int]:
        """The tokens of llama-server's infill prompt: its rendered text tokenized back, which
        is faithful when it has as many tokens as the server evaluated."""
        answer = self.http.post(
            "/infill",
            json={"input_prefix": prefix, "input_suffix": suffix, "prompt": "", "n_predict": 1, "cache_prompt": False},
        ).json()
        tokens = self.tokenize(answer["prompt"], parse_special=True)
        assert len(tokens) == answer["tokens_evaluated"]
        return tokens

    def tokenize(self, text: str, parse_special: bool) -> list[int]:
        answer = self.http.post("/tokenize", json={"content": text, "parse_special": parse_special})
        return [int(t) for t in answer.json()["tokens"]]


@pytest.fixture(scope="module", params=CASES, ids=[f"{f}-{v}" for f, v in CASES])
def served(request: pytest.FixtureRequest) -> Any:
    if peer.server_binary() is None:
        pytest.skip("llama.cpp's server is not built (`make test` builds it: python -m bench peer)")
    family, variant = request.param
    path = family_model(family, variant)
    with peer.PeerServer(path, n_ctx=4096, n_batch=2048, threads=2, spm_infill=False) as server:
        yield family, variant, Vocabulary(path), Peer(server)


CODE_BEFORE = 'import os\n\n\ndef größe(path):\n    """Größe der Datei in Bytes."""\n'
CODE_AFTER = "\n\nprint(größe(__file__))\n"


def test_the_prompt_is_llama_servers_infill_prompt(served: Any) -> None:
    family, _, vocabulary, server = served
    ours, heal = our_prompt(vocabulary, CODE_BEFORE, CODE_AFTER)
    assert heal == ""
    theirs = server.infill(CODE_BEFORE, CODE_AFTER)
    expected = EXPECTED[family]
    if expected.bos >= 0:
        assert ours[0] == theirs[0] == expected.bos
    if family == "qwen2_5_coder":
        # Difference on purpose: llama-server always heads the prompt with the repository-level
        # form and placeholder names; ours has that form only with context from other files
        # (then with the workspace's name and the real paths).
        rep, sep = expected.repo
        head = [rep, *vocabulary.encode("myproject\n"), sep, *vocabulary.encode("filename\n")]
        assert theirs[: len(head)] == head
        theirs = theirs[len(head) :]
    assert ours == theirs


def test_a_half_typed_word_is_left_for_the_model_to_spell(served: Any) -> None:
    """Difference on purpose (token healing): the half-typed word is not in our prompt; the
    rest is llama-server's prompt for the text before that word."""
    family, _, vocabulary, server = served
    ours, heal = our_prompt(vocabulary, CODE_BEFORE + "    return os.path.getsi", CODE_AFTER)
    assert heal == "getsi"
    theirs = server.infill(CODE_BEFORE + "    return os.path.", CODE_AFTER)
    if family == "qwen2_5_coder":
        theirs = theirs[theirs.index(EXPECTED[family].fim[0]) :]  # the repository head, as above
    assert ours == theirs


def test_marker_text_in_user_code_stays_text(served: Any) -> None:
    """User code that spells a marker ("<|EOT|>", "<|im_end|>") is encoded as text. llama-server
    turns the ones an old converter typed as ordinary added tokens into the marker: there we
    differ on purpose."""
    family, variant, vocabulary, server = served
    stops = EXPECTED[family].stops
    line = "s = " + " + ".join(f'"{marker}"' for marker in stops) + "\n"
    ours = vocabulary.encode(line)
    assert not set(ours) & set(stops.values())
    assert vocabulary.detokenize(ours) == line
    theirs = server.tokenize(line, parse_special=False)  # how /infill tokenizes user text
    if family == "deepseek_coder" and variant == "legacy":
        assert stops["<|EOT|>"] in theirs
    else:
        assert ours == theirs


# ---------------------------------------------------------------------------------------------
# Healing and stopping with the family's tokens


@pytest.mark.parametrize("family", list(FAMILIES))
def test_healing_spells_the_half_typed_word_with_the_familys_tokens(family: str) -> None:
    path = family_model(family)
    vocabulary = Vocabulary(path)
    vocabulary.build_healing_index().join()
    session = LlamaSession(path, n_ctx=512, n_batch=512, n_threads=2, n_gpu_layers=0)
    try:
        for anchor in ("getsi", "größ", "ünï", " ", "    "):
            prompt = our_prompt(vocabulary, CODE_BEFORE, CODE_AFTER)[0]
            session.keep(0)
            session.decode(prompt)
            written = b""
            for step, _ in zip(greedy_steps(session, vocabulary, prompt, heal=anchor.encode()), range(8), strict=False):
                written += step.piece
                if len(written) >= len(anchor.encode()):
                    break
            assert written.startswith(anchor.encode()), (anchor, written)
    finally:
        session.close()


STOP_CASES = [
    ("qwen2_5_coder", "current", "<|fim_pad|>", True),
    ("qwen2_5_coder", "current", "<|im_end|>", True),
    ("qwen2_5_coder", "legacy", "<|file_sep|>", True),
    ("qwen2_5_coder", "current", "</s>", False),  # ordinary text in Qwen's vocabulary
    ("starcoder2", "current", "<file_sep>", True),
    ("starcoder2", "current", "<|endoftext|>", True),
    ("deepseek_coder", "legacy", "<|EOT|>", True),  # typed as text by the old converter
    ("deepseek_coder", "legacy", "<｜fim▁hole｜>", True),
    ("deepseek_coder", "current", "<|EOT|>", True),
]


@pytest.mark.parametrize(("family", "variant", "forced", "stops"), STOP_CASES)
def test_a_stop_token_never_reaches_the_editor(
    tmp_path: Path, family: str, variant: Variant, forced: str, stops: bool
) -> None:
    """A model whose every greedy pick is ``forced``, served by the real server."""
    model = family_model(family, variant, forced=forced)
    env = server_env(tmp_path)
    options = {
        "model": {"path": str(model), "n_ctx": 512},
        "completion": {"max_prefill_ms": 0, "max_decode_ms": 0, "max_lines": 0, "max_tokens": 8},
        "cache": {"enabled": False, "prefetch": False},
    }
    command = [*CLI, "--log-level", "info", "serve"]
    with StdioServer(command, env, tmp_path / "server.log") as server:
        server.request("initialize", {"processId": os.getpid(), "capabilities": {}, "initializationOptions": options})
        server.notify("initialized", {})
        # Plain text: a Python file would drop "</s>" as a syntax error, hiding what the model wrote.
        uri = "file:///w/notes.txt"
        document = {"uri": uri, "languageId": "plaintext", "version": 1, "text": "Some notes.\n\n"}
        server.notify("textDocument/didOpen", {"textDocument": document})
        answer = server.request(
            "textDocument/inlineCompletion",
            {"textDocument": {"uri": uri}, "position": {"line": 2, "character": 0}, "context": {"triggerKind": 1}},
        )
        items = answer["items"] if isinstance(answer, dict) else answer or []
        shown = "".join(item["insertText"] for item in items)
        record = server.request("copilot/stats", {"recent": 1})["recent"][-1]
        log = server.log_path.read_text()
    if stops:
        assert shown == "" and forced not in shown
        assert record["stop_reason"] == "end"
    else:
        assert shown.startswith(forced)  # one copy: the rest is cut as a loop
        assert record["stop_reason"] == "max_tokens"
    if variant == "legacy":
        assert "WARNING" in log and "no tokenizer.ggml.pre" in log


@pytest.mark.parametrize(("family", "variant"), CASES)
def test_the_windows_remembered_tokens_are_the_whole_texts_tokens(family: str, variant: Variant) -> None:
    """The window tokenizes the part of the prefix that stays the same while the user types
    once (``Encoder``): at every cursor position of a real source file, with the family's
    tokenizer, that must give the tokens of the whole text."""
    from copilot.prompt.window import Encoder

    vocabulary = Vocabulary(family_model(family, variant))
    encoder = Encoder(vocabulary.encode)
    source = (Path(__file__).parents[2] / "copilot" / "prompt" / "window.py").read_text()
    for end in range(0, len(source), 97):
        text = source[:end]
        assert encoder(text) == vocabulary.encode(text), (family, variant, text[-40:])
