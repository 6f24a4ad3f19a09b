"""The LMDB level when its own files fail it: shared within a process, left open by a process
that died, damaged while serving, unreadable. Real LMDB files and real processes throughout."""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import lmdb
import msgspec
import pytest

from copilot.cache import open_cache
from copilot.cache.keys import CachedCompletion
from copilot.cache.markers import PREFIX, mark_open, process_start_time, stale_markers
from copilot.cache.store import LmdbStore
from copilot.cache.verify import SCRATCH, Finding, clear_files, verify, walk_in_child
from tests.support.cache_damage import (
    damage_random_pages,
    mark_pages_holding_as_meta,
    mark_unclean_shutdown,
    markers,
    zero_page_numbers_holding,
)


def entry(text: str) -> CachedCompletion:
    return CachedCompletion(anchor="", text=text, created=0.0)


def fill(store: LmdbStore, n: int, tag: str = "k") -> None:
    for i in range(n):
        store.put(f"{tag}{i}".encode(), entry(f"value {i} " + "y" * 300))
    store.flush()


def rebuilt_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "rebuilding it empty" in r.getMessage()]


def test_two_stores_on_one_directory_share_it_and_neither_wipes_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A second initialize builds a second pipeline in the same process: LMDB refuses a second
    open there ("already open in this process"), which is no reason to rebuild anything."""
    directory = tmp_path / "c"
    first = LmdbStore(directory, 16)
    fill(first, 20)
    (tmp_path / "link").symlink_to(directory)
    second = LmdbStore(tmp_path / "link", 16)  # another spelling of the same directory
    assert second.get(b"k3") == entry("value 3 " + "y" * 300)
    second.put(b"from second", entry("b"))
    second.flush()
    assert first.get(b"from second") == entry("b")
    first.close()  # closing one leaves the other working
    assert second.get(b"k7") is not None
    second.put(b"after close", entry("c"))
    second.flush()
    assert second.get(b"after close") == entry("c")
    second.close()
    reopened = LmdbStore(directory, 16)
    assert reopened.stats()["entries"] == 22
    reopened.close()
    assert rebuilt_lines(caplog) == [] and "already open" not in caplog.text


def test_a_clean_close_leaves_no_marker_and_the_next_open_verifies_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "c"
    store = LmdbStore(directory, 16)
    assert markers(directory) == [f"{PREFIX}{os.getpid()}"]
    fill(store, 5)
    store.close()
    store.close()  # twice is harmless
    assert markers(directory) == []
    with caplog.at_level(logging.INFO):
        LmdbStore(directory, 16).close()
    assert "verifying" not in caplog.text


def test_a_live_process_is_not_taken_for_a_crash_and_a_killed_one_is(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "c"
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.support.cache_writer", str(directory), "w", "-1"], stdout=subprocess.PIPE
    )
    assert writer.stdout is not None and writer.stdout.readline().strip() == b"ready"
    with caplog.at_level(logging.INFO):
        store = LmdbStore(directory, 64)
    assert "verifying" not in caplog.text
    store.close()
    assert markers(directory) == [f"{PREFIX}{writer.pid}"]  # the live writer's own
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    writer.stdout.close()
    assert stale_markers(directory) == [directory / f"{PREFIX}{writer.pid}"]
    with caplog.at_level(logging.INFO):
        store = LmdbStore(directory, 64)
    assert "was not closed cleanly: verifying it" in caplog.text
    assert rebuilt_lines(caplog) == []  # a kill does not damage LMDB: no false rebuild
    assert store.stats()["entries"] > 0
    assert markers(directory) == [f"{PREFIX}{os.getpid()}"]  # the stale one is handled
    store.close()


def test_a_marker_with_this_pid_or_a_reused_pid_is_stale(tmp_path: Path) -> None:
    parent = os.getppid()
    (tmp_path / f"{PREFIX}{os.getpid()}").write_text(process_start_time(os.getpid()))  # an earlier process
    (tmp_path / f"{PREFIX}{parent}").write_text("12")  # the pid lives, but is another process now
    assert sorted(stale_markers(tmp_path)) == sorted(tmp_path.glob(f"{PREFIX}*"))
    (tmp_path / f"{PREFIX}{parent}").write_text(process_start_time(parent))  # that very process
    assert stale_markers(tmp_path) == [tmp_path / f"{PREFIX}{os.getpid()}"]
    (tmp_path / f"{PREFIX}notapid").write_text("")
    assert mark_open(tmp_path) == tmp_path / f"{PREFIX}{os.getpid()}"
    assert len(stale_markers(tmp_path)) == 1


def test_damaged_pages_after_an_unclean_shutdown_are_rebuilt_before_any_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The damaged file is only ever read by the verification's child process: safe here.
    directory = tmp_path / "c"
    store = LmdbStore(directory, 16)
    fill(store, 300)
    store.close()
    damage_random_pages(directory, seed=3, pages=6)
    mark_unclean_shutdown(directory)
    store = LmdbStore(directory, 16)
    assert len(rebuilt_lines(caplog)) == 1 and "damaged" in rebuilt_lines(caplog)[0]
    assert store.stats()["entries"] == 0
    fill(store, 3)
    assert store.get(b"k2") is not None
    store.close()


def test_another_schema_left_open_by_a_crash_is_restarted_not_called_damaged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "c"
    LmdbStore(directory, 16).close()
    env = lmdb.open(str(directory), max_dbs=4)
    entries, meta = env.open_db(b"entries"), env.open_db(b"meta")
    with env.begin(write=True) as txn:
        txn.put(b"schema", b"1", db=meta)
        txn.put(b"k", bytes(8) + msgspec.msgpack.encode({"an": "older shape"}), db=entries)
    env.close()
    mark_unclean_shutdown(directory)
    with caplog.at_level(logging.INFO):
        store = LmdbStore(directory, 16)
    assert "verifying" in caplog.text and "another schema" in caplog.text
    assert rebuilt_lines(caplog) == [] and store.stats()["entries"] == 0
    store.close()


def test_a_wrong_page_number_that_only_writes_reveal_is_caught_before_use(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "c"
    store = LmdbStore(directory, 16)
    fill(store, 300)
    store.close()
    zero_page_numbers_holding(directory, b"value 150 ")
    found = verify(directory)
    assert found.corrupt and "MDB_CORRUPTED" in found.problem
    mark_unclean_shutdown(directory)
    store = LmdbStore(directory, 16)
    assert len(rebuilt_lines(caplog)) == 1 and store.stats()["entries"] == 0
    fill(store, 300)  # enough writes to reuse freed pages: a wrong one would show now
    assert store.errors == 0 and store.get(b"k150") is not None
    store.close()


def test_a_damaged_page_met_while_serving_rebuilds_the_file_once_for_every_store(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "c"
    first, second = LmdbStore(directory, 16), LmdbStore(directory, 16)
    fill(first, 200)
    mark_pages_holding_as_meta(directory, b"value 150 ")
    assert first.get(b"k150") is None  # MDB_CORRUPTED: a miss, and the writer rebuilds
    assert second.get(b"k150") is None
    first.flush()
    second.flush()
    assert first.errors >= 1
    assert len(rebuilt_lines(caplog)) == 1 and "MDB_CORRUPTED" in rebuilt_lines(caplog)[0]
    assert first.get(b"k1") is None  # rebuilt empty
    first.put(b"new", entry("after the rebuild"))
    first.flush()
    assert second.get(b"new") == entry("after the rebuild")  # the other store is on the new file too
    assert second.stats()["entries"] == 1
    first.close()
    second.close()
    reopened = LmdbStore(directory, 16)
    assert reopened.get(b"new") == entry("after the rebuild")
    reopened.close()


def test_readers_in_other_threads_go_on_while_the_file_is_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The rebuild closes the environment only when no thread is inside it: a read in
    flight on a closed environment would touch unmapped memory."""
    directory = tmp_path / "c"
    store = LmdbStore(directory, 16)
    fill(store, 200)
    stop, reads, failures = threading.Event(), [0], []

    def read() -> None:
        while not stop.is_set():
            try:
                store.get(b"k3")
                reads[0] += 1
            except Exception as exc:  # any exception at all is the failure
                failures.append(exc)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    mark_pages_holding_as_meta(directory, b"value 150 ")
    for _ in range(20):
        assert store.get(b"k150") is None
        store.flush()
    stop.set()
    for reader in readers:
        reader.join(timeout=30)
    assert failures == [] and reads[0] > 0
    assert store.errors == 1  # the damaged read only: no reader met a closed environment
    assert len(rebuilt_lines(caplog)) == 1
    store.put(b"k3", entry("after"))
    store.flush()
    assert store.get(b"k3") == entry("after")
    store.close()


