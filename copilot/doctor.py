"""Installation checks behind ``copilot-lsp doctor``: each says what is wrong and what to do."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from . import paths
from .config import Config, Problem, load_file, minimum_n_ctx
from .config_check import show
from .errors import CopilotError
from .languages import GRAMMARS, load_grammar

if TYPE_CHECKING:
    from .inference.gguf_info import TokenizerIdentity


class Check(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    ok: bool
    detail: str
    fix: str = ""
    warning: bool = False  # works, at a cost the detail names


def check_model(config: Config) -> list[Check]:
    from .inference.engine import LocalEngine
    from .inference.vocabulary import Vocabulary

    path = paths.model_path(config)
    fix = "set model.path in the config to a GGUF code model, or leave it empty for the embedded default"
    try:
        vocabulary = Vocabulary(path)
    except CopilotError as exc:
        return [Check(name="model", ok=False, detail=str(exc), fix=fix), *check_draft(config, None)]
    checks = [
        Check(
            name="model",
            ok=True,
            detail=f"{path} (FIM tokens {vocabulary.fim.prefix}/{vocabulary.fim.suffix}/{vocabulary.fim.middle})",
        )
    ]
    checks += [Check(name="tokenizer", ok=True, warning=True, detail=warning) for warning in vocabulary.warnings]
    engine = LocalEngine(vocabulary, config.model)
    engine.start()
    try:
        engine.wait_ready()
        checks.append(Check(name="model weights", ok=True, detail="loaded by llama.cpp"))
    except CopilotError as exc:
        if str(exc).startswith("cannot create a llama.cpp context"):  # the weights loaded; the KV cache did not fit
            fix = (
                f"lower model.n_ctx ({config.model.n_ctx}) or model.kv_slots ({config.model.kv_slots}): "
                "the context holds kv_slots x n_ctx tokens"
            )
        checks.append(Check(name="model weights", ok=False, detail=str(exc), fix=fix))
    finally:
        engine.stop()
    return [*checks, *check_context(config, vocabulary.path.name, engine.n_ctx), *check_draft(config, vocabulary)]


def check_context(config: Config, model: str, n_ctx: int) -> list[Check]:
    """The context the engine uses (model.n_ctx, at most what the model was trained for)
    must hold a prompt and completion.max_tokens; the config check already caught a
    model.n_ctx too small, so this fails only for a model trained on a shorter context."""
    max_tokens = config.completion.max_tokens
    if n_ctx >= minimum_n_ctx(max_tokens):
        return []
    return [
        Check(
            name="context",
            ok=False,
            detail=f"{model} was trained for {n_ctx} tokens: too few for completion.max_tokens = {max_tokens}",
            fix=f"lower completion.max_tokens to at most {n_ctx - minimum_n_ctx(0)}, or use a model with more context",
        )
    ]


def check_draft(config: Config, target: TokenizerIdentity | None) -> list[Check]:
    """``speculative.draft_model``, when set: a GGUF whose tokens are the model's."""
    from .inference.gguf_info import draft_mismatch, read_info

    if not config.speculative.draft_model:
        return []
    path = Path(config.speculative.draft_model).expanduser()
    fix = (
        'set speculative.draft_model to a small GGUF of the model\'s family ("copilot-lsp models list" shows '
        'which have one), or to "" for none'
    )
    try:
        info = read_info(path)
    except CopilotError as exc:
        return [Check(name="draft model", ok=False, detail=str(exc), fix=fix)]
    if target is None:
        return [Check(name="draft model", ok=True, detail=f"{path} (not compared: the model did not load)")]
    mismatch = draft_mismatch(target, info)
    if mismatch:
        return [Check(name="draft model", ok=False, detail=f"{path} cannot draft for the model: {mismatch}", fix=fix)]
    return [Check(name="draft model", ok=True, detail=f"{path} ({info.name}, the model's tokens)")]


def check_next_edit(config: Config) -> Check:
    """Next-edit suggestions: propagation always; the model part only with a next-edit model."""
    from .inference.vocabulary import Vocabulary

    settings = config.next_edit
    if not settings.enabled:
        return Check(name="next edits", ok=True, detail="off (next_edit.enabled = false)")
    path = paths.next_edit_model_path(config)
    pull = "copilot-lsp models pull sweep-next-edit-0.5b, then next_edit.model = \"sweep-next-edit-0.5b\""
    if path is None:
        detail = f"renames and repeated changes only: no next-edit model (next_edit.model); for one: {pull}"
        return Check(name="next edits", ok=True, detail=detail)
    fix = f"set next_edit.model to a next-edit GGUF of the Sweep format, or to \"\" for none ({pull})"
    try:
        vocabulary = Vocabulary(path)
    except CopilotError as exc:
        return Check(name="next edits", ok=False, detail=f"next_edit.model: {exc}", fix=fix)
    if vocabulary.fim.file_sep < 0:
        detail = f"{path} has no <|file_sep|> token: not a next-edit model of the Sweep format"
        return Check(name="next edits", ok=False, detail=detail, fix=fix)
    return Check(name="next edits", ok=True, detail=f"renames, repeated changes and the model {path}")


