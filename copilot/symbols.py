"""Where names are defined: in the open documents and in a workspace index built with
tree-sitter on a background thread.

The index keeps, per name, where each definition is and its header; the body is read from
the file when a prompt needs it, so a large workspace costs little memory. A definition
whose file changed since it was indexed falls back to its header.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, defaultdict
from pathlib import Path

import msgspec

from .extract import definitions
from .languages import language_for_path
from .privacy import IgnoreRules
from .syntax import SyntaxTree
from .workspace import read_source, walk_workspace

log = logging.getLogger(__name__)

MAX_DEFINITION_LINES = 60  # of a body, read for a prompt (the packer trims further)
PUBLISH_EVERY = 500  # files: lookups see a partial index while the rest is built
OPEN_REFRESH_S = 1.0  # an open document's definitions are re-extracted at most this often
FILE_CACHE = 32  # files whose text is kept for reading definition bodies


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
        self._thread = threading.Thread(target=self._build, name="copilot-index", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    @property
    def symbols(self) -> int:
        return sum(len(found) for found in self._by_name.values())

    def lookup(self, name: str) -> list[Symbol]:
        return self._by_name.get(name, [])

    def _build(self) -> None:
        started = time.perf_counter()
        found: defaultdict[str, list[Symbol]] = defaultdict(list)
        try:
            paths = walk_workspace(self.root, self.rules, self.max_file_bytes, self.max_files, self._stop.is_set)
            for count, path in enumerate(paths, 1):
                for symbol in index_file(path, self.max_file_bytes):
                    found[symbol.name].append(symbol)
                self.files = count
                if count % PUBLISH_EVERY == 0:
                    self._publish(found)
                time.sleep(0)  # let the event loop in between files
            self._publish(found)
        except Exception:  # the index is an optimisation: never take the server down with it
            log.exception("workspace index of %s stopped", self.root)
        finally:
            self.seconds = time.perf_counter() - started
            self.done.set()
            log.info(
                "indexed %d files under %s: %d definitions in %.1f s", self.files, self.root, self.symbols, self.seconds
            )

    def _publish(self, found: dict[str, list[Symbol]]) -> None:
        self._by_name = {name: list(symbols) for name, symbols in found.items()}
        self.generation += 1

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
