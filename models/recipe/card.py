"""The model card of the embedded default pair: every figure measured by this command.

    python -m copilot.models.recipe.card --dir models/default

Reads what training recorded (``training.json``, ``copilot-draft.json``: corpus, sizes,
tokens, held-out loss) and measures the rest on the files as shipped: held-out single-line
FIM exact match on the corpus's held-out files, the same on HumanEval-FIM (evaluation data:
never trained on), and the draft's acceptance rate when it speculates for the target, with
the same decoding loop the server uses. Writes ``card.json`` and ``MODEL_CARD.md``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
from pathlib import Path
from typing import Any

from copilot.inference.decoding import DecodeCounters, greedy_steps
from copilot.inference.engine import default_threads
from copilot.inference.llama import LlamaSession
from copilot.inference.speculative import DraftModel, Speculator
from copilot.inference.vocabulary import Vocabulary
from copilot.prompt.fim import build_fim_prompt
from copilot.prompt.window import local_window

from .data import load_corpus, stdlib_root
from .distill import DRAFT_NAME
from .evaluate import complete_line, evaluate, sample_holes
from .train import GGUF_NAME

HUMANEVAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "humaneval-fim" / "py.jsonl.gz"


def humaneval_exact_match(model: Path, data: Path, limit: int = 0) -> dict[str, Any]:
    """Exact match (whitespace-stripped first line) on HumanEval-FIM single-line holes."""
    with gzip.open(data, "rt", encoding="utf-8") as file:
        rows = [json.loads(line) for line in file]
    rows = rows[:limit] if limit else rows
    vocabulary = Vocabulary(model)
    n_ctx = vocabulary.context_length or 2048
    session = LlamaSession(model, n_ctx=n_ctx, n_batch=min(512, n_ctx), n_threads=default_threads(), n_gpu_layers=0)
    exact = 0
    try:
        for row in rows:
            got = complete_line(session, vocabulary, row["prompt"], row["suffix"], budget=n_ctx - 64)
            exact += got.strip() == row["canonical_solution"].strip()
    finally:
        session.close()
    return {"exact_match": round(exact / len(rows), 4), "holes": len(rows), "data": data.name}


def draft_acceptance(target: Path, draft: Path, points: int, seed: int, max_tokens: int = 48) -> dict[str, Any]:
    """Share of drafted tokens the target accepts, drafting 8 at a time at held-out holes."""
    texts = load_corpus(stdlib_root(), held_out=True)
    vocabulary = Vocabulary(target)
    n_ctx = vocabulary.context_length or 2048
    threads = default_threads()
    target_session = LlamaSession(target, n_ctx=n_ctx, n_batch=min(512, n_ctx), n_threads=threads, n_gpu_layers=0)
    draft_session = LlamaSession(draft, n_ctx=n_ctx, n_batch=min(512, n_ctx), n_threads=threads, n_gpu_layers=0)
    speculator = Speculator([DraftModel(draft_session)], max_length=8, adaptive=False)
    counters = DecodeCounters()
    tokens = 0
    try:
        for prefix, _, suffix in sample_holes(texts, points, seed, at_word_start=True):
            window = local_window(prefix, suffix, n_ctx - max_tokens - 8, 0.25, vocabulary.encode)
            prompt = build_fim_prompt(vocabulary.fim, window.prefix, window.suffix)
            target_session.keep(0)
            target_session.decode(prompt)
            steps = greedy_steps(target_session, vocabulary, prompt, speculator=speculator, counters=counters)
            for n, step in enumerate(steps):
                if step.token in vocabulary.stop_tokens or n == max_tokens:
                    break
                tokens += 1
    finally:
        target_session.close()
        draft_session.close()
    return {
        "acceptance": round(counters.accepted / max(1, counters.drafted), 4),
        "tokens_per_target_forward": round(tokens / max(1, counters.forwards), 2),
        "points": points,
    }


def measure(folder: Path, humaneval: Path, samples: int, seed: int, baseline_draft: Path | None) -> dict[str, Any]:
    target, draft = folder / GGUF_NAME, folder / DRAFT_NAME
    training = json.loads((folder / "training.json").read_text())
    draft_card = json.loads((folder / "copilot-draft.json").read_text())
    card: dict[str, Any] = {
        "target": {
            "file": target.name,
            "bytes": target.stat().st_size,
            "parameters": training["parameters"],
            "corpus": training["corpus"],
            "training_files": training["training_files"],
            "held_out_files": training["held_out_files"],
            "tokens_seen": training["tokens_seen"],
            "held_out_loss": round(training["curve"][-1]["held_out_loss"], 4),
            "device": training["settings"].get("device", "cpu"),
            "held_out_fim": evaluate(target, samples=samples, seed=seed),
        },
        "draft": {
            "file": draft.name,
            "bytes": draft.stat().st_size,
            "parameters": draft_card["parameters"],
            "tokens_seen": draft_card["tokens_seen"],
            "kd_weight": float(draft_card["settings"]["kd_weight"]),
            "held_out_loss": round(draft_card["held_out"]["held_out_loss"], 4),
            "top1_agreement_with_target": round(draft_card["held_out"]["top1_agreement"], 4),
            "held_out_fim": evaluate(draft, samples=samples, seed=seed),
            "speculation": draft_acceptance(target, draft, points=samples // 3, seed=seed),
        },
    }
    if humaneval.is_file():
        card["target"]["humaneval_fim_py"] = humaneval_exact_match(target, humaneval)
    if baseline_draft is not None:
        baseline_card = json.loads(baseline_draft.with_suffix(".json").read_text())
        card["baseline_draft"] = {
            "file": str(baseline_draft),
            "kd_weight": float(baseline_card["settings"]["kd_weight"]),
            "held_out_loss": round(baseline_card["held_out"]["held_out_loss"], 4),
            "top1_agreement_with_target": round(baseline_card["held_out"]["top1_agreement"], 4),
            "speculation": draft_acceptance(target, baseline_draft, points=samples // 3, seed=seed),
        }
    return card


def markdown(card: dict[str, Any]) -> str:
    t, d = card["target"], card["draft"]
    he = t.get("humaneval_fim_py")

    def exact(model: dict[str, Any], where: str) -> str:
        return f"{model['held_out_fim'][where]['exact_match']:.1%}"

    rows = [
        ("parameters", f"{t['parameters'] / 1e6:.2f}M", f"{d['parameters'] / 1e6:.2f}M"),
        ("file (f16)", f"{t['bytes'] / 1e6:.1f} MB", f"{d['bytes'] / 1e6:.1f} MB"),
        ("training tokens", f"{t['tokens_seen'] / 1e6:.1f}M", f"{d['tokens_seen'] / 1e6:.1f}M, KD {d['kd_weight']}"),
        ("held-out loss (nats/token)", t["held_out_loss"], d["held_out_loss"]),
        ("held-out single-line FIM exact match, at a word start", exact(t, "word_start"), exact(d, "word_start")),
        ("same, cursor anywhere in the line", exact(t, "any_point"), exact(d, "any_point")),
        (
            f"HumanEval-FIM Python single-line exact match ({he['holes']} holes)" if he else "HumanEval-FIM",
            f"{he['exact_match']:.1%}" if he else "not measured (data not found)",
            "",
        ),
        ("top-1 agreement with the target (held-out tokens)", "", f"{d['top1_agreement_with_target']:.1%}"),
        ("draft acceptance when speculating for the target", "", f"{d['speculation']['acceptance']:.1%}"),
    ]
    lines = [
        "# Model card: the embedded default pair",
        "",
        "Every figure below was produced by `make model-card` (`python -m copilot.models.recipe.card`;",
        "quality figures do not depend on the machine). Training settings and loss curves:",
        "`training.json`, `copilot-draft.json`; measurements: `card.json`.",
        "",
        "| | target `copilot-default.gguf` | draft `copilot-draft.gguf` |",
        "| --- | --- | --- |",
        *(f"| {label} | {a} | {b} |" for label, a, b in rows),
        "",
        f"Corpus: the {t['corpus']} of the Python that ran the recipe ({t['training_files']} files;",
        f"{t['held_out_files']} held out by a hash of their path, never trained on), trained on {t['device']}.",
        "Tokenizer: byte-level BPE, 4,096 tokens, Qwen2.5-Coder's special-token names; the draft",
        "uses the target's. Every matrix dimension is a multiple of 256, so K-quants apply without fallback.",
    ]
    if "baseline_draft" in card:
        b = card["baseline_draft"]
        lines += [
            "",
            "The same draft architecture trained on the corpus alone (no distillation, same steps and",
            f"data): held-out loss {b['held_out_loss']}, top-1 agreement with the target "
            f"{b['top1_agreement_with_target']:.1%}, acceptance {b['speculation']['acceptance']:.1%} "
            f"(distilled: {d['top1_agreement_with_target']:.1%}, {d['speculation']['acceptance']:.1%}).",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("models/default"))
    parser.add_argument("--humaneval", type=Path, default=HUMANEVAL.resolve())
    parser.add_argument("--baseline-draft", type=Path, default=None, help="an undistilled draft to compare with")
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    random.seed(args.seed)
    card = measure(args.dir, args.humaneval, args.samples, args.seed, args.baseline_draft)
    (args.dir / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    (args.dir / "MODEL_CARD.md").write_text(markdown(card))
    print(markdown(card))


if __name__ == "__main__":
    main()
