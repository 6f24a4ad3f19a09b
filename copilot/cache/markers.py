"""Which processes left the cache open: one marker file per process that has it open.

A process writes ``open-<pid>`` into the cache directory when it opens the environment
and removes it when it closes cleanly. A marker whose process is gone (or was this
process's own pid before a restart reused it) means a shutdown that was not clean, so the
next start verifies the file before using it. Several live servers share one directory:
a live process's marker is never taken for a crash.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

PREFIX = "open-"


def mark_open(directory: Path) -> Path | None:
    """Record that this process has the cache open; the path to give to ``mark_closed``
    (None where it cannot be written: the cache works, a crash just goes unnoticed)."""
    marker = directory / f"{PREFIX}{os.getpid()}"
    try:
        marker.write_text(process_start_time(os.getpid()))
    except OSError as exc:
        log.debug("cannot write %s: %s", marker, exc)
        return None
    return marker


def mark_closed(marker: Path) -> None:
    try:
        marker.unlink(missing_ok=True)
    except OSError as exc:  # a read-only directory: the next start merely verifies once more
        log.debug("cannot remove %s: %s", marker, exc)


def stale_markers(directory: Path) -> list[Path]:
    """Markers left by processes that did not close the cache (this one included: the
    caller has no environment open, so a marker with its pid is from an earlier process)."""
    stale = []
    for marker in directory.glob(f"{PREFIX}*"):
        pid_text = marker.name[len(PREFIX) :]
        if not pid_text.isdigit():
            continue
        pid = int(pid_text)
        try:
            recorded = marker.read_text()
        except OSError:
            recorded = ""
        if pid == os.getpid() or not _alive(pid) or (recorded and recorded != process_start_time(pid)):
            stale.append(marker)
    return stale


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def process_start_time(pid: int) -> str:
    """When ``pid`` started (clock ticks since boot; Linux), so that a reused pid is not
    taken for the process that wrote the marker; "" where it cannot be known."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # the command name (field 2) may contain spaces and parentheses: count from its end
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else ""
