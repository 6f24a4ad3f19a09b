"""Where names are defined: in the open documents and in a workspace index built with
tree-sitter on a background thread.

The index keeps, per name, where each definition is and its header; the body is read from
the file when a prompt needs it, so a large workspace costs little memory. A definition
whose file changed since it was indexed falls back to its header.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections import OrderedDict, defaultdict, deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import msgspec

from ..languages import language_for_path
from ..logs import session_thread
from ..syntax.extract import definitions
from ..syntax.tree import SyntaxTree
from .privacy import IgnoreRules
from .workspace import read_source, walk_workspace

log = logging.getLogger(__name__)

MAX_DEFINITION_LINES = 60  # of a body, read for a prompt (the packer trims further)
PUBLISH_EVERY = 500  # files: lookups see a partial index while the rest is built
BATCH_FILES = 64  # files per job for the index process
BATCHES_IN_FLIGHT = 2
OPEN_REFRESH_S = 1.0  # an open document's definitions are re-extracted at most this often
FILE_CACHE = 32  # files whose text is kept for reading definition bodies
# Held while the index's worker process may be starting: a process that exits meanwhile leaves
# the half-started child reading its start-up data from a closed pipe (a traceback on the
# editor's stderr). The server's Ctrl-C path takes it before it ends the children.
SPAWNING = threading.Lock()


class Symbol(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    kind: str
    path: str  # absolute file path, or the document's URI for unsaved documents
    header: str
    start_line: int
    end_line: int
    text: str = ""  # the definition's text when known (open documents); else read on demand


class WorkspaceIndex:
    """Definitions of every indexable file under ``root``, built off the event loop."""

    def __init__(self, root: Path, rules: IgnoreRules, max_files: int, max_file_bytes: int) -> None:
        self.root = root
        self.rules = rules
        self.max_files = max_files
        self.max_file_bytes = max_file_bytes
        self.generation = 0  # bumped each time lookups may see new definitions
        self.files = 0
        self.seconds = 0.0
        self.done = threading.Event()
        self._by_name: dict[str, list[Symbol]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._texts: OrderedDict[str, list[str]] = OrderedDict()

    def start(self) -> None:
        self._thread = session_thread(self._build, "copilot-index")  # its lines are the session's
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    @property
    def symbols(self) -> int:
        return sum(len(found) for found in self._by_name.values())

    def lookup(self, name: str) -> list[Symbol]:
        return self._by_name.get(name, [])

    def _build(self) -> None:
        """Walk here, parse in a separate process: tree-sitter holds the GIL while it parses,
        which would stall the event loop for a whole file at a time; a process does not (and
        it runs on another core)."""
        started = time.perf_counter()
        try:
            try:
                self._build_in_process()
            except (OSError, BrokenProcessPool) as exc:  # no subprocesses here: parse on this thread
                log.warning("workspace index: no index process (%s); indexing on a thread", exc)
                for path in self._paths():
                    self._add(index_file(path, self.max_file_bytes))
                    time.sleep(0)  # let the event loop in between files
        except Exception:  # the index is an optimisation: never take the server down with it
            log.exception("workspace index of %s stopped", self.root)
        finally:
            self.seconds = time.perf_counter() - started
            self.generation += 1
            self.done.set()
            log.info(
                "indexed %d files under %s: %d definitions in %.1f s", self.files, self.root, self.symbols, self.seconds
            )

    def _paths(self) -> Iterator[Path]:
        return walk_workspace(self.root, self.rules, self.max_file_bytes, self.max_files, self._stop.is_set)

    def _build_in_process(self) -> None:
        spawn = multiprocessing.get_context("spawn")  # no fork: this process runs threads
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            pending: deque[Future[bytes]] = deque()
            for batch in _batches(self._paths(), BATCH_FILES):
                with SPAWNING:  # the first submit starts the worker process
                    pending.append(pool.submit(index_files, [str(p) for p in batch], self.max_file_bytes))
                while len(pending) > BATCHES_IN_FLIGHT:
                    self._add_encoded(pending.popleft().result())
                if self._stop.is_set():
                    pool.shutdown(cancel_futures=True)
                    return
            while pending:
                self._add_encoded(pending.popleft().result())

    def _add_encoded(self, data: bytes) -> None:
        files, symbols = msgspec.msgpack.decode(data, type=tuple[int, list[Symbol]])
        self._add(symbols, files)

    def _add(self, symbols: list[Symbol], files: int = 1) -> None:
        """Add the definitions of ``files`` more files in place (a lookup racing with it sees
        a list before or after an append, never a torn one)."""
        for symbol in symbols:
            self._by_name.setdefault(symbol.name, []).append(symbol)
        before, self.files = self.files, self.files + files
        if before // PUBLISH_EVERY != self.files // PUBLISH_EVERY:
            self.generation += 1  # selections made with fewer definitions are made again

    def body(self, symbol: Symbol) -> str:
        """The definition's text as the file has it now (its header alone if it moved)."""
        lines = self._lines(symbol.path)
        if lines is None or symbol.start_line >= len(lines):
            return symbol.header
        end = min(symbol.end_line, symbol.start_line + MAX_DEFINITION_LINES - 1)
        text = "\n".join(lines[symbol.start_line : end + 1])
        return text if text.startswith(symbol.header.split("\n", 1)[0]) else symbol.header

    def _lines(self, path: str) -> list[str] | None:
        if path in self._texts:
            self._texts.move_to_end(path)
            return self._texts[path]
        text = read_source(Path(path), self.max_file_bytes)
        if text is None:
            return None
        self._texts[path] = lines = text.split("\n")
        if len(self._texts) > FILE_CACHE:
            self._texts.popitem(last=False)
        return lines