def test_a_rebuild_waits_for_the_reader_inside_and_holds_new_readers_back(tmp_path: Path) -> None:
    """A value read with buffers=True is a view into the map: reading it after the
    environment closed is a segfault. So the rebuild waits; a reader arriving meanwhile
    waits too, and then reads the new file."""
    store = LmdbStore(tmp_path / "c", 16)
    fill(store, 20)
    shared = store._shared
    later: list[int] = []

    def read_later() -> None:
        with shared.use() as h:
            later.append(h.generation)

    with shared.use() as h, h.env.begin(db=h.entries, buffers=True) as txn:
        view = txn.get(b"k3")
        rebuild = threading.Thread(target=shared.rebuild, args=(h.generation, lmdb.CorruptedError("test")))
        rebuild.start()
        while not shared._waiting and rebuild.is_alive():
            time.sleep(0.001)
        newcomer = threading.Thread(target=read_later)
        newcomer.start()
        assert rebuild.is_alive() and later == []  # both wait for this block
        assert bytes(view)[8:] == msgspec.msgpack.encode(entry("value 3 " + "y" * 300))  # still mapped
    rebuild.join(timeout=60)
    newcomer.join(timeout=60)
    assert later == [h.generation + 1]  # the newcomer read the rebuilt file
    store.close()


