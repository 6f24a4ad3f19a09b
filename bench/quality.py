"""quality: exact match and edit similarity of single- and multi-line completions, on held-out code with and
without context retrieved from outside the local window, and on HumanEval-FIM.

Held-out code: the sources of installed packages (the default model trained on the Python
standard library only). Each package folder is a workspace, indexed as the server indexes
one. Single-line holes are cut right after a call's or attribute access's ``name(`` / ``name.``
and end at the line's end (what the model must write: the arguments, the attribute):
- ``crossfile``: the name is defined in another file of the package only (where its
  definition, retrieved, tells the model the parameters it cannot otherwise know);
- ``any``: a name of any origin (to see that the extra context does not hurt elsewhere).
Multi-line holes (``block``): the whole body of a block header (``def``, ``if``, ``for``...
ending in ``:``) of 2 to 4 lines is removed; the cursor sits on the empty first body line,
its indentation typed, where the server asks the model for a block (``completion.max_lines``);
the whole text is compared, each line right-stripped. Answers keep the server's
``completion.max_tokens``, which some long blocks exceed: their exact match is out of reach.

HumanEval-FIM (``../shared/data/humaneval-fim``, evaluation data only): the single-line set
in Python, Java and JavaScript, plus block holes cut the same way from the Python programs.
Single files: there is no cross-file context to retrieve, so they run once, window only.

Generation is greedy through the real pipeline (cache off), so the only difference between
the with- and without-context runs is the retrieved context.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from copilot.assembly import build_pipeline
from copilot.config import Config
from copilot.context.privacy import IgnoreRules
from copilot.context.symbols import WorkspaceIndex
from copilot.documents import DocumentStore, Position

from .fim import (
    BLOCK_LINES,
    SINGLE_KINDS,
    bench_config,
    block_bodies,
    block_target,
    complete_at,
    completes_as_block,
    indent_of,
    scored,
    summary,
    without_hole,
)
from .humaneval import SMOKE_HUMANEVAL, humaneval, print_humaneval
from .report import write

DEFAULT_PACKAGES = ("pygls", "_pytest", "pathspec", "tqdm", "hypothesis")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{3,}(?=[(.])")
KINDS = (*SINGLE_KINDS, "block")


class Hole(msgspec.Struct, frozen=True, kw_only=True):
    kind: str  # "crossfile", "any" or "block"
    root: str
    path: str
    line: int
    column: int
    name: str  # the called or accessed name; "" for a block
    target: str  # the text from the cut: the rest of the line, or a block's lines
    lines: int = 1  # document lines the hole removes from ``line`` on (the rest of one line, or a block's body)


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


def make_block_holes(root: Path, count: int, rng: random.Random) -> list[Hole]:
    """``count`` holes drawn from all the package's block bodies that the server completes as a block (fewer if
    it has too few): drawn from bodies, not files, so that a package of a few large files still gives its share."""
    bodies = []
    for path in sorted(root.rglob("*.py")):
        lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
        bodies += [(path, lines, line, span) for line, span in block_bodies(lines)]
    rng.shuffle(bodies)
    holes: list[Hole] = []
    for path, lines, line, span in bodies:
        if len(holes) == count:
            break
        if completes_as_block(lines, line, span):
            holes.append(
                Hole(
                    kind="block",
                    root=str(root),
                    path=str(path),
                    line=line,
                    column=indent_of(lines[line]),
                    name="",
                    target=block_target(lines, line, span),
                    lines=span,
                )
            )
    return holes


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
                lines = Path(hole.path).read_text(encoding="utf-8", errors="replace").split("\n")
                text = without_hole(lines, hole.line, hole.column, hole.lines)
                position, uri = Position(line=hole.line, character=hole.column), Path(hole.path).as_uri()
                got, snippets = await complete_at(pipeline, documents, uri, "python", text, position)
                results.append(
                    {
                        "kind": hole.kind,
                        **scored(got, hole.target, "block" if hole.kind == "block" else "line"),
                        "definition_in_prompt": bool(hole.name)
                        and any(s["reason"].startswith(f"defines {hole.name}") for s in snippets),
                    }
                )
        finally:
            pipeline.close()
    return results


def held_out_holes(packages: list[str], per_kind: int, seed: int) -> list[Hole]:
    """The holes of every installed package among ``packages``, reproducibly from ``seed``."""
    return _package_holes(packages, per_kind, random.Random(seed), make_holes)


def held_out_block_holes(packages: list[str], per_package: int, seed: int) -> list[Hole]:
    """The block holes, from a generator of their own: the single-line holes stay those of earlier runs."""
    return _package_holes(packages, per_package, random.Random(f"block-{seed}"), make_block_holes)


def _package_holes(
    packages: list[str], count: int, rng: random.Random, make: Callable[[Path, int, random.Random], list[Hole]]
) -> list[Hole]:
    holes: list[Hole] = []
    for name in packages:
        root = package_root(name)
        if root is not None:
            holes.extend(make(root, count, rng))
    return holes


def held_out(args: argparse.Namespace) -> dict[str, Any]:
    """Every kind of hole with and without the retrieved context. Single-line kinds run with
    ``max_lines = 1``, blocks with the server's default, so that each is completed as the editor would."""
    holes = held_out_holes(args.packages, args.holes, args.seed)
    blocks = held_out_block_holes(args.packages, args.holes, args.seed)
    line_config, block_config = bench_config(args.model, 1), bench_config(args.model, BLOCK_LINES)
    result: dict[str, Any] = {"packages": list(args.packages), "holes": len(holes) + len(blocks)}
    for mode, retrieval in (("with_context", True), ("window_only", False)):
        results = asyncio.run(complete_all(holes, retrieval, line_config))
        results += asyncio.run(complete_all(blocks, retrieval, block_config))
        result[mode] = {kind: summary(results, kind) for kind in KINDS}
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"model": args.model or "default", "seed": args.seed}
    if "heldout" in args.parts:
        result.update(held_out(args))  # at the top level, as before the HumanEval part existed
    if "humaneval" in args.parts:
        result["humaneval"] = humaneval(args)
    return result


def parts(text: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    if not chosen or set(chosen) - {"heldout", "humaneval"}:
        raise argparse.ArgumentTypeError(f"expected heldout, humaneval or both, comma-separated; got {text!r}")
    return chosen


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="", help="GGUF (default: the embedded model)")
    parser.add_argument("--packages", nargs="+", default=list(DEFAULT_PACKAGES))
    parser.add_argument("--holes", type=int, default=40, help="per kind and package")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--humaneval", type=int, default=0, help="HumanEval-FIM rows per language (default: all)")
    parser.add_argument("--parts", type=parts, default=["heldout", "humaneval"], help="heldout,humaneval (default)")


def print_held_out(result: dict[str, Any]) -> None:
    print("| holes | context | n | exact match | edit similarity | definition in prompt |")
    print("| --- | --- | --- | --- | --- | --- |")
    for kind in KINDS:
        for mode in ("with_context", "window_only"):
            s = result[mode][kind]
            if s["n"]:
                definition = s.get("definition_in_prompt", "-")
                print(f"| {kind} | {mode} | {s['n']} | {s['exact_match']} | {s['edit_similarity']} | {definition} |")


def main(args: argparse.Namespace) -> None:
    if args.smoke:
        args.packages, args.holes, args.humaneval = ["pathspec"], 3, SMOKE_HUMANEVAL
    result = run(args)
    write("quality", result, args.out or Path("bench/results/quality.json"))
    if "with_context" in result:
        print_held_out(result)
        print()
    if "humaneval" in result:
        print_humaneval(result["humaneval"])