def _batches(paths: Iterator[Path], size: int) -> Iterator[list[Path]]:
    batch: list[Path] = []
    for path in paths:
        batch.append(path)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def index_files(paths: list[str], max_file_bytes: int) -> bytes:
    """In the index process: how many files, and their definitions, msgpack-encoded."""
    symbols = [symbol for path in paths for symbol in index_file(Path(path), max_file_bytes)]
    return msgspec.msgpack.encode((len(paths), symbols))


def index_file(path: Path, max_file_bytes: int) -> list[Symbol]:
    text = read_source(path, max_file_bytes)
    if text is None:
        return []
    syntax = SyntaxTree.create(language_for_path(path), text)
    if syntax is None:
        return []
    return [
        Symbol(name=d.name, kind=d.kind, path=str(path), header=d.header, start_line=d.start_line, end_line=d.end_line)
        for d in definitions(syntax)
    ]


class OpenSymbols:
    """Definitions of the open documents, re-extracted when a document changed, at most
    once every ``OPEN_REFRESH_S`` seconds (the text of each is kept with it, so a slightly
    old entry still shows what was defined)."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[int, float, dict[str, list[Symbol]]]] = {}

    def of(self, uri: str, version: int, syntax: SyntaxTree | None) -> dict[str, list[Symbol]]:
        entry = self._entries.get(uri)
        now = time.monotonic()
        if entry is not None and (entry[0] == version or now - entry[1] < OPEN_REFRESH_S):
            return entry[2]
        found: defaultdict[str, list[Symbol]] = defaultdict(list)
        if syntax is not None:
            for d in definitions(syntax):
                found[d.name].append(
                    Symbol(
                        name=d.name,
                        kind=d.kind,
                        path=uri,
                        header=d.header,
                        start_line=d.start_line,
                        end_line=d.end_line,
                        text="\n".join(d.text.split("\n")[:MAX_DEFINITION_LINES]),
                    )
                )
        self._entries[uri] = (version, now, dict(found))
        return self._entries[uri][2]

    def forget(self, uri: str) -> None:
        self._entries.pop(uri, None)
