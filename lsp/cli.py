"""The ``copilot-lsp`` command: serve, service, complete, context, doctor, cache, stats, models."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from copilot import __version__, logs, paths
from copilot import config as config_mod
from copilot.errors import CopilotError

from . import exits, listen
from .service import commands as service_cmd
from .service.naming import service_enabled

# The pipeline imports llama.cpp, documents tree-sitter: only the commands that need them load
# them (`serve` over stdio is a light front, lsp/front.py).
if TYPE_CHECKING:
    from copilot.documents import Document, DocumentStore, Snapshot
    from copilot.pipeline import ContextReport, Pipeline


def setup_logging(level: str, file: str | None) -> None:
    """Logs go to stderr or a file, never stdout: stdout carries the protocol. A log file
    that cannot be opened (a missing or read-only folder) is reported, and stderr used."""
    failed: OSError | None = None
    try:
        handler = logs.handler_for(file, sys.stderr)
    except OSError as exc:
        handler, failed = logs.handler_for(None, sys.stderr), exc
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    logging.getLogger("copilot").setLevel(level.upper())
    if failed is not None:
        logging.getLogger(__name__).warning("cannot log to %s (%s): logging to stderr", file, failed.strerror)


def use_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    with warnings.catch_warnings():  # the policy API is deprecated from Python 3.14
        warnings.simplefilter("ignore", DeprecationWarning)
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def cmd_serve(args: argparse.Namespace) -> int:
    if not (args.tcp or args.allow_remote or args.per_window) and service_enabled(args.settings):
        from .front import serve as serve_front  # forwards to the user's model service

        return serve_front(args)
    from .host import SessionHost
    from .server import create_server
    from .transport import serve_stdio, serve_tcp

    log_level_from_cli = args.log_level is not None  # then the editor's settings do not change it
    try:
        if args.allow_remote and not args.tcp:
            raise listen.AddressError("--allow-remote only applies to --tcp HOST:PORT")
        address = listen.parse_address(args.tcp) if args.tcp else None
        use_uvloop()
        if address is None:
            server = create_server(args.settings, args.config_problems)
            server.log_level_from_cli = log_level_from_cli
            exits.end_serve_on_interrupt(server.stop_pipeline)
            return serve_stdio(server)
        host, port = address
        listen.check_remote(host, port, args.allow_remote)
        listen.check_port(host, port)  # before saying "listening": a busy port is one line, not a traceback
        # Pinned: the model stays loaded between clients (the next one does not wait for it).
        sessions = SessionHost(
            args.settings, args.config_problems, log_level_from_cli=log_level_from_cli, pin_engines=True
        )
        exits.end_serve_on_signals(sessions.close)  # SIGINT, SIGTERM: one line, nothing left running
        reach = "" if listen.is_loopback(host) else "; reachable from other machines, without authentication"
        print(
            f"copilot-lsp {__version__} listening on {host}:{port} (LSP over TCP, a session per client{reach})",
            file=sys.stderr,
        )
        try:
            serve_tcp(sessions, host, port)  # until a signal ends the process
        except OSError as exc:  # taken between the check and the server's own bind
            raise listen.bind_error(host, port, exc) from None
    except CopilotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, listen.AddressError) else 1
    return 0


def parse_location(spec: str) -> tuple[Path, int, int]:
    file, line, column = spec.rsplit(":", 2)
    if int(line) < 1 or int(column) < 1:
        raise ValueError("line and column start at 1")
    return Path(file), int(line), int(column)


class UsageError(CopilotError):
    """The command line itself is wrong (exit status 2, as argparse's own errors)."""


def workspace_root_of(path: Path) -> Path | None:
    """The nearest enclosing directory with a ``.git``: the workspace a file belongs to."""
    for directory in path.resolve().parents:
        if (directory / ".git").exists():
            return directory
    return None


def read_document(path: Path, version: int = 0) -> Document:
    """The file as an open document; CopilotError or OSError with a message when it is not text."""
    from copilot.documents import Document
    from copilot.languages import language_for_path

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CopilotError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise CopilotError(f"cannot read {path}: {exc.strerror}") from None
    return Document(path.resolve().as_uri(), language_for_path(path), version, text)


def open_location(args: argparse.Namespace) -> tuple[Snapshot, DocumentStore, Path | None]:
    """The snapshot at FILE:LINE:COL, with the file and any ``--open`` files as open documents."""
    from copilot.documents import DocumentStore, Position

    try:
        path, line, column = parse_location(args.location)
    except ValueError:
        raise UsageError(f"expected FILE:LINE:COL (1-based), got {args.location!r}") from None
    documents = DocumentStore()
    for other in args.open:
        document = read_document(other)
        documents.open(document.uri, document.language_id, 0, document.text)
    document = read_document(path)
    documents.open(document.uri, document.language_id, 0, document.text)
    snapshot = documents.get(document.uri).snapshot(Position(line=line - 1, character=column - 1), "utf-32")
    return snapshot, documents, args.root.resolve() if args.root else workspace_root_of(path)


def start_pipeline(args: argparse.Namespace) -> tuple[Pipeline, Snapshot]:
    from copilot.assembly import build_pipeline

    snapshot, documents, root = open_location(args)
    pipeline = build_pipeline(args.settings, documents, root)
    if pipeline.engine is None:
        pipeline.close()
        raise CopilotError(pipeline.engine_error)
    index = pipeline.retriever.index if pipeline.retriever else None
    if index is not None and not index.done.wait(args.index_wait):
        print(f"note: the workspace index of {root} is still being built; using what it has", file=sys.stderr)
    for uri in list(documents.uris()):
        pipeline.opened(uri)
    pipeline.opened(snapshot.uri)  # the file itself is the most recently used
    return pipeline, snapshot


def at_location(args: argparse.Namespace, action: Callable[[Pipeline, Snapshot], int]) -> int:
    """Run ``action`` on a pipeline at the command's FILE:LINE:COL; an error message otherwise."""
    try:
        pipeline, snapshot = start_pipeline(args)
    except CopilotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1
    try:
        return action(pipeline, snapshot)
    finally:
        pipeline.close()


def cmd_complete(args: argparse.Namespace) -> int:
    def complete(pipeline: Pipeline, snapshot: Snapshot) -> int:
        ignored = pipeline.retriever.ignored(snapshot.uri) if pipeline.retriever is not None else None
        if ignored is not None:  # the pipeline answers nothing here: say why, as `context` does
            path = parse_location(args.location)[0]
            print(f"no completion: {path} never enters a prompt (ignored by {ignored})", file=sys.stderr)
            return 0
        result = asyncio.run(pipeline.complete(snapshot))
        print(result.text)
        print(f"[{result.source}, {result.timings_ms['total']:.0f} ms]", file=sys.stderr)
        return 0

    return at_location(args, complete)


def cmd_context(args: argparse.Namespace) -> int:
    return at_location(args, lambda pipeline, snapshot: print_context(pipeline.inspect(snapshot), snapshot, args.json))


def print_context(report: ContextReport, snapshot: Snapshot, as_json: bool) -> int:
    if as_json:
        print(json.dumps(msgspec.to_builtins(report), indent=2))
        return 0
    if report.ignored:
        print(f"{snapshot.uri} never enters a prompt: ignored by {report.ignored}")
        return 0
    print(f"context ({report.style} form): {report.context_tokens} of {report.prompt_tokens} prompt tokens")
    for c in report.candidates:
        mark = "*" if c.chosen else " "
        lines = f"{c.lines[0]}-{c.lines[1]}"
        print(f" {mark} {c.score:.3f}  {c.kind:<10} {c.path}:{lines:<9} {c.reason}")
    print("\n--- prompt " + "-" * 60)
    print(report.prompt)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from copilot.doctor import run_checks

    checks = [*run_checks(args.settings, args.config or paths.config_file()), service_cmd.doctor_check(args)]
    for check in checks:
        print(f"[{'FAIL' if not check.ok else 'warn' if check.warning else 'ok'}] {check.name}: {check.detail}")
        if check.fix:
            print(f"       fix: {check.fix}")
    failed = sum(not c.ok for c in checks)
    warned = sum(c.warning for c in checks)
    summary = "all checks passed" if not failed else f"{failed} problem(s) found"
    print(f"{summary} ({warned} warning(s))" if warned else summary)
    return 1 if failed else 0


CACHE_LEVELS = ("typing", "stream", "memory", "disk", "miss")


def cmd_cache(args: argparse.Namespace) -> int:
    from copilot.cache.store import LmdbStore
    from copilot.errors import CacheUnavailable
    from copilot.paths import completion_cache_dir

    directory = completion_cache_dir(args.settings)
    if args.action == "clear":  # works on a damaged file too: removes it when it cannot be emptied
        from copilot.cache.verify import clear_files

        try:
            print(clear_files(directory))
        except CacheUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    try:
        store = LmdbStore(directory, args.settings.cache.max_size_mb)
    except CacheUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        stats = store.stats()
    finally:
        store.close()
    lookups = sum(stats.get(f"count.{level}", 0) for level in CACHE_LEVELS)
    rates = {level: stats.get(f"count.{level}", 0) / lookups if lookups else 0.0 for level in CACHE_LEVELS}
    if args.json:
        print(json.dumps({"directory": str(directory), **stats, "lookups": lookups, "rates": rates}))
        return 0
    print(f"cache       {directory}")
    print(f"entries     {stats['entries']}")
    print(f"size        {stats['bytes_used'] / 2**20:.1f} MiB of {stats['map_size'] / 2**20:.0f} MiB")
    print(f"lookups     {lookups} (all servers, since the cache was created)")
    for level in CACHE_LEVELS:
        print(f"  {level:<9} {rates[level]:6.1%}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from . import stats_table

    return stats_table.main(args.json)


def build_parser(with_models: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="copilot-lsp", description="Local code completion over LSP.")
    parser.add_argument("--version", action="version", version=f"copilot-lsp {__version__}")
    parser.add_argument("--config", type=Path, default=None, help=f"TOML config (default {paths.config_file()})")
    parser.add_argument(
        "--log-level",
        default=None,
        choices=["debug", "info", "warning", "error"],
        help="overrides log.level from the config",
    )
    parser.add_argument("--log-file", default=None, help="log to this file instead of stderr (overrides log.file)")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the language server (stdio unless --tcp)")
    serve.add_argument(
        "--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio, any number of clients, e.g. 127.0.0.1:2087"
    )
    serve.add_argument(
        "--allow-remote",
        action="store_true",
        help="let --tcp listen on an address other machines reach (no authentication, no encryption)",
    )
    serve.add_argument(
        "--per-window",
        action="store_true",
        help="over stdio, run the whole server (and a model) in this process instead of the shared model service",
    )
    serve.set_defaults(run=cmd_serve)
    complete = commands.add_parser("complete", help="print the completion at FILE:LINE:COL (1-based)")
    context = commands.add_parser("context", help="show the context and prompt the model gets at FILE:LINE:COL")
    for command in (complete, context):
        command.add_argument("location", metavar="FILE:LINE:COL")
        command.add_argument("--root", type=Path, help="workspace root to index (default: the file's git root)")
        command.add_argument(
            "--open", type=Path, action="append", default=[], metavar="FILE", help="also open FILE (repeatable)"
        )
        command.add_argument(
            "--index-wait", type=float, default=10.0, metavar="S", help="wait this long for the workspace index"
        )
    context.add_argument("--json", action="store_true", help="the report as JSON")
    complete.set_defaults(run=cmd_complete)
    context.set_defaults(run=cmd_context)
    doctor = commands.add_parser("doctor", help="check the installation and say how to fix problems")
    doctor.set_defaults(run=cmd_doctor)
    cache = commands.add_parser("cache", help="inspect or clear the completion cache")
    cache.add_argument("action", choices=["stats", "clear"])
    cache.add_argument("--json", action="store_true", help="stats as JSON")
    cache.set_defaults(run=cmd_cache)
    stats = commands.add_parser("stats", help="latency, tokens, cache and acceptance of the running servers")
    stats.add_argument("--json", action="store_true", help="one JSON object per server")
    stats.set_defaults(run=cmd_stats)
    if with_models:  # models_cmd imports llama.cpp: not for `serve`, which an editor starts per window
        from . import models_cmd

        models_cmd.add_parser(commands)
    service_cmd.add_parser(commands)
    return parser


@exits.one_line_exits  # Ctrl-C and a closed stdout: one line, never a traceback
def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    args = build_parser(with_models="serve" not in words or "models" in words).parse_args(argv)
    setup_logging(args.log_level or "info", args.log_file)
    layered = config_mod.load_file(args.config)
    args.settings, args.config_problems = layered.config, layered.problems
    log_settings = args.settings.log
    if log_settings.file and not args.log_file:
        setup_logging(args.log_level or log_settings.level, os.path.expanduser(log_settings.file))
    elif not args.log_level:
        logging.getLogger("copilot").setLevel(log_settings.level.upper())
    if args.command != "doctor":  # doctor prints them with their fixes
        config_mod.log_problems(layered.problems)  # once, where the log goes (log.file too)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
