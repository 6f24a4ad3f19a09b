"""The pipeline's tiers in order, with a fake engine (pure logic: no model, memory cache only).

The real engine is covered end to end (tests/e2e); here the question is only which tier
answers, and that a cheaper tier that answers keeps the model from running.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from copilot.cache import CompletionCache
from copilot.config import Config
from copilot.documents import Snapshot
from copilot.inference.jobs import Generation, GenerationJob
from copilot.pipeline import Pipeline
from copilot.prompt.fim import FimTokens


class FakeVocabulary:
    id = "fake"
    path = Path("fake.gguf")
    fim = FimTokens(prefix=1_000_001, suffix=1_000_002, middle=1_000_003)

    def encode(self, text: str) -> list[int]:
        return [ord(c) for c in text]

    def detokenize(self, tokens: list[int]) -> str:
        return "".join(chr(t) for t in tokens if t < 1_000_000)


class FakeEngine:
    """Answers every job with ``text``; remembers the jobs it was given."""

    n_ctx = 2048

    def __init__(self, text: str) -> None:
        self.text = text
        self.vocabulary = FakeVocabulary()
        self.jobs: list[GenerationJob] = []

    def queued(self) -> int:
        return 0

    def wait_ready(self, timeout: float | None = None) -> None:
        pass

    def stop(self) -> None:
        pass

    async def generate(
        self, job: GenerationJob, on_abandoned: Callable[[GenerationJob, Generation], None] | None = None
    ) -> Generation:
        self.jobs.append(job)
        return Generation(
            text=self.text,
            stop_reason="end",
            prompt_tokens=len(job.prompt),
            reused_tokens=0,
            generated_tokens=len(self.text),
            queue_ms=0.0,
            prefill_ms=1.0,
            decode_ms=1.0,
        )


def at_end(text: str, uri: str = "file:///w/a.py", version: int = 1) -> Snapshot:
    return Snapshot(uri=uri, version=version, language_id="python", text=text, offset=len(text))


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine("compute_total(items)")


@pytest.fixture
def pipeline(engine: FakeEngine) -> Pipeline:
    config = Config()
    return Pipeline(config, engine, CompletionCache(None, memory_entries=64))


async def test_a_miss_everywhere_goes_to_the_model_and_records_its_stages(
    pipeline: Pipeline, engine: FakeEngine
) -> None:
    result = await pipeline.complete(at_end("total = "))
    assert (result.source, result.text) == ("model", "compute_total(items)")
    assert len(engine.jobs) == 1
    assert engine.jobs[0].max_lines == 1  # not after a block header: one line
    assert {"cache", "context", "generate", "total"} <= result.timings_ms.keys()
    record = pipeline.metrics.recent[-1]
    assert (record.source, record.outcome, record.chars) == ("model", "shown", len(result.text))


async def test_the_same_cursor_again_is_answered_by_the_cache_not_the_model(
    pipeline: Pipeline, engine: FakeEngine
) -> None:
    await pipeline.complete(at_end("total = "))
    pipeline.forget("file:///w/a.py")  # no suggestion on screen: typing-through cannot answer
    again = await pipeline.complete(at_end("total = ", version=2))
    assert (again.source, again.text) == ("memory", "compute_total(items)")
    assert len(engine.jobs) == 1


async def test_typing_the_start_of_the_suggestion_is_answered_before_any_cache(
    pipeline: Pipeline, engine: FakeEngine
) -> None:
    await pipeline.complete(at_end("total = "))
    typed = await pipeline.complete(at_end("total = comp", version=2))
    assert (typed.source, typed.text) == ("typing", "ute_total(items)")
    assert len(engine.jobs) == 1


async def test_an_explicit_request_skips_the_caches(pipeline: Pipeline, engine: FakeEngine) -> None:
    await pipeline.complete(at_end("total = "))
    pipeline.forget("file:///w/a.py")
    explicit = await pipeline.complete(at_end("total = ", version=2), explicit=True)
    assert explicit.source == "model"
    assert len(engine.jobs) == 2
    assert engine.jobs[1].max_lines == 0  # no line limit


async def test_a_request_whose_text_changed_before_the_model_ran_does_not_run_it(
    pipeline: Pipeline, engine: FakeEngine
) -> None:
    result = await pipeline.complete(at_end("total = "), is_current=lambda: False)
    assert result.text == ""
    assert engine.jobs == []
    assert pipeline.metrics.recent[-1].outcome == "stale"


async def test_a_block_header_asks_for_several_lines(pipeline: Pipeline, engine: FakeEngine) -> None:
    await pipeline.complete(at_end("def total(items):\n    "))
    assert engine.jobs[0].max_lines == pipeline.config.completion.max_lines


async def test_without_a_model_the_answer_is_empty_and_the_error_recorded() -> None:
    pipeline = Pipeline(Config(), None, CompletionCache(None, memory_entries=8), engine_error="no such file")
    result = await pipeline.complete(at_end("total = "))
    assert (result.text, result.source) == ("", "none")
    assert pipeline.metrics.recent[-1].outcome == "error"


def test_the_prompt_puts_the_text_before_and_after_the_cursor_in_fim_order(pipeline: Pipeline) -> None:
    snapshot = Snapshot(uri="file:///w/a.py", version=1, language_id="python", text="a = 1\nb = 2\n", offset=6)
    prompt = pipeline.build_prompt(snapshot)
    fim = FakeVocabulary.fim
    text = FakeVocabulary().detokenize
    assert prompt.tokens[0] == fim.prefix and prompt.tokens[-1] == fim.middle
    split = prompt.tokens.index(fim.suffix)
    assert text(prompt.tokens[:split]) == "a = 1\n"
    assert text(prompt.tokens[split:]) == "b = 2\n"
