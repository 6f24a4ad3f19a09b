"""Which model `doctor` recommends, for machines described by their facts (pure logic)."""

from __future__ import annotations

import pytest

from copilot.inference.catalogue import models
from copilot.inference.sizing import GIB, Machine, memory_needed, recommend, weight_bytes

CATALOGUE = models()


def test_weights_follow_the_quantisation_in_the_file_name() -> None:
    q8 = weight_bytes(CATALOGUE["qwen2.5-coder-1.5b"])
    q4 = weight_bytes(CATALOGUE["qwen2.5-coder-32b"])
    assert 1.5 * GIB < q8 < 1.7 * GIB  # the published Q8_0 file: 1.65 GB
    assert 17 * GIB < q4 < 19.5 * GIB  # the published Q4_K_M file: 19.9 GB


def test_memory_counts_the_draft_that_is_turned_on() -> None:
    with_draft = memory_needed(CATALOGUE["qwen2.5-coder-1.5b"], CATALOGUE)
    alone = memory_needed(CATALOGUE["qwen2.5-coder-0.5b"], CATALOGUE)
    assert with_draft > weight_bytes(CATALOGUE["qwen2.5-coder-1.5b"]) + weight_bytes(CATALOGUE["qwen2.5-coder-0.5b"])
    assert alone < with_draft


@pytest.mark.parametrize(
    ("machine", "expected", "on_gpu"),
    [
        # This project's CI machine: 2 cores, 24 GiB: only the smallest answers in about a second.
        (Machine(ram_bytes=24 * GIB, cpu_cores=2), "qwen2.5-coder-0.5b", False),
        # A laptop with 8 cores: the 1.5B with its draft.
        (Machine(ram_bytes=16 * GIB, cpu_cores=8), "qwen2.5-coder-1.5b", False),
        # Too little RAM for anything but the smallest.
        (Machine(ram_bytes=2 * GIB, cpu_cores=8), "qwen2.5-coder-0.5b", False),
        # One GPU that llama.cpp can use: the largest that fits, up to 7B for typing.
        (
            Machine(ram_bytes=64 * GIB, cpu_cores=16, gpu_name="H100", gpu_memory_bytes=80 * GIB, gpu_offload=True),
            "qwen2.5-coder-7b",
            True,
        ),
        (
            Machine(ram_bytes=32 * GIB, cpu_cores=8, gpu_name="RTX 3050", gpu_memory_bytes=4 * GIB, gpu_offload=True),
            "qwen2.5-coder-1.5b",
            True,
        ),
        # A GPU the build cannot use: sized for the CPU, and the note says how to use the GPU.
        (
            Machine(ram_bytes=32 * GIB, cpu_cores=2, gpu_name="RTX 4090", gpu_memory_bytes=24 * GIB),
            "qwen2.5-coder-0.5b",
            False,
        ),
    ],
)
def test_the_recommendation_fits_the_machine(machine: Machine, expected: str, on_gpu: bool) -> None:
    advice = recommend(machine, CATALOGUE)
    assert (advice.model, advice.on_gpu) == (expected, on_gpu)
    budget = machine.gpu_memory_bytes if on_gpu else machine.ram_bytes
    assert advice.memory_bytes <= budget
    if machine.gpu_name and not machine.gpu_offload:
        assert "CUDA" in advice.note


def test_a_machine_too_small_for_any_model_is_told_so() -> None:
    advice = recommend(Machine(ram_bytes=512 * 2**20, cpu_cores=1), CATALOGUE)
    assert advice.model == ""
    assert "remote" in advice.note
