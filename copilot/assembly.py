"""Assemble the pipeline from a configuration: the model, the cache and the metrics.

A model or cache that cannot be opened is logged once; the pipeline then answers with
nothing (no model) or works uncached (no cache), and ``copilot-lsp doctor`` explains why.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import NamedTuple

from . import paths
from .cache import open_cache
from .config import Config, ModelSettings, SpeculativeSettings
from .context.retrieval import Retriever
from .documents import DocumentStore
from .errors import ModelError
from .inference.engine import LocalEngine, open_engine
from .nextedit.model import ModelEdits
from .pipeline import Pipeline
from .remote.backend import RemoteBackend
from .remote.escalation import Escalation, template_for

log = logging.getLogger(__name__)


class SharedEngines:
    """The engines of one process, one per model configuration, shared by every editor
    session using that configuration (counted: the last session to leave stops it, unless
    the process keeps it ``pinned`` for the next one)."""

    def __init__(self, pinned: bool = False) -> None:
        self.pinned = pinned
        self._lock = threading.Lock()
        self._engines: dict[EngineKey, tuple[LocalEngine, int]] = {}

    def acquire(self, config: Config) -> LocalEngine:
        """The engine for ``config``'s model settings; ModelError when the model cannot be used."""
        return self.acquire_key(EngineKey(paths.model_path(config), config.model, config.speculative))

    def acquire_key(self, key: EngineKey) -> LocalEngine:
        with self._lock:
            engine, users = self._engines.get(key, (None, 0))
            if engine is None:
                engine = open_engine(key.path, key.model, key.speculative)
            self._engines[key] = (engine, users + 1)
            return engine

    def release(self, engine: LocalEngine) -> None:
        with self._lock:
            for key, (held, users) in list(self._engines.items()):
                if held is engine:
                    if users > 1 or self.pinned:
                        self._engines[key] = (held, users - 1)
                    else:
                        del self._engines[key]
                        engine.stop()

    def engines(self) -> list[tuple[LocalEngine, int]]:
        """Each engine with how many sessions use it."""
        with self._lock:
            return list(self._engines.values())

    def stop_all(self) -> None:
        with self._lock:
            for engine, _ in self._engines.values():
                engine.stop()
            self._engines.clear()


class EngineKey(NamedTuple):
    path: Path
    model: ModelSettings
    speculative: SpeculativeSettings


def build_pipeline(
    config: Config,
    documents: DocumentStore | None = None,
    root: Path | None = None,
    shared: SharedEngines | None = None,
    session: str = "",
) -> Pipeline:
    """With ``documents`` (the open documents), prompts get context from outside the local
    window: from those documents and, given a workspace ``root``, from its files. With
    ``shared``, the model is the process's engine for this configuration (``session`` names
    this pipeline's KV sequences in it); otherwise the pipeline has an engine of its own."""
    engine, error = None, ""
    try:
        if shared is not None:
            engine = shared.acquire(config)
        else:
            engine = open_engine(paths.model_path(config), config.model, config.speculative)
    except ModelError as exc:
        error = f"{exc} (run `copilot-lsp doctor`)"
        log.error("no completions: %s", error)
    settings = config.cache
    cache = open_cache(
        paths.completion_cache_dir(config) if settings.enabled else None,
        settings.max_size_mb,
        settings.memory_entries if settings.enabled else 0,
    )
    escalation = open_escalation(config, root)
    next_edit = open_next_edit(config, shared, session, defer_to=engine)
    retriever = None
    if engine is not None and documents is not None:
        vocabulary = engine.vocabulary
        retriever = Retriever(documents, config.context, root, vocabulary.encode, vocabulary.fim, vocabulary.repo_level)
        retriever.start()
    on_close = None
    if shared is not None:
        held = [e for e in (engine, next_edit.engine if next_edit is not None else None) if e is not None]

        def on_close() -> None:
            for each in held:
                shared.release(each)

    return Pipeline(
        config,
        engine,
        cache,
        engine_error=error,
        retriever=retriever,
        escalation=escalation,
        session=session,
        on_close=on_close,
        next_edit=next_edit,
    )


def next_edit_key(config: Config) -> EngineKey | None:
    """The next-edit model's engine settings: its own context, two sequences (it rewrites
    for one document at a time per editor), prompt-lookup drafts; None without one."""
    path = paths.next_edit_model_path(config)
    if path is None or not config.next_edit.enabled:
        return None
    model = ModelSettings(
        path=str(path),
        n_ctx=config.next_edit.n_ctx,
        n_threads=config.model.n_threads,
        n_gpu_layers=config.model.n_gpu_layers,
        kv_slots=2,
    )
    return EngineKey(path, model, SpeculativeSettings(lookup=True))


def open_next_edit(
    config: Config, shared: SharedEngines | None, session: str, defer_to: LocalEngine | None = None
) -> ModelEdits | None:
    """The next-edit model when ``next_edit.model`` names one; else None (logged when it
    cannot be used: the edits that repeat the last one are found without it, and `doctor`
    says why)."""
    key = next_edit_key(config)
    if key is None:
        return None
    if not key.path.is_file():
        log.error("no next-edit model: next_edit.model %r: no such file %s", config.next_edit.model, key.path)
        return None
    engine: LocalEngine | None = None
    try:
        engine = shared.acquire_key(key) if shared is not None else open_engine(key.path, key.model, key.speculative)
        model = ModelEdits(engine, config.next_edit, session, defer_to=defer_to)
        model.check()
    except ModelError as exc:
        log.error("no next-edit model: %s", exc)
        if engine is not None:
            shared.release(engine) if shared is not None else engine.stop()
        return None
    log.info("next-edit model %s", key.path.name)
    return model


def open_escalation(config: Config, root: Path | None) -> Escalation | None:
    """The remote route, when the user enabled and configured one (never otherwise: no
    connection is made to anything while it is off)."""
    settings = config.remote
    if not settings.enabled:
        return None
    if not settings.base_url or not settings.model:
        log.error("remote.enabled is set but remote.base_url or remote.model is empty: the remote model stays off")
        return None
    template = template_for(settings) if settings.api == "completions" else None
    backend = RemoteBackend(settings, template, repo=root.name if root is not None else "workspace")
    log.info(
        "remote model %s at %s (%s API, %s template) for complex requests",
        settings.model,
        settings.base_url,
        settings.api,
        "the server's" if template is None and settings.api == "completions" else settings.template,
    )
    return Escalation(settings, backend, root)
