"""Quantise a GGUF with llama.cpp's own quantiser (through llama-cpp-python), and measure
how often the quantised model's greedy choice is the original's.

The output is written next to its final name and renamed into place when complete, so an
interrupted or failed run never leaves a half-written model where the server looks.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import llama_cpp

from copilot.errors import ModelError
from copilot.inference.gguf_info import read_info, require_completion_model

# The types worth offering for code completion (llama.cpp supports more: see its docs).
TYPES: dict[str, int] = {
    "f16": llama_cpp.LLAMA_FTYPE_MOSTLY_F16,
    "q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0,
    "q6_k": llama_cpp.LLAMA_FTYPE_MOSTLY_Q6_K,
    "q5_k_m": llama_cpp.LLAMA_FTYPE_MOSTLY_Q5_K_M,
    "q4_k_m": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M,
    "q4_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0,
}


def quantize(source: Path, output: Path, type_name: str, threads: int = 0) -> Path:
    """Write ``source`` quantised to ``type_name`` at ``output``; ModelError when it cannot."""
    ftype = TYPES.get(type_name.lower())
    if ftype is None:
        raise ModelError(f"unknown quantisation type {type_name!r}; choose one of {', '.join(TYPES)}")
    require_completion_model(read_info(source))  # a corrupt or unusable file fails here, clearly
    if output.resolve() == source.resolve():
        raise ModelError("the output would overwrite the input: choose another file name")
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads
    params.allow_requantize = True  # quantising a quantised file works (with more loss): allowed, not advised
    try:
        status = llama_cpp.llama_model_quantize(str(source).encode(), str(partial).encode(), params)
        if status != 0:
            raise ModelError(f"llama.cpp could not quantise {source.name} to {type_name} (status {status})")
        os.replace(partial, output)
    except OSError as exc:
        raise ModelError(f"cannot write {output}: {exc.strerror}") from None
    finally:
        partial.unlink(missing_ok=True)
    return output


def greedy_agreement(reference: Path, candidate: Path, prompts: int = 24, tokens: int = 32, seed: int = 7) -> float:
    """Share of next-token choices where ``candidate``'s greedy pick is ``reference``'s, both
    fed the reference's own greedy continuation (teacher forcing: one early difference does
    not turn every later token into a miss). Prompts are held-out files neither model saw."""
    from copilot.inference.engine import default_threads
    from copilot.inference.llama import LlamaSession
    from copilot.inference.vocabulary import Vocabulary

    from .recipe.data import load_corpus, stdlib_root

    texts = [t for t in load_corpus(stdlib_root(), held_out=True) if len(t) > 2000]
    rng = random.Random(seed)
    vocabulary = Vocabulary(reference)
    n_ctx = 512
    ref, cand = (
        LlamaSession(p, n_ctx=n_ctx, n_batch=n_ctx, n_threads=default_threads(), n_gpu_layers=0)
        for p in (reference, candidate)
    )
    agree = total = 0
    try:
        for _ in range(prompts):
            text = rng.choice(texts)
            start = rng.randrange(max(1, len(text) - 2000))
            prompt = vocabulary.encode(text[start : start + 1500])[-(n_ctx - tokens - 8) :]
            ref.keep(0)
            ref.decode(prompt)
            written = []
            for _ in range(tokens):
                written.append(ref.argmax())
                ref.decode([written[-1]])
            cand.keep(0)
            cand.decode(prompt[:-1])
            cand.decode([prompt[-1], *written[:-1]], all_logits=True)
            choices = cand.all_logits().argmax(axis=1)
            agree += int(sum(int(c) == w for c, w in zip(choices, written, strict=True)))
            total += len(written)
    finally:
        ref.close()
        cand.close()
    return agree / max(1, total)
