import re
from pathlib import Path

import msgspec
import pytest

from copilot import config
from copilot.config_check import key_lines, range_text
from copilot.errors import ConfigError
from copilot.pipeline import prompting

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
CONFIGURATION = README[README.index("## Configuration") :].split("\n## ", 1)[0]


def write(tmp_path: Path, text: str) -> Path:
    file = tmp_path / "config.toml"
    file.write_text(text)
    return file


def leaves() -> dict[str, msgspec.inspect.Type]:
    """Every key of the configuration, dotted, with its type."""
    root = msgspec.inspect.type_info(config.Config)
    assert isinstance(root, msgspec.inspect.StructType)
    found = {}
    for table in root.fields:
        assert isinstance(table.type, msgspec.inspect.StructType)
        found.update({f"{table.name}.{leaf.name}": leaf.type for leaf in table.type.fields})
    return found


def test_defaults_without_any_file(tmp_path: Path) -> None:
    loaded = config.load(tmp_path / "missing.toml")
    assert loaded == config.Config()


def test_toml_then_initialization_options(tmp_path: Path) -> None:
    file = write(tmp_path, "[completion]\nmax_tokens = 32\nmax_lines = 2\n[cache]\nenabled = false\n")
    loaded = config.apply_layer(config.load(file), {"completion": {"max_lines": 7}}, "options")
    assert loaded.completion.max_tokens == 32
    assert loaded.completion.max_lines == 7
    assert loaded.cache.enabled is False


def test_every_problem_is_reported_at_once_and_the_valid_keys_apply(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        '# mine\n[model]\npath = "~/m.gguf"\n\n[completion]\nmax_token = 5\nmax_lines = "two"\n'
        "suffix_share = 3.0\ndebounce_ms = 10\n",
    )
    layered = config.load_file(file)
    assert [(p.key, p.line) for p in layered.problems] == [
        ("completion.max_token", 6),
        ("completion.max_lines", 7),
        ("completion.suffix_share", 8),
    ]
    assert all(p.source == str(file) for p in layered.problems)
    assert layered.config.model.path == "~/m.gguf"  # one bad key no longer drops the file
    assert layered.config.completion.debounce_ms == 10
    assert layered.config.completion.max_lines == 4 and layered.config.completion.suffix_share == 0.25
    unknown, wrong_type, out_of_range = layered.problems
    assert unknown.suggestion == "completion.max_tokens"
    assert wrong_type.expected == "an integer >= 0" and wrong_type.value == '"two"'
    assert str(out_of_range) == (
        f"{file}:8: completion.suffix_share = 3.0: expected a number from 0 to 1; keeping 0.25"
    )


@pytest.mark.parametrize(
    ("layer", "suggestion"),
    [
        ({"completion": {"max_token": 5}}, "completion.max_tokens"),
        ({"completion": {"MaxTokens": 5}}, "completion.max_tokens"),
        ({"completion": {"colour": "red"}}, ""),
        ({"completion": {"n_ctx": 4096}}, "model.n_ctx"),  # the right name in the wrong table
        ({"complection": {"max_tokens": 5}}, "completion"),
        ({"max_tokens": 5}, "completion.max_tokens"),  # a key outside any table
        ({"speculative": {"draft_modle": "d.gguf"}}, "speculative.draft_model"),
    ],
)
def test_an_unknown_key_says_which_was_probably_meant(layer: dict[str, object], suggestion: str) -> None:
    (problem,) = config.apply(config.Config(), layer, "initializationOptions").problems
    assert problem.suggestion == suggestion
    assert problem.source == "initializationOptions" and problem.line == 0
    if suggestion:
        assert "did you mean" in problem.message
    else:
        assert "[completion] has: max_tokens, max_lines" in problem.message  # what there is instead


def test_a_bad_value_keeps_what_the_layers_before_gave(tmp_path: Path) -> None:
    base = config.load(write(tmp_path, "[completion]\nmax_tokens = 32\n"))
    layered = config.apply(base, {"completion": {"max_tokens": -1, "max_lines": 2}}, "didChangeConfiguration")
    assert layered.config.completion.max_tokens == 32 and layered.config.completion.max_lines == 2
    (problem,) = layered.problems
    assert str(problem) == "didChangeConfiguration: completion.max_tokens = -1: expected an integer >= 1; keeping 32"


@pytest.mark.parametrize(
    ("key", "bad", "expected", "good"),
    [
        ("completion.max_tokens", 0, "an integer >= 1", 1),
        ("completion.max_lines", -1, "an integer >= 0", 0),  # 0: no limit
        ("completion.prompt_tokens", 8, "an integer >= 16", 16),
        ("completion.suffix_share", 3.0, "a number from 0 to 1", 1),
        ("completion.max_prefill_ms", -5, "a number >= 0", 0),
        ("model.n_gpu_layers", -2, "an integer >= -1", -1),
        ("model.kv_slots", 0, "an integer >= 1", 1),
        ("model.n_threads", -1, "an integer >= 0", 0),
        ("context.crossfile_share", -0.1, "a number from 0 to 1", 0),
        ("speculative.draft_min_confidence", 1.5, "a number from 0 to 1", 0.9),
        ("remote.connect_timeout_ms", 0, "a number > 0", 0.5),
        ("remote.min_confidence", 0.5, "a number <= 0", 0),
        ("monitoring.prometheus_port", 70000, "an integer from 0 to 65535", 65535),
        ("log.level", "loud", 'one of "debug", "error", "info", "warning"', "debug"),
        ("cache.enabled", 1, "true or false", False),
        ("remote.headers", {"X": 1}, "a table of strings", {"X": "1"}),
    ],
)
def test_ranges_are_checked_before_anything_uses_them(key: str, bad: object, expected: str, good: object) -> None:
    table, leaf = key.split(".")
    (problem,) = config.apply(config.Config(), {table: {leaf: bad}}, "options").problems
    assert problem.key == key and problem.expected == expected
    assert getattr(getattr(config.apply(config.Config(), {table: {leaf: bad}}, "o").config, table), leaf) == getattr(
        getattr(config.Config(), table), leaf
    )
    accepted = config.apply(config.Config(), {table: {leaf: good}}, "options")
    assert accepted.problems == [] and getattr(getattr(accepted.config, table), leaf) == good


