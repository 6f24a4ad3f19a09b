from pathlib import Path

import lmdb
import msgspec
import pytest

from copilot.cache import CachedCompletion, CompletionCache, GenerationParams, cache_key, open_cache

PARAMS = GenerationParams(max_tokens=64, max_lines=4)


def test_key_depends_on_model_prompt_and_parameters() -> None:
    base = cache_key("model-a", [1, 2, 3], PARAMS)
    assert base == cache_key("model-a", [1, 2, 3], PARAMS)
    variants = {
        cache_key("model-b", [1, 2, 3], PARAMS),
        cache_key("model-a", [1, 2, 4], PARAMS),
        cache_key("model-a", [1, 2, 3, 0], PARAMS),
        cache_key("model-a", [1, 2, 3], GenerationParams(max_tokens=65, max_lines=4)),
        cache_key("model-a", [1, 2, 3], GenerationParams(max_tokens=64, max_lines=0)),
    }
    assert base not in variants and len(variants) == 5


def test_round_trip_through_lmdb_survives_reopening(tmp_path: Path) -> None:
    key = cache_key("m", [5, 6], PARAMS)
    cache = CompletionCache(tmp_path / "c", 16)
    assert cache.get(key) is None
    cache.put(key, "return x", "m")
    cache.close()
    reopened = CompletionCache(tmp_path / "c", 16)
    hit = reopened.get(key)
    assert hit is not None and hit.text == "return x" and hit.model_id == "m"


def test_records_of_another_schema_or_damaged_values_are_misses(tmp_path: Path) -> None:
    env = lmdb.open(str(tmp_path / "c"), map_size=16 << 20)
    old = CachedCompletion(schema=0, text="old", model_id="m", created=0.0)
    with env.begin(write=True) as txn:
        txn.put(b"old-schema", msgspec.msgpack.encode(old))
        txn.put(b"garbage", b"\xc1\xff not msgpack")
    env.close()
    cache = CompletionCache(tmp_path / "c", 16)
    assert cache.get(b"old-schema") is None
    assert cache.get(b"garbage") is None


def test_full_cache_starts_over_instead_of_failing(tmp_path: Path) -> None:
    cache = CompletionCache(tmp_path / "c", 1)
    for i in range(400):  # ~4 KB values into a 1 MB map
        cache.put(cache_key("m", [i], PARAMS), "x" * 4000, "m")
    last = cache_key("m", [10_000], PARAMS)
    cache.put(last, "fits", "m")
    assert cache.get(last) is not None


def test_a_file_where_the_directory_should_be_disables_the_cache(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    assert open_cache(blocker / "c", 16) is None
    assert "completion cache disabled" in caplog.text
