"""A damaged cache file never takes a server down. Random data pages of a filled cache are
overwritten (LMDB's meta pages intact, so it opens without complaint) and the shutdown is
marked unclean; each start then runs in its own process, where a crash (SIGABRT, SIGBUS)
would show as the exit status. It must exit cleanly with a working cache: rebuilt, or
intact where the damage hit only free pages; an undamaged file keeps its entries."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.cache_damage import damage_random_pages, mark_unclean_shutdown, markers, page_layout

ENTRIES = 2000
CLI = [sys.executable, "-m", "copilot.lsp"]

# One server start's use of the cache: what survived, then new entries written and read back.
START = textwrap.dedent(
    """
    import logging, sys
    from pathlib import Path
    from copilot.cache import open_cache
    from copilot.cache.keys import CachedCompletion

    logging.basicConfig(level=logging.INFO)
    cache = open_cache(Path(sys.argv[1]), 64)
    store = cache.store
    assert store is not None, "the LMDB level is off"
    kept = sum(store.get(f"w-{i}".encode()) is not None for i in range(int(sys.argv[2])))
    new = CachedCompletion(anchor="", text="after the start", created=0.0)
    for i in range(300):
        store.put(f"new-{i}".encode(), new)
    store.flush()
    assert all(store.get(f"new-{i}".encode()) == new for i in range(300))
    if sys.argv[3] == "checked":
        assert store.errors == 0, f"{store.errors} errors: the damage got past the check"
    cache.close()
    print(kept)
    """
)


def start(directory: Path, checked: bool = True) -> tuple[int, str]:
    """(entries of the filled cache still found, the start's log). ``checked``: no damage
    may get past the start-up checks (no read or write error at all)."""
    mode = "checked" if checked else "unchecked"
    result = subprocess.run(
        [sys.executable, "-c", START, str(directory), str(ENTRIES), mode], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"exit status {result.returncode}:\n{result.stderr[-3000:]}"
    return int(result.stdout.split()[-1]), result.stderr


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("filled") / "c"
    writer = [sys.executable, "-m", "tests.support.cache_writer", str(directory), "w", str(ENTRIES)]
    subprocess.run(writer, check=True, timeout=120, stdout=subprocess.DEVNULL)
    return directory


def copy_of(filled: Path, tmp_path: Path) -> Path:
    directory = tmp_path / "c"
    shutil.copytree(filled, directory)
    return directory


@pytest.mark.parametrize(("seed", "pages"), [(0, 1), (1, 3), (2, 10), (3, 40), (4, 0)])
def test_random_damaged_pages_never_crash_the_next_start(filled: Path, tmp_path: Path, seed: int, pages: int) -> None:
    directory = copy_of(filled, tmp_path)
    _, last = page_layout(directory)
    damage_random_pages(directory, seed, pages or (last - 1) // 2)  # 0: half of all data pages
    mark_unclean_shutdown(directory)
    kept, log = start(directory)
    assert "was not closed cleanly: verifying it" in log
    rebuilt = "rebuilding it empty" in log
    assert (rebuilt and kept == 0) or (not rebuilt and kept == ENTRIES), (rebuilt, kept)
    assert markers(directory) == []  # this start closed cleanly...
    kept, log = start(directory)  # ... so the next one verifies nothing and finds it as left
    assert "verifying" not in log and "rebuilding" not in log
    assert kept == (0 if rebuilt else ENTRIES)


@pytest.mark.parametrize("seed", [20, 21, 22])
def test_damage_after_a_clean_shutdown_rebuilds_at_the_first_error_instead_of_disabling(
    filled: Path, tmp_path: Path, seed: int
) -> None:
    """No check runs after a clean shutdown (starts stay fast): the first corruption error,
    here while opening, rebuilds the file; it used to turn the cache off for good."""
    directory = copy_of(filled, tmp_path)
    _, last = page_layout(directory)
    damage_random_pages(directory, seed, last - 1)  # every data page
    kept, log = start(directory, checked=False)
    assert "verifying" not in log and "rebuilding it empty" in log and "disabled" not in log
    kept, log = start(directory)
    assert kept == 0 and "rebuilding" not in log


def test_an_undamaged_file_survives_the_check_whole(filled: Path, tmp_path: Path) -> None:
    directory = copy_of(filled, tmp_path)
    mark_unclean_shutdown(directory)
    kept, log = start(directory)
    assert "verifying" in log and "rebuilding" not in log
    assert kept == ENTRIES


def test_the_cli_completes_and_reports_on_a_damaged_cache(filled: Path, tmp_path: Path) -> None:
    """The real command line: completion (model, pipeline and cache assembled as the server
    does), then doctor and cache stats / clear on the file it left."""
    source = tmp_path / "walk.py"
    source.write_text(
        "import os\n\n\ndef list_files(root):\n    for name in os.listdir(root):\n        path = os.path.\n"
    )
    config = tmp_path / "config.toml"
    directory = tmp_path / "cache"
    # no time budgets: an answer cut short by a busy machine is (rightly) not cached
    config.write_text(f'[cache]\ndir = "{directory}"\n[completion]\nmax_prefill_ms = 60000\nmax_decode_ms = 60000\n')
    shutil.copytree(filled, directory)
    damage_random_pages(directory, seed=7, pages=30)
    mark_unclean_shutdown(directory)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, "--config", str(config), *args], capture_output=True, text=True, timeout=300)

    completed = run("complete", f"{source}:6:{len('        path = os.path.') + 1}")
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "rebuilding it empty" in completed.stderr
    assert "[ok] cache" in run("doctor").stdout
    stats = json.loads(run("cache", "stats", "--json").stdout)
    assert stats["entries"] >= 1  # what the completion stored in the rebuilt file
    assert run("cache", "clear").returncode == 0
    assert json.loads(run("cache", "stats", "--json").stdout)["entries"] == 0
    _, last = page_layout(directory)
    damage_random_pages(directory, seed=8, pages=last - 1)  # every data page, after a clean close
    stats = run("cache", "stats", "--json")
    assert stats.returncode == 0 and json.loads(stats.stdout)["entries"] == 0, stats.stderr[-3000:]
    damage_random_pages(directory, seed=9, pages=page_layout(directory)[1] - 1)
    assert run("cache", "clear").returncode == 0
    assert json.loads(run("cache", "stats", "--json").stdout)["entries"] == 0
