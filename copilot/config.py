"""Configuration: one typed tree, built from layers (TOML file, then the editor's options,
then its configuration changes).

Each layer is a nested mapping with the same shape as :class:`Config`. A layer with an
unknown key or a wrong type is rejected whole, with one message naming the key, and the
remaining layers still apply.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

from . import paths
from .errors import ConfigError

log = logging.getLogger(__name__)


class ModelSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    path: str = ""  # "" selects the embedded default model
    n_ctx: int = 2048
    n_threads: int = 0  # 0: one per physical core, at most 8
    n_gpu_layers: int = 0  # -1: all layers on the GPU (CUDA builds)
    kv_slots: int = 4  # documents whose KV state is kept side by side
    saved_states_mb: int = 256  # copies of the KV state of documents pushed out of a slot; 0: none


class SpeculativeSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    lookup: bool = True  # draft from n-grams of the prompt and the text so far
    draft_model: str = ""  # a small GGUF with the model's vocabulary; "" for none
    max_draft: int = 8  # tokens per draft, at most
    draft_min_confidence: float = 0.0  # the draft model stops at a guess it gives less probability; 0: never
    min_acceptance: float = 0.3  # below this running acceptance a drafter is only probed


class CompletionSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    max_tokens: int = 64
    max_lines: int = 4  # for a block (after a header, in an empty body); otherwise one line. 0: no limit
    prompt_tokens: int = 1024  # budget for prefix + suffix
    suffix_share: float = 0.25  # of the budget, at most
    debounce_ms: float = 75.0  # the longest wait for a pause in typing before the model runs; 0: none
    max_prefill_ms: float = 500.0  # then the request answers empty; the evaluated prompt stays cached
    max_decode_ms: float = 1000.0  # then the text so far is the answer


class ContextSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    crossfile_share: float = 0.3  # of the prompt budget, at most, for snippets from outside the local window
    snippet_format: Literal["auto", "repo", "comments"] = "auto"  # auto: repo-level tokens when the model knows them
    workspace_index: bool = True  # index the definitions of the workspace's files in the background
    index_max_files: int = 20000
    max_file_kb: int = 1024  # larger files are not indexed, and larger open documents are no context for others
    recent_files: int = 20  # recently used documents searched for similar code
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
    connect_timeout_ms: float = 500.0
    read_timeout_ms: float = 2000.0  # between two bytes of the answer
    inline_timeout_ms: float = 1500.0  # a whole escalated inline completion, retries included
    generate_timeout_ms: float = 8000.0  # a whole explicit generation (copilot/generate)
    retries: int = 2  # only where a retry can still arrive in time
    max_tokens: int = 256
    prefix_chars: int = 8000  # of the text before the cursor sent (whole lines); fit the remote model's context
    suffix_chars: int = 2000  # ... and after it
    price_input_per_mtok: float = 0.0  # per million tokens, in your currency: for cost accounting
    price_output_per_mtok: float = 0.0
    requests_per_minute: float = 60.0  # token bucket; 0: no limit
    max_tokens_per_hour: int = 0  # 0: no limit
    max_tokens_per_day: int = 0
    max_cost_per_day: float = 0.0
    breaker_failures: int = 5  # consecutive failures that open the circuit breaker
    breaker_reset_s: float = 30.0  # then one probe request after this long
    min_confidence: float = -1.0  # local answers with a lower mean log-probability go remote
    escalate_blocks: bool = True  # a multi-line block at an empty body goes remote
    allow_workspaces: list[str] = []  # glob patterns of workspace folders that may use it; empty: all
    deny_workspaces: list[str] = []  # ... that never may (wins over allow)


class CacheSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    enabled: bool = True
    dir: str = ""  # "" selects $XDG_CACHE_HOME/copilot-lsp/completions
    max_size_mb: int = 256
    memory_entries: int = 4096
    prefetch: bool = True  # compute the completion after the one shown while the worker is idle


class MonitoringSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    prometheus_port: int = 0  # serve Prometheus metrics on 127.0.0.1 at this port; 0: off
    latency_target_ms: float = 500.0  # p95 of model answers over the recent window; 0: no target
    cost_budget_per_day: float = 0.0  # estimated remote cost; 0: no budget


class LogSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    level: Literal["debug", "info", "warning", "error"] = "info"
    file: str = ""  # "" logs to stderr


class Config(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    model: ModelSettings = ModelSettings()
    completion: CompletionSettings = CompletionSettings()
    context: ContextSettings = ContextSettings()
    cache: CacheSettings = CacheSettings()
    speculative: SpeculativeSettings = SpeculativeSettings()
    remote: RemoteSettings = RemoteSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    log: LogSettings = LogSettings()


def _merge(base: dict[str, Any], layer: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in layer.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def apply_layer(config: Config, layer: Mapping[str, Any] | None, source: str) -> Config:
    """``config`` with ``layer`` on top; raises ConfigError naming the bad key."""
    if not layer:
        return config
    merged = _merge(msgspec.to_builtins(config), layer)
    try:
        return msgspec.convert(merged, Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {exc}; ignoring these settings") from None


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}; ignoring this file") from None


def load(path: Path | None = None) -> Config:
    """Defaults with the TOML file on top; a bad file is logged once and skipped."""
    file = path or paths.config_file()
    try:
        return apply_layer(Config(), read_toml(file), str(file))
    except ConfigError as exc:
        log.error("%s", exc)
        return Config()
