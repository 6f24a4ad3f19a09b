"""KV sequences per document, and saved copies of the states pushed out of them."""

from __future__ import annotations

import asyncio

from copilot.config import ModelSettings, SpeculativeSettings
from copilot.inference.engine import open_engine
from copilot.inference.jobs import Generation, GenerationJob
from copilot.inference.slots import KvSlots, SavedStates
from copilot.models import DEFAULT_MODEL_PATH
from copilot.prompt.fim import build_fim_prompt


def test_slots_go_to_the_least_recently_used_document() -> None:
    slots = KvSlots(2)
    assert slots.slot_for("a") == (0, True, None)
    assert slots.slot_for("b") == (1, True, None)
    assert slots.slot_for("a") == (0, False, None)  # used again: b is now the oldest
    assert slots.slot_for("c") == (1, True, "b")
    assert slots.slot_for("b") == (0, True, "a")


def test_saved_states_keep_the_newest_within_the_budget() -> None:
    saved = SavedStates(budget_bytes=10)
    saved.put("a", b"1234", [1])
    saved.put("b", b"5678", [2])
    saved.put("c", b"90ab", [3])  # 12 bytes: the oldest goes
    assert saved.take("a") is None
    assert saved.take("b") == (b"5678", [2])
    assert saved.take("b") is None  # taken once
    saved.put("huge", b"x" * 11, [4])  # larger than the whole budget: not kept
    assert saved.take("huge") is None and saved.take("c") == (b"90ab", [3])


def run_jobs(saved_states_mb: int) -> list[Generation]:
    """Two documents taking turns on one KV sequence."""
    engine = open_engine(
        DEFAULT_MODEL_PATH, ModelSettings(kv_slots=1, saved_states_mb=saved_states_mb), SpeculativeSettings()
    )
    engine.wait_ready(60)
    vocabulary = engine.vocabulary
    texts = {name: f"def {name}(values):\n" + "    total = 0\n" * 40 + "    for v in values:\n" for name in "ab"}
    prompts = {name: build_fim_prompt(vocabulary.fim, vocabulary.encode(text), []) for name, text in texts.items()}

    async def turns() -> list[Generation]:
        order = ["a", "b", "a", "b"]
        return [await engine.generate(GenerationJob(prompt=prompts[d], max_tokens=4, owner=d)) for d in order]

    try:
        return asyncio.run(turns())
    finally:
        engine.stop()


def test_a_document_pushed_out_of_its_sequence_comes_back_from_its_saved_state() -> None:
    first_a, first_b, again_a, again_b = run_jobs(saved_states_mb=64)
    # b takes a's sequence: only the tokens their prompts share ("def ") are reused
    assert first_a.reused_tokens == 0 and 0 < first_b.reused_tokens < 5
    assert again_a.reused_tokens == again_a.prompt_tokens - 1  # restored: only the last token again
    assert again_b.reused_tokens == again_b.prompt_tokens - 1
    assert again_a.text == first_a.text


def test_without_saved_states_the_prompt_is_evaluated_again() -> None:
    _, _, again_a, _ = run_jobs(saved_states_mb=0)
    assert again_a.reused_tokens < 5  # only what the other document's prompt happens to share


def test_a_full_pool_takes_the_least_recently_used_idle_sequence_never_a_generating_one() -> None:
    slots = KvSlots(3)
    for owner in "abc":
        slots.slot_for(owner)
    # a (slot 0) is the least recently used, but it is generating: b's slot goes instead
    assert slots.slot_for("d", busy={0}) == (1, True, "b")
    assert slots.owners() == {"a": 0, "c": 2, "d": 1}


def test_a_new_document_takes_the_idle_sequence_sharing_the_longest_prompt_prefix() -> None:
    slots = KvSlots(3)
    for owner in "abc":
        slots.slot_for(owner)
    shared = {0: 5, 1: 300, 2: 40}  # tokens each slot's sequence shares with the new prompt
    assert slots.slot_for("d", shared=shared.__getitem__) == (1, True, "b")
    # below MIN_SHARED everywhere: the least recently used, as without prefixes
    assert slots.slot_for("e", shared=lambda slot: 3) == (0, True, "a")


def test_an_ended_session_frees_its_sequences_for_the_next_documents() -> None:
    slots = KvSlots(3)
    for owner in ("s1 a.py", "s2 a.py", "s1 b.py"):
        slots.slot_for(owner)
    assert sorted(slots.release("s1 ")) == [0, 2]
    assert slots.owners() == {"s2 a.py": 1}
    assert slots.slot_for("s3 c.py") == (0, True, None)  # a freed slot, nobody evicted
