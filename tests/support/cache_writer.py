"""A separate process writing to a cache directory: ``python -m tests.support.cache_writer DIR TAG N``.

N < 0 writes until killed (for the SIGKILL test). Prints "ready" once the store is open.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

from copilot.cache.keys import CachedCompletion
from copilot.cache.store import LmdbStore


def main() -> None:
    directory, tag, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    store = LmdbStore(directory, max_size_mb=64)
    print("ready", flush=True)
    numbers = itertools.count() if count < 0 else range(count)
    for i in numbers:
        store.put(f"{tag}-{i}".encode(), CachedCompletion(anchor="", text=f"{tag} {i} " + "x" * 200, created=0.0))
        if i % 50 == 0:
            store.flush()
    store.close()


if __name__ == "__main__":
    main()
