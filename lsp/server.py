"""The pygls language server. Handlers are thin: convert in, call the core, convert out.

Document sync handlers are synchronous, so edits apply in message order; completion is
an asyncio task, so ``$/cancelRequest`` cancels it and the model stops within a token.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import msgspec
from lsprotocol import types
from pygls.lsp.server import LanguageServer

from copilot import __version__, logs
from copilot import config as config_mod
from copilot.assembly import SharedEngines, build_pipeline
from copilot.documents import Document, DocumentStore, Encoding, Position, Snapshot, uri_path
from copilot.errors import CopilotError
from copilot.metrics import Metrics
from copilot.nextedit.suggest import NextEdits
from copilot.pipeline import CompletionResult, Pipeline

from . import convert, nextedit, publish
from .protocol import CopilotProtocol
from .sync import OwnDocumentsProtocol, register_test_requests

log = logging.getLogger(__name__)

STATS_METHOD = "copilot/stats"
PARTIAL_METHOD = "copilot/partialCompletion"
EVENT_METHOD = "copilot/completionEvent"  # client -> server: shown / accepted / partial / dismissed
GENERATE_METHOD = "copilot/generate"  # client -> server: an explicit generation (remote model preferred)
INSPECT_METHOD = "copilot/inspectContext"  # client -> server: the context and prompt at a position
STATUS_METHOD = "copilot/status"  # server -> client: a budget or latency target exceeded, or back to normal
PARTIAL_INTERVAL_S = 0.03  # at most ~30 partial notifications a second per request
LIVE_SECTIONS = ("completion", "log")  # the others need a restart
RESTART_SECTIONS = ("model", "context", "cache", "speculative", "remote", "monitoring")
ALERT_EVERY = 16  # answers between checks of the latency target and cost budget


class ServerProtocol(OwnDocumentsProtocol, CopilotProtocol):
    """The server's own documents (sync.py); every message judged and answered (protocol.py)."""

    answered = 0  # requests answered by their handlers (results and errors)

    def _send_response(self, msg_id: Any, result: Any = None, error: Any = None) -> None:
        self.answered += 1
        super()._send_response(msg_id, result, error)


