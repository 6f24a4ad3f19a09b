"""A keystroke in a huge document, with and without pygls' shadow copy of the text.

``python -m bench.document_sync [--mb 50] [--keys 20]`` runs the real server twice over
stdio: once as pygls ships it (its built-in text-sync handlers update pygls' own copy of the
document before the server's handlers update the server's), once with
``copilot.lsp.sync.OwnDocumentsProtocol`` (the server's copy only). A keystroke is a
one-character ``didChange`` in the middle of the document followed by a ``copilot/stats``
request; its cost is that round trip less the median round trip of ``copilot/stats`` alone
(both handled in message order, so the answer waits for the edit).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pygls.protocol import LanguageServerProtocol

from tests.support.stdio_lsp import StdioServer

HANDLERS = [f"lsp_text_document__did_{verb}" for verb in ("open", "change", "close")]
LINE = "def f(x):\n    return x + 1\n"


def serve(mode: str) -> int:
    """The server, with (``pygls-copy``) or without (``own-copy``) pygls' document updates."""
    from copilot.lsp import cli, sync

    if mode == "own-copy":
        for name in ("_server_handler", *HANDLERS):
            setattr(LanguageServerProtocol, name, getattr(sync.OwnDocumentsProtocol, name))
    else:  # pygls' own handlers, whatever protocol class the server uses
        for name in HANDLERS:
            setattr(sync.OwnDocumentsProtocol, name, getattr(LanguageServerProtocol, name))
    return cli.main(["serve"])


def round_trip(server: StdioServer) -> float:
    started = time.perf_counter()
    server.request("copilot/stats", {"recent": 0}, timeout=600)
    return (time.perf_counter() - started) * 1000


def measure(mode: str, megabytes: int, keys: int, tmp: Path) -> dict[str, float]:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp / "cache"), "XDG_CONFIG_HOME": str(tmp / "config")}
    command = [sys.executable, "-m", "bench.document_sync", "--serve", mode]
    lines = megabytes * 1_000_000 // len(LINE)
    with StdioServer(command, env, tmp / f"{mode}.log") as server:
        server.request("initialize", {"processId": os.getpid(), "rootUri": None, "capabilities": {}}, timeout=600)
        server.notify("initialized", {})
        uri = "file:///bench/huge.py"
        started = time.perf_counter()
        server.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": LINE * lines}},
        )
        server.request("copilot/stats", {"recent": 0}, timeout=600)
        open_ms = (time.perf_counter() - started) * 1000
        idle = statistics.median(round_trip(server) for _ in range(keys))
        samples = []
        for key in range(keys):
            at = {"line": lines // 2, "character": 4 + key}
            change = {"range": {"start": at, "end": at}, "text": "x"}
            started = time.perf_counter()
            server.notify(
                "textDocument/didChange",
                {"textDocument": {"uri": uri, "version": key + 2}, "contentChanges": [change]},
            )
            server.request("copilot/stats", {"recent": 0}, timeout=600)
            samples.append((time.perf_counter() - started) * 1000 - idle)
    samples.sort()
    return {"open_ms": open_ms, "p50": statistics.median(samples), "max": samples[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.document_sync", description=__doc__)
    parser.add_argument("--mb", type=int, default=50, help="document size in MB")
    parser.add_argument("--keys", type=int, default=20, help="keystrokes measured per server")
    parser.add_argument("--serve", choices=("pygls-copy", "own-copy"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        sys.exit(serve(args.serve))
    print(f"| {args.mb} MB document | open + first answer ms | keystroke p50 ms | keystroke max ms |")
    print("| --- | --- | --- | --- |")
    for mode, label in (("pygls-copy", "pygls' copy and the server's"), ("own-copy", "the server's copy only")):
        with tempfile.TemporaryDirectory() as tmp:
            result = measure(mode, args.mb, args.keys, Path(tmp))
        print(f"| {label} | {result['open_ms']:.0f} | {result['p50']:.1f} | {result['max']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
