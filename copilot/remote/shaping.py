"""What is sent to the remote model, and what it costs.

Only the text around the cursor (whole lines, at most ``remote.prefix_chars`` before and
``remote.suffix_chars`` after) and the context snippets already chosen for the local
prompt leave the machine, with strings that look like secrets masked.
"""

from __future__ import annotations

from ..config import RemoteSettings
from ..context.privacy import mask_secrets
from .backend import RemoteRequest


def shape_request(
    settings: RemoteSettings,
    prefix: str,
    suffix: str,
    path: str,
    language: str,
    snippets: list[tuple[str, str]],
    max_lines: int,
) -> RemoteRequest:
    """The request for the text around the cursor; ``snippets`` are (path, text) pairs."""
    head = prefix[-settings.prefix_chars :] if settings.prefix_chars else ""
    if len(head) < len(prefix) and "\n" in head:
        head = head[head.index("\n") + 1 :]  # whole lines
    return RemoteRequest(
        prefix=mask_secrets(head)[0],
        suffix=mask_secrets(suffix[: settings.suffix_chars])[0],
        path=path,
        language=language,
        snippets=snippets,
        max_tokens=settings.max_tokens,
        max_lines=max_lines,
    )


def estimated_cost(settings: RemoteSettings, prompt_tokens: float, completion_tokens: float) -> float:
    """The price of a request of this size at the remote model's prices (per million tokens)."""
    return (prompt_tokens * settings.price_input_per_mtok + completion_tokens * settings.price_output_per_mtok) / 1e6
