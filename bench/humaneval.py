"""HumanEval-FIM (``../shared/data/humaneval-fim``, evaluation data: never trained on) for the
quality suite: the single-line set in Python, Java and JavaScript with the literature's metric,
plus block holes cut from the Python programs rebuilt from the rows. Single files: no cross-file
context to retrieve, so the local window only."""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import random
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec

from copilot.assembly import build_pipeline
from copilot.config import Config
from copilot.documents import DocumentStore, Position

from .fim import (
    BLOCK_LINES,
    bench_config,
    block_hole_in,
    block_target,
    complete_at,
    indent_of,
    scored,
    summary,
    without_hole,
)

HUMANEVAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "humaneval-fim"
HUMANEVAL_LANGUAGES = {"py": "python", "java": "java", "js": "javascript"}  # file -> the server's language id
SMOKE_HUMANEVAL = 5
Row = dict[str, str]  # a HumanEval-FIM row: name, language, prompt, suffix, canonical_solution, tests


class Case(msgspec.Struct, frozen=True, kw_only=True):
    """One HumanEval-FIM completion: the document as it was while being written, the cursor and the answer."""

    language: str  # "py", "java" or "js"
    name: str
    text: str
    line: int
    column: int
    target: str  # from the cursor on
    multi_line: bool


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
    indentation = solution[: indent_of(solution)]
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
    column = indent_of(lines[line])
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
