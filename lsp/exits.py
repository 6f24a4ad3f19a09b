"""How the ``copilot-lsp`` command ends when the user stops it or stops reading its output:
one line, never a traceback.

Ctrl-C (SIGINT) ends any command with ``copilot-lsp: interrupted`` and exit status 130; a
reader that closes stdout early (``copilot-lsp stats --json | head``) ends it quietly with
141, as a process killed by SIGPIPE would. ``serve --tcp`` also ends on SIGTERM (a service
manager's stop) with ``copilot-lsp: terminated`` and exit status 0.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import ParamSpec

log = logging.getLogger(__name__)

INTERRUPTED = "copilot-lsp: interrupted"
TERMINATED = "copilot-lsp: terminated"
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE

P = ParamSpec("P")


def say(line: str) -> None:
    """One line on stderr, which may itself be gone (``2>&1 | head``)."""
    with contextlib.suppress(OSError):
        print(line, file=sys.stderr, flush=True)


def one_line_exits(main: Callable[P, int]) -> Callable[P, int]:
    """``main`` with the interrupt and the closed pipe turned into their one-line endings."""

    @functools.wraps(main)
    def run(*args: P.args, **kwargs: P.kwargs) -> int:
        try:
            status = main(*args, **kwargs)
            sys.stdout.flush()  # a reader that has gone shows here, not as a warning at exit
            return status
        except KeyboardInterrupt:
            say(INTERRUPTED)
            return EXIT_INTERRUPTED
        except BrokenPipeError:
            # What is still buffered for stdout is flushed at exit: into /dev/null, not the closed pipe.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return EXIT_BROKEN_PIPE

    return run


def end_serve_on_interrupt(stop: Callable[[], None]) -> None:
    """Ctrl-C on ``serve``: ``stop`` the pipeline, say so in one line and leave with 130.

    Not by KeyboardInterrupt: over stdio pygls swallows it and then waits for its stdin reader
    thread, which stays blocked until the editor (or the terminal) sends more. So the server
    ends what a normal exit would (its pipeline, its child processes, the exit functions) and
    leaves without waiting for that thread. A SIGINT that is ignored (``nohup``, a script's
    background job) stays ignored.
    """
    _end_on({signal.SIGINT: (INTERRUPTED, EXIT_INTERRUPTED)}, stop)


def end_serve_on_signals(stop: Callable[[], None]) -> None:
    """``serve --tcp``: SIGINT as ``end_serve_on_interrupt``; SIGTERM the same way, with
    ``copilot-lsp: terminated`` and exit status 0 (a stop that was asked for)."""
    _end_on({signal.SIGINT: (INTERRUPTED, EXIT_INTERRUPTED), signal.SIGTERM: (TERMINATED, 0)}, stop)


def _end_on(endings: dict[signal.Signals, tuple[str, int]], stop: Callable[[], None]) -> None:
    """For each signal, its line and exit status; one ending, whichever signal starts it."""
    ending = False

    def leave(signum: signal.Signals) -> None:
        line, status = endings[signum]
        try:
            stop()
        except Exception:
            log.exception("stopping the server after %s failed", signum.name)
        from copilot.context.symbols import SPAWNING  # loaded already: the server indexes with it

        SPAWNING.acquire(timeout=5)  # no child half-started (held until the process ends)
        children = multiprocessing.active_children()  # the workspace index's parser: not left orphaned
        for child in children:
            child.terminate()
        for child in children:
            child.join(5)
        atexit._run_exitfuncs()  # what a normal exit runs (multiprocessing's clean-up, the log's flush)
        say(line)
        os._exit(status)  # not sys.exit: it would wait for the thread blocked reading stdin

    def on_signal(number: int, frame: FrameType | None) -> None:
        nonlocal ending
        signum = signal.Signals(number)
        line, status = endings[signum]
        if ending:  # a second signal does not wait for the first
            say(line)
            os._exit(status)
        ending = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # the server is not running yet: the ordinary way out
            if signum == signal.SIGINT:
                raise KeyboardInterrupt from None
            say(line)
            raise SystemExit(status) from None
        loop.call_soon_threadsafe(leave, signum)  # between two callbacks, not in the middle of one

    for signum in endings:
        default = signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
        if signal.getsignal(signum) is default:  # one that is ignored (nohup, a background job) stays so
            signal.signal(signum, on_signal)
