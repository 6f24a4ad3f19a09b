"""Ways a cache file gets damaged, done to a real file: random data pages (meta pages intact),
the header of the page holding a known value, and an unclean shutdown (the marker of a
process that is gone)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import lmdb

from copilot.cache.markers import PREFIX

META_PAGES = 2  # pages 0 and 1: LMDB's two meta pages, which it checks itself


def page_layout(directory: Path) -> tuple[int, int]:
    """(page size, last page number) of the cache in ``directory`` (closed everywhere)."""
    env = lmdb.open(str(directory), readonly=True, lock=False, max_dbs=4)
    try:
        return env.stat()["psize"], env.info()["last_pgno"]
    finally:
        env.close()


def damage_random_pages(directory: Path, seed: int, pages: int) -> list[int]:
    """Overwrite ``pages`` random data pages with random bytes; the page numbers."""
    psize, last = page_layout(directory)
    rng = random.Random(seed)
    chosen = rng.sample(range(META_PAGES, last + 1), min(pages, last + 1 - META_PAGES))
    with (directory / "data.mdb").open("r+b") as file:
        for number in chosen:
            file.seek(number * psize)
            file.write(rng.randbytes(psize))
    return chosen


def overwrite_headers(directory: Path, needle: bytes, offset: int, data: bytes) -> list[int]:
    """Write ``data`` at ``offset`` into the header of every data page whose bytes contain
    ``needle`` (the live page and any stale copy on a free page, where it does no harm: a
    free page gets a new header when it is reused); the page numbers. Works while the
    environment is open (LMDB's page size is the OS's)."""
    psize = os.sysconf("SC_PAGESIZE")
    content = (directory / "data.mdb").read_bytes()
    numbers = sorted({at // psize for at in _find_all(content, needle) if at >= META_PAGES * psize})
    with (directory / "data.mdb").open("r+b") as file:
        for number in numbers:
            file.seek(number * psize + offset)
            file.write(data)
    return numbers


def mark_pages_holding_as_meta(directory: Path, needle: bytes) -> list[int]:
    """Page type "meta" where a leaf should be: MDB_CORRUPTED ("Located page was wrong type")
    on every read through it, where random bytes could crash the reader."""
    return overwrite_headers(directory, needle, 10, (0x08).to_bytes(2, sys.byteorder))  # mp_flags


def zero_page_numbers_holding(directory: Path, needle: bytes) -> list[int]:
    """A page whose header names another page (0): reads go fine; a write frees the wrong
    page, which breaks the file when that page is reused, transactions later."""
    return overwrite_headers(directory, needle, 0, bytes(8))  # mp_pgno


def _find_all(content: bytes, needle: bytes) -> list[int]:
    found, at = [], content.find(needle)
    while at >= 0:
        found.append(at)
        at = content.find(needle, at + 1)
    return found


def mark_unclean_shutdown(directory: Path) -> Path:
    """Leave the marker of a process that had the cache open and is gone now."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    marker = directory / f"{PREFIX}{gone.pid}"
    marker.write_text("")
    return marker


def markers(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.glob(f"{PREFIX}*"))
