"""Next-edit suggestions over LSP: ``textDocument/copilotInlineEdit``, the request the Copilot
language server answers and the Neovim clients of it speak.

Params ``{textDocument: {uri, version}, position}``; result ``{edits: [{range, text,
textDocument: {uri, version}, command}]}``, nearest first. A version other than the
server's copy of the document gets no edits (the client's view is stale, or the server's).
Each edit's command reports its acceptance; ``copilot/inlineEditEvent`` ``{requestId,
event: "shown" | "rejected", edit?}`` reports the rest. What the rules find comes first; when
they find nothing, the next-edit model (if one is configured) is asked.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any, Protocol

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from copilot.documents import Document, DocumentStore, Encoding, Position
from copilot.errors import CopilotError
from copilot.metrics import percentiles
from copilot.nextedit.history import EditEvent
from copilot.nextedit.model import ModelEdits
from copilot.nextedit.rename import Replacement
from copilot.nextedit.suggest import NextEdits, extending, touches_typing
from copilot.pipeline import Pipeline

log = logging.getLogger(__name__)

INLINE_EDIT_METHOD = "textDocument/copilotInlineEdit"
INLINE_EDIT_EVENT_METHOD = "copilot/inlineEditEvent"  # client -> server: shown / rejected
ACCEPT_EDIT_COMMAND = "copilot.inlineEditAccepted"
EVENTS = ("shown", "accepted", "rejected")


class Session(Protocol):
    documents: DocumentStore
    next_edits: NextEdits
    edit_stats: EditStats
    pipeline: Pipeline | None

    @property
    def encoding(self) -> Encoding: ...


class EditStats:
    """What ``copilot/stats`` reports of next edits: requests, suggestions, the editor's events,
    and the time to answer (the last 1,000 requests). Each count also goes to the session's
    metrics as ``next_edit_<name>`` (``mirror``), so it reaches the process's totals and
    Prometheus like the completions' counters."""

    def __init__(self, mirror: Callable[[], Counter[str] | None] = lambda: None) -> None:
        self.counts: Counter[str] = Counter()
        self.latency_ms: deque[float] = deque(maxlen=1000)
        self._mirror = mirror

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] += n
        mirror = self._mirror()
        if mirror is not None:
            mirror[f"next_edit_{name}"] += n

    def snapshot(self) -> dict[str, Any]:
        return {**self.counts, "latency_ms": percentiles(self.latency_ms)}


def register(server: LanguageServer) -> None:
    @server.feature(INLINE_EDIT_METHOD)
    async def inline_edit(ls: Session, params: Any) -> dict[str, Any]:
        return await answer(ls, params)

    @server.feature(INLINE_EDIT_EVENT_METHOD)
    def inline_edit_event(ls: Session, params: Any) -> None:
        """``{"requestId": int, "event": "shown" | "rejected", "edit"?: int}`` (``edit``: which of
        the request's edits, 0 by default: the one shown)"""
        event(ls, getattr(params, "requestId", None), getattr(params, "event", None), getattr(params, "edit", 0))

    @server.command(ACCEPT_EDIT_COMMAND)
    def edit_accepted(ls: Session, *arguments: Any) -> None:
        event(ls, arguments[0] if arguments else None, "accepted")


