"""The capability check from a GGUF header, on small model files the tests write."""

from __future__ import annotations

from pathlib import Path

import gguf
import pytest

from copilot.errors import ModelError
from copilot.inference.catalogue import families, models
from copilot.inference.gguf_info import draft_mismatch, read_info, require_completion_model
from copilot.inference.vocabulary import Vocabulary
from copilot.models import DEFAULT_MODEL_PATH
from tests.support.gguf_files import write_chat_model_without_fim, write_fim_model, write_tiny_model


def test_a_fim_model_is_described_from_its_header(tmp_path: Path) -> None:
    path = write_fim_model(tmp_path / "m.gguf", name="Qwen2.5-Coder-Tiny")
    info = read_info(path)
    tokens = [*range(256)]  # the byte tokens come first
    assert info.architecture == "llama"
    assert info.family == "qwen2_5_coder"
    assert info.fim is not None
    assert (info.fim.prefix, info.fim.middle, info.fim.suffix) == (len(tokens) + 1, len(tokens) + 2, len(tokens) + 3)
    assert info.repo_level  # <|repo_name|> and <|file_sep|> are there, and it is not one of our own models
    assert info.context_length == 128
    assert info.vocab_size == 256 + 9
    assert info.file_type == "F32"
    assert info.parameters == sum(info.tensor_types.values()) > 0
    # The server's stop set has the family's stop texts: <|endoftext|>, <|fim_pad|>,
    # <|repo_name|>, <|file_sep|>, <|im_end|>
    assert {256, 260, 261, 262, 264} <= Vocabulary(path).stop_tokens


def test_fim_ids_from_metadata_win_over_token_texts(tmp_path: Path) -> None:
    by_text = read_info(write_fim_model(tmp_path / "a.gguf"))
    by_meta = read_info(write_fim_model(tmp_path / "b.gguf", fim_ids_in_metadata=True))
    assert by_text.fim is not None and by_meta.fim is not None
    assert (by_meta.fim.prefix, by_meta.fim.suffix, by_meta.fim.middle) == (
        by_text.fim.prefix,
        by_text.fim.suffix,
        by_text.fim.middle,
    )


def test_a_chat_model_without_fim_tokens_is_refused_with_what_to_use(tmp_path: Path) -> None:
    info = read_info(write_chat_model_without_fim(tmp_path / "chat.gguf"))
    assert info.fim is None and not info.can_complete
    with pytest.raises(ModelError, match=r"no fill-in-the-middle tokens.*Qwen2\.5-Coder"):
        require_completion_model(info)


def test_the_embedded_default_model_reads_as_its_catalogue_family() -> None:
    info = read_info(DEFAULT_MODEL_PATH)
    assert info.family == "copilot_default"
    assert info.fim_order == "spm"
    assert not info.repo_level  # it reserves the tokens but was not trained on that form
    assert info.file_type == "F16"
    # K-quants need rows that are multiples of 256 (the recipe's dimensions are)
    dims = {int(d) for t in gguf.GGUFReader(str(DEFAULT_MODEL_PATH)).tensors if len(t.shape) == 2 for d in t.shape}
    assert all(d % 256 == 0 for d in dims)


def test_a_draft_must_share_the_targets_tokens(tmp_path: Path) -> None:
    target = read_info(write_fim_model(tmp_path / "target.gguf", seed=1))
    same_vocab = read_info(write_fim_model(tmp_path / "draft.gguf", seed=2))
    padded = read_info(write_fim_model(tmp_path / "padded.gguf", extra=[f"[PAD{i}]" for i in (0, 1)]))
    other = read_info(write_fim_model(tmp_path / "other.gguf", extra=["hello", "world"]))
    assert draft_mismatch(target, same_vocab) is None
    assert target.tokenizer_digest == same_vocab.tokenizer_digest
    assert "tokens differ" in (draft_mismatch(target, other) or "")
    # padding only inside the vocabulary still shifts the special tokens: refused
    assert draft_mismatch(target, padded) is not None


