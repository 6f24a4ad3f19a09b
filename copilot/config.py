"""Configuration: one typed tree, built from layers (TOML file, then the editor's options,
then its configuration changes).

Each layer is a nested mapping with the same shape as :class:`Config`. Each key is checked
on its own (``copilot.config_check``): valid keys apply, and a bad one (unknown, wrong type,
out of range) keeps the value the layers before it gave and is reported as a
:class:`Problem` with its source, dotted key, line and what was expected. Ranges sit on the
fields (``msgspec.Meta``); the one rule across tables (``model.n_ctx`` must hold a prompt and
``completion.max_tokens``) is :func:`_check_context`.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from . import paths
from .config_check import Problem as Problem  # re-exported: the server and doctor report them
from .config_check import apply_tables, key_lines, line_of, show
from .errors import ConfigError

log = logging.getLogger(__name__)

# The smallest prompt the pipeline makes and the FIM marker tokens (with one spare) it adds
# (copilot/pipeline/prompting.py sizes its budget with both). model.n_ctx must hold them and
# completion.max_tokens.
MIN_PROMPT_TOKENS = 16
PROMPT_MARGIN = 4

Count = Annotated[int, msgspec.Meta(ge=1)]  # sizes and counts where 0 means nothing
Limit = Annotated[int, msgspec.Meta(ge=0)]  # ... where 0 means off, none or no limit
Amount = Annotated[float, msgspec.Meta(ge=0)]  # times, prices and rates, where 0 means none or no limit
Timeout = Annotated[float, msgspec.Meta(gt=0)]
Share = Annotated[float, msgspec.Meta(ge=0, le=1)]  # shares and probabilities
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]


def minimum_n_ctx(max_tokens: int) -> int:
    """The smallest ``model.n_ctx`` that holds the smallest prompt and ``max_tokens``."""
    return max_tokens + MIN_PROMPT_TOKENS + PROMPT_MARGIN + 1


class ModelSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    path: str = ""  # "" selects the embedded default model
    n_ctx: int = 2048  # at least minimum_n_ctx(completion.max_tokens): _check_context
    n_threads: Limit = 0  # 0: one per physical core, at most 8
    n_gpu_layers: Annotated[int, msgspec.Meta(ge=-1)] = 0  # -1: all layers on the GPU (CUDA builds)
    kv_slots: Count = 8  # documents whose KV state is kept side by side; also generations decoded at once
    saved_states_mb: Limit = 256  # copies of the KV state of documents pushed out of a slot; 0: none


class SpeculativeSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    lookup: bool = True  # draft from n-grams of the prompt and the text so far
    draft_model: str = ""  # a small GGUF with the model's vocabulary; "" for none
    max_draft: Count = 8  # tokens per draft, at most
    draft_min_confidence: Share = 0.0  # the draft model stops at a guess it gives less probability; 0: never
    min_acceptance: Share = 0.3  # below this running acceptance a drafter is only probed


class CompletionSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    max_tokens: Count = 64
    max_lines: Limit = 4  # for a block (after a header, in an empty body); otherwise one line. 0: no limit
    prompt_tokens: Annotated[int, msgspec.Meta(ge=MIN_PROMPT_TOKENS)] = 1024  # budget for prefix + suffix
    suffix_share: Share = 0.25  # of the budget, at most
    debounce_ms: Amount = 75.0  # the longest wait for a pause in typing before the model runs; 0: none
    max_prefill_ms: Amount = 500.0  # then the request answers empty; the evaluated prompt stays cached
    max_decode_ms: Amount = 1000.0  # then the text so far is the answer


class ContextSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    crossfile_share: Share = 0.3  # of the prompt budget, at most, for snippets from outside the local window
    snippet_format: Literal["auto", "repo", "comments"] = "auto"  # auto: repo-level tokens when the model knows them
    workspace_index: bool = True  # index the definitions of the workspace's files in the background
    index_max_files: Limit = 20000
    max_file_kb: Count = 1024  # larger files are not indexed, and larger open documents are no context for others
    recent_files: Limit = 20  # recently used documents searched for similar code
    ignore: list[str] = []  # more gitignore-style patterns of files that never enter a prompt
    use_gitignore: bool = True  # files the workspace's .gitignore ignores never enter a prompt either
    mask_secrets: bool = True  # mask strings that look like keys and tokens in snippets from other files


class RemoteSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    enabled: bool = False  # nothing is ever sent anywhere until this is true and base_url is set
    base_url: str = ""  # an OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1
    model: str = ""  # the model name the server knows
    api: Literal["completions", "chat"] = "completions"  # chat: for instruct-only models
    template: str = "auto"  # FIM family from the model catalogue (qwen2_5_coder...); auto: from the model name
    api_key_env: str = ""  # the environment variable that holds the API key (never logged)
    headers: dict[str, str] = {}
    connect_timeout_ms: Timeout = 500.0
    read_timeout_ms: Timeout = 2000.0  # between two bytes of the answer
    inline_timeout_ms: Timeout = 1500.0  # a whole escalated inline completion, retries included
    generate_timeout_ms: Timeout = 8000.0  # a whole explicit generation (copilot/generate)
    retries: Limit = 2  # only where a retry can still arrive in time
    max_tokens: Count = 256
    prefix_chars: Limit = 8000  # of the text before the cursor sent (whole lines); fit the remote model's context
    suffix_chars: Limit = 2000  # ... and after it
    price_input_per_mtok: Amount = 0.0  # per million tokens, in your currency: for cost accounting
    price_output_per_mtok: Amount = 0.0
    requests_per_minute: Amount = 60.0  # token bucket; 0: no limit
    max_tokens_per_hour: Limit = 0  # 0: no limit
    max_tokens_per_day: Limit = 0
    max_cost_per_day: Amount = 0.0
    breaker_failures: Count = 5  # consecutive failures that open the circuit breaker
    breaker_reset_s: Amount = 30.0  # then one probe request after this long
    min_confidence: Annotated[
        float, msgspec.Meta(le=0)
    ] = -1.0  # local answers with a lower mean log-probability go remote
    escalate_blocks: bool = True  # a multi-line block at an empty body goes remote
    allow_workspaces: list[str] = []  # glob patterns of workspace folders that may use it; empty: all
    deny_workspaces: list[str] = []  # ... that never may (wins over allow)


class CacheSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    enabled: bool = True
    dir: str = ""  # "" selects $XDG_CACHE_HOME/copilot-lsp/completions
    max_size_mb: Count = 256
    memory_entries: Limit = 4096  # 0: no memory level
    prefetch: bool = True  # compute the completion after the one shown while the worker is idle


class MonitoringSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    prometheus_port: Port = 0  # serve Prometheus metrics on 127.0.0.1 at this port; 0: off
    latency_target_ms: Amount = 500.0  # p95 of model answers over the recent window; 0: no target
    cost_budget_per_day: Amount = 0.0  # estimated remote cost; 0: no budget


class LogSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    level: Literal["debug", "info", "warning", "error"] = "info"
    file: str = ""  # "" logs to stderr


class ServiceSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    enabled: bool = True  # stdio `serve` forwards to the user's model service; false: the whole server per window
    idle_shutdown_s: Annotated[float, msgspec.Meta(ge=5, le=86400)] = 600.0  # the service leaves after this long unused


class NextEditSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    enabled: bool = True  # answer textDocument/copilotInlineEdit: the edits that repeat the last one
    model: str = ""  # a next-edit model (Sweep format): a GGUF path or a catalogue name; "": none
    n_ctx: Count = 4096  # the next-edit model's context, tokens
    max_tokens: Count = 256  # of the model's rewrite of the lines around the cursor
    max_ms: Amount = 3000.0  # the model's whole answer, at most; 0: no limit


class Config(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    model: ModelSettings = ModelSettings()
    completion: CompletionSettings = CompletionSettings()
    context: ContextSettings = ContextSettings()
    cache: CacheSettings = CacheSettings()
    speculative: SpeculativeSettings = SpeculativeSettings()
    remote: RemoteSettings = RemoteSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    service: ServiceSettings = ServiceSettings()
    next_edit: NextEditSettings = NextEditSettings()
    log: LogSettings = LogSettings()


class Layered(msgspec.Struct, frozen=True):
    """A configuration and what was wrong in the layers that made it."""

    config: Config
    problems: list[Problem]


def apply(config: Config, layer: object, source: str, text: str = "") -> Layered:
    """``config`` with ``layer`` on top: each valid key applies, each bad one keeps its value
    in ``config`` and is a problem. ``text``: the TOML the layer was read from (for lines)."""
    if not layer:  # none, or empty: Neovim sends an empty Lua table as a JSON array
        return Layered(config, [])
    if not isinstance(layer, Mapping):
        message = f"expected an object of tables (the shape of config.toml), got {show(layer)}; ignored"
        return Layered(config, [Problem(source=source, message=message)])
    lines = key_lines(text) if text else {}
    updated, problems, applied = apply_tables(config, layer, source, lines)
    updated, context_problems = _check_context(config, updated, applied, source, lines)
    return Layered(updated, sorted(problems + context_problems, key=lambda problem: problem.line))


def _check_context(
    before: Config, after: Config, applied: set[str], source: str, lines: dict[str, int]
) -> tuple[Config, list[Problem]]:
    """``model.n_ctx`` must hold the smallest prompt and ``completion.max_tokens``; when the
    layer broke that, the keys it set keep their values from ``before``."""
    n_ctx, max_tokens = after.model.n_ctx, after.completion.max_tokens
    needed = minimum_n_ctx(max_tokens)
    set_ctx, set_tokens = "model.n_ctx" in applied, "completion.max_tokens" in applied
    if n_ctx >= needed or not (set_ctx or set_tokens):
        return after, []
    prompt = MIN_PROMPT_TOKENS + PROMPT_MARGIN  # the smallest prompt, FIM markers included
    if set_ctx:
        key, value, kept = "model.n_ctx", n_ctx, before.model.n_ctx
        expected = f"an integer >= {needed}"
        why = f"a prompt of at least {prompt} tokens and completion.max_tokens = {max_tokens}"
    else:
        key, value, kept = "completion.max_tokens", max_tokens, before.completion.max_tokens
        expected = f"an integer from 1 to {n_ctx - minimum_n_ctx(0)}"
        why = f"model.n_ctx = {n_ctx} also holds a prompt of at least {prompt} tokens"
    problem = Problem(
        source=source,
        key=key,
        line=line_of(lines, key),
        value=show(value),
        message=f"expected {expected} ({why}); keeping {kept}",
        expected=expected,
    )
    model = msgspec.structs.replace(after.model, n_ctx=before.model.n_ctx) if set_ctx else after.model
    completion = (
        msgspec.structs.replace(after.completion, max_tokens=before.completion.max_tokens)
        if set_tokens
        else after.completion
    )
    return msgspec.structs.replace(after, model=model, completion=completion), [problem]


def apply_layer(config: Config, layer: Mapping[str, Any] | None, source: str) -> Config:
    """``config`` with ``layer`` on top, for settings made in code (benchmarks, tests): any
    problem raises ConfigError naming them all."""
    layered = apply(config, layer, source)
    if layered.problems:
        raise ConfigError("; ".join(str(problem) for problem in layered.problems))
    return layered.config


def load_file(path: Path | None = None) -> Layered:
    """Defaults with the TOML file on top (no file: the defaults). A file that cannot be
    read or parsed is skipped whole, with one problem saying where."""
    file = path or paths.config_file()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Layered(Config(), [])
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        return Layered(Config(), [Problem(source=str(file), message=f"cannot read it ({reason}); ignoring this file")])
    try:
        layer = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        at = re.search(r"at line (\d+)", str(exc))
        problem = Problem(
            source=str(file), line=int(at.group(1)) if at else 0, message=f"not valid TOML ({exc}); ignoring this file"
        )
        return Layered(Config(), [problem])
    return apply(Config(), layer, str(file), text)


def log_problems(problems: Iterable[Problem]) -> None:
    for problem in problems:
        log.warning("%s", problem)


def load(path: Path | None = None) -> Config:
    """Defaults with the TOML file on top; each problem in it is logged once."""
    layered = load_file(path)
    log_problems(layered.problems)
    return layered.config
