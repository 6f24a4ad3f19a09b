"""quality: exact match and edit similarity of single-line completions, with and without
context retrieved from outside the local window.

Held-out code: the sources of installed packages (the default model trained on the Python
standard library only). Each package folder is a workspace, indexed as the server indexes
one. Holes are cut right after a call's or attribute access's ``name(`` / ``name.`` and end at
the line's end (what the model must write: the arguments, the attribute):
- ``crossfile``: the name is defined in another file of the package only (where its
  definition, retrieved, tells the model the parameters it cannot otherwise know);
- ``any``: a name of any origin (to see that the extra context does not hurt elsewhere).
Generation is greedy through the real pipeline (cache off), so the only difference between
the two runs is the retrieved context.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import importlib.util
import random
import re
import statistics
from pathlib import Path
from typing import Any

import msgspec

from copilot.config import Config, apply_layer
from copilot.documents import DocumentStore, Position
from copilot.privacy import IgnoreRules
from copilot.session import build_pipeline
from copilot.symbols import WorkspaceIndex

from .report import write

DEFAULT_PACKAGES = ("pygls", "_pytest", "pathspec", "tqdm", "hypothesis")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{3,}(?=[(.])")


class Hole(msgspec.Struct, frozen=True, kw_only=True):
    kind: str  # "crossfile" or "any"
    root: str
    path: str
    line: int
    column: int
    name: str
    target: str  # the rest of the line from the cut


def package_root(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def make_holes(root: Path, per_kind: int, rng: random.Random) -> list[Hole]:
    index = WorkspaceIndex(root, IgnoreRules.for_root(root), max_files=2000, max_file_bytes=300_000)
    index.start()
    index.done.wait()
    files = sorted(root.rglob("*.py"))
    found: dict[str, list[Hole]] = {"crossfile": [], "any": []}
    attempts = 0
    while min(len(v) for v in found.values()) < per_kind and attempts < per_kind * 200:
        attempts += 1
        path = rng.choice(files)
        lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
        if len(lines) < 20:
            continue
        number = rng.randrange(10, len(lines))
        line = lines[number]
        if not line.strip() or line.strip().startswith(("#", '"', "'", "def ", "class ", "import ", "from ")):
            continue
        names = [m for m in NAME.finditer(line) if m.start() > len(line) - len(line.lstrip())]
        if not names:
            continue
        match = rng.choice(names)
        elsewhere = [s for s in index.lookup(match.group()) if s.path != str(path)]
        kind = "crossfile" if elsewhere and not any(s.path == str(path) for s in index.lookup(match.group())) else "any"
        cut = match.end() + 1  # after the "(" or "."
        if len(found[kind]) < per_kind and len(line.rstrip()) - cut >= 4:
            found[kind].append(
                Hole(
                    kind=kind,
                    root=str(root),
                    path=str(path),
                    line=number,
                    column=cut,
                    name=match.group(),
                    target=line[cut:].rstrip(),
                )
            )
    index.stop()
    return found["crossfile"] + found["any"]


def edit_similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


async def complete_all(holes: list[Hole], retrieval: bool, config: Config) -> list[dict[str, Any]]:
    results = []
    by_root: dict[str, list[Hole]] = {}
    for hole in holes:
        by_root.setdefault(hole.root, []).append(hole)
    for root, group in by_root.items():
        documents = DocumentStore()
        pipeline = build_pipeline(config, documents if retrieval else None, Path(root))
        index = pipeline.retriever.index if pipeline.retriever else None
        if index is not None:
            index.done.wait()
        try:
            for hole in group:
                uri = Path(hole.path).as_uri()
                text = Path(hole.path).read_text(encoding="utf-8", errors="replace")
                lines = text.split("\n")
                # The file as it was while the line was being written: the rest of the line is not there yet.
                lines[hole.line] = lines[hole.line][: hole.column]
                document = documents.open(uri, "python", 0, "\n".join(lines))
                pipeline.opened(uri)
                snapshot = document.snapshot(Position(line=hole.line, character=hole.column), "utf-32")
                inspected = pipeline.inspect(snapshot) if retrieval else {"snippets": []}
                result = await pipeline.complete(snapshot)
                documents.close(uri)
                pipeline.forget(uri)
                got = result.text.split("\n", 1)[0].rstrip()
                results.append(
                    {
                        "kind": hole.kind,
                        "exact": got == hole.target,
                        "similarity": edit_similarity(got, hole.target),
                        "definition_in_prompt": any(
                            s["reason"].startswith(f"defines {hole.name}") for s in inspected["snippets"]
                        ),
                    }
                )
        finally:
            pipeline.close()
    return results


def summary(results: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    chosen = [r for r in results if r["kind"] == kind]
    if not chosen:
        return {"n": 0}
    return {
        "n": len(chosen),
        "exact_match": round(sum(r["exact"] for r in chosen) / len(chosen), 4),
        "edit_similarity": round(statistics.fmean(r["similarity"] for r in chosen), 4),
        "definition_in_prompt": round(sum(r["definition_in_prompt"] for r in chosen) / len(chosen), 4),
    }


def held_out_holes(packages: list[str], per_kind: int, seed: int) -> list[Hole]:
    """The holes of every installed package among ``packages``, reproducibly from ``seed``."""
    rng = random.Random(seed)
    holes: list[Hole] = []
    for name in packages:
        root = package_root(name)
        if root is not None:
            holes.extend(make_holes(root, per_kind, rng))
    return holes


def run(args: argparse.Namespace) -> dict[str, Any]:
    holes = held_out_holes(args.packages, args.holes, args.seed)
    overrides: dict[str, Any] = {
        "cache": {"enabled": False, "prefetch": False},
        "completion": {"debounce_ms": 0, "max_lines": 1},
    }
    if args.model:
        overrides["model"] = {"path": args.model}
    config = apply_layer(Config(), overrides, "bench")
    result: dict[str, Any] = {"model": args.model or "default", "packages": list(args.packages), "holes": len(holes)}
    for mode, retrieval in (("with_context", True), ("window_only", False)):
        results = asyncio.run(complete_all(holes, retrieval, config))
        result[mode] = {kind: summary(results, kind) for kind in ("crossfile", "any")}
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="", help="GGUF (default: the embedded model)")
    parser.add_argument("--packages", nargs="+", default=list(DEFAULT_PACKAGES))
    parser.add_argument("--holes", type=int, default=40, help="per kind and package")
    parser.add_argument("--seed", type=int, default=7)


def main(args: argparse.Namespace) -> None:
    if args.smoke:
        args.packages, args.holes = ["pathspec"], 3
    result = run(args)
    write("quality", result, args.out or Path("bench/results/quality.json"))
    print("| holes | context | n | exact match | edit similarity | definition in prompt |")
    print("| --- | --- | --- | --- | --- | --- |")
    for kind in ("crossfile", "any"):
        for mode in ("with_context", "window_only"):
            s = result[mode][kind]
            if s["n"]:
                print(
                    f"| {kind} | {mode} | {s['n']} | {s['exact_match']} | {s['edit_similarity']} "
                    f"| {s['definition_in_prompt']} |"
                )
