"""How much prompt-lookup drafting can carry of a next-edit rewrite, without a model.

A next-edit model rewrites the lines around the cursor, and its answer is mostly those
lines again (the prompt holds them twice: before the recent changes and now). With no
next-edit model on this machine, the model's answer is replaced by the answer it should give
(the lines with the expected edits applied), and the engine's own drafter
(``PromptLookup``) is run over it as the decode loop runs it: each target forward verifies a
draft of up to ``k`` tokens, keeps what agrees and adds one token of its own. Reported: the
answer's tokens per target forward, the figure speculation multiplies decoding by when a
verify pass costs what a one-token pass costs (a GPU; on a CPU a pass of k+1 rows costs more:
``bench speculative`` measures that cost).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from copilot.config import ModelSettings, NextEditSettings, SpeculativeSettings
from copilot.documents import Document
from copilot.inference.engine import open_engine
from copilot.inference.speculative import PromptLookup
from copilot.inference.vocabulary import Vocabulary
from copilot.nextedit import sweep
from copilot.nextedit.history import EditEvent
from copilot.nextedit.model import ModelEdits, prompt_tokens

from .report import percentiles


def tokens_per_forward(prompt: list[int], answer: list[int], k: int = 8) -> tuple[int, int]:
    """(tokens, target forwards) to decode ``answer`` after ``prompt`` with lookup drafts of
    up to ``k`` tokens, when the target's greedy choice is always the answer's next token."""
    lookup = PromptLookup()
    lookup.start(prompt)
    context = list(prompt)
    done = forwards = 0
    while done < len(answer):
        draft = lookup.propose(context, min(k, len(answer) - done - 1)) if done < len(answer) - 1 else []
        accepted = 0
        while accepted < len(draft) and draft[accepted] == answer[done + accepted]:
            accepted += 1
        step = min(accepted + 1, len(answer) - done)
        context += answer[done : done + step]
        done += step
        forwards += 1
    return len(answer), forwards


def rename_rewrites(cases: list[Any], files: dict[str, str]) -> Iterator[tuple[Any, str, EditEvent, str]]:
    """For each rename of ``bench nextedit`` (``RenameCase``s with their new name) whose
    block holds another occurrence: the text after the binding was retyped, the edit, and
    the rewrite a next-edit model should give (the block with those occurrences renamed)."""
    for case in cases:
        text = files[case.path]
        at, old, new = case.binding, case.old, case.new
        renamed = text[:at] + new + text[at + len(old) :]
        event = EditEvent(f"file:///heldout/{case.path}", at, old, new, 2, 0.0)
        block = sweep.block_at(renamed, at + len(new))
        shift = len(new) - len(old)
        answer = block.current
        for other in sorted(case.expected, reverse=True):
            place = other + shift if other > at else other
            if block.start <= place and place + len(old) <= block.end:
                local = place - block.start
                answer = answer[:local] + new + answer[local + len(old) :]
        if answer != block.current:
            yield case, renamed, event, answer


def on_renames(cases: list[Any], files: dict[str, str], vocabulary: Vocabulary, k: int = 8) -> dict[str, Any]:
    """``tokens_per_forward`` over the rewrites a next-edit model should give after the
    renames, prompt and answer in ``vocabulary``'s tokens (a real model family's tokenizer)."""
    tokens = forwards = rewrites = 0
    for case, renamed, event, answer in rename_rewrites(cases, files):
        rewrites += 1
        prompt = sweep.build(case.path, renamed, event.end, [event])
        answer_tokens = vocabulary.encode(answer[len(prompt.block.prefill) :])
        n, f = tokens_per_forward(prompt_tokens(vocabulary, prompt), answer_tokens, k)
        tokens, forwards = tokens + n, forwards + f
    return {
        "rewrites": rewrites,
        "answer_tokens": tokens,
        "target_forwards": forwards,
        "tokens_per_forward": round(tokens / forwards, 2) if forwards else None,
        "drafted_share": round((tokens - forwards) / tokens, 3) if tokens else None,
    }


def model_on_renames(model: Path, cases: list[Any], files: dict[str, str]) -> dict[str, Any]:
    """A next-edit model (``--model``) on the same rewrites, through the server's own path
    (``ModelEdits``: the prompt, its engine with prompt-lookup drafts, the diff): the share
    whose rewrite is exactly the expected one, and the time per answer."""
    engine = open_engine(model, ModelSettings(n_ctx=4096, kv_slots=2), SpeculativeSettings(lookup=True))
    engine.wait_ready(600)
    edits = ModelEdits(engine, NextEditSettings(max_ms=0))
    edits.check()
    exact = asked = 0
    latency: list[float] = []
    try:
        for _, renamed, event, answer in rename_rewrites(cases, files):
            document = Document(event.uri, "python", 2, renamed)
            started = time.perf_counter()
            found = asyncio.run(edits.suggest(document, event.end, [event]))
            latency.append((time.perf_counter() - started) * 1000)
            block = sweep.block_at(renamed, event.end)
            rewritten = block.current
            for r in sorted(found, key=lambda r: r.start, reverse=True):
                rewritten = rewritten[: r.start - block.start] + r.new + rewritten[r.end - block.start :]
            asked += 1
            exact += rewritten == answer
    finally:
        engine.stop()
    return {"rewrites": asked, "exact_pct": round(100 * exact / asked, 1) if asked else None, **percentiles(latency)}