def test_a_file_another_process_rebuilt_is_adopted_not_deleted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "c"
    store = LmdbStore(directory, 16)
    fill(store, 50)
    with (directory / "data.mdb").open("r+b") as old_file:  # this process's file, after it is replaced
        rebuild_elsewhere = f"""
            from pathlib import Path
            from copilot.cache.keys import CachedCompletion
            from copilot.cache.store import LmdbStore
            from copilot.cache.verify import remove_files
            remove_files(Path({str(directory)!r}))
            s = LmdbStore(Path({str(directory)!r}), 16)
            s.put(b"theirs", CachedCompletion(anchor="", text="t", created=0.0))
            s.close()
        """
        subprocess.run([sys.executable, "-c", textwrap.dedent(rebuild_elsewhere)], check=True, timeout=120)
        data = b"".join(iter(lambda: old_file.read(1 << 16), b""))
        psize = os.sysconf("SC_PAGESIZE")
        old_file.seek(data.index(b"value 20 ", 2 * psize) // psize * psize + 10)
        old_file.write((0x08).to_bytes(2, sys.byteorder))
        old_file.flush()
    assert store.get(b"k20") is None
    store.flush()
    assert "rebuilt by another process" in caplog.text and rebuilt_lines(caplog) == []
    assert store.get(b"theirs") == CachedCompletion(anchor="", text="t", created=0.0)
    store.close()


def without_permission_override() -> None:
    """Run as root without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH, so file modes apply
    (dropped from the bounding set, the capabilities are gone after exec)."""
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        for capability in (1, 2):
            if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_an_unreadable_file_leaves_memory_only_and_deletes_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "c"
    store = LmdbStore(directory, 16)
    fill(store, 30)
    store.close()
    mark_unclean_shutdown(directory)
    before = (directory / "data.mdb").read_bytes()
    (directory / "data.mdb").chmod(0)
    script = f"""
        from pathlib import Path
        from copilot.cache import open_cache
        from copilot.cache.keys import CachedCompletion
        from copilot.cache.verify import verify
        print(verify(Path({str(directory)!r})))
        cache = open_cache(Path({str(directory)!r}), 16)
        cache.put([b"k"], CachedCompletion(anchor="", text="x", created=0.0))
        print(cache.store is None, cache.get(b"k")[1])
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=without_permission_override,
    )
    (directory / "data.mdb").chmod(0o644)
    assert result.returncode == 0, result.stderr
    assert "corrupt=False" in result.stdout and "Permission denied" in result.stdout
    assert result.stdout.strip().endswith("True memory")  # no store: the in-memory cache works
    disabled = [line for line in result.stderr.splitlines() if "completion cache disabled" in line]
    assert len(disabled) == 1 and "rebuilding" not in result.stderr
    assert (directory / "data.mdb").read_bytes() == before
    store = LmdbStore(directory, 16)  # readable again: everything is still there
    assert store.stats()["entries"] == 30
    store.close()


def test_verify_tells_damage_from_trouble_and_a_sound_file_from_both(tmp_path: Path) -> None:
    directory = tmp_path / "c"
    assert verify(directory) == Finding()  # nothing there yet
    store = LmdbStore(directory, 16)
    fill(store, 300)
    assert verify(directory) == Finding()  # open in this process: the child still walks it
    store.close()
    assert verify(directory) == Finding()
    slow = walk_in_child(directory, timeout=0.001)
    assert slow.problem.startswith("not verified") and not slow.corrupt  # no reason to rebuild
    damage_random_pages(directory, seed=1, pages=40)
    found = verify(directory)
    assert found.corrupt and found.problem.startswith("damaged")


def test_a_check_that_crashes_means_damage_and_leaves_no_scratch_copy(tmp_path: Path) -> None:
    directory = tmp_path / "c"
    store = LmdbStore(directory, 16)
    fill(store, 2000)
    store.close()
    with (directory / "data.mdb").open("r+b") as file:
        file.truncate((directory / "data.mdb").stat().st_size // 2)
    found = walk_in_child(directory)  # the size check skipped: LMDB itself reads past the end
    assert found == Finding("damaged (reading it crashed the check: SIGBUS)", corrupt=True)
    assert not (directory / SCRATCH).exists()


def test_clear_files_empties_a_sound_file_in_place_and_removes_a_damaged_one(tmp_path: Path) -> None:
    directory = tmp_path / "c"
    assert "already empty" in clear_files(directory)
    store = LmdbStore(directory, 16)
    fill(store, 300)
    store.count("miss", 3)
    store.flush()
    store.put(b"x", entry("x"))
    store.flush()
    assert clear_files(directory) == f"cleared {directory}"
    assert store.stats()["entries"] == 0  # a running server sees it at once
    assert store.stats()["count.miss"] == 3  # the counters stay
    store.close()
    fill(store := LmdbStore(directory, 16), 300)
    store.close()
    damaged = tmp_path / "damaged"
    shutil.copytree(directory, damaged)
    damage_random_pages(damaged, seed=2, pages=200)  # most of the file: nothing can be read
    assert "removed its files" in clear_files(damaged)
    cache = open_cache(damaged, 16)
    assert cache.store is not None and cache.store.stats()["entries"] == 0
    cache.close()
