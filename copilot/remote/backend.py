"""A larger model on an OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp's server,
Ollama...): prompt, streaming, errors.

Two APIs: ``/v1/completions`` with the remote model's own fill-in-the-middle template
(from the model catalogue), and ``/v1/chat/completions`` for instruct-only models, asked to
fill a marked hole. Responses stream as server-sent events. One ``httpx.AsyncClient``
keeps connections alive between requests. Every failure becomes a ``RemoteError`` with a
``kind`` the retry policy and the circuit breaker understand; the API key is read from the
environment variable the configuration names and never logged.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import msgspec

from ..config import RemoteSettings
from ..errors import CopilotError

log = logging.getLogger(__name__)

CHAT_SYSTEM = (
    "You are a code completion engine. The user's file has a hole marked {hole}. Reply with only the code "
    "that belongs in the hole: no explanations, no code fences, nothing that is already before or after it."
)
HOLE = "<|HOLE|>"
FENCE = re.compile(r"^```[\w+-]*\n(.*?)(?:\n```\s*)?$", re.DOTALL)
CHARS_PER_TOKEN = 4  # to estimate tokens when a server reports no usage


class RemoteError(CopilotError):
    """A remote request failed. ``kind``: connect, tls, read_timeout, timeout, reset,
    protocol, auth, not_found, rate_limited, server, bad_request, bad_response."""

    def __init__(self, kind: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status


class Template(msgspec.Struct, frozen=True, kw_only=True):
    """A fill-in-the-middle template in text form (the server tokenizes special tokens)."""

    prefix: str
    suffix: str
    middle: str
    order: str = "psm"
    repo_name: str = ""
    file_sep: str = ""
    stop: list[str] = []


class RemoteRequest(msgspec.Struct, frozen=True, kw_only=True):
    prefix: str
    suffix: str
    path: str  # relative to the workspace, as the prompt shows it
    language: str
    snippets: list[tuple[str, str]] = []  # (path, text) from other files, already masked
    max_tokens: int = 128
    max_lines: int = 0  # 0: no limit (the server does not know lines: the client stops reading)


class RemoteResult(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    prompt_tokens: int
    completion_tokens: int
    first_token_ms: float
    total_ms: float


def fim_prompt(template: Template, request: RemoteRequest, repo: str) -> str:
    """The completion-API prompt: repository-level snippets when the family has the tokens,
    then the file in the family's PSM or SPM layout."""
    head = ""
    if template.file_sep:
        if template.repo_name:
            head += f"{template.repo_name}{repo}\n"
        for path, text in request.snippets:
            head += f"{template.file_sep}{path}\n{text}\n"
        head += f"{template.file_sep}{request.path}\n"
    else:
        for path, text in request.snippets:  # no file tokens: the snippets as a comment block
            head += "".join(f"# {line}\n" for line in [path, *text.split("\n")])
    if template.order == "spm":
        return f"{head}{template.suffix}{request.suffix}{template.prefix}{request.prefix}{template.middle}"
    return f"{head}{template.prefix}{request.prefix}{template.suffix}{request.suffix}{template.middle}"


def chat_messages(request: RemoteRequest) -> list[dict[str, str]]:
    context = "".join(f"File {path}:\n```\n{text}\n```\n\n" for path, text in request.snippets)
    body = f"{context}File {request.path} ({request.language}):\n```\n{request.prefix}{HOLE}{request.suffix}\n```"
    return [{"role": "system", "content": CHAT_SYSTEM.format(hole=HOLE)}, {"role": "user", "content": body}]


def unfenced(text: str) -> str:
    """Chat models like code fences even when asked not to."""
    match = FENCE.match(text.strip("\n"))
    return match.group(1) if match else text


