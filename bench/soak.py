"""soak: resident memory while a user types 10,000 keys into a 280 KB Python file.

The keys go through ``copilot.documents.Document.apply``, the path of every ``didChange``:
the text is edited, the tree-sitter tree is edited and re-parsed incrementally. The file is
real code (the standard library's ``_pydecimal.py`` then ``typing.py``, cut at a line end
after 280 KB). The user goes to the end of a random line, opens a new line below it and
types a statement one key at a time, mistyping now and then (a wrong key, then backspace),
and deletes half of what they typed again key by key, so the document keeps its size.
Resident memory (``VmRSS`` from ``/proc/self/status``, after ``gc.collect()``) is read after
a warm-up of 200 keys and then every 1,000 keys; the figure is its growth over the run.

A document whose re-parse runs past its budget loses its tree for good and parses no more,
so its memory stops growing: the soak gives the document a generous budget
(``--parse-budget-ms``, 1 s) so that one slow key on a busy machine does not end it, and
counts the keys whose re-parse took longer than the server's own budget.
"""

from __future__ import annotations

import argparse
import gc
import random
import sysconfig
import time
from pathlib import Path

from copilot.documents import Change, Document, Position
from copilot.syntax.tree import PARSE_BUDGET_MS, SyntaxTree

from .report import percentiles, write

SOURCES = ("_pydecimal.py", "typing.py")  # standard library files, read from this Python's own install
DOCUMENT_BYTES = 280_000
WARM_UP_KEYS = 200
SAMPLE_EVERY = 1_000
STATEMENTS = (
    "result = self._normalize(context, value)",
    "if other is None:",
    "return Decimal(sign, coefficient, exponent)",
    "for index, digit in enumerate(digits):",
    "total += int(digit) * 10 ** index  # place value",
    'raise ValueError(f"bad operand: {operand!r}")',
    "items = [item for item in values if item]",
)
MISTYPE = 0.04  # a wrong key, then backspace
DELETE_AGAIN = 0.5  # the share of typed lines that are deleted again


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keys", type=int, default=10_000, help="keystrokes (default 10,000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--parse-budget-ms",
        type=float,
        default=1000.0,
        help=f"the document's re-parse budget (default %(default)s; the server's is {PARSE_BUDGET_MS:g} ms, which"
        " one slow key on a busy machine can run past, ending the document's parsing and so the soak)",
    )


def document_text(size: int = DOCUMENT_BYTES) -> str:
    """Real Python code of about ``size`` bytes, ending at a line end."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    text = "".join((stdlib / name).read_text(encoding="utf-8") for name in SOURCES)[:size]
    return text[: text.rfind("\n") + 1]


def rss_kb() -> int:
    """This process's resident memory, after a full collection: growth then is what nothing frees."""
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise SystemExit("soak: no VmRSS in /proc/self/status (Linux only)")


class Typist:
    """Types statements into ``document`` one key per ``didChange``, as a user would."""

    def __init__(self, document: Document, seed: int) -> None:
        self.document = document
        self.random = random.Random(seed)
        self.version = document.version
        self.parse_ms: list[float] = []  # each key's syntax update, while the document has a tree
        self.keys = 0
        self.tree_lost_at: int | None = None  # the key whose re-parse ran past its budget

    def _send(self, start: Position, end: Position, text: str) -> None:
        self.version += 1
        had_tree = self.document.syntax is not None
        self.document.apply([Change(text=text, start=start, end=end)], self.version, "utf-16")
        self.keys += 1
        if had_tree:
            self.parse_ms.append(self.document.syntax_ms)
            if self.document.syntax is None:
                self.tree_lost_at = self.keys

    def _insert(self, line: int, column: int, text: str) -> None:
        at = Position(line=line, character=column)
        self._send(at, at, text)

    def _backspace(self, line: int, column: int) -> None:
        """Deletes the character before (line, column), or the line break when column is 0."""
        if column:
            self._send(Position(line=line, character=column - 1), Position(line=line, character=column), "")
        else:
            above = len(self._line(line - 1))
            self._send(Position(line=line - 1, character=above), Position(line=line, character=0), "")

    def _line(self, number: int) -> str:
        return self.document.text.split("\n", number + 1)[number]

    def session(self, budget: int) -> None:
        """One statement on a new line below a random line; at most ``budget`` keys."""
        limit = self.keys + budget
        lines = self.document.text.count("\n")
        line = self.random.randrange(lines)
        above = self._line(line)
        indent = " " * (len(above) - len(above.lstrip(" ")))
        statement = self.random.choice(STATEMENTS)
        self._insert(line, len(above), "\n")
        row, column = line + 1, 0
        for char in indent + statement:
            if self.keys >= limit:
                return
            if char != " " and self.random.random() < MISTYPE and self.keys + 2 < limit:
                self._insert(row, column, "x")
                self._backspace(row, column + 1)
            self._insert(row, column, char)
            column += 1
        if self.random.random() < DELETE_AGAIN:
            while column >= 0 and self.keys < limit:
                self._backspace(row, column)
                if column == 0:
                    break
                column -= 1

    def type_keys(self, keys: int) -> None:
        limit = self.keys + keys
        while self.keys < limit:
            self.session(limit - self.keys)


