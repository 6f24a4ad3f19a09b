"""A generation in progress that several requests for one document can share.

When the user types the characters the model is writing, the new request attaches to the
running generation instead of cancelling it and starting over. The generation stops only
when no request waits for it any more (after a short grace, since editors cancel the old
request just before they send the new one) or when a request it cannot serve arrives.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from .typing_through import typed_since

ATTACH_GRACE_S = 0.05


class InFlight:
    def __init__(self, prefix: str, suffix: str) -> None:
        self.prefix = prefix
        self.suffix = suffix
        self.partial = ""  # raw text generated so far (set from the inference thread)
        self.task: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiters = 0

    def run(self, work: Coroutine[Any, Any, str]) -> None:
        self.task = asyncio.ensure_future(work)

    def tracking(self, forward: Callable[[str], None] | None) -> Callable[[str], None]:
        """A partial-text callback that keeps ``partial`` current, then calls ``forward``."""

        def on_text(text: str) -> None:
            self.partial = text
            if forward is not None:
                forward(text)

        return on_text

    def typed_since(self, prefix: str, suffix: str) -> str | None:
        """What was typed at this generation's cursor since it started, or None when the
        document changed in any other way."""
        return typed_since(self.prefix, self.suffix, prefix, suffix)

    def could_serve(self, typed: str) -> bool:
        """Whether the text so far agrees with ``typed`` (it may still be being written)."""
        partial = self.partial
        return partial.startswith(typed) or typed.startswith(partial)

    @property
    def superseded(self) -> bool:
        return self.task.cancelled()

    @property
    def running(self) -> bool:
        return not self.task.done()

    async def wait(self) -> str:
        """The generation's final text; "" when it was superseded by a newer request."""
        self._waiters += 1
        try:
            return await asyncio.shield(self.task)
        except asyncio.CancelledError:
            if self.superseded:  # the generation was stopped, not this waiter: answer with nothing
                return ""
            raise
        finally:
            self._waiters -= 1
            if self._waiters == 0 and not self.task.done():
                asyncio.get_running_loop().call_later(ATTACH_GRACE_S, self._cancel_if_orphaned)

    def _cancel_if_orphaned(self) -> None:
        if self._waiters == 0:
            self.task.cancel()

    def cancel(self) -> None:
        self.task.cancel()
