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
import difflib
import gzip
import importlib.util
import json
import random
import re
import statistics
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import msgspec

from copilot import postprocess
from copilot.config import Config, apply_layer
from copilot.documents import DocumentStore, Position
from copilot.pipeline import Pipeline
from copilot.privacy import IgnoreRules
from copilot.session import build_pipeline
from copilot.symbols import WorkspaceIndex

from .report import write

DEFAULT_PACKAGES = ("pygls", "_pytest", "pathspec", "tqdm", "hypothesis")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{3,}(?=[(.])")
SINGLE_KINDS = ("crossfile", "any")
KINDS = (*SINGLE_KINDS, "block")
# A Python line that opens a block; the server checks it with tree-sitter too (see ``completes_as_block``).
BLOCK_HEADER = re.compile(
    r"^\s*(?:async\s+)?(?:def|class|if|elif|else|for|while|with|try|except|finally|match|case)\b.*:\s*$"
)
BLOCK_LINES = 4  # the server's ``completion.max_lines`` default: the most lines it writes for a block
MIN_BLOCK_LINES = 2  # a body of one line is a single-line hole in all but name
HUMANEVAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "humaneval-fim"
HUMANEVAL_LANGUAGES = {"py": "python", "java": "java", "js": "javascript"}  # file -> the server's language id
SMOKE_HUMANEVAL = 5
Row = dict[str, str]  # a HumanEval-FIM row: name, language, prompt, suffix, canonical_solution, tests


class Hole(msgspec.Struct, frozen=True, kw_only=True):
    kind: str  # "crossfile", "any" or "block"
    root: str
    path: str
    line: int
    column: int
    name: str  # the called or accessed name; "" for a block
    target: str  # the text from the cut: the rest of the line, or a block's lines
    lines: int = 1  # document lines the hole removes from ``line`` on (the rest of one line, or a block's body)


class Case(msgspec.Struct, frozen=True, kw_only=True):
    """One HumanEval-FIM completion: the document as it was while being written, the cursor and the answer."""

    language: str  # "py", "java" or "js"
    name: str
    text: str
    line: int
    column: int
    target: str  # from the cursor on
    multi_line: bool


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


# --- block holes ------------------------------------------------------------------------------


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def block_bodies(lines: list[str], max_lines: int = BLOCK_LINES) -> list[tuple[int, int]]:
    """(first body line, lines) of every block body that the server could write whole: right after a header
    line, deeper than it, ``MIN_BLOCK_LINES`` to ``max_lines`` lines long (blank lines inside count, as
    they do for the server's line limit). Only whole bodies: with more of the body left after the cursor
    the server asks for one line, not a block (``postprocess.wants_block``)."""
    bodies = []
    for number, header in enumerate(lines[:-1]):
        first = lines[number + 1]
        if not BLOCK_HEADER.match(header) or not first.strip() or _indent(first) <= _indent(header):
            continue
        end = number + 1  # one past the body's last non-empty line
        for later in range(number + 1, len(lines)):
            if lines[later].strip():
                if _indent(lines[later]) < _indent(first):
                    break
                end = later + 1
        if MIN_BLOCK_LINES <= end - number - 1 <= max_lines:
            bodies.append((number + 1, end - number - 1))
    return bodies


def without_hole(lines: list[str], line: int, column: int, count: int) -> str:
    """The document as it was while the hole was being written: its ``count`` lines from ``line`` on are
    gone but for the first ``column`` characters of the first (typed already); the rest stays."""
    return "\n".join([*lines[:line], lines[line][:column], *lines[line + count :]])


def block_target(lines: list[str], line: int, count: int) -> str:
    """A block's text from the cursor: its first line after the typed indentation, then whole lines."""
    return "\n".join(lines[line : line + count])[_indent(lines[line]) :]


def completes_as_block(lines: list[str], line: int, count: int) -> bool:
    """Whether the server asks for a block at the hole's cursor: a header that tree-sitter says opens no block
    (in a string, a docstring's example) gets one line, and its hole would measure the line limit, not the model."""
    column = _indent(lines[line])
    text = without_hole(lines, line, column, count)
    offset = sum(len(x) + 1 for x in lines[:line]) + column
    return postprocess.wants_block(text[:offset], text[offset:], "python")


def block_hole_in(lines: list[str], rng: random.Random) -> tuple[int, int] | None:
    """A seeded choice among the file's block bodies that the server completes as a block; None if none."""
    bodies = block_bodies(lines)
    rng.shuffle(bodies)
    return next(((line, count) for line, count in bodies if completes_as_block(lines, line, count)), None)


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
                    column=_indent(lines[line]),
                    name="",
                    target=block_target(lines, line, span),
                    lines=span,
                )
            )
    return holes


# --- completing and scoring -----------------------------------------------------------------


def edit_similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def normalized(text: str) -> str:
    """Lines right-stripped, trailing empty lines dropped: whitespace a user would not see is no error."""
    return "\n".join(line.rstrip() for line in text.split("\n")).rstrip("\n")


