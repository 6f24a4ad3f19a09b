"""Installation checks behind ``copilot-lsp doctor``: each says what is wrong and what to do."""

from __future__ import annotations

import tempfile
from pathlib import Path

import msgspec

from . import paths
from .config import Config
from .errors import CopilotError
from .languages import GRAMMARS, load_grammar


class Check(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    ok: bool
    detail: str
    fix: str = ""


def check_model(config: Config) -> list[Check]:
    from .inference.engine import LocalEngine
    from .inference.vocabulary import Vocabulary

    path = paths.model_path(config)
    fix = "set model.path in the config to a GGUF code model, or leave it empty for the embedded default"
    try:
        vocabulary = Vocabulary(path)
    except CopilotError as exc:
        return [Check(name="model", ok=False, detail=str(exc), fix=fix)]
    checks = [
        Check(
            name="model",
            ok=True,
            detail=f"{path} (FIM tokens {vocabulary.fim.prefix}/{vocabulary.fim.suffix}/{vocabulary.fim.middle})",
        )
    ]
    engine = LocalEngine(vocabulary, config.model)
    engine.start()
    try:
        engine.wait_ready()
        checks.append(Check(name="model weights", ok=True, detail="loaded by llama.cpp"))
    except CopilotError as exc:
        checks.append(Check(name="model weights", ok=False, detail=str(exc), fix=fix))
    finally:
        engine.stop()
    return checks


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
    from .cache.store import check_files

    problem = check_files(directory)
    if problem:
        return Check(
            name="cache",
            ok=False,
            detail=f"{directory} is {problem}",
            fix="nothing to do: the server rebuilds it on its next start (or: copilot-lsp cache clear)",
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


def run_checks(config: Config, config_file: Path) -> list[Check]:
    return [check_config(config_file), *check_model(config), check_cache(config), check_grammars()]


def check_config(path: Path) -> Check:
    from .config import apply_layer, read_toml

    if not path.exists():
        return Check(name="config", ok=True, detail=f"{path} not found: using defaults")
    try:
        apply_layer(Config(), read_toml(path), str(path))
    except CopilotError as exc:
        return Check(name="config", ok=False, detail=str(exc), fix="fix or remove the key (README: Configuration)")
    return Check(name="config", ok=True, detail=str(path))
