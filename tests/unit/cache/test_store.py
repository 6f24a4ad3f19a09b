"""The LMDB level with real files, real processes and injected faults."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import lmdb
import pytest

from copilot.cache import CompletionCache, open_cache
from copilot.cache.keys import CachedCompletion
from copilot.cache.store import LmdbStore, check_files


def entry(text: str, anchor: str = "") -> CachedCompletion:
    return CachedCompletion(anchor=anchor, text=text, created=0.0)


def filled(directory: Path, n: int, size_mb: int = 16) -> None:
    store = LmdbStore(directory, size_mb)
    for i in range(n):
        store.put(f"k{i}".encode(), entry(f"value {i} " + "y" * 300))
    store.close()


def test_round_trip_survives_reopening(tmp_path: Path) -> None:
    store = LmdbStore(tmp_path / "c", 16)
    assert store.get(b"k") is None
    store.put(b"k", entry("return x", anchor="re"))
    store.flush()
    assert store.get(b"k") == entry("return x", anchor="re")
    store.close()
    reopened = LmdbStore(tmp_path / "c", 16)
    assert reopened.get(b"k") == entry("return x", anchor="re")
    reopened.close()


def test_levels_memory_then_disk(tmp_path: Path) -> None:
    filled(tmp_path / "c", 3)
    cache = open_cache(tmp_path / "c", 16)
    found, level = cache.get(b"k1")
    assert found is not None and level == "disk"
    assert cache.get(b"k1")[1] == "memory"  # promoted
    cache.put([b"a", b"b"], entry("both keys"))
    assert cache.get(b"a") == (entry("both keys"), "memory") == cache.get(b"b")
    cache.close()


def test_memory_only_cache_when_disabled() -> None:
    cache = CompletionCache(None, memory_entries=0)
    cache.put([b"k"], entry("x"))
    assert cache.get(b"k") == (None, "")


def test_counters_are_shared_through_the_store(tmp_path: Path) -> None:
    cache = open_cache(tmp_path / "c", 16)
    cache.count("memory")
    cache.count("miss")
    cache.count("miss")
    assert cache.store is not None
    cache.store.flush()
    cache.store.put(b"x", entry("x"))
    cache.store.flush()
    stats = cache.store.stats()
    assert stats["count.memory"] == 1 and stats["count.miss"] == 2 and stats["entries"] == 1
    cache.close()


def test_a_bounded_map_evicts_least_recently_used_entries(tmp_path: Path) -> None:
    store = LmdbStore(tmp_path / "c", 2)
    store.put(b"keep", entry("used often"))
    for i in range(6000):  # ~3 MB of values into a 2 MB map
        store.put(f"k{i}".encode(), entry(f"{i} " + "z" * 400))
        if i % 100 == 0:
            store.flush()
            store.get(b"keep")  # recently used: survives eviction
    store.flush()
    assert store.get(b"keep") is not None
    assert store.get(b"k5999") is not None
    assert store.get(b"k0") is None
    assert store.stats()["entries"] < 6000
    assert store.errors == 0
    store.close()


def test_another_schema_or_layout_is_wiped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    directory = tmp_path / "c"
    env = lmdb.open(str(directory), map_size=1 << 20)
    with env.begin(write=True) as txn:
        txn.put(b"0123456789abcdef0123", b"an old-format record")
    env.close()
    store = LmdbStore(directory, 16)
    assert store.stats()["entries"] == 0
    store.put(b"new", entry("x"))
    store.close()
    env = lmdb.open(str(directory), max_dbs=4)
    meta = env.open_db(b"meta")
    with env.begin(write=True) as txn:
        txn.put(b"schema", b"1", db=meta)
    env.close()
    with caplog.at_level(logging.INFO):
        store = LmdbStore(directory, 16)
    assert store.get(b"new") is None and "another schema" in caplog.text
    store.close()


def test_garbage_file_is_rebuilt_with_one_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    directory = tmp_path / "c"
    filled(directory, 10)
    (directory / "data.mdb").write_bytes(os.urandom(64 * 1024))
    store = LmdbStore(directory, 16)
    assert store.get(b"k1") is None
    store.put(b"k1", entry("fresh"))
    store.flush()
    assert store.get(b"k1") == entry("fresh")
    assert len([r for r in caplog.records if "rebuilding" in r.getMessage()]) == 1
    store.close()


def test_truncated_file_is_detected_before_any_read(tmp_path: Path) -> None:
    directory = tmp_path / "c"
    filled(directory, 2000)
    data = directory / "data.mdb"
    with data.open("r+b") as file:
        file.truncate(data.stat().st_size // 2)
    assert check_files(directory).startswith("truncated")
    # In another process: a miss here would be a SIGBUS there, not an exception.
    code = (
        "import sys; from pathlib import Path; from copilot.cache.store import LmdbStore\n"
        f"s = LmdbStore(Path({str(directory)!r}), 16)\n"
        "assert all(s.get(f'k{i}'.encode()) is None for i in range(2000)); print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout and "truncated" in result.stderr


def test_damaged_value_is_a_miss_not_a_crash(tmp_path: Path) -> None:
    store = LmdbStore(tmp_path / "c", 16)
    store.put(b"good", entry("kept"))
    store.flush()
    with store._shared.use() as h, h.env.begin(write=True) as txn:
        txn.put(b"bad", b"\x00" * 8 + b"\xc1 not msgpack", db=h.entries)
    assert store.get(b"bad") is None and store.errors == 1
    store.flush()
    assert store.get(b"good") == entry("kept")  # one bad value is no reason to rebuild
    store.close()


def test_unusable_directory_leaves_memory_only(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    cache = open_cache(blocker / "c", 16)
    assert cache.store is None and "completion cache disabled" in caplog.text
    cache.put([b"k"], entry("x"))
    assert cache.get(b"k")[1] == "memory"


def test_two_processes_write_at_once(tmp_path: Path) -> None:
    directory = tmp_path / "c"
    LmdbStore(directory, 64).close()
    writers = [
        subprocess.Popen([sys.executable, "-m", "tests.support.cache_writer", str(directory), tag, "400"])
        for tag in ("a", "b")
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    store = LmdbStore(directory, 64)
    assert all(store.get(f"{tag}-{i}".encode()) is not None for tag in "ab" for i in range(400))
    store.close()


def test_writer_killed_mid_write_leaves_a_usable_cache(tmp_path: Path) -> None:
    directory = tmp_path / "c"
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.support.cache_writer", str(directory), "w", "-1"], stdout=subprocess.PIPE
    )
    assert writer.stdout is not None and writer.stdout.readline().strip() == b"ready"
    time.sleep(1.0)
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    writer.stdout.close()
    store = LmdbStore(directory, 64)
    assert store.stats()["entries"] > 0  # what was committed before the kill is there
    with store._shared.use() as h, h.env.begin() as txn:
        keys = [bytes(k) for k, _ in zip(txn.cursor(db=h.entries).iternext(values=False), range(50), strict=False)]
    assert keys and all(store.get(k) is not None for k in keys)
    store.put(b"after", entry("still works"))
    store.flush()
    assert store.get(b"after") is not None
    store.close()