def test_every_numeric_key_has_a_range() -> None:
    """So that a new key gets one too: model.n_ctx's depends on completion.max_tokens."""
    unranged = [
        key
        for key, kind in leaves().items()
        if isinstance(kind, (msgspec.inspect.IntType, msgspec.inspect.FloatType)) and not range_text(kind)
    ]
    assert unranged == ["model.n_ctx"]


def test_n_ctx_must_hold_a_prompt_and_max_tokens() -> None:
    smallest = config.minimum_n_ctx(64)
    assert config.apply(config.Config(), {"model": {"n_ctx": smallest}}, "o").problems == []
    layered = config.apply(config.Config(), {"model": {"n_ctx": 0}}, "o")
    (problem,) = layered.problems
    assert problem.key == "model.n_ctx" and problem.expected == f"an integer >= {smallest}"
    assert "completion.max_tokens = 64" in problem.message and layered.config.model.n_ctx == 2048
    # A max_tokens the context cannot hold is the key at fault when the layer set only it.
    (problem,) = config.apply(config.Config(), {"completion": {"max_tokens": 3000}}, "o").problems
    assert problem.key == "completion.max_tokens" and problem.expected == f"an integer from 1 to {2048 - 21}"
    # Both set, both keep their values: the result always holds a prompt.
    both = config.apply(config.Config(), {"model": {"n_ctx": 100}, "completion": {"max_tokens": 500}}, "o")
    assert [p.key for p in both.problems] == ["model.n_ctx"]
    assert (both.config.model.n_ctx, both.config.completion.max_tokens) == (2048, 64)


def test_the_smallest_context_is_the_pipelines_smallest_prompt() -> None:
    assert config.PROMPT_MARGIN == prompting.PROMPT_MARGIN
    assert config.minimum_n_ctx(64) == 64 + config.MIN_PROMPT_TOKENS + prompting.PROMPT_MARGIN + 1


def test_a_toml_syntax_error_skips_the_file_with_its_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    file = write(tmp_path, "[model]\npath = 3 3\n")
    layered = config.load_file(file)
    assert layered.config == config.Config()
    (problem,) = layered.problems
    assert problem.line == 2 and "ignoring this file" in problem.message
    config.load(file)
    assert [r.getMessage() for r in caplog.records] == [str(problem)]  # the log has the same line


def test_a_layer_that_is_not_an_object_is_one_problem() -> None:
    empties: list[object] = [None, {}, []]  # Neovim sends an empty Lua table as []
    for empty in empties:
        assert config.apply(config.Config(), empty, "initializationOptions").problems == []
    layered = config.apply(config.Config(), ["model"], "initializationOptions")
    assert layered.config == config.Config()
    (problem,) = layered.problems
    assert "expected an object of tables" in str(problem)
    (problem,) = config.apply(config.Config(), {"completion": 5}, "o").problems
    assert problem.key == "completion" and problem.expected == "a table"


def test_header_tables_merge_across_layers(tmp_path: Path) -> None:
    base = config.load(write(tmp_path, '[remote.headers]\nX-A = "a"\n'))
    merged = config.apply_layer(base, {"remote": {"headers": {"X-B": "b"}}}, "options")
    assert merged.remote.headers == {"X-A": "a", "X-B": "b"}


def test_apply_layer_raises_naming_every_problem() -> None:
    with pytest.raises(ConfigError, match=r"log\.level.*completion\.max_tokens"):
        config.apply_layer(config.Config(), {"log": {"level": "loud"}, "completion": {"max_tokens": 0}}, "bench")


def test_key_lines_follow_tables_dotted_and_quoted_keys() -> None:
    text = (
        "top = 1\n"
        "[model]  # the model\n"
        'path = """\n'
        "n_ctx = 5\n"  # inside a multi-line string: not a key
        '"""\n'
        "n_ctx = 4096\n"
        "completion.max_lines = 2\n"
        "[ remote . headers ]\n"
        '"X-Key" = "v"\n'
        "[context]\n"
        'ignore = ["a",\n  "b"]\n'
        "cache = { dir = 'x' }\n"
    )
    lines = key_lines(text)
    assert lines["top"] == 1 and lines["model"] == 2 and lines["model.path"] == 3
    assert lines["model.n_ctx"] == 6
    assert lines["model.completion.max_lines"] == 7
    assert lines["remote.headers"] == 8 and lines["remote.headers.X-Key"] == 9
    assert lines["context.ignore"] == 11 and lines["context.cache"] == 13


def test_the_readme_gives_every_key_its_range() -> None:
    rows = dict(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|(?:[^|]*\|){2}([^|]*)\|", CONFIGURATION, re.MULTILINE))
    assert set(rows) == set(leaves())
    for key, kind in leaves().items():
        if key == "model.n_ctx":
            assert rows[key].strip() == ">= `completion.max_tokens` + 21"
        else:
            assert rows[key].strip() == range_text(kind), key
