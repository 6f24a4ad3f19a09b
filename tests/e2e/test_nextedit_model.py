"""The next-edit model path through the real server, on a stand-in in the Sweep format: a
Qwen2.5-Coder vocabulary (its real tokenizer) with weights that always answer
``<|file_sep|>``, i.e. an empty rewrite of the lines from the cursor's on. The text is
meaningless; what is checked is the prompt the model gets, that its answer is diffed into
edits of those lines, and that they are delivered, counted and never touch what was typed."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest_lsp
from pytest_lsp import ClientServerConfig, LanguageClient

from bench.families import family_model
from copilot.config import ModelSettings, NextEditSettings, SpeculativeSettings
from copilot.documents import Document
from copilot.inference.engine import open_engine
from copilot.nextedit.history import EditEvent
from copilot.nextedit.model import ModelEdits
from tests.e2e.test_nextedit import edit, inline_edits, spans
from tests.support.lsp_client import initialize_recording_partials, open_doc, server_env

_tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"copilot-nextedit-model-{os.getpid()}"
SERVER = [sys.executable, "-m", "copilot.lsp", "serve"]
URI = "file:///w/shop/cart.py"
TEXT = "def total(items):\n    result = 0\n    for item in items:\n        result += item\n    return result\n"


def stand_in() -> Path:
    return family_model("qwen2_5_coder", forced="<|file_sep|>")


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER, server_env=server_env(_tmp)))
async def client(lsp_client: LanguageClient):
    options = {"next_edit": {"model": str(stand_in()), "n_ctx": 1024, "max_tokens": 16}, "cache": {"enabled": False}}
    await initialize_recording_partials(lsp_client, options)
    yield
    await lsp_client.shutdown_session()


def test_the_prompt_is_the_sweep_format_in_the_models_own_tokens() -> None:
    engine = open_engine(stand_in(), ModelSettings(n_ctx=1024, kv_slots=2), SpeculativeSettings(lookup=True))
    try:
        model = ModelEdits(engine, NextEditSettings(max_tokens=16))
        model.check()
        document = Document(URI, "python", 2, TEXT.replace("result = 0", "result = 1"))
        event = EditEvent(URI, TEXT.index("0\n"), "0", "1", 2, 0.0)
        prompt, tokens = model.prompt(document, document.text.index("return"), [event])
        vocabulary = engine.vocabulary
        file_sep = vocabulary.fim.file_sep
        assert tokens.count(file_sep) == len(prompt.sections) == 5
        pieces, current = [], []
        for token in tokens:
            if token == file_sep:
                pieces.append(current)
                current = []
            else:
                current.append(token)
        pieces.append(current)
        texts = [vocabulary.detokenize(piece) for piece in pieces[1:]]
        assert texts == prompt.sections
        assert texts[0].startswith("w/shop/cart.py\n")
        assert texts[1] == "w/shop/cart.py:2:2\noriginal:\n    result = 0\nupdated:\n    result = 1\n"
        assert texts[3].startswith("current/w/shop/cart.py:3:5\n") and "<|cursor|>return result" in texts[3]
    finally:
        engine.stop()


async def test_what_propagation_cannot_find_is_asked_of_the_model(client: LanguageClient) -> None:
    open_doc(client, URI, TEXT)
    edit(client, URI, 2, 1, 13, 14, "1")  # `result = 0` -> `result = 1`: no rename, no repeated change
    edits: list = []
    for _ in range(100):  # the model loads in the background: the first requests may come before it
        edits = await inline_edits(client, URI, 2, 4, 4)
        if edits:
            break
        await asyncio.sleep(0.1)
    # The stand-in writes nothing after the prefill (the lines above the cursor's): its answer
    # deletes the cursor's line and the block's lines below it (the block ends with the file).
    assert spans(edits) == [(URI, 4, 0, 0, "")]
    assert (edits[0].range.end.line, edits[0].range.end.character) == (5, 0)
    stats = await client.protocol.send_request_async("copilot/stats", {})
    assert stats.next_edit.kind_model == 1 and stats.next_edit.model_requests >= 1

    # An answer that would change what was just typed is not offered.
    edit(client, URI, 3, 4, 4, 4, "# ")
    assert await inline_edits(client, URI, 3, 4, 6) == []


class Busy:
    """A completion engine that is busy for the first ``checks`` looks."""

    def __init__(self, checks: int) -> None:
        self.checks = checks

    def busy(self) -> bool:
        self.checks -= 1
        return self.checks >= 0


def test_next_edit_jobs_wait_for_the_completions() -> None:
    engine = open_engine(stand_in(), ModelSettings(n_ctx=1024, kv_slots=2), SpeculativeSettings(lookup=True))
    try:
        engine.wait_ready(60)
        document = Document(URI, "python", 2, TEXT.replace("result = 0", "result = 1"))
        event = EditEvent(URI, TEXT.index("0\n"), "0", "1", 2, 0.0)
        cursor = document.text.index("return")
        waiting = ModelEdits(engine, NextEditSettings(max_tokens=16, max_ms=300), defer_to=Busy(10**6))  # type: ignore[arg-type]
        assert asyncio.run(waiting.suggest(document, cursor, [event])) == []  # completions kept it busy
        after = Busy(5)
        patient = ModelEdits(engine, NextEditSettings(max_tokens=16, max_ms=3000), defer_to=after)  # type: ignore[arg-type]
        assert asyncio.run(patient.suggest(document, cursor, [event]))  # ran once they were done
        assert after.checks < 0
    finally:
        engine.stop()