def check_cache(config: Config) -> Check:
    if not config.cache.enabled:
        return Check(name="cache", ok=True, detail="disabled by cache.enabled = false")
    directory = paths.completion_cache_dir(config)
    fix = f"make {directory} writable, or set cache.dir to a writable folder (or cache.enabled = false)"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory):
            pass
    except OSError as exc:
        return Check(name="cache", ok=False, detail=f"{directory} is not writable: {exc.strerror}", fix=fix)
    from .cache.verify import verify

    finding = verify(directory)  # the full check, in a child process that may crash
    if finding.problem:
        return Check(
            name="cache",
            ok=False,
            detail=f"{directory} is {finding.problem}",
            fix="nothing to do: the server rebuilds it on its next start (or: copilot-lsp cache clear)"
            if finding.corrupt
            else f"make the files in {directory} readable and writable (or: copilot-lsp cache clear)",
        )
    return Check(name="cache", ok=True, detail=f"{directory} is writable")


def check_grammars() -> Check:
    missing = []
    for language in GRAMMARS:
        try:
            load_grammar(language)
        except (ImportError, AttributeError, ValueError) as exc:
            missing.append(f"{language} ({exc})")
    if missing:
        return Check(
            name="grammars",
            ok=False,
            detail="missing: " + ", ".join(missing),
            fix="reinstall the package: pip install --force-reinstall copilot-lsp",
        )
    return Check(name="grammars", ok=True, detail=f"{len(GRAMMARS)} tree-sitter grammars")


def check_log(config: Config) -> list[Check]:
    """``log.file``, when set: its folder exists and is writable (else the log goes to stderr)."""
    if not config.log.file:
        return []
    file = Path(os.path.expanduser(config.log.file))
    folder = file.parent
    if not folder.exists():
        problem, remedy = f"{folder} does not exist", f"create {folder}"
    elif not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        problem, remedy = f"{folder} is not a writable folder", f"make {folder} writable"
    elif file.exists() and not os.access(file, os.W_OK):
        problem, remedy = f"{file} is not writable", f"make {file} writable"
    else:
        return [Check(name="log", ok=True, detail=str(file))]
    return [
        Check(
            name="log",
            ok=False,
            detail=f"log.file {config.log.file}: {problem} (the log goes to stderr)",
            fix=f'{remedy}, or set log.file to a file in a writable folder (or "" for stderr)',
        )
    ]


def run_checks(config: Config, config_file: Path) -> list[Check]:
    return [
        *check_config(config_file),
        *check_model(config),
        check_next_edit(config),
        check_cache(config),
        *check_log(config),
        check_grammars(),
        recommend_model(config),
    ]


def recommend_model(config: Config) -> Check:
    """The catalogue size that suits this machine (advice: never a failure)."""
    from .inference.catalogue import models
    from .inference.sizing import GIB, recommend, this_machine

    advice = recommend(this_machine(), models())
    if not advice.model:
        return Check(name="model size", ok=True, detail=advice.note)
    detail = f"for this machine: {advice.model} ({advice.memory_bytes / GIB:.1f} GiB with its draft); {advice.note}"
    fix = ""
    if not config.model.path:  # still on the embedded placeholder
        fix = f"copilot-lsp models pull {advice.model} && copilot-lsp models use {advice.model}"
    return Check(name="model size", ok=True, detail=detail, fix=fix)


def check_config(path: Path) -> list[Check]:
    """Every problem of the config file, each with its fix."""
    if not path.exists():
        return [Check(name="config", ok=True, detail=f"{path} not found: using defaults")]
    problems = load_file(path).problems
    if not problems:
        return [Check(name="config", ok=True, detail=str(path))]
    return [Check(name="config", ok=False, detail=str(problem), fix=_fix(problem)) for problem in problems]


def _fix(problem: Problem) -> str:
    if problem.suggestion:
        table, _, key = problem.suggestion.rpartition(".")
        return f"write it as {key} under [{table}]" if table else f"rename the table to [{key}]"
    if problem.expected:
        table, _, key = problem.key.partition(".")
        default = getattr(getattr(Config(), table, None), key, None)
        tail = f" ({show(default)})" if default is not None else ""
        return f"set {problem.key} to {problem.expected}, or remove it for the default{tail}"
    if problem.key:
        return "remove it (README, Configuration, lists every key)"
    return f"fix line {problem.line} of the file" if problem.line else "make it a readable UTF-8 TOML file"