# How an answer and its target are compared, per kind of hole (the same function on both).
COMPARED: dict[str, Callable[[str], str]] = {
    # Held-out single line: the first line, right-stripped; the cut is mid-line, so a leading blank is an error.
    "line": lambda text: text.split("\n", 1)[0].rstrip(),
    # HumanEval-FIM single line: the literature's metric, the first line stripped of all surrounding whitespace.
    "stripped_line": lambda text: text.split("\n", 1)[0].strip(),
    # A block: the whole text, normalized.
    "block": normalized,
}


def scored(got: str, target: str, compared: str) -> dict[str, Any]:
    """Exact match and edit similarity of ``got`` against ``target``, both as ``COMPARED[compared]`` sees them."""
    got, target = COMPARED[compared](got), COMPARED[compared](target)
    return {"exact": got == target, "similarity": edit_similarity(got, target)}


async def complete_at(
    pipeline: Pipeline, documents: DocumentStore, uri: str, language_id: str, text: str, position: Position
) -> tuple[str, list[dict[str, Any]]]:
    """The pipeline's completion at ``position`` in a freshly opened document, and the snippets its prompt
    got (none without a retriever). The document is forgotten after: no state carries to the next hole."""
    document = documents.open(uri, language_id, 0, text)
    pipeline.opened(uri)
    try:
        snapshot = document.snapshot(position, "utf-32")
        snippets = pipeline.inspect(snapshot)["snippets"] if pipeline.retriever is not None else []
        result = await pipeline.complete(snapshot)
    finally:
        documents.close(uri)
        pipeline.forget(uri)
    assert isinstance(snippets, list)
    return result.text, snippets


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


def summary(results: list[dict[str, Any]], kind: str | None = None) -> dict[str, Any]:
    """n, exact match and mean edit similarity of the results of ``kind`` (all with None); the share with the
    name's definition in the prompt where the results record one."""
    chosen = [r for r in results if kind is None or r["kind"] == kind]
    if not chosen:
        return {"n": 0}
    figures = {
        "n": len(chosen),
        "exact_match": round(sum(r["exact"] for r in chosen) / len(chosen), 4),
        "edit_similarity": round(statistics.fmean(r["similarity"] for r in chosen), 4),
    }
    if kind in SINGLE_KINDS:
        figures["definition_in_prompt"] = round(sum(r["definition_in_prompt"] for r in chosen) / len(chosen), 4)
    return figures


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


def bench_config(model: str, max_lines: int) -> Config:
    """The server's defaults, but no cache (every hole reaches the model), no debounce, and no time limits on
    prefill and decoding: on a loaded machine they would cut answers short, and the figures would measure the load."""
    overrides: dict[str, Any] = {
        "cache": {"enabled": False, "prefetch": False},
        "completion": {"debounce_ms": 0, "max_lines": max_lines, "max_prefill_ms": 0, "max_decode_ms": 0},
    }
    if model:
        overrides["model"] = {"path": model}
    return apply_layer(Config(), overrides, "bench")


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


# --- HumanEval-FIM ----------------------------------------------------------------------------


def load_rows(path: Path) -> list[Row]:
    with gzip.open(path, "rt", encoding="utf-8") as file:
        return [json.loads(line) for line in file]


def problem(row: Row) -> str:
    """The problem a row comes from: its name without the hole's line (``...json-L24``)."""
    return re.sub(r"-L\d+$", "", row["name"])


# How the fields join, found in the data: ``canonical_solution`` is the whole hole line with its indentation
# and no line break. ``prompt`` mostly ends at the end of the line before the hole, without its line break
# (84 % of the Python rows, 92 % Java, 92 % JavaScript); the other rows end with the line break (the hole's line
# starts there), never with the hole's indentation. ``suffix`` starts on the line after the hole. So the program
# is prompt + "\n" (unless prompt ends with one) + canonical_solution + "\n" + suffix, and the rows of one problem
# all agree on it when the few exceptions (a blank line before the hole, the last line) are chosen by majority.
def joins(row: Row) -> list[tuple[str, str]]:
    """The line breaks that may join prompt, canonical_solution and suffix, the likeliest first."""
    before = ("", "\n") if row["prompt"].endswith("\n") else ("\n", "")
    return [(a, b) for a in before for b in ("\n", "")]


def joined(row: Row, join: tuple[str, str]) -> str:
    return row["prompt"] + join[0] + row["canonical_solution"] + join[1] + row["suffix"]


def rebuild(rows: list[Row]) -> str:
    """A problem's full program: the joining that most of its rows reproduce (ties: the likeliest one)."""
    votes: dict[str, int] = {}
    for row in rows:
        for program in dict.fromkeys(joined(row, join) for join in joins(row)):
            votes[program] = votes.get(program, 0) + 1
    likeliest = joined(rows[0], joins(rows[0])[0])
    return max(votes, key=lambda program: (votes[program], program == likeliest))


def row_join(row: Row, program: str) -> tuple[str, str]:
    return next((join for join in joins(row) if joined(row, join) == program), joins(row)[0])