def soak(keys: int, seed: int, text: str, parse_budget_ms: float) -> dict[str, object]:
    document = Document("file:///soak/_pydecimal.py", "python", 0, text)
    if document.syntax is None:  # the first parse ran past the server's budget (a busy machine): not what is measured
        document.syntax = SyntaxTree.create("python", text, timeout_ms=parse_budget_ms)
    if document.syntax is None:
        raise SystemExit(f"soak: parsing the document took over {parse_budget_ms:g} ms; nothing to measure")
    document.syntax.timeout_ms = parse_budget_ms
    typist = Typist(document, seed)
    typist.type_keys(WARM_UP_KEYS)
    typist.parse_ms.clear()
    start_kb = rss_kb()
    samples = [{"keys": 0, "rss_mb": round(start_kb / 1024, 1)}]
    started = time.perf_counter()
    done = 0
    while done < keys:
        step = min(SAMPLE_EVERY, keys - done)
        typist.type_keys(step)
        done += step
        samples.append({"keys": done, "rss_mb": round(rss_kb() / 1024, 1)})
    seconds = time.perf_counter() - started
    growth_mb = (rss_kb() - start_kb) / 1024
    return {
        "keys": keys,
        "document_bytes": len(text.encode()),
        "final_bytes": len(document.text.encode()),
        "tree_kept": document.syntax is not None,
        "tree_lost_at_key": None if typist.tree_lost_at is None else typist.tree_lost_at - WARM_UP_KEYS,
        "rss_start_mb": round(start_kb / 1024, 1),
        "rss_growth_mb": round(growth_mb, 1),
        "growth_per_1000_keys_mb": round(growth_mb * 1000 / keys, 2),
        "parse_budget_ms": parse_budget_ms,
        "parse_max_ms": round(max(typist.parse_ms, default=0.0), 1),
        "parse_ms": percentiles(typist.parse_ms),
        "keys_over_server_budget": sum(ms > PARSE_BUDGET_MS for ms in typist.parse_ms),
        "seconds": round(seconds, 1),
        "samples": samples,
    }


def main(args: argparse.Namespace) -> None:
    keys = 300 if args.smoke else args.keys
    result = soak(keys, args.seed, document_text(), args.parse_budget_ms)
    write("soak", result, args.out or Path("bench/results/soak.json"))
    parse = result["parse_ms"]
    assert isinstance(parse, dict)
    print(
        "| keys | document | tree kept | RSS after the warm-up | RSS growth | per 1,000 keys |"
        f" syntax update p50 / p99 / max | keys over {PARSE_BUDGET_MS:g} ms |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    print(
        f"| {result['keys']:,} | {result['document_bytes']:,} B | {'yes' if result['tree_kept'] else 'NO'} | "
        f"{result['rss_start_mb']} MB | {result['rss_growth_mb']} MB | {result['growth_per_1000_keys_mb']} MB | "
        f"{parse.get('p50')} / {parse.get('p99')} / {result['parse_max_ms']} ms | {result['keys_over_server_budget']} |"
    )
    if not result["tree_kept"]:
        print(
            f"The document lost its tree at key {result['tree_lost_at_key']} (a re-parse past its time budget) and"
            " parsed no more after it: the growth figure covers only the keys before."
        )
