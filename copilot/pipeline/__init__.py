"""The completion pipeline: one ``Request`` object per request (``request``) goes through
the tiers of ``Pipeline`` (``completion``), cheapest first; ``prompting`` builds its prompt,
``debounce`` decides how long a cache miss waits for typing to pause."""

from .completion import CompletionResult, Pipeline
from .prompting import ContextReport, Prompt, PromptBuilder, common_prefix

__all__ = ["CompletionResult", "ContextReport", "Pipeline", "Prompt", "PromptBuilder", "common_prefix"]
