from pathlib import Path

import pytest

from copilot import config


def test_defaults_without_any_file(tmp_path: Path) -> None:
    loaded = config.load(tmp_path / "missing.toml")
    assert loaded == config.Config()


def test_toml_then_initialization_options(tmp_path: Path) -> None:
    file = tmp_path / "config.toml"
    file.write_text("[completion]\nmax_tokens = 32\nmax_lines = 2\n[cache]\nenabled = false\n")
    loaded = config.apply_layer(config.load(file), {"completion": {"max_lines": 7}}, "options")
    assert loaded.completion.max_tokens == 32
    assert loaded.completion.max_lines == 7
    assert loaded.cache.enabled is False


def test_unknown_key_rejects_that_layer_with_one_message(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    file = tmp_path / "config.toml"
    file.write_text("[completion]\nmax_tokenz = 5\nmax_lines = 9\n")
    loaded = config.load(file)
    assert loaded.completion == config.CompletionSettings()
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "max_tokenz" in errors[0].getMessage()


def test_wrong_type_names_the_key() -> None:
    with pytest.raises(config.ConfigError, match=r"log\.level"):
        config.apply_layer(config.Config(), {"log": {"level": "loud"}}, "options")


def test_broken_toml_is_reported_and_defaults_used(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    file = tmp_path / "config.toml"
    file.write_text("[model\npath = 3")
    assert config.load(file) == config.Config()
    assert str(file) in caplog.text