def test_trailing_padding_tokens_do_not_change_the_identity(tmp_path: Path) -> None:
    plain = write_tiny_model(
        tmp_path / "a.gguf", ["<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>"]
    )
    padded = write_tiny_model(
        tmp_path / "b.gguf", ["<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "[PAD0]", "[PAD1]"]
    )
    a, b = read_info(plain), read_info(padded)
    assert a.vocab_size != b.vocab_size
    assert draft_mismatch(a, b) is None


def test_a_vocabulary_far_larger_is_refused(tmp_path: Path) -> None:
    small = read_info(write_fim_model(tmp_path / "small.gguf"))
    large = read_info(write_fim_model(tmp_path / "large.gguf", extra=[f"w{i}" for i in range(300)]))
    assert "vocabulary of" in (draft_mismatch(small, large) or "")


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.99])
def test_a_truncated_file_says_so(tmp_path: Path, keep: float) -> None:
    whole = write_fim_model(tmp_path / "whole.gguf").read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(whole[: int(len(whole) * keep)])
    with pytest.raises(ModelError, match=r"truncated|corrupt"):
        read_info(cut)


def test_not_a_gguf_and_missing_files(tmp_path: Path) -> None:
    text = tmp_path / "model.gguf"
    text.write_text("hello")
    with pytest.raises(ModelError, match="not a GGUF file"):
        read_info(text)
    with pytest.raises(ModelError, match="not found"):
        read_info(tmp_path / "missing.gguf")


def test_an_unsupported_architecture_is_named_when_strict(tmp_path: Path) -> None:
    path = write_tiny_model(tmp_path / "x.gguf", ["<|endoftext|>"], architecture="not-a-transformer")
    assert read_info(path).architecture == "not-a-transformer"  # gguf-py's list lags llama.cpp's: llama.cpp decides
    with pytest.raises(ModelError, match=r"architecture 'not-a-transformer' is not one llama\.cpp supports"):
        read_info(path, strict_architecture=True)


def test_catalogue_pairs_name_known_models_of_one_family() -> None:
    catalogue = models()
    assert catalogue["qwen2.5-coder-7b"].draft == "qwen2.5-coder-0.5b"
    assert catalogue["deepseek-coder-6.7b"].draft == "deepseek-coder-1.3b"
    for name, entry in catalogue.items():
        assert entry.family in families(), name
        if entry.draft:
            draft = catalogue[entry.draft]
            assert draft.family == entry.family, name
            assert draft.parameters_b < entry.parameters_b, name


def test_the_user_catalogue_adds_models(tmp_path: Path) -> None:
    from copilot import paths

    user = paths.config_file().with_name("models.toml")
    user.parent.mkdir(parents=True)
    user.write_text('[models."mine"]\nfamily = "qwen2_5_coder"\nrepo = "me/mine-GGUF"\nfile = "mine.gguf"\n')
    assert models()["mine"].repo == "me/mine-GGUF"
    assert "qwen2.5-coder-7b" in models()
    user.write_text('[models."broken"]\nfamily = "nope"\nfile = "x.gguf"\n')
    with pytest.raises(ModelError, match="unknown family 'nope'"):
        models()


def test_the_loaded_vocabulary_and_the_header_give_the_same_identity(tmp_path: Path) -> None:
    for path in (DEFAULT_MODEL_PATH, write_fim_model(tmp_path / "q.gguf", extra=["[PAD0]"])):
        info, vocabulary = read_info(path), Vocabulary(path)
        assert (vocabulary.tokenizer, vocabulary.tokenizer_digest) == (info.tokenizer, info.tokenizer_digest)
    assert draft_mismatch(Vocabulary(DEFAULT_MODEL_PATH), read_info(tmp_path / "q.gguf")) is not None


def test_a_file_llama_cpp_rejects_gets_the_headers_reason(tmp_path: Path) -> None:
    whole = DEFAULT_MODEL_PATH.read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ModelError, match="truncated"):
        Vocabulary(cut)
    alien = write_tiny_model(tmp_path / "alien.gguf", ["<|endoftext|>"], architecture="not-a-transformer")
    with pytest.raises(ModelError, match=r"not one llama\.cpp supports"):
        Vocabulary(alien)


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("Qwen2.5 Coder 1.5B", "qwen2_5_coder"),  # general.name as llama.cpp's converter writes it
        ("Qwen2.5-Coder", "qwen2_5_coder"),  # general.basename
        ("qwen2_5_coder_7b_instruct", "qwen2_5_coder"),
        ("Deepseek Coder 1.3b Base", "deepseek_coder"),
        ("Starcoder2 3b", "starcoder2"),
        ("CodeLlama 7b Hf", "codellama"),
        ("Llama 3.1 8B", None),
    ],
)
def test_converter_style_names_name_their_family(name: str, family: str | None) -> None:
    from copilot.inference.catalogue import family_for_model

    assert family_for_model(name) == family
