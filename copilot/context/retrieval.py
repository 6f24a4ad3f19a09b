"""Selective retrieval: the context from outside the local window that is worth its tokens.

Candidates come from the enclosing scopes' signatures, the file's imports, the definitions
of the names used near the cursor (this file, the other open documents, the workspace
index), similar code in recently used documents and the regions edited last. One pool is
ranked, deduplicated and packed into the share of the prompt budget this context gets,
then rendered in a stable order (``rendering``, which also holds ``Retrieved``).

Every change to the snippets makes the model evaluate the whole prompt after them again
(hundreds of milliseconds for a real model on a CPU), so the selection changes as little as
it can: it is reused while the window's first line and the names with a definition before
the cursor stay the same, even when other documents change, for up to ``STALE_S``; when it
must change, the snippets still wanted stay first, as they were, and new ones follow.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import msgspec

from ..config import ContextSettings
from ..documents import Document, DocumentStore, Snapshot, uri_path
from ..prompt.fim import FimTokens, SnippetStyle
from ..prompt.healing import half_typed_word
from ..prompt.window import Tokenize
from ..syntax import extract
from . import neighbours
from .privacy import IgnoreRules, mask_secrets
from .ranking import Candidate, Kind, Span, dedupe, score
from .recent_edits import EditRing
from .rendering import EMPTY, Renderer, Retrieved
from .symbols import OpenSymbols, Symbol, WorkspaceIndex

__all__ = ["EMPTY", "Retrieved", "Retriever", "names_near"]

log = logging.getLogger(__name__)

NEAR_LINES = 20  # lines before the cursor whose names are looked up and compared
NEAR_CHARS = 4000  # ... at most this much text (a minified file is one long line)
MAX_NAMES = 8  # names resolved per request, nearest first
HITS_PER_NAME = 2
SIMILAR_LIMIT = 3
EDIT_CONTEXT_LINES = 1  # around an edited region
SELECTIONS = 64  # documents whose last selection is kept
STALE_S = 15.0  # context from elsewhere may lag this long behind edits there (see Retriever.retrieve)
REFRESH_S = 1.0  # a changing document's imports are found again at most this often


class _Selection(msgspec.Struct, frozen=True, kw_only=True):
    here: tuple[object, ...]  # what it depends on in the document itself (and the index)
    elsewhere: tuple[object, ...]  # ... and in the other documents and the edit ring
    made_at: float  # when it was last chosen afresh
    result: Retrieved


def names_near(lines: list[str]) -> list[str]:
    """Names used before the cursor (``lines`` end at it), nearest first: the cursor line's
    complete words (not the one being typed, which changes every key), then the lines above."""
    current = lines[-1].removesuffix(half_typed_word(lines[-1])) if lines else ""
    seen: dict[str, None] = {}
    for line in [current, *reversed(lines[:-1])]:
        for word in reversed(neighbours.WORD.findall(line)):
            if len(word) > 1 and word not in neighbours.STOP_WORDS:
                seen.setdefault(word, None)
    return list(seen)


class Retriever:
    def __init__(
        self,
        documents: DocumentStore,
        settings: ContextSettings,
        root: Path | None,
        tokenize: Tokenize,
        fim: FimTokens,
        repo_level: bool,
    ) -> None:
        self.documents = documents
        self.settings = settings
        self.root = root
        self.tokenize = tokenize
        self.fim = fim
        wants_repo = settings.snippet_format == "repo" or (settings.snippet_format == "auto" and repo_level)
        self.style: SnippetStyle = "repo" if wants_repo and fim.has_repo_tokens else "comments"
        self.renderer = Renderer(tokenize, fim, self.style, root)
        self.rules = IgnoreRules.for_root(root, settings.ignore, settings.use_gitignore)
        self.index: WorkspaceIndex | None = None
        if root is not None and settings.workspace_index:
            self.index = WorkspaceIndex(root, self.rules, settings.index_max_files, settings.max_file_kb * 1024)
        self.edits = EditRing()
        self.open_symbols = OpenSymbols()
        self._recent: OrderedDict[str, None] = OrderedDict()  # least recently used first
        self._windows: dict[str, tuple[int, list[neighbours.TextWindow]]] = {}
        self._lines: dict[str, tuple[int, list[str]]] = {}
        self._import_cache: dict[str, tuple[int, float, list[extract.Snippet]]] = {}
        # the open documents' definition tables merged by name, with the tables they came from
        self._others_symbols: tuple[list[tuple[str, dict[str, list[Symbol]]]], dict[str, list[tuple[Symbol, str]]]]
        self._others_symbols = ([], {})
        self._selections: OrderedDict[str, _Selection] = OrderedDict()
        self._ignored: dict[str, str | None] = {}

    def start(self) -> None:
        if self.index is not None:
            self.index.start()

    def stop(self) -> None:
        if self.index is not None:
            self.index.stop()

    # --- what the server tells it ----------------------------------------------------------

    def touch(self, uri: str) -> None:
        """The document was opened, edited or completed in: it is recently used."""
        self._recent[uri] = None
        self._recent.move_to_end(uri)

    def forget(self, uri: str) -> None:
        self._recent.pop(uri, None)
        self._windows.pop(uri, None)
        self._lines.pop(uri, None)
        self._import_cache.pop(uri, None)
        self._selections.pop(uri, None)
        self._ignored.pop(uri, None)
        self.open_symbols.forget(uri)
        self.edits.forget(uri)

    def ignored(self, uri: str) -> str | None:
        """Why the document must stay out of every prompt (an ignore rule), or None."""
        if uri not in self._ignored:
            path = uri_path(uri)
            self._ignored[uri] = self.rules.ignored(path) if path is not None else None
        return self._ignored[uri]

    # --- the context for one request -------------------------------------------------------

    def retrieve(self, snapshot: Snapshot, window: Span, budget: int) -> Retrieved:
        if budget <= 0:
            return EMPTY
        document = self._current(snapshot)
        if document is None:  # the document moved on (the answer will not be shown): keep the layout
            return self.last(snapshot.uri) or EMPTY
        before = snapshot.text[max(0, snapshot.offset - NEAR_CHARS) : snapshot.offset]
        near = before[_nth_last_newline(before, NEAR_LINES) :].split("\n")
        names = names_near(near)
        others = self._other_documents(snapshot.uri)
        # What changes the selection at once: the window moving to another block of lines, a
        # name near the cursor that has a definition, the index growing while it is built.
        here = (
            window.start_line,
            tuple(self._resolved(names, document, others)),
            budget,
            self.index.generation if self.index else 0,
        )
        elsewhere = (
            tuple((d.uri, d.version) for d in others),
            tuple((r.uri, r.start_line, r.end_line) for r in self.edits.newest_first()),
        )
        now = time.monotonic()
        cached = self._selections.get(snapshot.uri)
        fresh = cached is None or now - cached.made_at >= STALE_S
        if cached is not None and cached.here == here and (cached.elsewhere == elsewhere or not fresh):
            self._selections.move_to_end(snapshot.uri)
            return cached.result
        query = neighbours.words("\n".join(near[:-1]))
        pool = dedupe(self._candidates(snapshot, document, names, query, others), window)
        kept = [] if fresh or cached is None else cached.result.snippets
        result = self.renderer.render(pool, budget, kept, self.display_path(snapshot.uri), snapshot.language_id)
        made_at = now if fresh or cached is None else cached.made_at
        self._selections[snapshot.uri] = _Selection(here=here, elsewhere=elsewhere, made_at=made_at, result=result)
        self._selections.move_to_end(snapshot.uri)
        if len(self._selections) > SELECTIONS:
            self._selections.popitem(last=False)
        return result

    def last(self, uri: str) -> Retrieved | None:
        """The context last chosen for the document."""
        cached = self._selections.get(uri)
        return cached.result if cached is not None else None

    def _current(self, snapshot: Snapshot) -> Document | None:
        """The snapshot's document, if it is still at the snapshot's version (its syntax tree
        then matches the snapshot's text)."""
        if snapshot.uri not in self.documents:
            return None
        document = self.documents.get(snapshot.uri)
        return document if document.version == snapshot.version else None

    def _other_documents(self, uri: str) -> list[Document]:
        """The most recently used other open documents that may enter a prompt."""
        found = []
        for other in reversed(self._recent):
            if other == uri or other not in self.documents or self.ignored(other) is not None:
                continue
            document = self.documents.get(other)
            if len(document.text) <= self.settings.max_file_kb * 1024:  # huge files are not context
                found.append(document)
                if len(found) >= self.settings.recent_files:
                    break
        return found

    def _candidates(
        self, snapshot: Snapshot, document: Document, names: list[str], query: frozenset[str], others: list[Document]
    ) -> Iterator[Candidate]:
        yield from self._scopes(snapshot, document)
        yield from self._imports(document)
        yield from self._definitions(document, names, others)
        yield from self._similar(query, others)
        yield from self._edits(snapshot.uri)

    def _scopes(self, snapshot: Snapshot, document: Document) -> Iterator[Candidate]:
        syntax = document.syntax
        if syntax is None:
            return
        scopes = extract.enclosing_scopes(syntax, syntax.byte_offset(snapshot.offset))
        for depth, scope in enumerate(reversed(scopes)):
            lines = scope.header.count("\n") + 1
            yield self._candidate(
                "scope",
                document.uri,
                scope.start_line,
                scope.header,
                score("scope", depth=depth, same_file=True),
                f"encloses the cursor ({scope.kind} {scope.name})",
                keep_lines=lines,
            )

    def _imports(self, document: Document) -> Iterator[Candidate]:
        """The file's imports, found again at most every ``REFRESH_S`` while it changes
        (they are read from the whole tree, and change far less often than the text)."""
        if document.syntax is None:
            return
        cached = self._import_cache.get(document.uri)
        now = time.monotonic()
        if cached is None or (cached[0] != document.version and now - cached[1] >= REFRESH_S):
            cached = (document.version, now, extract.imports(document.syntax))
            self._import_cache[document.uri] = cached
        found = cached[2]
        if found:
            text = "\n".join(snippet.text for snippet in found)
            yield self._candidate(
                "import", document.uri, found[0].start_line, text, score("import", same_file=True), "the file's imports"
            )

    def _definitions(self, document: Document, names: list[str], others: list[Document]) -> Iterator[Candidate]:
        """Where each name near the cursor is defined: in this file, else in another open
        document, else in the workspace index."""
        own = self.open_symbols.of(document.uri, document.version, document.syntax)
        in_others = self._symbols_of(others)
        open_paths = {str(p) for d in others if (p := uri_path(d.uri)) is not None}
        resolved = 0
        for rank, name in enumerate(names):
            if resolved >= MAX_NAMES:
                break
            hits: list[tuple[Symbol, str]] = [(s, document.uri) for s in own.get(name, [])]
            hits.extend(in_others.get(name, []))
            if not hits and self.index is not None:
                hits = [(s, Path(s.path).as_uri()) for s in self.index.lookup(name) if s.path not in open_paths]
            if hits:
                resolved += 1
            for symbol, uri in hits[:HITS_PER_NAME]:
                text = symbol.text or (self.index.body(symbol) if self.index else symbol.header)
                yield self._candidate(
                    "definition",
                    uri,
                    symbol.start_line,
                    text,
                    score("definition", distance_rank=rank, same_file=uri == document.uri),
                    f"defines {name}",
                    keep_lines=symbol.header.count("\n") + 1,
                )

    def _resolved(self, names: list[str], document: Document, others: list[Document]) -> Iterator[str]:
        """The names that have a definition somewhere (dictionary lookups only)."""
        own = self.open_symbols.of(document.uri, document.version, document.syntax)
        in_others = self._symbols_of(others)
        for name in names:
            if name in own or name in in_others or (self.index is not None and self.index.lookup(name)):
                yield name

    def _symbols_of(self, others: list[Document]) -> dict[str, list[tuple[Symbol, str]]]:
        """The definitions of the other open documents by name, most recently used first."""
        tables = [(other.uri, self.open_symbols.of(other.uri, other.version, other.syntax)) for other in others]
        previous = self._others_symbols[0]
        same = len(previous) == len(tables) and all(
            a[0] == b[0] and a[1] is b[1] for a, b in zip(previous, tables, strict=True)
        )
        if not same:
            merged: dict[str, list[tuple[Symbol, str]]] = {}
            for uri, table in tables:
                for name, symbols in table.items():
                    merged.setdefault(name, []).extend((s, uri) for s in symbols)
            self._others_symbols = (tables, merged)
        return self._others_symbols[1]

    def _lines_of(self, document: Document) -> list[str]:
        cached = self._lines.get(document.uri)
        if cached is None or cached[0] != document.version:
            cached = (document.version, document.text.split("\n"))
            self._lines[document.uri] = cached
        return cached[1]

    def _similar(self, query: frozenset[str], others: list[Document]) -> Iterator[Candidate]:
        if not query:
            return
        documents = [(d.uri, self._windows_of(d)) for d in others]
        for match in neighbours.most_similar(query, documents, SIMILAR_LIMIT):
            lines = self._lines_of(self.documents.get(match.uri))[match.start_line : match.end_line + 1]
            yield self._candidate(
                "similar",
                match.uri,
                match.start_line,
                "\n".join(lines),
                score("similar", similarity=match.similarity),
                f"similarity {match.similarity:.2f}",
            )

    def _windows_of(self, document: Document) -> list[neighbours.TextWindow]:
        cached = self._windows.get(document.uri)
        if cached is None or cached[0] != document.version:
            cached = (document.version, neighbours.windows_of(document.text))
            self._windows[document.uri] = cached
        return cached[1]

    def _edits(self, uri: str) -> Iterator[Candidate]:
        for age, region in enumerate(self.edits.newest_first()):
            if region.uri not in self.documents or self.ignored(region.uri) is not None:
                continue
            lines = self._lines_of(self.documents.get(region.uri))
            start = max(0, region.start_line - EDIT_CONTEXT_LINES)
            text = "\n".join(lines[start : region.end_line + EDIT_CONTEXT_LINES + 1])
            yield self._candidate(
                "edit", region.uri, start, text, score("edit", age=age, same_file=region.uri == uri), "edited recently"
            )

    def _candidate(
        self, kind: Kind, uri: str, start_line: int, text: str, value: float, reason: str, keep_lines: int = 1
    ) -> Candidate:
        text = text.strip("\n")
        if self.settings.mask_secrets:
            text = mask_secrets(text)[0]
        return Candidate(
            kind=kind,
            path=self.display_path(uri),
            uri=uri,
            start_line=start_line,
            end_line=start_line + text.count("\n"),
            text=text,
            score=round(value, 4),
            reason=reason,
            keep_lines=keep_lines,
        )

    def display_path(self, uri: str) -> str:
        path = uri_path(uri)
        if path is None:
            return uri
        if self.root is not None and path.is_relative_to(self.root):
            return path.relative_to(self.root).as_posix()
        return path.name


def _nth_last_newline(text: str, n: int) -> int:
    """The offset just after the ``n``-th newline from the end (0 if there are fewer)."""
    position = len(text)
    for _ in range(n):
        position = text.rfind("\n", 0, position)
        if position < 0:
            return 0
    return position + 1