def single_line_case(language: str, row: Row, program: str) -> Case:
    """The cursor at the hole line's start with its indentation typed, as the editor's auto-indent leaves it:
    the literature's harness lets the model write the line break and the indentation itself, but the
    server completes at the cursor, and its answer is compared whitespace-stripped anyway."""
    before_join, after_join = row_join(row, program)
    solution = row["canonical_solution"]
    indentation = solution[: _indent(solution)]
    before = row["prompt"] + before_join + indentation
    line = before.count("\n")
    return Case(
        language=language,
        name=row["name"],
        text=before + after_join + row["suffix"],
        line=line,
        column=len(before) - len(before[: before.rfind("\n") + 1]),
        target=solution[len(indentation) :],
        multi_line=False,
    )


def multi_line_case(name: str, program: str, rng: random.Random) -> Case | None:
    """A block hole cut from a Python program as from held-out code; None when it has no block to cut."""
    lines = program.split("\n")
    found = block_hole_in(lines, rng)
    if found is None:
        return None
    line, count = found
    column = _indent(lines[line])
    return Case(
        language="py",
        name=name,
        text=without_hole(lines, line, column, count),
        line=line,
        column=column,
        target=block_target(lines, line, count),
        multi_line=True,
    )


def humaneval_cases(folder: Path, limit: int, seed: int) -> list[Case]:
    """Per language, ``limit`` rows (all with 0, a seeded sample otherwise, in file order); then the Python
    block holes, one per problem and ``limit`` at most, from the programs rebuilt from all rows."""
    rng = random.Random(seed)
    cases: list[Case] = []
    for language in HUMANEVAL_LANGUAGES:
        rows = load_rows(folder / f"{language}.jsonl.gz")
        by_problem: dict[str, list[Row]] = {}
        for row in rows:
            by_problem.setdefault(problem(row), []).append(row)
        programs = {name: rebuild(group) for name, group in by_problem.items()}
        chosen = sorted(rng.sample(range(len(rows)), limit)) if 0 < limit < len(rows) else range(len(rows))
        cases += [single_line_case(language, rows[i], programs[problem(rows[i])]) for i in chosen]
        if language == "py":
            blocks = [case for name in sorted(programs) if (case := multi_line_case(name, programs[name], rng))]
            cases += sorted(rng.sample(blocks, limit), key=blocks.index) if 0 < limit < len(blocks) else blocks
    return cases


async def complete_cases(cases: Iterable[Case], config: Config) -> list[dict[str, Any]]:
    """Window only: a pipeline without documents retrieves nothing (a single file has nothing to add)."""
    pipeline = build_pipeline(config)
    documents = DocumentStore()
    results = []
    try:
        for number, case in enumerate(cases):
            uri = f"file:///humaneval-fim/{number}.{case.language}"
            language_id = HUMANEVAL_LANGUAGES[case.language]
            position = Position(line=case.line, character=case.column)
            got, _ = await complete_at(pipeline, documents, uri, language_id, case.text, position)
            compared = "block" if case.multi_line else "stripped_line"
            results.append({"language": case.language, **scored(got, case.target, compared)})
    finally:
        pipeline.close()
    return results


def humaneval(args: argparse.Namespace) -> dict[str, Any]:
    """Per language: single-line (the literature's metric) and, for Python, block holes; timed, rows per second."""
    if not HUMANEVAL.is_dir():
        print(f"HumanEval-FIM skipped: no data at {HUMANEVAL.resolve()}")
        return {"skipped": f"no data at {HUMANEVAL.resolve()}"}
    cases = humaneval_cases(HUMANEVAL, args.humaneval, args.seed)
    started = time.perf_counter()
    single = asyncio.run(complete_cases([c for c in cases if not c.multi_line], bench_config(args.model, 1)))
    multi = asyncio.run(complete_cases([c for c in cases if c.multi_line], bench_config(args.model, BLOCK_LINES)))
    seconds = time.perf_counter() - started
    by_language = {language: [r for r in single if r["language"] == language] for language in HUMANEVAL_LANGUAGES}
    return {
        "data": str(HUMANEVAL.resolve()),
        "context": "window only: single files, nothing to retrieve",
        "single_line": {language: summary(rows) for language, rows in by_language.items()},
        "multi_line": {"py": summary(multi)},
        "rows": len(cases),
        "seconds": round(seconds, 1),
        "rows_per_second": round(len(cases) / seconds, 2),
    }


# --- the suite ---------------------------------------------------------------------------------


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


def print_humaneval(result: dict[str, Any]) -> None:
    if "skipped" in result:
        return
    print(f"HumanEval-FIM, {result['context']}; {result['rows']} rows at {result['rows_per_second']} rows/s.")
    print()
    print("| language | holes | n | exact match | edit similarity |")
    print("| --- | --- | --- | --- | --- |")
    for part, figures in (("single-line", result["single_line"]), ("multi-line", result["multi_line"])):
        for language, s in figures.items():
            if s["n"]:
                print(f"| {language} | {part} | {s['n']} | {s['exact_match']} | {s['edit_similarity']} |")


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