class CopilotServer(LanguageServer):
    protocol: ServerProtocol

    def __init__(
        self,
        config: config_mod.Config,
        problems: Sequence[config_mod.Problem] = (),
        *,
        shared: SharedEngines | None = None,
        session: str = "",
    ) -> None:
        super().__init__(
            "copilot-lsp",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=ServerProtocol,
        )
        self.documents = DocumentStore()
        self.next_edits = NextEdits()
        self.edit_stats = nextedit.EditStats(lambda: self.pipeline.metrics.counts if self.pipeline else None)
        self.pipeline: Pipeline | None = None
        self.metrics: Metrics | None = None  # the pipeline's, kept once it stopped
        self.shared = shared  # the process's engines, when it serves many sessions (lsp/host.py)
        self.session = session  # this session's name there: its KV sequences are "session uri"
        self.log_level_from_cli = False
        self.on_log_level: Callable[[str], None] | None = None  # a front's session in the service
        self.base_config = config  # defaults + file; + initializationOptions once initialized
        self.file_problems = list(problems)  # the config file's, logged at start, shown at initialize
        self.sync_ms: dict[str, float] = {}  # per open document: how long its last didChange took
        self.alerts: list[str] = []  # the last reported
        self.publisher = publish.Publisher(self.statistics)
        self.owns_publisher = True  # false when the process's (a SessionHost's) publishes this one
        self._answered = 0
        self._final: dict[str, Any] = {}

    @property
    def encoding(self) -> Encoding:
        return convert.encoding(self.workspace.position_encoding)

    @property
    def thread_pool(self) -> ThreadPoolExecutor:
        if self._thread_pool is None:
            self._thread_pool = logs.ContextThreadPool(max_workers=self._max_workers)  # handlers log as the session
        return self._thread_pool

    def start_pipeline(self, options: Any, root: Path | None = None) -> None:
        overrides = msgspec.to_builtins(options) if options is not None else None
        layered = config_mod.apply(self.base_config, overrides, "initializationOptions")
        config_mod.log_problems(layered.problems)
        self.show_problems([*self.file_problems, *layered.problems])
        config = layered.config
        self._set_log_level(config.log.level)
        self.base_config = config
        if self.shared is None:
            self.pipeline = build_pipeline(config, self.documents, root, session=self.session)
        else:  # one session of many (its threads log as this session: logs.session_thread)
            loaded = [engine for engine, _ in self.shared.engines()]
            self.pipeline = build_pipeline(config, self.documents, root, shared=self.shared, session=self.session)
            joined = next((engine for engine in loaded if engine is self.pipeline.engine), None)
            for warning in joined.vocabulary.warnings if joined is not None else ():
                log.warning("%s", warning)  # logged for the session that loaded it: for this one too
        self.metrics = self.pipeline.metrics

    def use_publisher(self, publisher: publish.Publisher) -> None:
        """Publish through the process's publisher (started once, stopped by its owner)."""
        self.publisher = publisher
        self.owns_publisher = False

    def _set_log_level(self, level: str) -> None:
        if self.log_level_from_cli:  # --log-level wins over every configuration layer
            return
        if self.on_log_level is not None:  # a front's session: the level of its own lines only
            self.on_log_level(level)
        else:
            # The process's level: per window, this session's; over `serve --tcp`, whose clients
            # get no log lines, the last session to set it wins (kept simple).
            logging.getLogger("copilot").setLevel(level.upper())

    def apply_settings(self, settings: Any) -> None:
        """workspace/didChangeConfiguration: completion and log settings apply at once."""
        layer = msgspec.to_builtins(settings) if settings is not None else None
        if isinstance(layer, dict) and isinstance(layer.get("copilot"), dict):
            layer = layer["copilot"]
        if layer is None or self.pipeline is None:
            return
        layered = config_mod.apply(self.base_config, layer, "didChangeConfiguration")
        config_mod.log_problems(layered.problems)
        self.show_problems(layered.problems)
        updated = layered.config
        current = self.pipeline.config
        if any(getattr(updated, s) != getattr(current, s) for s in RESTART_SECTIONS):
            log.warning("%s settings take effect when the server restarts", ", ".join(RESTART_SECTIONS))
        self.pipeline.config = msgspec.structs.replace(
            current, **{section: getattr(updated, section) for section in LIVE_SECTIONS}
        )
        self._set_log_level(updated.log.level)

    def report_server_error(self, error: Exception, source: Any) -> None:
        self.protocol.report_error(error, source)  # one popup per kind of error, not per keystroke

    def show_problems(self, problems: Sequence[config_mod.Problem]) -> None:
        """One window/showMessage for the configuration problems of one event (initialize, a
        configuration change), listing them all; the log has each as its own line."""
        if not problems:
            return
        many = len(problems) > 1
        lines = [
            f"copilot-lsp: {len(problems)} configuration problem{'s' if many else ''} (the other settings apply):",
            *(f"- {problem}" for problem in problems),
        ]
        self.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message="\n".join(lines)))

    async def answer(self, document: Document, snapshot: Snapshot, explicit: bool = False) -> CompletionResult:
        """The pipeline's answer at ``snapshot``, streamed as partials; the final text is sent
        as the last partial when a model wrote it (clients that show partials replace theirs)."""
        assert self.pipeline is not None
        request_id = self.pipeline.next_request_id()
        result = await self.pipeline.complete(
            snapshot,
            request_id,
            is_current=lambda: document.version == snapshot.version and snapshot.uri in self.documents,
            on_partial=self.partial_sender(snapshot.uri, snapshot.version, request_id),
            sync_ms=self.sync_ms.get(snapshot.uri),
            explicit=explicit,
        )
        if explicit or result.source in ("model", "stream", "remote"):
            self.notify_partial(snapshot.uri, snapshot.version, request_id, result.text, True)
        return result

    def at_position(self, params: Any, method: str) -> tuple[Document, Snapshot] | str:
        """The document and snapshot a ``{"textDocument": {"uri"}, "position"}`` request names,
        or what is wrong with it ("" when the server is not initialized)."""
        try:
            uri = params.textDocument.uri
            position = Position(line=params.position.line, character=params.position.character)
        except AttributeError:
            return f"{method} needs textDocument.uri and position"
        if self.pipeline is None:
            return ""
        try:
            document = self.documents.get(uri)
            return document, document.snapshot(position, self.encoding)
        except CopilotError as exc:
            return str(exc)

    def partial_sender(self, uri: str, version: int, request_id: int) -> Callable[[str], None]:
        """A callback for the inference thread that streams text to the client, throttled."""
        loop = asyncio.get_running_loop()
        last_sent = 0.0

        def send(text: str) -> None:
            nonlocal last_sent
            now = time.monotonic()
            if now - last_sent >= PARTIAL_INTERVAL_S:
                last_sent = now
                loop.call_soon_threadsafe(self.notify_partial, uri, version, request_id, text, False)

        return send

    def notify_partial(self, uri: str, version: int, request_id: int, text: str, done: bool) -> None:
        self.protocol.notify(
            PARTIAL_METHOD, {"requestId": request_id, "uri": uri, "version": version, "text": text, "done": done}
        )

    def statistics(self, recent: int = 0) -> dict[str, Any]:
        """Counters, window and since-start aggregates, acceptance, alerts, the sizes of the
        per-document state, and the last ``recent`` request records."""
        if self.pipeline is None:
            return self._final  # the numbers the session ended with ({} before initialize)
        escalation = self.pipeline.escalation
        remote = (
            {"breaker": escalation.breaker.snapshot(), "budget": escalation.budget.usage(), **escalation.counts}
            if escalation is not None
            else None
        )
        return {
            **self.pipeline.metrics.snapshot(min(recent, 512)),
            "remote": remote,
            "alerts": self.alerts,
            "state": {**self.pipeline.state_sizes(), "open_documents": len(self.documents)},
            "next_edit": self.edit_stats.snapshot(),
        }

    def report_alerts(self) -> None:
        """Every few answers: when a target or budget starts or stops being exceeded, one log
        line and a ``copilot/status`` notification for the editor's status display."""
        self._answered += 1
        if self.pipeline is None or self._answered % ALERT_EVERY:
            return
        monitoring = self.pipeline.config.monitoring
        alerts = self.pipeline.metrics.alerts(monitoring.latency_target_ms, monitoring.cost_budget_per_day)
        if alerts == self.alerts:
            return
        for alert in alerts:
            if alert not in self.alerts:
                log.warning("%s", alert)
        if not alerts:
            log.info("back within the latency target and cost budget")
        self.alerts = alerts
        self.protocol.notify(STATUS_METHOD, {"alerts": alerts})

    async def report_model_loading(self) -> None:
        """LSP work-done progress while the model loads (when the client supports it)."""
        engine = self.pipeline.engine if self.pipeline else None
        capabilities = self.client_capabilities.window
        if engine is None or not (capabilities and capabilities.work_done_progress):
            return
        token = f"copilot-load-{os.getpid()}"
        try:
            await self.work_done_progress.create_async(token)
        except Exception as exc:  # the client refused: loading goes on without progress
            log.debug("no work-done progress: %s", exc)
            return
        name = engine.vocabulary.path.name
        self.work_done_progress.begin(
            token, types.WorkDoneProgressBegin(title="copilot-lsp", message=f"loading {name}")
        )
        try:
            await asyncio.to_thread(engine.wait_ready)
            message = f"{name} ready"
        except CopilotError as exc:
            message = f"{name} failed to load: {exc}"
        self.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))

    def stop_pipeline(self) -> None:
        if self.pipeline is not None:
            if self.owns_publisher:
                self.publisher.stop()
            self._final = self.statistics()
            self.pipeline.close()
        self.pipeline = None