async def answer(session: Session, params: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        uri = params.textDocument.uri
        version = getattr(params.textDocument, "version", None)
        position = getattr(params, "position", None)
    except AttributeError:
        log.warning("%s needs textDocument.uri (and version)", INLINE_EDIT_METHOD)
        return {"edits": []}
    session.edit_stats.count("requests", 1)
    try:
        document = session.documents.get(uri)
    except CopilotError as exc:
        log.debug("%s", exc)
        return {"edits": []}
    if version is not None and version != document.version:
        session.edit_stats.count("stale", 1)
        return {"edits": []}
    pipeline = session.pipeline
    if pipeline is not None and not pipeline.config.next_edit.enabled:
        return {"edits": []}
    others = [session.documents.get(other) for other in session.documents.uris() if other != document.uri]
    found = session.next_edits.propose(document, others)
    event = session.next_edits.recent(document)
    if not found and event is not None and pipeline is not None and pipeline.next_edit is not None:
        cursor = _offset(document, position, session.encoding, default=event.end)
        found = await _model_edits(session, pipeline.next_edit, document, cursor, event)
    request_id, replacements = session.next_edits.offer(found, [document, *others])
    documents = {d.uri: d for d in [document, *others]}
    edits = [_edit(r, documents[r.uri], session.encoding, request_id) for r in replacements if r.uri in documents]
    session.edit_stats.latency_ms.append((time.perf_counter() - started) * 1000)
    if edits:
        session.edit_stats.count("answered_with_edits", 1)
        session.edit_stats.count("edits_offered", len(edits))
        for replacement in replacements:
            session.edit_stats.count(f"kind_{replacement.kind}", 1)
    return {"edits": edits}


async def inline_item(session: Session, document: Document, cursor: int) -> types.InlineCompletionList | None:
    """For a plain ``inlineCompletion`` that found no completion: an edit of the next-edit
    model on the cursor's line that extends what is typed, with the range it replaces (the
    rules never edit the line being typed; without a model nothing changes)."""
    pipeline = session.pipeline
    event = session.next_edits.recent(document)
    if pipeline is None or pipeline.next_edit is None or event is None or not pipeline.config.next_edit.enabled:
        return None
    edit = extending(document.text, cursor, await _model_edits(session, pipeline.next_edit, document, cursor, event))
    if edit is None:
        return None
    session.edit_stats.count("inline_items", 1)
    start, end = (document.position_at(at, session.encoding) for at in (edit.start, edit.end))
    replaced = types.Range(
        start=types.Position(line=start.line, character=start.character),
        end=types.Position(line=end.line, character=end.character),
    )
    return types.InlineCompletionList(items=[types.InlineCompletionItem(insert_text=edit.new, range=replaced)])


async def _model_edits(
    session: Session, model: ModelEdits, document: Document, cursor: int, event: EditEvent
) -> list[Replacement]:
    """The next-edit model's edits, none over what was just typed ([] when it fails)."""
    session.edit_stats.count("model_requests", 1)
    try:
        found = await model.suggest(document, cursor, session.next_edits.history.events())
    except CopilotError as exc:
        log.warning("next-edit model: %s", exc)
        return []
    return [r for r in found if not touches_typing(r, event)]


def _offset(document: Document, position: Any, encoding: Encoding, default: int) -> int:
    try:
        at = Position(line=int(position.line), character=int(position.character))
    except (AttributeError, TypeError, ValueError):
        return default
    return document.offset_at(at, encoding, strict=False)


def _edit(replacement: Replacement, document: Document, encoding: Encoding, request_id: int) -> dict[str, Any]:
    start = document.position_at(replacement.start, encoding)
    end = document.position_at(replacement.end, encoding)
    return {
        "range": {
            "start": {"line": start.line, "character": start.character},
            "end": {"line": end.line, "character": end.character},
        },
        "text": replacement.new,
        "textDocument": {"uri": document.uri, "version": document.version},
        "command": {"title": "Accept edit", "command": ACCEPT_EDIT_COMMAND, "arguments": [request_id]},
    }


def event(session: Session, request_id: Any, name: Any, index: Any = 0) -> None:
    """The editor showed, accepted or rejected what ``request_id`` offered."""
    if not isinstance(request_id, int) or name not in EVENTS or not isinstance(index, int):
        session.edit_stats.count("events_malformed", 1)
        return
    if name == "rejected":
        known = session.next_edits.rejected(request_id, index)
    elif name == "accepted":
        known = session.next_edits.accepted(request_id)
    else:
        known = True
    session.edit_stats.count(f"events_{name}" if known else "events_ignored", 1)
