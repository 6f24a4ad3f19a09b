"""Assemble the pipeline from a configuration: the model, the cache and the metrics.

A model or cache that cannot be opened is logged once; the pipeline then answers with
nothing (no model) or works uncached (no cache), and ``copilot-lsp doctor`` explains why.
"""

from __future__ import annotations

import logging
from pathlib import Path

from . import paths
from .cache import open_cache
from .config import Config
from .context.retrieval import Retriever
from .documents import DocumentStore
from .errors import ModelError
from .inference.engine import open_engine
from .pipeline import Pipeline
from .remote.backend import RemoteBackend
from .remote.escalation import Escalation, template_for

log = logging.getLogger(__name__)


def build_pipeline(config: Config, documents: DocumentStore | None = None, root: Path | None = None) -> Pipeline:
    """With ``documents`` (the open documents), prompts get context from outside the local
    window: from those documents and, given a workspace ``root``, from its files."""
    engine, error = None, ""
    try:
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
    retriever = None
    if engine is not None and documents is not None:
        vocabulary = engine.vocabulary
        retriever = Retriever(documents, config.context, root, vocabulary.encode, vocabulary.fim, vocabulary.repo_level)
        retriever.start()
    return Pipeline(config, engine, cache, engine_error=error, retriever=retriever, escalation=escalation)


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