def workspace_root(params: types.InitializeParams) -> Path | None:
    """The first workspace folder (or the deprecated rootUri/rootPath), if it is a local directory."""
    if params.workspace_folders:
        uri: str | None = params.workspace_folders[0].uri
    else:
        uri = params.root_uri or (Path(params.root_path).resolve().as_uri() if params.root_path else None)
    path = uri_path(uri) if uri else None
    return path if path is not None and path.is_dir() else None


def create_server(
    config: config_mod.Config,
    problems: Sequence[config_mod.Problem] = (),
    *,
    shared: SharedEngines | None = None,
    session: str = "",
) -> CopilotServer:
    """The server over ``config`` (defaults + file); ``problems``: the file's, shown at initialize.
    With ``shared``, one session of many in this process (``lsp/host.py``), named ``session``."""
    server = CopilotServer(config, problems, shared=shared, session=session)
    register_test_requests(server, server.documents)  # only with COPILOT_LSP_TEST_REQUESTS=1
    nextedit.register(server)

    @server.feature(types.INITIALIZE)
    def initialize(ls: CopilotServer, params: types.InitializeParams) -> None:
        ls.start_pipeline(params.initialization_options, workspace_root(params))

    @server.feature(types.INITIALIZED)
    async def initialized(ls: CopilotServer, params: types.InitializedParams) -> None:
        if ls.pipeline is not None:
            await ls.publisher.start(ls.pipeline.config.monitoring.prometheus_port)
        await ls.report_model_loading()

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: CopilotServer, params: None) -> None:
        ls.stop_pipeline()

    @server.feature(types.EXIT)
    def exit_server(ls: CopilotServer, params: None) -> None:
        ls.stop_pipeline()  # then the transport ends the session (protocol.exit_code is set)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: CopilotServer, params: types.DidOpenTextDocumentParams) -> None:
        doc = params.text_document
        try:
            document = ls.documents.open(doc.uri, doc.language_id, doc.version, doc.text)
        except CopilotError as exc:
            log.error("%s", exc)
            return
        if ls.pipeline:
            ls.pipeline.opened(document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: CopilotServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        started = time.perf_counter()
        changes = convert.changes(params.content_changes)
        try:
            document = ls.documents.get(uri)
            applied = document.apply(changes, params.text_document.version, ls.encoding)
            ls.next_edits.changed(document.uri, applied, document.version)
            ls.sync_ms[document.uri] = (time.perf_counter() - started) * 1000
        except CopilotError as exc:
            log.error("%s", exc)
            ls.documents.close(uri)  # out of step with the editor: forget it until it is reopened
            return
        if ls.pipeline:
            ls.pipeline.changed(document.uri, changes)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: CopilotServer, params: types.DidCloseTextDocumentParams) -> None:
        closed = ls.documents.close(params.text_document.uri)
        uri = closed.uri if closed is not None else params.text_document.uri
        ls.sync_ms.pop(uri, None)
        ls.next_edits.forget(uri)
        if ls.pipeline:
            ls.pipeline.forget(uri)

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(ls: CopilotServer, params: types.InlineCompletionParams) -> types.InlineCompletionList:
        if ls.pipeline is None:
            return convert.inline_items("", params.position)
        try:
            document = ls.documents.get(params.text_document.uri)
            snapshot = document.snapshot(convert.position(params.position), ls.encoding)
        except CopilotError as exc:
            log.warning("%s", exc)
            return convert.inline_items("", params.position)
        result = await ls.answer(document, snapshot)
        ls.report_alerts()
        if not result.text and (edit := await nextedit.inline_item(ls, document, snapshot.offset)) is not None:
            return edit  # the next-edit model's edit of this line, extending what is typed
        return convert.inline_items(result.text, params.position, result.request_id)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(ls: CopilotServer, params: types.DidChangeConfigurationParams) -> None:
        ls.apply_settings(params.settings)

    @server.feature(EVENT_METHOD)
    def completion_event(ls: CopilotServer, params: Any) -> None:
        """``{"requestId": int, "event": "shown"|"accepted"|"partial"|"dismissed", "acceptedChars": int}``"""
        request_id = getattr(params, "requestId", None)
        event = getattr(params, "event", None)
        chars = getattr(params, "acceptedChars", 0)
        if ls.pipeline is None:
            return
        if not isinstance(request_id, int) or not isinstance(event, str) or not isinstance(chars, int):
            ls.pipeline.metrics.counts["events_malformed"] += 1
            log.debug("ignoring a malformed %s: %s", EVENT_METHOD, params)
            return
        ls.pipeline.metrics.editor_event(request_id, event, chars)

    @server.command(convert.ACCEPT_COMMAND)
    def accepted(ls: CopilotServer, *arguments: Any) -> None:
        """The inline completion item's command (LSP 3.18): the client ran it on accept."""
        if ls.pipeline is not None and arguments and isinstance(arguments[0], int):
            ls.pipeline.metrics.editor_event(arguments[0], "accepted")

    @server.feature(GENERATE_METHOD)
    async def generate(ls: CopilotServer, params: Any) -> dict[str, Any]:
        """``{"textDocument": {"uri"}, "position"}`` -> ``{"requestId", "text", "route", "reason"}``.
        The local model's text streams first as ``copilot/partialCompletion``; when the remote
        model answers, its text replaces it (the same request id) and is the result."""
        found = ls.at_position(params, GENERATE_METHOD)
        if isinstance(found, str) or ls.pipeline is None:
            return {"error": found or "the server is not initialized"}
        result = await ls.answer(*found, explicit=True)
        route = "remote" if result.source == "remote" else "local" if result.source == "model" else result.source
        return {"requestId": result.request_id, "text": result.text, "route": route, "reason": result.reason}

    @server.feature(INSPECT_METHOD)
    def inspect_context(ls: CopilotServer, params: Any) -> dict[str, Any]:
        """``{"textDocument": {"uri"}, "position": {"line", "character"}}`` -> the context
        candidates (scores, reasons, chosen or not) and the prompt, as `copilot-lsp context`."""
        found = ls.at_position(params, INSPECT_METHOD)
        if isinstance(found, str) or ls.pipeline is None:
            return {"error": found or "the server is not initialized"}
        try:
            report: dict[str, Any] = msgspec.to_builtins(ls.pipeline.inspect(found[1]))
            return report
        except CopilotError as exc:
            return {"error": str(exc)}

    @server.feature(STATS_METHOD)
    def stats(ls: CopilotServer, params: Any) -> dict[str, Any]:
        """The statistics (see README), with the last ``recent`` request records (default 20)."""
        recent = getattr(params, "recent", 20) if params is not None else 20
        return ls.statistics(recent if isinstance(recent, int) else 20)

    return server