class RemoteBackend:
    def __init__(
        self,
        settings: RemoteSettings,
        template: Template | None,
        repo: str = "workspace",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.template = template
        self.repo = repo
        headers = dict(settings.headers)
        if settings.api_key_env:
            key = os.environ.get(settings.api_key_env, "")
            if not key:
                log.warning("remote.api_key_env names %s, which is not set: sending no API key", settings.api_key_env)
            else:
                headers["Authorization"] = f"Bearer {key}"
        self._client = httpx.AsyncClient(
            base_url=settings.base_url.rstrip("/") + "/",
            headers=headers,
            transport=transport,
            timeout=httpx.Timeout(
                settings.read_timeout_ms / 1000, connect=settings.connect_timeout_ms / 1000, pool=1.0
            ),
            limits=httpx.Limits(max_keepalive_connections=4, max_connections=8),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    def body(self, request: RemoteRequest) -> tuple[str, dict[str, Any]]:
        """The endpoint and JSON body for ``request``."""
        common: dict[str, Any] = {
            "model": self.settings.model,
            "max_tokens": request.max_tokens,
            "temperature": 0,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if self.settings.api == "chat":
            return "chat/completions", {**common, "messages": chat_messages(request)}
        if self.template is None:  # the server applies the model's FIM template itself
            return "completions", {**common, "prompt": request.prefix, "suffix": request.suffix}
        body = {**common, "prompt": fim_prompt(self.template, request, self.repo)}
        if self.template.stop:
            body["stop"] = self.template.stop
        return "completions", body

    async def complete(
        self, request: RemoteRequest, timeout_s: float, on_text: Callable[[str], None] | None = None
    ) -> RemoteResult:
        """Stream one completion within ``timeout_s`` (connect, every read and the whole)."""
        endpoint, body = self.body(request)
        started = time.perf_counter()
        first_token_ms = 0.0
        text, usage = "", dict[str, Any]()
        try:
            timeouts = _timeouts(self.settings, timeout_s)
            async with self._client.stream("POST", endpoint, json=body, timeout=timeouts) as response:
                await _check_status(response)
                async for event in _events(response, started + timeout_s):
                    piece, found_usage = _piece(event, self.settings.api == "chat")
                    usage = found_usage or usage
                    if piece:
                        if not text:
                            first_token_ms = (time.perf_counter() - started) * 1000
                        text += piece
                        if on_text is not None:
                            on_text(text)
                        if request.max_lines and text.count("\n") >= request.max_lines:
                            break  # enough lines: stop reading, the server stops on disconnect
        except httpx.ConnectTimeout:
            raise RemoteError("connect", f"remote {self.settings.base_url}: no connection within the timeout") from None
        except httpx.ConnectError as exc:
            kind = "tls" if "SSL" in str(exc) or "certificate" in str(exc).lower() else "connect"
            raise RemoteError(kind, f"remote {self.settings.base_url}: cannot connect ({exc})") from None
        except httpx.TimeoutException as exc:
            message = f"remote {self.settings.base_url}: timed out ({type(exc).__name__})"
            raise RemoteError("read_timeout", message) from None
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise RemoteError("reset", f"remote {self.settings.base_url}: connection broken ({exc})") from None
        if self.settings.api == "chat":
            text = unfenced(text)
        prompt_tokens = int(usage.get("prompt_tokens") or _estimate(body))
        completion_tokens = int(usage.get("completion_tokens") or -(-len(text) // CHARS_PER_TOKEN))
        return RemoteResult(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            first_token_ms=first_token_ms,
            total_ms=(time.perf_counter() - started) * 1000,
        )


def _timeouts(settings: RemoteSettings, timeout_s: float) -> httpx.Timeout:
    read = min(settings.read_timeout_ms / 1000, timeout_s)
    return httpx.Timeout(read, connect=min(settings.connect_timeout_ms / 1000, timeout_s), pool=min(1.0, timeout_s))


async def _check_status(response: httpx.Response) -> None:
    if response.status_code == 200:
        return
    detail = (await response.aread())[:200].decode("utf-8", "replace").strip()
    status = response.status_code
    kind = {401: "auth", 403: "auth", 404: "not_found", 429: "rate_limited"}.get(status)
    if kind is None:
        kind = "server" if status >= 500 else "bad_request"
    hint = " (check remote.model)" if status == 404 else " (check remote.api_key_env)" if kind == "auth" else ""
    raise RemoteError(kind, f"remote answered {status}{hint}: {detail}", status)


async def _events(response: httpx.Response, deadline: float) -> AsyncIterator[dict[str, Any]]:
    """The JSON payloads of a server-sent event stream, until ``[DONE]``; a stream that ends
    without it, or runs past ``deadline``, is an error (its text is not a whole answer)."""
    content_type = response.headers.get("content-type", "")
    if "event-stream" not in content_type:
        raise RemoteError("bad_response", f"remote answered {content_type or 'no content type'}, not an event stream")
    async for line in response.aiter_lines():
        if time.perf_counter() > deadline:
            raise RemoteError("timeout", "remote stream ran past the request's time budget")
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            payload = json.loads(data)
        except json.JSONDecodeError:
            raise RemoteError("bad_response", f"remote sent an event that is not JSON: {data[:80]!r}") from None
        if not isinstance(payload, dict):
            raise RemoteError("bad_response", f"remote sent an unexpected event: {data[:80]!r}")
        if "error" in payload:
            raise RemoteError("server", f"remote reported an error mid-stream: {str(payload['error'])[:200]}")
        yield payload
    raise RemoteError("protocol", "remote stream ended before [DONE]")


def _piece(event: dict[str, Any], chat: bool) -> tuple[str, dict[str, Any]]:
    """The text an event adds, and the usage it reports (if any)."""
    usage = event.get("usage") or {}
    choices = event.get("choices")
    if not choices:
        if usage:
            return "", usage
        raise RemoteError("bad_response", f"remote event without choices: {str(event)[:120]}")
    choice = choices[0]
    piece = (choice.get("delta") or {}).get("content") if chat else choice.get("text")
    if piece is not None and not isinstance(piece, str):
        raise RemoteError("bad_response", "remote event text is not a string")
    return piece or "", usage if isinstance(usage, dict) else {}


def _estimate(body: dict[str, Any]) -> int:
    text = body.get("prompt") or json.dumps(body.get("messages", ""))
    return -(-len(str(text)) // CHARS_PER_TOKEN)
