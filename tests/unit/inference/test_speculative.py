"""Drafters and the verify loop: greedy output never depends on what a drafter proposes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from copilot.config import ModelSettings, SpeculativeSettings
from copilot.inference.decoding import DecodeCounters, greedy_steps
from copilot.inference.engine import open_engine
from copilot.inference.jobs import GenerationJob
from copilot.inference.llama import DecodeAborted, LlamaSession
from copilot.inference.speculative import (
    Drafter,
    DraftModel,
    DraftStats,
    PromptLookup,
    Speculator,
    top_probability,
)
from copilot.inference.vocabulary import Vocabulary
from copilot.models import DEFAULT_MODEL_PATH
from copilot.prompt.fim import build_fim_prompt
from tests.support.gguf_files import write_chat_model_without_fim
from tests.support.models import write_disagreeing_draft


@pytest.mark.parametrize(
    ("context", "k", "expected"),
    [
        ([1, 2, 3, 4, 5, 1, 2, 3], 2, [4, 5]),  # the 3-gram 1 2 3 was followed by 4 5
        ([1, 2, 3, 4, 9, 2, 3], 4, [4, 9, 2, 3]),  # 2-gram fallback; the draft may run into the present
        ([7, 1, 2, 8, 5, 1, 2, 9, 6, 1, 2], 1, [9]),  # the latest occurrence wins
        ([1, 2, 3, 4], 3, []),  # no earlier occurrence
        ([5, 5], 3, []),  # too short to match an n-gram of 2 before the end
        ([1, 2, 3, 1, 2, 3], 0, []),
    ],
)
def test_prompt_lookup_proposes_what_followed_the_last_ngram(context: list[int], k: int, expected: list[int]) -> None:
    lookup = PromptLookup()
    lookup.start(context)
    assert lookup.propose(context, k) == expected


def test_prompt_lookup_indexes_the_generated_text_as_it_grows() -> None:
    lookup = PromptLookup()
    context = [1, 2, 3]
    lookup.start(context)
    assert lookup.propose(context, 2) == []
    context += [4, 1, 2, 3]  # generated: the n-gram 1 2 3 now has an earlier occurrence
    assert lookup.propose(context, 2) == [4, 1]


class Scripted:
    """A drafter that always proposes the same tokens (pure-logic tests of the speculator)."""

    def __init__(self, name: str, draft: list[int]) -> None:
        self.name, self.draft = name, draft

    def start(self, prompt: list[int]) -> None:
        pass

    def propose(self, context: list[int], k: int) -> list[int]:
        return self.draft[:k]


def speculator_with_plain_timing(drafters: list[Drafter], **options: float) -> Speculator:
    """A speculator in a job that drafts (as the measured speeds decided)."""
    speculator = Speculator(drafters, **options)  # type: ignore[arg-type]
    for _ in range(3):
        speculator.plain.add(100, 1.0)
        speculator.with_drafts.add(150, 1.0)
    speculator.start([0])
    assert speculator.drafting
    return speculator


def drafts(speculator: Speculator, steps: int) -> list[Drafter | None]:
    """Who drafted at each of ``steps`` steps (None: a plain step)."""
    return [speculator.propose([0], room=100)[0] for _ in range(steps)]


def run_jobs(speculator: Speculator, jobs: int, drafting_rate: float, plain_rate: float) -> list[bool]:
    """Start ``jobs`` jobs, each decoding 50 tokens at the rate of its mode; which drafted."""
    chosen = []
    for _ in range(jobs):
        speculator.start([0])
        chosen.append(speculator.drafting)
        speculator.job_done(50, 50 / (drafting_rate if speculator.drafting else plain_rate))
    return chosen


def test_jobs_draft_only_while_drafting_measures_faster() -> None:
    scripted = Scripted("scripted", [1, 2])
    speculator = Speculator([scripted])
    chosen = run_jobs(speculator, 64, drafting_rate=150.0, plain_rate=100.0)
    assert chosen[:6] == [False, True] * 3  # each way measured a few times first
    assert chosen[6:].count(True) >= 58 - 58 // 16 - 1  # then drafting, with a plain probe now and then
    assert speculator.propose([0], room=100)[0] is scripted or not speculator.drafting

    slow = Speculator([scripted])
    chosen = run_jobs(slow, 64, drafting_rate=60.0, plain_rate=100.0)  # e.g. a tiny target on a CPU
    assert chosen[6:].count(True) <= 58 // 16 + 1
    slow.drafting = False
    assert slow.propose([0], room=100) == (None, [])


def test_short_jobs_do_not_count_and_a_fixed_speculator_always_drafts() -> None:
    speculator = Speculator([Scripted("scripted", [1])])
    speculator.start([0])
    speculator.job_done(2, 0.001)
    assert speculator.plain.jobs == 0 and speculator.plain.per_second is None
    fixed = Speculator([Scripted("scripted", [1])], adaptive=False)
    fixed.start([0])
    assert fixed.drafting


def test_drafts_are_full_length_while_the_target_agrees_and_shorten_when_it_does_not() -> None:
    drafter = Scripted("scripted", list(range(20)))
    speculator = speculator_with_plain_timing([drafter], max_length=8)
    assert len(speculator.propose([0], room=100)[1]) == 8  # optimistic at first: full length
    for _ in range(20):  # a long draft the target mostly agrees with: still full length
        speculator.feedback(drafter, 8, 7)
    assert len(speculator.propose([0], room=100)[1]) == 8
    for _ in range(100):  # the target accepts 3 tokens, then rejects one: p = 3/4 per token
        speculator.feedback(drafter, 8, 3)
    shorter = len(speculator.propose([0], room=100)[1])
    assert shorter == 5  # 0.75 ** 5 = 0.24: the longest draft accepted whole with a chance of 0.2
    for _ in range(60):  # it agrees again
        speculator.feedback(drafter, shorter, shorter)
    assert len(speculator.propose([0], room=100)[1]) == 8
    assert len(speculator.propose([0], room=1)[1]) == 1  # never past the context's end
    assert speculator.propose([0], room=0) == (None, [])


def test_per_token_acceptance_counts_each_rejection_once() -> None:
    stats = DraftStats(token_hits=0.0, token_misses=0.0)
    speculator = Speculator([Scripted("scripted", [1])])
    speculator.stats["scripted"] = stats
    speculator.feedback(Scripted("scripted", [1]), 8, 3)  # 3 accepted, then one rejection; 4 unjudged
    assert stats.token_acceptance == pytest.approx(3 / 4)
    assert stats.acceptance < 0.6  # the per-round share (3 / 8) pulls the running average down


def test_a_drafter_below_the_acceptance_floor_is_only_probed() -> None:
    bad = Scripted("bad", [1, 2, 3])
    speculator = speculator_with_plain_timing([bad], min_acceptance=0.3)
    assert speculator.propose([0], room=100)[0] is bad
    for _ in range(10):  # nothing it proposes is accepted
        speculator.feedback(bad, 3, 0)
    used = drafts(speculator, 64)
    assert 1 <= used.count(bad) <= 64 // 16 + 1  # probed now and then
    assert used.count(None) >= 64 - 64 // 16 - 1


def test_the_drafter_the_target_agrees_with_most_goes_first() -> None:
    lookup, draft = Scripted("lookup", [1, 2, 3]), Scripted("draft", [4, 5])
    speculator = speculator_with_plain_timing([lookup, draft])
    assert speculator.propose([0], room=100)[0] is lookup  # the configured order first
    speculator.feedback(lookup, 3, 1)
    speculator.feedback(draft, 2, 2)
    assert speculator.propose([0], room=100)[0] is draft


PROMPTS = [
    (
        "import os\n\n\ndef list_files(root):\n    found = []\n    for dirpath, dirnames, filenames in os.walk(root):\n"
        "        for name in filenames:\n            found.append(os.path.join(dirpath, name))\n    return found\n\n\n"
        "def list_dirs(root):\n    found = []\n    for dirpath, dirnames, filenames in os.walk(root):\n",
        "\n",
    ),
    ("class Point:\n    def __init__(self, x, y):\n        self.x = x\n", "\n\n    def norm(self):\n"),
    ("TABLE = [\n" + "".join(f"    ({i}, '{i}'),\n" for i in range(12)), "]\n"),
]


@pytest.fixture(scope="module")
def draft_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_disagreeing_draft(tmp_path_factory.mktemp("draft") / "draft.gguf")


def decode(
    session: LlamaSession,
    vocabulary: Vocabulary,
    prompt: list[int],
    speculator: Speculator | None,
    counters: DecodeCounters,
    n: int = 48,
) -> list[int]:
    session.keep(0)
    session.decode(prompt)
    steps = greedy_steps(session, vocabulary, prompt, speculator=speculator, counters=counters)
    return [step.token for step, _ in zip(steps, range(n), strict=False)]


@pytest.mark.parametrize("drafters", ["lookup", "same-model draft", "disagreeing draft", "lookup+draft"])
def test_greedy_output_is_identical_with_and_without_each_drafter(draft_path: Path, drafters: str) -> None:
    vocabulary = Vocabulary(DEFAULT_MODEL_PATH)
    target = LlamaSession(DEFAULT_MODEL_PATH, n_ctx=512, n_batch=512, n_threads=2, n_gpu_layers=0)
    draft_file = DEFAULT_MODEL_PATH if drafters == "same-model draft" else draft_path
    draft = LlamaSession(draft_file, n_ctx=512, n_batch=512, n_threads=2, n_gpu_layers=0)
    assert Vocabulary(draft_file).tokenizer_digest == vocabulary.tokenizer_digest
    chosen: list[Drafter] = {
        "lookup": [PromptLookup()],
        "same-model draft": [DraftModel(draft)],
        "disagreeing draft": [DraftModel(draft)],
        "lookup+draft": [PromptLookup(), DraftModel(draft)],
    }[drafters]
    speculator = Speculator(chosen, adaptive=False)
    totals = DecodeCounters()
    try:
        for prefix, suffix in PROMPTS:
            prompt = build_fim_prompt(vocabulary.fim, vocabulary.encode(prefix), vocabulary.encode(suffix))
            plain = decode(target, vocabulary, prompt, None, DecodeCounters())
            counters = DecodeCounters()
            assert decode(target, vocabulary, prompt, speculator, counters) == plain
            # every forward keeps its own token and the accepted guesses; rejected ones leave no KV behind
            assert len(target.tokens) == len(prompt) + counters.forwards + counters.accepted
            totals.drafted += counters.drafted
            totals.accepted += counters.accepted
            totals.forwards += counters.forwards
    finally:
        target.close()
        draft.close()
    assert totals.drafted > 0
    assert totals.forwards < 3 * 48  # accepted drafts saved target forwards
    if drafters == "same-model draft":
        assert totals.accepted == totals.drafted
    if drafters == "disagreeing draft":
        assert 0 < totals.accepted < totals.drafted  # both the accept and the reject paths ran


def test_top_probability_is_the_softmax_of_the_best_logit() -> None:
    assert top_probability(np.array([0.0, 0.0, 0.0, 0.0])) == pytest.approx(0.25)
    assert top_probability(np.array([1000.0, 0.0])) == pytest.approx(1.0)  # no overflow
    assert top_probability(np.array([np.log(3.0), 0.0])) == pytest.approx(0.75)


def test_a_draft_stops_at_the_first_guess_it_doubts() -> None:
    """With a confidence floor the draft proposes a prefix of what it proposes without one,
    ending where its own probability for the next guess falls below the floor."""
    vocabulary = Vocabulary(DEFAULT_MODEL_PATH)
    session = LlamaSession(DEFAULT_MODEL_PATH, n_ctx=512, n_batch=512, n_threads=2, n_gpu_layers=0)
    try:
        shorter = 0
        for prefix, suffix in PROMPTS:
            context = build_fim_prompt(vocabulary.fim, vocabulary.encode(prefix), vocabulary.encode(suffix))
            every = DraftModel(session).propose(context, 8)
            confident = DraftModel(session, min_confidence=0.75).propose(context, 8)
            assert len(every) == 8
            assert confident == every[: len(confident)]
            # where it stopped, its next guess had less than the floor
            if len(confident) < 8:
                session.keep(session.reusable(context + confident))
                session.decode((context + confident)[len(session.tokens) :])
                assert top_probability(session.logits()) < 0.75
            shorter += len(confident) < 8
        assert DraftModel(session, min_confidence=1.01).propose(context, 8) == []
    finally:
        session.close()
    assert shorter > 0  # the floor did cut some drafts on these prompts


def test_a_set_cancel_aborts_a_decode_and_leaves_the_kv_state_consistent() -> None:
    session = LlamaSession(DEFAULT_MODEL_PATH, n_ctx=512, n_batch=512, n_threads=2, n_gpu_layers=0)
    try:
        session.decode(list(range(100, 140)))
        session.abort()
        with pytest.raises(DecodeAborted):
            session.decode(list(range(200, 400)))
        assert len(session.tokens) >= 40  # what llama.cpp kept is what the session says it holds
        kept = len(session.tokens)
        session.decode([7])
        assert len(session.tokens) == kept + 1
    finally:
        session.close()


def test_a_draft_model_with_another_vocabulary_is_refused_and_completion_goes_on(tmp_path: Path) -> None:
    chat = write_chat_model_without_fim(tmp_path / "chat.gguf")
    engine = open_engine(DEFAULT_MODEL_PATH, ModelSettings(kv_slots=1), SpeculativeSettings(draft_model=str(chat)))
    try:
        engine.wait_ready(60)
        assert engine.speculator is not None
        assert [drafter.name for drafter in engine.speculator.drafters] == ["lookup"]
        prompt = build_fim_prompt(engine.vocabulary.fim, engine.vocabulary.encode(PROMPTS[0][0]), [])
        generation = asyncio.run(engine.generate(GenerationJob(prompt=prompt, max_tokens=8)))
        assert generation.generated_tokens > 0
    finally:
        engine.stop()
