"""Which catalogue model suits this machine: what each size needs in memory, and what it
costs per keystroke on a CPU, measured (BENCHMARKS.md, "Sizes that matter").

The recommendation (``copilot-lsp doctor``) is a pure function of the machine's facts, so
it is tested without the machine; ``this_machine`` reads them (RAM, cores, an NVIDIA GPU
and whether this llama.cpp build can offload to it).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import msgspec

from .catalogue import CatalogueModel

GIB = 2**30
# Bytes per weight of the quantisations the catalogue's files use (llama.cpp's block sizes).
BYTES_PER_WEIGHT = {"q8_0": 34 / 32, "q6_k": 210 / 256, "q5_k_m": 176 / 256, "q4_k_m": 144 / 256, "q4_0": 18 / 32}
OVERHEAD = 1.2  # KV cache at the default context, compute buffers, the process itself
FAMILY = "qwen2_5_coder"  # the family recommended: FIM-trained, every size with a shared draft
LARGEST_FOR_TYPING = 7.7  # billions: larger models answer too slowly for suggestions while typing
# Measured on 2 CPU cores (BENCHMARKS.md, "Sizes that matter"): a 1.5B Q8_0 keystroke costs
# 2.4 s at the median, prefill bound. Cores share the work about linearly up to 8.
CPU_SECONDS_PER_B_PARAMETERS_AT_2_CORES = 2.4 / 1.54


class Machine(msgspec.Struct, frozen=True, kw_only=True):
    ram_bytes: int
    cpu_cores: int
    gpu_name: str = ""  # "" when there is no NVIDIA GPU
    gpu_memory_bytes: int = 0
    gpu_offload: bool = False  # this llama.cpp build can use the GPU (a CUDA build)


class Recommendation(msgspec.Struct, frozen=True, kw_only=True):
    model: str  # catalogue name; "" when none fits
    memory_bytes: int  # what it needs, with its draft
    on_gpu: bool
    cpu_keystroke_s: float  # estimated, per keystroke, on this machine's cores (0: on the GPU)
    note: str  # what to do, in one sentence


def weight_bytes(model: CatalogueModel) -> int:
    """The model file's size, from its parameters and the quantisation its name says (Q8_0 if none)."""
    name = model.file.lower()
    per_weight = next((size for quant, size in BYTES_PER_WEIGHT.items() if quant in name), BYTES_PER_WEIGHT["q8_0"])
    return int(model.parameters_b * 1e9 * per_weight)


def memory_needed(model: CatalogueModel, catalogue: dict[str, CatalogueModel]) -> int:
    """Resident memory (RAM, or GPU memory when offloaded) of the model and its draft."""
    draft = catalogue.get(model.draft) if model.draft and model.use_draft else None
    weights = weight_bytes(model) + (weight_bytes(draft) if draft is not None else 0)
    return int(weights * OVERHEAD)


def cpu_keystroke_seconds(model: CatalogueModel, cores: int) -> float:
    return CPU_SECONDS_PER_B_PARAMETERS_AT_2_CORES * model.parameters_b * 2 / max(1, min(cores, 8))


def recommend(machine: Machine, catalogue: dict[str, CatalogueModel]) -> Recommendation:
    """The largest model of the recommended family that fits: in GPU memory when llama.cpp
    can offload to the GPU, else in RAM and fast enough on the CPU to answer while typing
    (within about a second per keystroke, or the smallest one)."""
    sizes = sorted(
        (
            m
            for m in catalogue.items()
            if m[1].family == FAMILY and m[1].task == "completion" and m[1].parameters_b <= LARGEST_FOR_TYPING
        ),
        key=lambda item: item[1].parameters_b,
    )
    if not sizes:
        return Recommendation(model="", memory_bytes=0, on_gpu=False, cpu_keystroke_s=0.0, note="no model to suggest")
    on_gpu = machine.gpu_offload and machine.gpu_memory_bytes > 0
    budget = int(machine.gpu_memory_bytes * 0.9) if on_gpu else int(machine.ram_bytes * 0.5)
    fitting = [(name, model) for name, model in sizes if memory_needed(model, catalogue) <= budget]
    if not on_gpu:
        fast = [(name, model) for name, model in fitting if cpu_keystroke_seconds(model, machine.cpu_cores) <= 1.0]
        fitting = fast or fitting[:1]
    if not fitting:
        name, model = sizes[0]
        where = "GPU memory" if on_gpu else "half of the RAM"
        return Recommendation(
            model="",
            memory_bytes=memory_needed(model, catalogue),
            on_gpu=on_gpu,
            cpu_keystroke_s=0.0,
            note=f"even {name} needs more than {where}: use a remote model for suggestions (README)",
        )
    name, model = fitting[-1]
    seconds = 0.0 if on_gpu else cpu_keystroke_seconds(model, machine.cpu_cores)
    if on_gpu:
        note = f"runs on {machine.gpu_name}: set model.n_gpu_layers = -1"
    elif machine.gpu_name:
        note = (
            f"{machine.gpu_name} is not used by this llama.cpp build: rebuild with "
            '`make run CMAKE_ARGS="-DGGML_CUDA=on"` for a larger, faster model'
        )
    else:
        note = f"on {machine.cpu_cores} CPU cores about {seconds:.1f} s per keystroke (estimated from measurements)"
    return Recommendation(
        model=name, memory_bytes=memory_needed(model, catalogue), on_gpu=on_gpu, cpu_keystroke_s=seconds, note=note
    )


def this_machine() -> Machine:
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    name, memory = _nvidia_gpu()
    return Machine(
        ram_bytes=ram,
        cpu_cores=len(os.sched_getaffinity(0)),
        gpu_name=name,
        gpu_memory_bytes=memory,
        gpu_offload=bool(name) and _llama_offloads(),
    )


def _nvidia_gpu() -> tuple[str, int]:
    """The first NVIDIA GPU's name and memory, from nvidia-smi; ("", 0) without one."""
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return "", 0
    query = [tool, "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"]
    try:
        answer = subprocess.run(query, capture_output=True, text=True, timeout=5, check=True).stdout
        name, mib = answer.splitlines()[0].rsplit(",", 1)
        return name.strip(), int(float(mib)) * 2**20
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return "", 0


def _llama_offloads() -> bool:
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())
