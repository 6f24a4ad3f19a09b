"""Continuous batching: many generations in one forward pass give plain greedy decoding's
tokens, and a long prompt never holds another generation back by more than one chunk."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from copilot.config import ModelSettings, SpeculativeSettings
from copilot.inference.batching import PREFILL_CHUNK, Running, _shares, plan, step
from copilot.inference.decoding import choose, greedy_logprobs, greedy_steps, logprob
from copilot.inference.engine import open_engine
from copilot.inference.jobs import CancelFlag, Generation, GenerationJob
from copilot.inference.llama import LlamaSession
from copilot.inference.vocabulary import Vocabulary
from copilot.models import DEFAULT_MODEL_PATH
from copilot.prompt.fim import build_fim_prompt

SOURCES = [
    "def add(a, b):\n    return",
    "import os\n\n\ndef list_files(folder):\n    ",
    "class Point:\n    def __init__(self, x, y):\n        self.x = x\n        ",
    "for i in range(10):\n    if i % 2 == 0:\n        ",
    "def fib(n):\n    if n < 2:\n        return n\n    return ",
    "with open(path) as f:\n    for line in f:\n        ",
    "values = [1, 2, 3]\ntotal = 0\nfor v in values:\n    ",
    "def greet(name):\n    print(",
]
MAX_TOKENS = 24
NEAR_TIE = 0.05  # logits this close: llama.cpp's rounding of a batch decides, not our loop


@pytest.mark.parametrize(
    ("wanted", "budget", "expected"),
    [
        ([1000, 1000], 128, [64, 64]),
        ([10, 1000], 128, [10, 118]),  # what one does not need goes to the other
        ([5, 5], 128, [5, 5]),
        ([1000, 1000, 1000], 128, [43, 43, 42]),
        ([], 128, []),
    ],
)
def test_prompt_chunks_are_shared_evenly(wanted: list[int], budget: int, expected: list[int]) -> None:
    assert _shares(wanted, budget) == expected


def fim_prompts(vocabulary: Vocabulary) -> list[list[int]]:
    return [build_fim_prompt(vocabulary.fim, vocabulary.encode(source), []) for source in SOURCES]


def greedy_reference(vocabulary: Vocabulary, prompt: list[int]) -> tuple[list[int], LlamaSession]:
    session = LlamaSession(DEFAULT_MODEL_PATH, n_ctx=512, n_batch=512, n_threads=2, n_gpu_layers=0)
    session.decode(prompt)
    tokens = []
    for s, _ in zip(greedy_steps(session, vocabulary, prompt), range(MAX_TOKENS), strict=False):
        if s.token in vocabulary.stop_tokens:
            break
        tokens.append(s.token)
    return tokens, session


@pytest.mark.parametrize("lookup", [False, True], ids=["plain", "with-lookup-drafts"])
def test_eight_concurrent_generations_decode_like_plain_greedy_one_at_a_time(lookup: bool) -> None:
    engine = open_engine(
        DEFAULT_MODEL_PATH, ModelSettings(n_ctx=512, kv_slots=8, n_threads=2), SpeculativeSettings(lookup=lookup)
    )
    engine.wait_ready(60)
    vocabulary = engine.vocabulary
    prompts = fim_prompts(vocabulary)
    steps: list[int] = []  # how many generations each forward pass served

    async def all_at_once() -> list[Generation]:
        jobs = [GenerationJob(prompt=p, max_tokens=MAX_TOKENS, owner=f"doc{i}") for i, p in enumerate(prompts)]
        return await asyncio.gather(*(engine.generate(job) for job in jobs))

    try:
        generations = asyncio.run(all_at_once())
        steps = engine.batch_sizes()
    finally:
        engine.stop()
    assert max(steps) == len(prompts)  # all eight were in one batch at least once
    differing = []
    for prompt, generation in zip(prompts, generations, strict=True):
        expected, session = greedy_reference(vocabulary, prompt)
        got = vocabulary.encode(generation.text) if generation.text else []
        if vocabulary.detokenize(expected) != generation.text:
            at = next((i for i, (a, b) in enumerate(zip(expected, got, strict=False)) if a != b), len(expected))
            session.keep(0)
            session.decode(prompt + expected[:at])
            logits = session.logits()
            margin = float(logits[expected[at]] - logits[got[at]]) if at < min(len(expected), len(got)) else 1.0
            differing.append((generation.text, vocabulary.detokenize(expected), margin))
        session.close()
    # A difference is only acceptable where the reference's two candidates nearly tie.
    assert all(margin < NEAR_TIE for _, _, margin in differing), differing
    assert len(differing) <= 1, differing


def test_a_long_prompt_delays_a_decoding_generation_by_at_most_one_chunk_per_step() -> None:
    vocabulary = Vocabulary(DEFAULT_MODEL_PATH)
    session = LlamaSession(DEFAULT_MODEL_PATH, n_ctx=2048, n_batch=512, n_threads=2, n_gpu_layers=0, n_seq=2)
    try:
        short = build_fim_prompt(vocabulary.fim, vocabulary.encode(SOURCES[0]), [])
        long_source = "".join(f"value_{i} = compute({i}, 'x')\n" for i in range(115))
        long = build_fim_prompt(vocabulary.fim, vocabulary.encode(long_source), [])
        assert len(long) > 1500
        emitted: list[float] = []  # when the writer's text grew
        job = GenerationJob(prompt=short, max_tokens=400, on_text=lambda _text: emitted.append(time.perf_counter()))
        writer = Running(job, None, 0, 0.0, 0)
        while not writer.decoding:  # its prompt first, alone
            step(plan([writer], session, 0), session, vocabulary)
        reader = Running(GenerationJob(prompt=long, max_tokens=1), None, 1, 0.0, 0)
        turns = 0
        while not reader.decoding and reader.reason is None:
            before = writer.generated
            parts = plan([writer, reader], session, turns)
            assert sum(len(part.tokens) for r, part in parts if r is reader) <= PREFILL_CHUNK
            passes = step(parts, session, vocabulary)
            if writer.reason is None:
                assert writer.generated > before  # the writer got its token in every step
                # ...in a pass of its own, out before the prompt's pass began
                decoding, reading = passes
                assert (decoding.decoding_rows, decoding.prompt_tokens) == (1, 0)
                assert reading.decoding_rows == 0 and 0 < reading.prompt_tokens <= PREFILL_CHUNK
                assert decoding.started <= emitted[-1] <= decoding.ended <= reading.started
            turns += 1
        assert turns >= len(long) // PREFILL_CHUNK
    finally:
        session.close()


def test_a_cancelled_generation_stops_without_stopping_the_others() -> None:
    engine = open_engine(DEFAULT_MODEL_PATH, ModelSettings(n_ctx=512, kv_slots=4, n_threads=2), SpeculativeSettings())
    engine.wait_ready(60)
    prompts = fim_prompts(engine.vocabulary)[:3]
    cancel = CancelFlag()
    cancel.set()

    async def run() -> list[Generation]:
        jobs = [GenerationJob(prompt=p, max_tokens=16, owner=f"doc{i}") for i, p in enumerate(prompts)]
        jobs[1].cancel = cancel
        return await asyncio.gather(*(engine.generate(job) for job in jobs))

    try:
        first, cancelled, third = asyncio.run(run())
    finally:
        engine.stop()
    assert cancelled.stop_reason == "cancelled" and cancelled.generated_tokens == 0
    assert first.generated_tokens > 0 and third.generated_tokens > 0


def test_greedy_log_probabilities_equal_the_log_softmax_of_each_rows_top_token() -> None:
    rng = np.random.default_rng(3)
    rows = (rng.standard_normal((5, 300)) * 4).astype(np.float32)
    tokens = rows.argmax(axis=1)
    expected = [logprob(rows[i], int(tokens[i])) for i in range(5)]
    assert greedy_logprobs(rows, tokens) == pytest.approx(expected, abs=1e-5)
    shifted = rows[0] - rows[0].max()
    assert expected[0] == pytest.approx(-float(np.log(np.exp(shifted.astype(np.float64)).sum())), abs=1e-5)


def test_choose_gives_the_greedy_token_and_its_log_probability() -> None:
    vocabulary = Vocabulary(DEFAULT_MODEL_PATH)
    session = LlamaSession(DEFAULT_MODEL_PATH, n_ctx=512, n_batch=512, n_threads=2, n_gpu_layers=0)
    try:
        session.decode(build_fim_prompt(vocabulary.fim, vocabulary.encode(SOURCES[0]), []))
        token, token_logprob = choose(session, vocabulary, b"")
        assert token == int(session.logits().argmax())
        assert token_logprob == pytest.approx(logprob(session.logits(), token), abs=1e-5)
        assert token_logprob <= 0.0
    finally:
        session.close()
