"""Held-out quality of a GGUF model on the fill-in-the-middle task the editor poses.

At seeded random points inside lines of held-out files (never trained on), the model sees
the code before and after the cursor and writes the rest of the line; the answer is
scored by exact match and by edit similarity (difflib's ratio) against the real text.
Decoding is the server's own: llama.cpp through ``copilot.llama``, greedy.

    python -m copilot.models.recipe.evaluate --model models/default/copilot-default.gguf
"""

from __future__ import annotations

import argparse
import difflib
import json
import random
import statistics
from pathlib import Path
from typing import Any

from copilot.inference.decoding import greedy_steps
from copilot.inference.llama import LlamaSession
from copilot.inference.vocabulary import Vocabulary
from copilot.prompt.fim import build_fim_prompt
from copilot.prompt.healing import split_heal
from copilot.prompt.window import local_window

from .data import load_corpus, stdlib_root


def sample_holes(texts: list[str], count: int, seed: int, at_word_start: bool) -> list[tuple[str, str, str]]:
    """(prefix, expected rest of line, suffix) at random points inside non-trivial lines;
    with ``at_word_start`` only where a word could begin (after a blank or punctuation),
    which spares the model the token boundary inside a half-typed word."""
    rng = random.Random(seed)
    holes = []
    while len(holes) < count:
        text = rng.choice(texts)
        lines = text.split("\n")
        index = rng.randrange(len(lines))
        line = lines[index]
        body = line.lstrip()
        if len(body) < 6 or body.startswith("#"):
            continue
        indent = len(line) - len(body)
        cuts = range(indent + 1, len(line))
        if at_word_start:
            cuts = [c for c in cuts if not (line[c - 1].isalnum() or line[c - 1] == "_")]
            if not cuts:
                continue
        cut = rng.choice(cuts)
        start = sum(len(x) + 1 for x in lines[:index])
        holes.append((text[: start + cut], line[cut:], text[start + len(line) :]))
    return holes


def complete_line(session: LlamaSession, vocabulary: Vocabulary, prefix: str, suffix: str, budget: int) -> str:
    """The rest of the line as the server writes it: same prompt, token healing, greedy."""
    prompt_prefix, heal = split_heal(prefix)
    window = local_window(prompt_prefix, suffix, budget, 0.25, vocabulary.encode)
    prompt = build_fim_prompt(vocabulary.fim, window.prefix, window.suffix)
    session.keep(0)
    session.decode(prompt)
    written = b""
    for step, _ in zip(greedy_steps(session, vocabulary, prompt, heal=heal.encode()), range(48), strict=False):
        if step.token in vocabulary.stop_tokens:
            break
        written += step.piece
        if b"\n" in written[len(heal.encode()) :]:
            break
    return written.decode("utf-8", "replace")[len(heal) :].split("\n", 1)[0]


def evaluate(model: Path, samples: int, seed: int, corpus: Path | None = None) -> dict[str, Any]:
    """Line completion quality with the cursor anywhere in a line, and at a word start."""
    texts = load_corpus(corpus or stdlib_root(), held_out=True)
    return {
        "any_point": _score(model, sample_holes(texts, samples, seed, at_word_start=False)),
        "word_start": _score(model, sample_holes(texts, samples, seed, at_word_start=True)),
        "samples": samples,
        "seed": seed,
    }


def _score(model: Path, holes: list[tuple[str, str, str]]) -> dict[str, Any]:
    vocabulary = Vocabulary(model)
    n_ctx = vocabulary.context_length or 2048
    session = LlamaSession(model, n_ctx=n_ctx, n_batch=min(512, n_ctx), n_threads=2, n_gpu_layers=0)
    exact, similarity, examples = 0, [], []
    try:
        for prefix, expected, suffix in holes:
            got = complete_line(session, vocabulary, prefix, suffix, budget=n_ctx - 64)
            exact += got.strip() == expected.strip()
            similarity.append(difflib.SequenceMatcher(None, got.strip(), expected.strip()).ratio())
            if len(examples) < 4:
                examples.append({"before": prefix[-60:], "expected": expected, "got": got})
    finally:
        session.close()
    return {
        "exact_match": round(exact / len(holes), 4),
        "edit_similarity": round(statistics.mean(similarity), 4),
        "examples": examples,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    print(json.dumps(evaluate(args.model, args.samples, args.seed), indent=2))


if __name__ == "__main__":
    main()
